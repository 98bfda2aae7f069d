import numpy as np
import pytest

from adlib.envs import BanditEnv, BanditTasks, sample_bernoulli_bandits, sample_gaussian_bandits
from adlib.experiments import EVEN_ARMS, ODD_ARMS


def test_gaussian_rewards_are_mean_plus_noise_tape(rng):
    tasks = BanditTasks(np.array([[0.0, 1.0, -2.0], [5.0, 0.0, 0.0]]))
    env = tasks.env(n_steps=3, seed=7)
    env.reset()
    _, r = env.step(np.array([1, 0]))
    np.testing.assert_allclose(r, [1.0 + env.noise[0, 0], 5.0 + env.noise[1, 0]], rtol=1e-6)
    _, r = env.step(np.array([2, 2]))
    np.testing.assert_allclose(r, [-2.0 + env.noise[0, 1], 0.0 + env.noise[1, 1]], rtol=1e-6)


def test_gaussian_reward_distribution(rng):
    tasks = BanditTasks(np.tile([[0.5, -1.0]], (20_000, 1)))
    env = tasks.env(n_steps=1, seed=0)
    env.reset()
    _, r = env.step(np.zeros(20_000, dtype=int))
    assert abs(r.mean() - 0.5) < 0.03 and abs(r.std() - 1.0) < 0.03


def test_bernoulli_rewards_are_binary_with_right_rate():
    tasks = BanditTasks(np.tile([[0.2, 0.9]], (20_000, 1)), kind="bernoulli")
    env = tasks.env(n_steps=1, seed=3)
    env.reset()
    _, r = env.step(np.ones(20_000, dtype=int))
    assert set(np.unique(r)) <= {0.0, 1.0}
    assert abs(r.mean() - 0.9) < 0.01


def test_common_random_numbers_same_seed_same_rewards(rng):
    tasks = sample_gaussian_bandits(50, 10, rng)
    a, b = tasks.env(5, seed=11), tasks.env(5, seed=11)
    a.reset(), b.reset()
    actions = rng.integers(0, 10, 50)
    np.testing.assert_array_equal(a.step(actions)[1], b.step(actions)[1])
    c = tasks.env(5, seed=12)
    c.reset()
    assert not np.array_equal(c.step(actions)[1], b.step(actions)[1])


def test_subset_keeps_tasks_and_noise(rng):
    tasks = sample_gaussian_bandits(10, 4, rng)
    env = tasks.env(3, seed=1)
    sub = env.subset(slice(2, 5))
    np.testing.assert_array_equal(sub.tasks.means, tasks.means[2:5])
    np.testing.assert_array_equal(sub.noise, env.noise[2:5])


def test_regret_and_best_arm():
    tasks = BanditTasks(np.array([[0.0, 2.0, 1.0]]))
    assert tasks.best_arm.tolist() == [1]
    np.testing.assert_allclose(tasks.regret(np.array([[0, 1, 2]])), [[2.0, 0.0, 1.0]])


def test_excluded_best_arm_never_best(rng):
    tasks = sample_gaussian_bandits(20_000, 10, rng, excluded_best_arms=(0,))
    assert (tasks.best_arm != 0).all()
    # The other arms share the best-arm role evenly (1/9 each).
    counts = np.bincount(tasks.best_arm, minlength=10)[1:] / 20_000
    assert np.all(np.abs(counts - 1 / 9) < 0.015)


def test_required_best_arm_always_best(rng):
    tasks = sample_gaussian_bandits(5_000, 10, rng, required_best_arm=0)
    assert (tasks.best_arm == 0).all()
    # The best mean is still distributed like the max of 10 standard normals (mean ~1.54).
    assert abs(tasks.best_mean.mean() - 1.54) < 0.03
    bern = sample_bernoulli_bandits(2_000, 10, rng, required_best_arm=3)
    assert (bern.best_arm == 3).all() and bern.means.min() >= 0 and bern.means.max() <= 1


@pytest.mark.parametrize("sampler", [sample_bernoulli_bandits, sample_gaussian_bandits])
def test_odd_even_split_proportions(rng, sampler):
    n = 40_000
    train = sampler(n, 10, rng, favoured_arms=ODD_ARMS, favoured_fraction=0.95)
    test = sampler(n, 10, rng, favoured_arms=EVEN_ARMS, favoured_fraction=0.95)
    tolerance = 4 * np.sqrt(0.95 * 0.05 / n)  # 4 binomial standard errors
    for tasks, favoured, other in ((train, ODD_ARMS, EVEN_ARMS), (test, EVEN_ARMS, ODD_ARMS)):
        m = tasks.means
        favours = m[:, favoured].min(axis=1) > m[:, other].max(axis=1)
        disfavours = m[:, other].min(axis=1) > m[:, favoured].max(axis=1)
        # Every task is one or the other: a complete ranking split, never a mixture.
        assert (favours ^ disfavours).all()
        assert abs(favours.mean() - 0.95) < tolerance
        assert abs(np.isin(tasks.best_arm, favoured).mean() - 0.95) < tolerance
        # No arm is singled out within a side: the best arm is spread evenly over the favoured arms.
        share = np.bincount(tasks.best_arm, minlength=10)[list(favoured)] / n
        assert np.all(np.abs(share - 0.95 / 5) < 0.01)
    # The split moves means between arms but keeps each task's set of means (the prior's order statistics).
    assert abs(np.sort(train.means, axis=1)[:, -1].mean() - np.sort(test.means, axis=1)[:, -1].mean()) < 0.02


def test_favoured_fraction_extremes(rng):
    always = sample_bernoulli_bandits(2_000, 10, rng, favoured_arms=ODD_ARMS, favoured_fraction=1.0)
    never = sample_bernoulli_bandits(2_000, 10, rng, favoured_arms=ODD_ARMS, favoured_fraction=0.0)
    assert (always.best_arm % 2 == 1).all() and (never.best_arm % 2 == 0).all()
    # Unequal sides: the favoured arm alone holds the top mean in every favoured task.
    single = sample_gaussian_bandits(2_000, 10, rng, favoured_arms=(4,), favoured_fraction=1.0)
    assert (single.best_arm == 4).all()


@pytest.mark.parametrize(
    "means, kind, match",
    [
        (np.zeros((3, 1)), "gaussian", "at least 2 arms"),
        (np.zeros(5), "gaussian", "2-D"),
        (np.full((2, 3), 1.5), "bernoulli", r"\[0, 1\]"),
        (np.zeros((2, 3)), "poisson", "kind"),
        (np.array([[0.0, np.nan]]), "gaussian", "finite"),
    ],
)
def test_invalid_tasks_raise(means, kind, match):
    with pytest.raises(ValueError, match=match):
        BanditTasks(means, kind)


def test_invalid_sampler_and_step_arguments(rng):
    with pytest.raises(ValueError, match="at least 2 arms"):
        sample_gaussian_bandits(10, 1, rng)
    with pytest.raises(ValueError, match="excludes every arm"):
        sample_gaussian_bandits(10, 3, rng, excluded_best_arms=(0, 1, 2))
    with pytest.raises(ValueError, match="does not exist"):
        sample_gaussian_bandits(10, 3, rng, required_best_arm=5)
    with pytest.raises(ValueError, match="both required and excluded"):
        sample_gaussian_bandits(10, 3, rng, excluded_best_arms=(1,), required_best_arm=1)
    with pytest.raises(ValueError, match="favours nothing"):
        sample_bernoulli_bandits(10, 3, rng, favoured_arms=(0, 1, 2))
    with pytest.raises(ValueError, match="cannot be combined"):
        sample_bernoulli_bandits(10, 3, rng, favoured_arms=(1,), excluded_best_arms=(0,))
    with pytest.raises(ValueError, match="favoured_fraction"):
        sample_bernoulli_bandits(10, 3, rng, favoured_arms=(1,), favoured_fraction=1.5)
    with pytest.raises(ValueError, match="does not exist"):
        sample_bernoulli_bandits(10, 3, rng, favoured_arms=(3,))
    env = sample_gaussian_bandits(4, 3, rng).env(1, seed=0)
    env.reset()
    with pytest.raises(ValueError, match="actions must lie"):
        env.step(np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.array([0, 1]))
    env.step(np.zeros(4, dtype=int))
    with pytest.raises(RuntimeError, match="noise tape"):
        env.step(np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="n_steps"):
        BanditEnv(env.tasks, n_steps=0, seed=0)
