"""Chapter 2's goal-by-goal and episode-by-episode views of a grid evaluation, on hand-made returns."""

import numpy as np
import pytest

from adlib.grid_evaluation import GridEvaluation, task_fraction_of_optimal
from adlib.behaviour import context_reward_rates, first_success_episodes, found_then_lost, pick_found_then_lost, rewarded_in_window, step_through_episodes


def grid(returns, optimal, groups):
    returns = np.asarray(returns, dtype=float)
    return GridEvaluation(returns, np.asarray(optimal, dtype=float), np.zeros(returns.shape[:2] + (1,)), np.asarray(groups))


def test_task_fraction_of_optimal_averages_last_episodes_within_each_group():
    # 2 groups x 2 runs each, 2 tasks (optimal 10 and 20), 3 episodes.
    returns = np.zeros((4, 2, 3))
    returns[0, 0] = [0, 10, 10]   # group 0, task 0: run 0 at 1.0, run 1 at 0.0 over the last 2 -> 0.5
    returns[1, 0] = [9, 0, 0]     # (episode 1 is not in the last 2)
    returns[0, 1] = [0, 20, 10]   # task 1: run 0 at 0.75, run 1 at 0.25 -> 0.5
    returns[1, 1] = [0, 0, 10]
    returns[2:, 0] = [0, 5, 5]    # group 1: task 0 at 0.5, task 1 at 0
    ev = grid(returns, [10, 20], [0, 0, 1, 1])
    np.testing.assert_allclose(task_fraction_of_optimal(ev, last=2), [[0.5, 0.5], [0.5, 0.0]])
    # The mean over tasks and groups agrees with the evaluation's own last-episodes summary.
    assert task_fraction_of_optimal(ev, last=2).mean() == pytest.approx(ev.last_episodes(2)[0])
    with pytest.raises(ValueError, match="last"):
        task_fraction_of_optimal(ev, last=4)


def test_task_fraction_of_optimal_keeps_runs_of_a_single_group_baseline():
    ev = grid([[[10, 10]], [[0, 0]], [[5, 5]]], [10], [0, 0, 0])
    np.testing.assert_allclose(task_fraction_of_optimal(ev, last=1), [[1.0], [0.0], [0.5]])


def test_first_success_episodes_is_one_based_and_inf_when_never():
    returns = np.array([[0, 0, 3, 0], [2, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(first_success_episodes(returns), [3, 1, np.inf])
    # Threshold: a return of 2 counts only from at_least=2 down.
    np.testing.assert_array_equal(first_success_episodes(returns, at_least=3), [3, np.inf, np.inf])
    assert first_success_episodes(np.zeros((2, 3, 5))).shape == (2, 3)


def test_rewarded_in_window_counts_the_episodes_before_each_one():
    returns = np.array([1, 0, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(rewarded_in_window(returns, 2), [0, 1, 1, 1, 2, 1, 0, 0, 0])
    np.testing.assert_array_equal(rewarded_in_window(returns, 4), [0, 1, 1, 2, 3, 2, 2, 1, 0])
    # Works along the last axis of a batch, the same row by row.
    batch = np.stack([returns, returns[::-1]])
    np.testing.assert_array_equal(rewarded_in_window(batch, 4)[1], rewarded_in_window(returns[::-1], 4))
    with pytest.raises(ValueError, match="window"):
        rewarded_in_window(returns, 0)


def test_found_then_lost():
    # Found in episode 2, back in 3, then 4 misses: the context (window 3) is empty from episode 7.
    returns = np.array([0, 5, 6, 0, 0, 0, 0, 0, 4, 0])
    assert found_then_lost(returns, window=3) == {"found": 2, "lost": 7, "rewarded_before": 2, "found_again": 9}
    # With a 5-episode window it is lost only in episode 9, when it is found again at once.
    assert found_then_lost(returns, window=5) == {"found": 2, "lost": 9, "rewarded_before": 2, "found_again": 9}
    # Never found, or never lost (a reward always in the window), gives None.
    assert found_then_lost(np.zeros(10), window=3) is None
    assert found_then_lost(np.array([0, 1, 0, 0, 1, 0, 0, 1, 0, 0]), window=3) is None
    # Lost and never found again.
    assert found_then_lost(np.array([1, 0, 0, 0]), window=2)["found_again"] is None
    with pytest.raises(ValueError, match="one run"):
        found_then_lost(np.zeros((2, 3)), window=2)


def test_pick_found_then_lost_prefers_a_return_then_the_earliest_loss():
    returns = np.zeros((2, 3, 12))
    returns[0, 0, [1]] = 1            # found once, lost in episode 6 (window 3): no return
    returns[0, 1, [4, 5]] = 1         # found, returned, lost in episode 10
    returns[1, 2, [2, 3, 4]] = 1      # found, returned, lost in episode 9: the pick
    returns[1, 0, :] = 1              # never lost
    run, task, case = pick_found_then_lost(returns, window=3)
    assert (run, task) == (1, 2) and case == {"found": 3, "lost": 9, "rewarded_before": 3, "found_again": None}
    # A goal found again at once (episode 9, window 3) counts less than one that stays lost.
    quick = returns.copy()
    quick[1, 2, 8] = 1
    assert pick_found_then_lost(quick, window=3)[:2] == (0, 1)
    # Without any return, the single-reward case is used.
    only_once = np.zeros((1, 2, 8))
    only_once[0, 1, 0] = 1
    assert pick_found_then_lost(only_once, window=2)[:2] == (0, 1)
    # A goal found at once (episode 1) gives way to one found after some search, even a plainer case.
    early = np.zeros((1, 2, 12))
    early[0, 0, [0, 1, 2]] = 1        # found in episode 1, returned, lost
    early[0, 1, [3]] = 1              # found in episode 4 after searching, once, lost
    assert pick_found_then_lost(early, window=3)[:2] == (0, 1)
    assert pick_found_then_lost(early, window=3, min_search=1)[:2] == (0, 0)
    # Nothing lost anywhere: None (the notebook falls back to a typical success).
    assert pick_found_then_lost(np.ones((2, 2, 6)), window=2) is None
    assert pick_found_then_lost(np.zeros((2, 2, 6)), window=2) is None


def test_context_reward_rates():
    # One run, two tasks, window 1: the context is the previous episode only.
    returns = np.array([[[0, 1, 1, 0, 0, 1],
                         [0, 0, 0, 0, 0, 0]]])   # never found: neither kind of episode
    with_reward, lost = context_reward_rates(returns, window=1)
    # Episodes whose previous episode was rewarded: 3 (rewarded), 4 (not) -> 1/2.
    # Episodes with an empty context after the first success: 5 (not), 6 (rewarded) -> 1/2.
    np.testing.assert_allclose(with_reward, [0.5])
    np.testing.assert_allclose(lost, [0.5])
    # A run that never finds its goal has no such episodes: NaN, not 0.
    with_reward, lost = context_reward_rates(np.zeros((1, 2, 5)), window=2)
    assert np.isnan(with_reward).all() and np.isnan(lost).all()


@pytest.mark.parametrize("n_episodes", [1, 6, 30, 100, 250])
def test_step_through_episodes_stays_within_max_frames(n_episodes):
    frames = step_through_episodes(n_episodes, focus=(10, 60), max_frames=40)
    assert 1 <= len(frames) <= 40 and frames == sorted(set(frames))
    assert frames[0] == 1 and frames[-1] == n_episodes and all(1 <= e <= n_episodes for e in frames)


def test_step_through_episodes_keeps_the_focus_dense():
    frames = step_through_episodes(100, focus=(8, 20), first=5, every=5, max_frames=40)
    assert set(range(1, 6)) | set(range(8, 21)) <= set(frames)
    assert {25, 50, 100} <= set(frames) and 23 not in frames
    # Too many sparse frames: the stride widens instead of dropping the focus.
    wide = step_through_episodes(100, focus=(1, 30), every=5, max_frames=40)
    assert set(range(1, 31)) <= set(wide) and len(wide) <= 40 and wide[-1] == 100
    # A short run is shown whole.
    assert step_through_episodes(6, focus=(2, 4)) == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError):
        step_through_episodes(0)


def test_summary_reads_first_last_and_training_horizon_episodes():
    # 2 groups of one run, one task (optimal 10), 12 episodes rising by 1 per episode from 0 (group 0) or 2 (group 1).
    returns = np.stack([np.arange(12.0), np.arange(12.0) + 2])[:, None, :]
    ev = grid(returns, [10], [0, 1])
    s = ev.summary(training_episodes=5)
    assert s["first_episode"] == pytest.approx(0.1)  # (0 + 2) / 2 / 10
    assert s["last_10"]["mean"] == pytest.approx((np.arange(2, 12).mean() + 1) / 10)
    assert s["training_horizon_10"]["mean"] == pytest.approx((2 + 1) / 10)  # episodes 1-5: mean 2 (+2 in group 1)
    assert s["training_horizon_10"]["std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert ev.summary(training_episodes=50)["training_horizon_10"] == ev.summary(12)["training_horizon_10"]  # cut to the run
    assert ev.episodes_mean(3, 12) == ev.last_episodes(10)
    with pytest.raises(ValueError, match="first <= last"):
        ev.episodes_mean(4, 13)


def test_example_tasks_picks_typical_farthest_and_latest_once_each():
    from adlib.behaviour import example_tasks

    returns = np.zeros((4, 10))
    returns[0, 2:] = 1   # first success in episode 3
    returns[1, 6:] = 1   # in episode 7: the latest
    returns[2, 4:] = 1   # in episode 5: the median of 3, 5 and 7
    distance = np.array([1, 8, 2, 3])  # task 1 is also the farthest; task 3 is never found
    assert example_tasks(returns, distance) == {2: ["typical goal"], 1: ["farthest goal", "latest first success"]}
    assert example_tasks(np.zeros((3, 5)), np.array([1, 2, 0])) == {1: ["farthest goal"]}  # nothing found


def test_step_through_case_focuses_on_the_loss_or_falls_back_to_a_typical_success():
    from adlib.behaviour import describe_step_through, step_through_case

    returns = np.zeros((1, 2, 20))
    returns[0, 1, [4, 5]] = 1  # found in episode 5, back in 6, lost from episode 11 (window 4), never found again
    pick = step_through_case(returns, window=4, distance=np.array([1, 2]))
    assert (pick["run"], pick["task"], pick["focus"]) == (0, 1, (2, 13))
    assert pick["case"] == {"found": 5, "lost": 11, "rewarded_before": 2, "found_again": None}
    text = describe_step_through(pick["case"], window=4, n_episodes=20)
    assert "first rewarded in episode 5" in text and "does not find the goal again within 20 episodes" in text
    assert "no case meets all of it" not in text
    # Nothing is ever lost: run 0 on its typical task, focused around its first success.
    always = np.zeros((1, 2, 20))
    always[0, 0, 7:] = 1
    fallback = step_through_case(always, window=4, distance=np.array([1, 2]))
    assert fallback["case"] is None and fallback["task"] == 0 and fallback["focus"] == (5, 16)
    assert describe_step_through(None, 4, 20).startswith("No run lost a goal")
    # A case that misses a preference says which.
    early = {"found": 1, "lost": 6, "rewarded_before": 1, "found_again": 7}
    missed = describe_step_through(early, window=4, n_episodes=20)
    assert "was first found in episode 1" in missed and "was rewarded only once" in missed and "again 1 episode(s)" in missed


def test_end_point_measures_on_a_three_by_three_room():
    from adlib.grid_evaluation import end_point_measures

    # 2 training seeds x 1 run, 1 task, 2 episodes of 2 steps; the start is cell 4, the one training goal cell 1.
    observations = np.array([[[0, 1, 4, 4]], [[3, 3, 3, 3]]])  # run 0 ends on 1, then 4; run 1 on 3 twice
    ev = GridEvaluation(np.zeros((2, 1, 2)), np.ones(1), observations, np.array([0, 1]))
    m = end_point_measures(ev, [1], size=3, horizon=2)
    assert m["on a training goal, first episode"] == pytest.approx((0.5, np.sqrt(0.5)))
    assert m["to nearest training goal, first episode"][0] == pytest.approx(1.0)  # 0 and 2 steps
    assert m["to nearest training goal, all episodes"][0] == pytest.approx(1.25)  # (0 + 1) / 2 and 2
    assert m["from the start, all episodes"][0] == pytest.approx(0.75)  # (1 + 0) / 2 and 1
    assert m["episodes on its most frequent end cell"][0] == pytest.approx(0.75)  # 1 of 2, and 2 of 2
    assert m["distinct cells, first 5 episodes"][0] == pytest.approx(2.0)  # {0, 1, 4} and {3}


def test_typical_first_best_and_episode_paths():
    from adlib.behaviour import typical_first_best

    returns = np.zeros((4, 6))
    returns[0, 4:] = 2   # best return 2 first in episode 5
    returns[1, 1:] = 2   # in episode 2
    returns[2, 2] = 2    # in episode 3: the median of 2, 3 and 5
    returns[3, :] = 1    # never the best
    assert typical_first_best(returns) == (2, 3, 3)
    assert typical_first_best(np.zeros((2, 3))) is None
    # Episodes of different lengths are cut where they end; without lengths, into equal parts.
    ev = GridEvaluation(np.zeros((1, 1, 3)), np.ones(1), np.arange(10)[None, None, :], np.zeros(1), lengths=np.array([[[2, 5, 3]]]))
    assert [p.tolist() for p in ev.episode_paths(0, 0)] == [[0, 1], [2, 3, 4, 5, 6], [7, 8, 9]]
    fixed = GridEvaluation(np.zeros((1, 1, 2)), np.ones(1), np.arange(8)[None, None, :], np.zeros(1))
    assert [p.tolist() for p in fixed.episode_paths(0, 0)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
