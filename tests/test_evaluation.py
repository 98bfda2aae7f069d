import numpy as np
import pytest

from adlib.envs import sample_gaussian_bandits
from adlib.evaluation import bandit_metrics, evaluate_bandit_groups, evaluate_bandit_policy, rollout
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
    from adlib.evaluation import compare

    tasks = sample_gaussian_bandits(400, 10, rng)
    g = evaluate_bandit_groups(lambda i: ThompsonSampling(10), tasks, 4, 30, seed=0)
    per_group = g.pct_best_arm[:, 9:30].mean(axis=1)
    assert g.mean_pct_best_arm(10, 30) == pytest.approx((per_group.mean(), per_group.std(ddof=1)))
    assert g.pct_best_arm_at(30)[0] == pytest.approx(g.pct_best_arm[:, 29].mean())
    assert g.regret_at(30)[0] == pytest.approx(g.cumulative_regret[:, 29].mean())
    assert compare((50.0, 1.0), (45.0, 0.0)) == "above"
    assert compare((50.0, 3.0), (45.0, 0.0)) == "level with"  # gap inside 2 std
    assert compare((40.0, 0.1), (45.0, 0.0)) == "below"
    assert compare((45.5, 0.01), (45.0, 0.0)) == "level with"  # below the 1-point floor


def test_episode_returns_and_steps_to_reach():
    from adlib.evaluation import episode_returns, steps_to_reach

    rewards = np.array([[0, 1, 1, 0, 1, 1], [0, 0, 0, 1, 1, 1]], dtype=np.float32)
    np.testing.assert_array_equal(episode_returns(rewards, 3), [[2, 2], [0, 3]])
    with pytest.raises(ValueError, match="whole number"):
        episode_returns(rewards, 4)
    assert steps_to_reach([0.1, 0.5, 0.9, 0.95], 0.8, 20) == 60  # three episodes of 20 steps
    assert steps_to_reach([0.1, 0.5], 0.8, 20) == float("inf")
