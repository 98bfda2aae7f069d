"""Chapter 7's pixel room: the room, its states and moves, the camera, the sources, the split and bad input."""

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from adlib import pixels
from adlib.experiments import Histories, pixel_experiment
from adlib.in_context import InContextPolicy
from adlib.model import ADConfig, ADTransformer
from adlib.pixels import (
    Camera, PixelDataConfig, PixelExpert, PixelHistories, PixelRoom, PixelRoomEnv, episode_optima, evaluate_in_pixel_room,
    generate_pixel_histories, optimal_return, pixel_split, render_views, steps_to_goal, transitions,
)
from adlib.rollouts import rollout
from adlib.sources import RandomPolicy

ROOM = PixelRoom(size=3, frame_size=16, horizon=8)


def state(room, row, col, heading):
    return (row * room.size + col) * 4 + heading


@pytest.fixture(scope="module")
def views():
    return render_views(ROOM)


def test_moves_turn_in_place_and_walls_stop_a_step():
    nxt = transitions(ROOM)
    s = state(ROOM, 1, 1, 0)  # centre, facing east (+column)
    assert nxt[s, 2] == state(ROOM, 1, 2, 0)  # forward
    assert nxt[s, 0] == state(ROOM, 1, 1, 1) and nxt[s, 1] == state(ROOM, 1, 1, 3)  # left faces north, right south
    north = state(ROOM, 0, 1, 1)
    assert nxt[north, 2] == north  # a step into the wall stays
    assert nxt[state(ROOM, 1, 1, 1), 2] == state(ROOM, 0, 1, 1)  # north is row - 1
    t = s
    for _ in range(4):
        t = nxt[t, 0]
    assert t == s


def test_steps_to_goal_known_values():
    d = steps_to_goal(ROOM, [1])  # goal: row 0, column 1
    assert d[0, state(ROOM, 0, 0, 0)] == 1  # facing it
    assert d[0, state(ROOM, 0, 0, 2)] == 3  # facing away: turn, turn, step
    assert d[0, state(ROOM, 2, 2, 1)] == 4  # north, north, turn left, west
    assert (d[0, np.arange(4) + 4] == 0).all()  # on the goal, any heading


def test_the_expert_earns_each_episodes_optimum_and_random_does_not():
    goals = np.array([0, 4, 8, 5])
    for policy, check in ((PixelExpert(goals, ROOM), lambda f: np.allclose(f, 1)), (RandomPolicy(3), lambda f: f.mean() < 0.6)):
        env = PixelRoomEnv(goals, ROOM, seed=3)
        traj = rollout(env, policy, 6 * ROOM.horizon, seed=1, cache=False)
        returns = traj.rewards.reshape(len(goals), -1, ROOM.horizon).sum(axis=2)
        assert check(returns / episode_optima(env, traj.observations))


def test_posterior_sampling_rules_out_cells_then_returns_to_the_platform():
    room = PixelRoom(size=5, frame_size=16, horizon=12)
    goals = np.repeat(np.arange(room.n_cells), 4)
    env = PixelRoomEnv(goals, room, seed=3)
    source = pixels.PosteriorSampling(room)
    traj = rollout(env, source, 30 * room.horizon, seed=1, cache=False)
    # every task's platform has been found: the posterior is that cell alone, and it is the target for good
    assert (source.target == goals).all() and (source.possible.sum(axis=1) == 1).all()
    assert source.possible[np.arange(len(goals)), goals].all()
    fraction = traj.rewards.reshape(len(goals), -1, room.horizon).sum(axis=2) / episode_optima(env, traj.observations)
    assert fraction[:, 0].mean() < 0.6 and np.allclose(fraction[:, -5:], 1)  # it learns: from a search to the optimum


def test_posterior_sampling_draws_uniformly_over_cells_not_ruled_out():
    room = PixelRoom(size=3, frame_size=16, horizon=8)
    source = pixels.PosteriorSampling(room)
    source.reset(20_000, np.random.default_rng(0))
    source.possible[:, [0, 1, 2, 3]] = False  # ruled out: the draw is among cells 4..8
    source.act(np.full(20_000, state(room, 1, 1, 0)))
    counts = np.bincount(source.target, minlength=room.n_cells)
    assert counts[:4].sum() == 0 and np.allclose(counts[4:] / 20_000, 1 / 5, atol=0.015)


def test_posterior_sampling_entropy_is_that_of_its_next_action_given_the_history():
    room = PixelRoom(size=3, frame_size=16, horizon=8)
    source = pixels.PosteriorSampling(room)
    source.reset(2, np.random.default_rng(0))
    obs = np.array([state(room, 1, 1, 0)] * 2)  # the centre, facing east
    # Before anything is seen, the target is any of the 9 cells: forward toward 3 of them (the east column), a turn
    # (either way) toward the other 6, turning in place on the centre itself (both turns tie there)
    p = np.array([1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(source.policy_entropy(obs), -(p * np.log(p)).sum())
    with pytest.raises(ValueError, match="next observation"):
        source.observe(np.zeros(2, dtype=int), np.zeros(2))


def test_posterior_sampling_history_filter_predicts_its_actions():
    room = PixelRoom(size=5, frame_size=16, horizon=12)
    goals = np.repeat(np.arange(room.n_cells), 8)
    source = pixels.PosteriorSampling(room)
    probabilities = []

    class Logged:  # notes the filter's prediction before every action
        def __getattr__(self, name):
            return getattr(source, name)

        def act(self, obs):
            probabilities.append(source.action_probabilities(obs))
            return source.act(obs)

    traj = rollout(PixelRoomEnv(goals, room, seed=3), Logged(), 6 * room.horizon, seed=1, cache=False)
    p = np.stack(probabilities, axis=1)  # [envs, steps, 3]
    np.testing.assert_allclose(p.sum(axis=2), 1)
    taken = np.take_along_axis(p, traj.actions[..., None], axis=2)[..., 0]
    assert taken.min() > 0  # the filter never rules out an action the source took
    entropy = -(p * np.log(np.where(p > 0, p, 1))).sum(axis=2)
    # Calibrated: the actions' mean surprise equals the mean entropy the filter predicted (it is the exact predictive)
    assert abs(-np.log(taken).mean() - entropy.mean()) < 0.02
    found = traj.rewards.cumsum(axis=1) > 0  # after a reward: only ties between equally short ways remain
    assert np.allclose(np.exp(entropy[:, 1:][found[:, :-1]]), np.round(np.exp(entropy[:, 1:][found[:, :-1]])))


def test_episodes_restart_at_random_cells_other_than_the_goal():
    env = PixelRoomEnv(np.full(200, 4), ROOM, seed=0)
    starts = env.states.copy()
    assert (starts // 4 != 4).all() and len(np.unique(starts)) > 20
    for _ in range(ROOM.horizon):
        env.step(np.zeros(200, dtype=int))
    assert env.done.all() and not np.array_equal(env.states, starts) and (env.states // 4 != 4).all()
    assert optimal_return(ROOM, [1, 3]).tolist() == [8.0, 6.0]


def test_views_render_alike_twice_and_differ_between_states(views):
    again = render_views(ROOM, use_cache=False)
    assert views.shape == (ROOM.n_states, 16, 16, 3) and views.dtype == np.uint8
    assert np.array_equal(views, again)
    flat = views.reshape(len(views), -1).astype(float)
    gaps = np.abs(flat[:, None] - flat[None]).mean(-1) + np.eye(len(flat)) * 1e9
    assert gaps.min() > 1  # every state has its own view


def test_the_camera_adds_noise_and_brightness_around_the_view(views):
    camera = Camera(ROOM, views)
    states = np.array([[0, 5], [5, 35]])
    a, b = camera(states, np.random.default_rng(0)), camera(states, np.random.default_rng(1))
    assert a.shape == (2, 2, 3, 16, 16) and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a[0, 1], a[1, 0])  # the same state, seen twice, is not the same frame
    assert not torch.equal(a, b)
    assert torch.equal(a, camera(states, np.random.default_rng(0)))  # reproducible from the seed
    clean = camera.views[torch.as_tensor(states)]
    assert (a - clean).abs().mean() < 0.1
    copy = pickle.loads(pickle.dumps(camera))  # (training workers get it pickled)
    assert torch.equal(copy(states, np.random.default_rng(0)), a)
    with pytest.raises(ValueError, match="states must lie in"):
        camera([ROOM.n_states], np.random.default_rng(0))


def test_bad_rooms_goals_and_frames_raise():
    with pytest.raises(ValueError, match="unknown room layout 'maze'; the layouts are cues, bare"):
        PixelRoom(layout="maze")
    with pytest.raises(ValueError, match="frame_size must be one of"):
        PixelRoom(frame_size=64)
    with pytest.raises(ValueError, match="inside the 3x3 room"):
        PixelRoomEnv([9], ROOM)
    with pytest.raises(ValueError, match="inside the 5x5 room"):
        PixelDataConfig(goals=(3, 25))
    with pytest.raises(ValueError, match="whole cell indices"):
        PixelRoomEnv([1.5], ROOM)
    with pytest.raises(ValueError, match="actions must be"):
        PixelRoomEnv([1], ROOM).step(np.array([3]))
    with pytest.raises(ValueError, match="views must be"):
        Camera(ROOM, np.zeros((5, 16, 16, 3), dtype=np.uint8))


def test_split_is_fixed_and_no_training_history_uses_a_held_out_goal():
    room = pixel_experiment("full").room
    train, test = pixel_split(room, 8)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(room.n_cells))
    assert np.array_equal(test, pixel_split(room, 8)[1])
    for scale in ("small", "full"):
        P = pixel_experiment(scale)
        assert P.room == room and set(P.test_goals) == set(test.tolist())
        for config in (P.source, P.expert):
            assert not set(config.goal_per_history().tolist()) & set(P.test_goals)


def test_histories_record_states_and_train_on_frames(views):
    config = PixelDataConfig(goals=(0, 4), room=ROOM, histories_per_goal=2, n_episodes=6, epsilon_decay_episodes=3)
    base = generate_pixel_histories(config)
    assert base.observations.shape == (4, 6 * ROOM.horizon) and base.observations.max() < ROOM.n_states
    data = PixelHistories.wrap(base, Camera(ROOM, views))
    assert data.meta["config"]["views"] == data.camera.digest and data.fingerprint != base.fingerprint
    frames, a, r, y = data.sample_windows(3, 5, np.random.default_rng(0))
    assert frames.shape == (3, 5, 3, 16, 16) and a.shape == r.shape == y.shape == (3, 5)
    for part in (data.select([1, 0]), data.subsample_episodes(2, ROOM.horizon)):  # subsets keep the camera
        assert isinstance(part, PixelHistories) and part.camera is data.camera and part.meta["views"] == data.camera.digest
    expert = generate_pixel_histories(dataclasses.replace(config, source="expert"))
    assert expert.rewards.sum() > base.rewards.sum()


def test_a_frame_model_acts_in_the_room_through_the_camera(views):
    P = pixel_experiment("small")
    model = ADTransformer(dataclasses.replace(P.model, frame_size=16, context_len=2 * ROOM.horizon)).eval()
    policy = InContextPolicy(model, camera=Camera(ROOM, views))
    result = evaluate_in_pixel_room([policy, RandomPolicy(3)], [0, 8], ROOM, n_episodes=3, n_eval_seeds=2, seed=0)
    assert result.returns.shape == (4, 2, 3) and (result.returns <= 1 + 1e-9).all() and (result.returns >= 0).all()
    assert result.groups.tolist() == [0, 0, 1, 1]


def test_the_chapter_data_loads_with_its_camera():
    P = pixel_experiment("small")
    data = Histories(P.source, P.subsample, P.room.horizon).load()
    assert isinstance(data, PixelHistories) and data.n_steps == P.source.n_episodes // P.subsample * P.room.horizon


def test_attempts_table_renders_the_recorded_attempts_and_this_build():
    from adlib import trials

    records = trials.read_trials(trials.TRIALS_DIR / pixels.ATTEMPTS)
    assert len(records) >= 2 and all(r["scale"] == "full" for r in records)
    this_build = {**records[-1], "this build": True, "histories": {**records[-1]["histories"], "source": "posterior_sampling"}}
    header, rows = pixels.attempts_table([*records, this_build])
    assert len(rows) == len(records) + 1 and all(len(row) == len(header) for row in rows)
    assert [row[0] for row in rows] == [*map(str, range(1, len(records) + 1)), f"{len(records) + 1} (this build)"]
    exploration = header.index("source's exploration")
    assert rows[0][exploration] == "ε 1 → 0 over 100 episodes"  # the first attempt's source: not optimistic
    assert rows[2][exploration] == "ε 1 → 0 over 60 episodes, optimistic Q (2)"  # the third: chapter 2's source
    assert rows[3][exploration] == "no random actions, optimistic Q (2)"
    assert rows[-1][exploration] == "posterior sampling over the platform's cell (no random actions)"
    assert "verdict" not in header  # said once under the table (attempt_verdicts), not in every row
    same = pixels.attempt_verdicts(records)
    assert same.startswith("Every attempt's verdict was the same") and records[0]["verdict"]["said"] in same
    other = {**records[-1], "verdict": {"said": "partly reproduced at this budget"}}
    assert "attempt 2, “partly reproduced at this budget”" in pixels.attempt_verdicts([records[0], other])
    assert pixels.exploration_words({"epsilon_start": 0.5, "epsilon_end": 0.1, "epsilon_decay_episodes": 7}) == "ε 0.5 → 0.1 over 7 episodes"


def test_source_entropy_is_what_each_recorded_action_was_drawn_from():
    from adlib.pixels import source_entropy

    config = PixelDataConfig(goals=(0, 4), room=ROOM, histories_per_goal=2, n_episodes=6, epsilon_decay_episodes=3, initial_value=2.0)
    h = source_entropy(config)
    assert h.shape == (4, 6 * ROOM.horizon) and h.min() >= 0 and h.max() <= np.log(3) + 1e-12
    np.testing.assert_allclose(h[:, : ROOM.horizon], np.log(3))  # epsilon 1: every action equally likely
    expert = source_entropy(dataclasses.replace(config, source="expert"))
    ties = np.exp(expert)  # the expert picks among 1, 2 or 3 equally short ways
    np.testing.assert_allclose(ties, np.round(ties))
    assert set(np.round(ties).astype(int).ravel()) <= {1, 2, 3} and (ties > 1.5).any()


def test_loss_by_episode_of_a_model_that_knows_nothing_is_a_uniform_guess():
    from adlib.training import loss_by_episode

    config = PixelDataConfig(goals=(0, 4), room=ROOM, histories_per_goal=2, n_episodes=6, epsilon_decay_episodes=3)
    data = Histories(config).load()
    model = ADTransformer(ADConfig(n_actions=3, context_len=3 * ROOM.horizon, d_model=16, n_layers=1, n_heads=2, d_ff=16,
                                   frame_size=ROOM.frame_size))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    losses = loss_by_episode(model, data, ROOM.horizon, context_episodes=3, n_histories=3)
    np.testing.assert_allclose(losses, np.log(3), rtol=1e-6)
    assert losses.shape == (6,)
    with pytest.raises(ValueError, match="do not fit the model's context"):
        loss_by_episode(model, data, ROOM.horizon, context_episodes=4)
