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
