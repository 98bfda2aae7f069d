import math

import numpy as np
import pytest

from adlib.envs import BanditTasks, sample_gaussian_bandits
from adlib.bandit_metrics import evaluate_bandit_policy
from adlib.sources import (
    UCB1,
    BestArmOracle,
    EpsilonGreedy,
    OptimisticGreedy,
    RandomPolicy,
    ThompsonSampling,
    argmax_random_ties,
)


def test_argmax_random_ties_is_uniform_over_ties(rng):
    values = np.tile([[1.0, 3.0, 3.0, 0.0, 3.0]], (30_000, 1))
    picks = argmax_random_ties(values, rng)
    assert set(np.unique(picks)) == {1, 2, 4}
    assert np.all(np.abs(np.bincount(picks, minlength=5)[[1, 2, 4]] / 30_000 - 1 / 3) < 0.02)


def test_optimistic_greedy_update_known_value(rng):
    policy = OptimisticGreedy(3, initial_value=15.0, step_size=0.1)
    policy.reset(1, rng)
    policy.observe(np.array([2]), np.array([1.0]))
    np.testing.assert_allclose(policy.q, [[15.0, 15.0, 15.0 + 0.1 * (1.0 - 15.0)]])
    policy = OptimisticGreedy(3, initial_value=5.0, step_size=None)
    policy.reset(1, rng)
    for r in (1.0, 2.0, 6.0):
        policy.observe(np.array([0]), np.array([r]))
    assert policy.q[0, 0] == pytest.approx(3.0)  # sample average


def test_optimistic_greedy_tries_every_arm_first(rng):
    tasks = sample_gaussian_bandits(500, 10, rng)
    from adlib.rollouts import rollout

    traj = rollout(tasks.env(10, seed=0), OptimisticGreedy(10), 10, seed=0)
    assert all(len(set(row)) == 10 for row in traj.actions)


def test_optimistic_greedy_reproduces_reference_curve(rng):
    # ad-facts.md: ~43% best arm at step 11, ~13% at step 100, regret ~144 over 100 steps.
    tasks = sample_gaussian_bandits(20_000, 10, rng)
    m = evaluate_bandit_policy(OptimisticGreedy(10, 15.0, 0.1), tasks, 100, seed=1)
    assert abs(m.pct_best_arm[10] - 43) < 2.5
    assert abs(m.pct_best_arm[99] - 13) < 2.0
    assert abs(m.cumulative_regret[-1] - 144) < 4


@pytest.mark.parametrize("policy, regret, tol", [(ThompsonSampling(10), 38, 3), (UCB1(10), 43, 3), (RandomPolicy(10), 154, 4)])
def test_reference_regrets(rng, policy, regret, tol):
    tasks = sample_gaussian_bandits(8_000, 10, rng)
    m = evaluate_bandit_policy(policy, tasks, 100, seed=2)
    assert abs(m.cumulative_regret[-1] - regret) < tol


def test_ucb1_known_choice(rng):
    policy = UCB1(3, c=math.sqrt(2))
    policy.reset(1, rng)
    first = set()
    for r in (0.0, 1.0, 0.5):  # each arm once first
        a = policy.act(np.zeros(1))
        first.add(int(a[0]))
        policy.observe(a, np.array([r if a[0] == 0 else {1: 1.0, 2: 0.5}[int(a[0])]]))
    assert first == {0, 1, 2}
    # Means 0, 1, 0.5 with one pull each: scores mean + sqrt(2 ln 3); arm 1 wins.
    assert policy.act(np.zeros(1))[0] == 1
    # Pull arm 1 many more times at reward 0: its mean falls to ~0.09 and the bonus shrinks.
    for _ in range(10):
        policy.observe(np.array([1]), np.array([0.0]))
    scores = policy.sums / policy.counts + math.sqrt(2) * np.sqrt(math.log(policy.t) / policy.counts)
    assert policy.act(np.zeros(1))[0] == scores.argmax()


def test_thompson_concentrates_on_best_arm_with_much_data(rng):
    policy = ThompsonSampling(3)
    policy.reset(100, rng)
    policy.counts[:] = 1e6
    policy.sums[:] = np.array([0.0, 0.5, 0.2]) * 1e6
    assert (policy.act(np.zeros(100)) == 1).all()
    bern = ThompsonSampling(3, kind="bernoulli")
    bern.reset(100, rng)
    bern.counts[:] = 1e4
    bern.sums[:] = np.array([0.1, 0.2, 0.9]) * 1e4
    assert (bern.act(np.zeros(100)) == 2).all()


def test_epsilon_greedy_explores_at_rate(rng):
    policy = EpsilonGreedy(4, epsilon=0.4)
    policy.reset(40_000, rng)
    policy.counts[:, 0], policy.sums[:, 0] = 1, 10.0  # arm 0 clearly greedy
    share_greedy = (policy.act(np.zeros(40_000)) == 0).mean()
    assert abs(share_greedy - (0.6 + 0.4 / 4)) < 0.01


def test_oracle_always_best(rng):
    tasks = sample_gaussian_bandits(300, 10, rng)
    m = evaluate_bandit_policy(BestArmOracle(tasks.best_arm, 10), tasks, 20, seed=0)
    assert (m.pct_best_arm == 100).all() and m.cumulative_regret[-1] == 0
    with pytest.raises(ValueError, match="best arm of 300 tasks"):
        BestArmOracle(tasks.best_arm, 10).reset(5, rng)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: OptimisticGreedy(10, step_size=-0.1), "step_size"),
        (lambda: OptimisticGreedy(10, step_size=1.5), "step_size"),
        (lambda: OptimisticGreedy(10, initial_value=float("inf")), "initial_value"),
        (lambda: OptimisticGreedy(1), "at least 2 arms"),
        (lambda: EpsilonGreedy(10, epsilon=1.2), "epsilon"),
        (lambda: UCB1(10, c=-1), "c must be"),
        (lambda: ThompsonSampling(10, kind="poisson"), "kind"),
        (lambda: RandomPolicy(0), "at least 2 arms"),
    ],
)
def test_invalid_source_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bandit_tasks_kind_used_by_sources(rng):
    tasks = BanditTasks(rng.random((500, 5)), kind="bernoulli")
    m = evaluate_bandit_policy(ThompsonSampling(5, kind="bernoulli"), tasks, 100, seed=0)
    assert m.pct_best_arm[-10:].mean() > 40


def test_mixture_entropy_known_values():
    from adlib.sources import mixture_entropy

    np.testing.assert_allclose(mixture_entropy([0.0, 1.0, 0.0, 0.0], [1, 1, 2, 3], 3), [0.0, np.log(3), np.log(2), np.log(3)])
    p = np.array([1 - 0.5 + 0.5 / 3, 0.5 / 3, 0.5 / 3])  # epsilon 0.5, one greedy action
    np.testing.assert_allclose(mixture_entropy(0.5, 1, 3), -(p * np.log(p)).sum())
    with pytest.raises(ValueError, match="ties"):
        mixture_entropy(0.5, 4, 3)


def test_q_learning_policy_entropy_matches_what_act_draws(rng):
    from adlib.sources import QLearning

    q = QLearning(4, 3, epsilon_start=0.3, epsilon_end=0.3, initial_value=0.0)
    q.reset(2, rng)
    q.q[0, 1] = [1.0, 0.0, 0.0]  # env 0 at state 1: one greedy action; env 1 at state 2: a 3-way tie
    obs = np.array([1, 2])
    h = q.policy_entropy(obs)
    draws = np.array([q.act(obs) for _ in range(20000)])  # [draws, envs]
    for env in range(2):
        p = np.bincount(draws[:, env], minlength=3) / len(draws)
        assert abs(-(p * np.log(p)).sum() - h[env]) < 0.01
    np.testing.assert_allclose(h[1], np.log(3))
