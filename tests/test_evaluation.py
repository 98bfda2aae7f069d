import numpy as np
import pytest

from adlib.envs import sample_gaussian_bandits
from adlib.bandit_metrics import bandit_metrics, evaluate_bandit_groups, evaluate_bandit_policy
from adlib.rollouts import rollout
from adlib.sources import BestArmOracle, OptimisticGreedy, RandomPolicy, ThompsonSampling


def test_random_is_at_chance(rng):
    tasks = sample_gaussian_bandits(20_000, 10, rng)
    m = evaluate_bandit_policy(RandomPolicy(10), tasks, 20, seed=0)
    assert abs(m.pct_best_arm.mean() - 10) < 0.5


def test_common_random_numbers_couple_methods(rng):
    tasks = sample_gaussian_bandits(100, 10, rng)
    oracle = rollout(tasks.env(30, seed=5), BestArmOracle(tasks.best_arm, 10), 30, seed=0)
    # Different policy seed, same reward tape: identical actions see identical rewards.
    again = rollout(tasks.env(30, seed=5), BestArmOracle(tasks.best_arm, 10), 30, seed=99)
    np.testing.assert_array_equal(oracle.rewards, again.rewards)


def test_rollout_is_reproducible_and_chunk_invariant_for_deterministic_policy(rng):
    tasks = sample_gaussian_bandits(50, 10, rng)
    env = tasks.env(15, seed=1)
    whole = rollout(env, BestArmOracle(tasks.best_arm, 10), 15, seed=0)
    oracle_chunks = [BestArmOracle(tasks.best_arm[i:i + 7], 10) for i in range(0, 50, 7)]

    class Chunked:  # the oracle of whichever chunk is being rolled out
        def __init__(self):
            self.i = -1

        def reset(self, n, rng):
            self.i += 1
            oracle_chunks[self.i].reset(n, rng)

        def act(self, obs):
            return oracle_chunks[self.i].act(obs)

        def observe(self, a, r, **transition):
            pass

    chunked = rollout(env, Chunked(), 15, seed=0, chunk_size=7)
    np.testing.assert_array_equal(whole.actions, chunked.actions)
    np.testing.assert_array_equal(whole.rewards, chunked.rewards)
    a = rollout(env, ThompsonSampling(10), 15, seed=3)
    b = rollout(env, ThompsonSampling(10), 15, seed=3)
    np.testing.assert_array_equal(a.actions, b.actions)


def test_grouped_evaluation_summary(rng):
    tasks = sample_gaussian_bandits(300, 10, rng)
    g = evaluate_bandit_groups(lambda i: OptimisticGreedy(10), tasks, 3, 20, seed=0)
    assert g.pct_best_arm.shape == (3, 20) and g.cumulative_regret.shape == (3, 20)
    s = g.summary((11, 20, 50))
    assert s["n_runs"] == 300 and "pct_best_arm_step_50" not in s
    assert s["pct_best_arm_step_11"]["mean"] == pytest.approx(g.pct_best_arm[:, 10].mean())
    # Regret is cumulative: non-decreasing.
    assert (np.diff(g.cumulative_regret, axis=1) >= 0).all()
    with pytest.raises(ValueError, match="n_groups"):
        evaluate_bandit_groups(lambda i: OptimisticGreedy(10), tasks, 0, 20, seed=0)


def test_metrics_shape_mismatch_raises(rng):
    tasks = sample_gaussian_bandits(5, 10, rng)
    traj = rollout(tasks.env(3, seed=0), RandomPolicy(10), 3, seed=0)
    with pytest.raises(ValueError, match="rollouts for"):
        bandit_metrics(tasks[:4], traj)
    with pytest.raises(ValueError, match="n_steps"):
        rollout(tasks.env(3, seed=0), RandomPolicy(10), 0, seed=0)


def test_grouped_accessors_match_arrays(rng):
    tasks = sample_gaussian_bandits(400, 10, rng)
    g = evaluate_bandit_groups(lambda i: ThompsonSampling(10), tasks, 4, 30, seed=0)
    per_group = g.pct_best_arm[:, 9:30].mean(axis=1)
    assert g.mean_pct_best_arm(10, 30) == pytest.approx((per_group.mean(), per_group.std(ddof=1)))
    assert g.pct_best_arm_at(30)[0] == pytest.approx(g.pct_best_arm[:, 29].mean())
    assert g.regret_at(30)[0] == pytest.approx(g.cumulative_regret[:, 29].mean())


def test_episode_returns_and_steps_to_reach():
    from adlib.grid_evaluation import episode_returns, steps_to_reach

    rewards = np.array([[0, 1, 1, 0, 1, 1], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    np.testing.assert_array_equal(episode_returns(rewards, 3), [[2, 2], [0, 3]])
    with pytest.raises(ValueError, match="whole number"):
        episode_returns(rewards, 4)
    assert steps_to_reach([0.1, 0.5, 0.9, 0.95], 0.8, 20) == 60  # three episodes of 20 steps
    assert steps_to_reach([0.1, 0.5], 0.8, 20) == float("inf")


def test_arm_usage_metrics_known_values():
    from adlib.bandit_metrics import BanditMetrics, GroupedBanditMetrics

    def group(actions):
        actions = np.array(actions)
        return BanditMetrics(actions=actions, best_arm=actions == 0, regret=np.zeros(actions.shape))

    g = GroupedBanditMetrics([group([[0, 1, 1, 1], [2, 2, 2, 2]]), group([[1, 1, 0, 0], [3, 1, 1, 2]])], n_runs=4)
    # Group 1 pulls arm 0 in 1 of 8 pulls, group 2 in 2 of 8: 12.5% and 25%.
    assert g.pct_pulls_of([0], 1, 4) == pytest.approx((18.75, np.std([12.5, 25.0], ddof=1)))
    assert g.pct_pulls_of([0], 1, 1)[0] == pytest.approx(25.0)  # step 1: one run of four
    assert g.pct_pulls_of([0, 2], 4, 4)[0] == pytest.approx(75.0)  # group 1: 1/2, group 2: 2/2
    assert g.pct_runs_tried([0], 2) == pytest.approx((25.0, np.std([50.0, 0.0], ddof=1)))
    assert g.pct_runs_tried([0], 4)[0] == pytest.approx(50.0)


def test_horizon_trend_detects_improving_flat_and_degrading():
    from adlib.bandit_metrics import BanditMetrics, GroupedBanditMetrics

    def grouped(p_first_half, p_second_half, n_runs=400, n_groups=3, seed=0):
        gen = np.random.default_rng(seed)
        groups = []
        for _ in range(n_groups):
            best = np.concatenate([gen.random((n_runs, 20)) < p_first_half, gen.random((n_runs, 20)) < p_second_half], axis=1)
            groups.append(BanditMetrics(actions=np.where(best, 0, 1), best_arm=best, regret=(~best).astype(float)))
        return GroupedBanditMetrics(groups, n_groups * n_runs)

    improving = grouped(0.3, 0.6).horizon_trend(20)
    assert improving["trend"] == "improves" and len(improving["change"]["per_group"]) == 3
    assert improving["change"]["mean"] == pytest.approx(30, abs=5) and improving["change"]["distinguishable"]
    assert grouped(0.6, 0.3).horizon_trend(20)["trend"] == "degrades"
    flat = grouped(0.5, 0.5).horizon_trend(20, window=10)
    assert flat["trend"] == "flat" and flat["end_step"] == 40 and abs(flat["at_end"][0] - 50) < 5
    with pytest.raises(ValueError, match="horizon"):
        grouped(0.5, 0.5).horizon_trend(40)


def test_in_context_trace_matches_a_plain_rollout():
    from adlib.in_context import InContextPolicy, in_context_trace
    from adlib.model import ADConfig, ADTransformer

    model = ADTransformer(ADConfig(n_actions=4, context_len=6, d_model=16, n_layers=1, n_heads=2, d_ff=16, dropout=0.0, attn_dropout=0.0))
    tasks = sample_gaussian_bandits(5, 4, np.random.default_rng(0))
    plain = rollout(tasks.env(12, seed=1), InContextPolicy(model), 12, seed=7)
    traj, probs = in_context_trace(InContextPolicy(model), tasks.env(12, seed=1), 12, seed=7)
    # Recording changes nothing: same actions and rewards as without it.
    np.testing.assert_array_equal(traj.actions, plain.actions)
    np.testing.assert_array_equal(traj.rewards, plain.rewards)
    assert probs.shape == (5, 12, 4)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    # The first step's distribution is the empty-context one: identical for every bandit.
    np.testing.assert_allclose(probs[:, 0], np.broadcast_to(probs[0, 0], (5, 4)), atol=1e-6)


def test_member_chunks_keep_every_chunk_member_major():
    from adlib.rollouts import member_chunks

    chunks = member_chunks(12, 3, 6)  # 4 environments per member, 2 per member per chunk
    np.testing.assert_array_equal(chunks[0], [0, 1, 4, 5, 8, 9])
    np.testing.assert_array_equal(chunks[1], [2, 3, 6, 7, 10, 11])
    np.testing.assert_array_equal(np.sort(np.concatenate(member_chunks(50, 1, 7))), np.arange(50))
    assert [len(c) for c in member_chunks(50, 1, 7)] == [7] * 7 + [1]
    with pytest.raises(ValueError, match="split evenly among 3 members"):
        member_chunks(10, 3, 4)


def _small_models(n, n_actions=10):
    import torch

    from adlib.model import ADConfig, ADTransformer

    config = ADConfig(n_actions=n_actions, context_len=8, d_model=16, n_layers=1, n_heads=2, d_ff=16, dropout=0.0, attn_dropout=0.0)
    models = []
    for seed in range(n):
        torch.manual_seed(seed)
        models.append(ADTransformer(config).eval())
    return models


def test_ensemble_policy_acts_like_each_member_alone(rng):
    """Greedy actions are deterministic, so one batched rollout of the stacked models must
    reproduce each model's own rollout on its group of tasks, chunked or not."""
    from adlib.in_context import InContextPolicy
    from adlib.model import ADTransformer

    models = _small_models(3)
    tasks = sample_gaussian_bandits(60, 10, rng)
    together = evaluate_bandit_groups(InContextPolicy(ADTransformer.stack(models), greedy=True), tasks, 3, 12, seed=0, chunk_size=21)
    alone = evaluate_bandit_groups(lambda g: InContextPolicy(models[g], greedy=True), tasks, 3, 12, seed=0)
    for a, b in zip(together.groups, alone.groups):
        np.testing.assert_array_equal(a.actions, b.actions)
    assert not all(np.array_equal(together.groups[0].actions, g.actions) for g in together.groups[1:])
    with pytest.raises(ValueError, match="needs 2 members"):
        evaluate_bandit_groups(InContextPolicy(ADTransformer.stack(models)), tasks, 2, 12, seed=0)


def test_ensemble_goal_evaluation_gives_one_group_per_member():
    import torch

    from adlib.in_context import InContextPolicy
    from adlib.grid_evaluation import evaluate_on_goals
    from adlib.model import ADConfig, ADTransformer

    config = ADConfig(n_actions=5, n_observations=81, grid_size=9, context_len=20, d_model=16, n_layers=1, n_heads=2, d_ff=16)
    models = []
    for seed in range(2):
        torch.manual_seed(seed)
        models.append(ADTransformer(config).eval())
    together = evaluate_on_goals([InContextPolicy(ADTransformer.stack(models), greedy=True), RandomPolicy(5)], [40, 0, 31], 3, 2, seed=0)
    assert together.returns.shape == (2 * 2 + 2, 3, 3)
    np.testing.assert_array_equal(together.groups, [0, 0, 1, 1, 2, 2])
    for g, model in enumerate(models):
        alone = evaluate_on_goals([InContextPolicy(model, greedy=True)], [40, 0, 31], 3, 2, seed=0)
        np.testing.assert_array_equal(together.observations[2 * g:2 * g + 2], alone.observations)


def test_grouped_evaluation_names_a_policy_it_cannot_use(rng):
    tasks = sample_gaussian_bandits(30, 10, rng)
    with pytest.raises(ValueError, match="function g -> policy"):
        evaluate_bandit_groups(RandomPolicy(10), tasks, 3, 5, seed=0)


def test_evaluate_on_bandits_is_the_stacked_models_in_groups(rng):
    from adlib.in_context import InContextPolicy, evaluate_on_bandits
    from adlib.model import ADTransformer

    models = _small_models(2)
    tasks = sample_gaussian_bandits(20, 10, rng)
    ours = evaluate_on_bandits(models, tasks, 8, seed=3, greedy=True)
    plain = evaluate_bandit_groups(InContextPolicy(ADTransformer.stack(models), greedy=True), tasks, 2, 8, seed=3)
    assert len(ours.groups) == 2
    for a, b in zip(ours.groups, plain.groups):
        np.testing.assert_array_equal(a.actions, b.actions)


def test_pct_favouring_counts_tasks_whose_favoured_arms_all_lead():
    from adlib.bandit_metrics import pct_favouring
    from adlib.envs import BanditTasks

    tasks = BanditTasks(np.array([[0.9, 0.1, 0.8, 0.2], [0.9, 0.95, 0.8, 0.2]]), kind="bernoulli")
    assert pct_favouring(tasks, [0, 2], [1, 3]) == 50.0  # the second task's arm 1 beats arm 2
    assert pct_favouring(tasks, [1, 3], [0, 2]) == 0.0


def test_bandit_side_figures_draw_every_method_once_in_the_legend(rng):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adlib import plotting

    tasks = sample_gaussian_bandits(12, 10, rng)
    run = lambda: evaluate_bandit_groups(lambda g: RandomPolicy(10), tasks, 3, 20, seed=0)  # noqa: E731
    sides = {"training side": {"AD": run(), "random": run()}, "test side": {"AD": run(), "random": run()}}
    fig = plotting.plot_bandit_sides(sides, "title", horizon=10)
    assert len(fig.axes) == 4 and [t.get_text() for t in fig.legends[0].get_texts()] == ["AD", "random"]
    bars = plotting.plot_pull_shares(sides, [0], "arm 0", ((1, 5), (16, 20)), n_arms=10)
    assert [t.get_text() for t in bars.legends[0].get_texts()] == ["AD", "random", "uniform choice"]
    plt.close("all")
