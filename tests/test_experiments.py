import dataclasses

import numpy as np
import pytest

from adlib.data import LearningHistories, episodes_at_level
from adlib.experiments import bandit_experiment, config_differences, darkroom_experiment


@pytest.mark.parametrize("scale", ["small", "full"])
def test_experiments_are_consistent(scale):
    b, d = bandit_experiment(scale), darkroom_experiment(scale)
    assert b.model.context_len == b.optimistic_data.n_steps == b.horizon
    assert config_differences(b.optimistic_data, b.thompson_data) == {"source"}
    assert d.model.context_len == d.context_episodes * d.horizon
    assert d.model.grid_size == d.size and d.model.n_observations == d.size**2
    assert set(d.train_goals).isdisjoint(d.test_goals) and len(d.test_goals) == 16
    # AD trains on every subsample-th episode; the context must fit in the subsampled histories.
    assert d.source.n_episodes // d.subsample >= d.context_episodes
    with pytest.raises(ValueError, match="scale"):
        darkroom_experiment("medium")


def test_config_differences():
    d = darkroom_experiment("small")
    ed = dataclasses.replace(d.source, source="expert")
    assert config_differences(d.source, ed) == {"source"}
    assert config_differences(d.model, d.model) == set()
    with pytest.raises(TypeError, match="one dataclass type"):
        config_differences(d.model, d.train)


def test_episodes_at_level_picks_closest_episodes_in_order():
    rewards = np.zeros((1, 5, 2), dtype=np.float32)
    rewards[0, :, 0] = [0, 1, 1, 0, 1]  # episode returns 0,1,1,0,1 ...
    rewards[0, :, 1] = [0, 0, 1, 0, 1]  # ... plus these: 0, 1, 2, 0, 2
    h = LearningHistories(np.arange(10)[None] % 4, np.arange(10)[None] % 5, rewards.reshape(1, 10), 5, 4)
    obs, act, rew, achieved = episodes_at_level(h, np.array([2.0]), level=1.0, n_episodes=2, episode_len=2)
    np.testing.assert_array_equal(act, [[4, 0, 3, 4]])  # episodes 2 and 4 (returns 2 and 2), in order
    assert achieved[0] == 1.0 and rew.sum() == 4
    _, _, _, low = episodes_at_level(h, np.array([2.0]), level=0.0, n_episodes=2, episode_len=2)
    assert low[0] == 0.0
    with pytest.raises(ValueError, match="level"):
        episodes_at_level(h, np.array([2.0]), level=1.5, n_episodes=1, episode_len=2)


@pytest.mark.parametrize("scale", ["small", "full"])
def test_out_of_distribution_configs_shift_only_the_task_distribution(scale):
    from adlib.experiments import out_of_distribution_experiment

    x, b = out_of_distribution_experiment(scale), bandit_experiment(scale)
    assert x.model == b.model and x.train == b.train and x.unrestricted_data == b.thompson_data
    assert config_differences(x.arm_swap_data, b.thompson_data) == {"excluded_best_arms"}
    assert config_differences(x.arm_swap_test, x.arm_swap_data) == {"excluded_best_arms", "required_best_arm"}
    assert config_differences(x.odd_even_data, b.thompson_data) == {"kind", "favoured_arms"}
    assert config_differences(x.odd_even_test, x.odd_even_data) == {"favoured_arms"}
    assert x.long_horizon >= 2 * x.horizon


def test_chapter4_arm_swap_samplers_never_and_always_make_arm_0_best():
    """The chapter's own task distributions: arm 0 is never best in training, always in the swapped test."""
    from adlib.data import sample_bandit_tasks
    from adlib.experiments import out_of_distribution_experiment

    x = out_of_distribution_experiment("full")
    rng = np.random.default_rng(0)
    train, test = sample_bandit_tasks(x.arm_swap_data, 50_000, rng), sample_bandit_tasks(x.arm_swap_test, 50_000, rng)
    assert (train.best_arm != 0).all()
    assert (test.best_arm == 0).all()
    # Neither sampler is degenerate: training spreads the best arm over arms 1-9, and arm 0's
    # training means are those of an arm that is never best, yet still vary (arm 0 is pulled and pays).
    assert set(np.unique(train.best_arm)) == set(range(1, 10))
    assert train.means[:, 0].std() > 0.5


def test_chapter4_odd_even_samplers_favour_odd_in_training_and_even_at_test():
    from adlib.data import sample_bandit_tasks
    from adlib.experiments import EVEN_ARMS, ODD_ARMS, out_of_distribution_experiment

    x = out_of_distribution_experiment("full")
    n, rng = 40_000, np.random.default_rng(1)
    tolerance = 4 * np.sqrt(0.95 * 0.05 / n)
    for config, favoured, other in ((x.odd_even_data, ODD_ARMS, EVEN_ARMS), (x.odd_even_test, EVEN_ARMS, ODD_ARMS)):
        tasks = sample_bandit_tasks(config, n, rng)
        assert tasks.kind == "bernoulli"
        favours = tasks.means[:, list(favoured)].min(axis=1) > tasks.means[:, list(other)].max(axis=1)
        assert abs(favours.mean() - 0.95) < tolerance
        assert abs(np.isin(tasks.best_arm, favoured).mean() - 0.95) < tolerance
