"""Chapter 5's machinery: Dark Room Hard and Dark Key-to-Door sources, splits and metrics."""

import dataclasses

import numpy as np
import pytest

from adlib.data import (
    HardDarkRoomDataConfig,
    KeyToDoorDataConfig,
    darkroom_histories,
    generate_darkroom_histories,
    key_to_door_histories,
)
from adlib.data import key_to_door_source as data_source
from adlib.envs import DarkRoomEnv, KeyToDoorEnv, darkroom_goals, darkroom_split, key_door_split
from adlib.grid_evaluation import GridEvaluation, episode_ends_from_rewards, episodes_from_dones, evaluate_on_goals, evaluate_on_key_doors, steps_to_reach
from adlib.rollouts import rollout
from adlib.experiments import harder_rooms_experiment
from adlib.sources import DarkRoomExpert, KeyToDoorExpert, QLearning, RandomPolicy


def test_key_door_split_is_fixed_disjoint_and_never_puts_key_on_door():
    train, test = key_door_split(9, n_train=2000, n_test=40)
    assert train.shape == (2000, 2) and test.shape == (40, 2)
    assert (train[:, 0] != train[:, 1]).all() and (test[:, 0] != test[:, 1]).all()
    assert not {tuple(p) for p in train} & {tuple(p) for p in test}
    assert len({tuple(p) for p in train}) == 2000
    again_train, again_test = key_door_split(9, n_train=2000, n_test=40)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(test, again_test)
    assert train.min() >= 0 and train.max() < 81
    with pytest.raises(ValueError, match="n_train"):
        key_door_split(9, n_train=6480, n_test=1)
    with pytest.raises(ValueError, match="different cells"):
        KeyToDoorDataConfig(pairs=((3, 3),))
    with pytest.raises(ValueError, match="whole cell"):
        KeyToDoorDataConfig(pairs=((3, 4.5),))
    with pytest.raises(ValueError, match="at least one"):
        KeyToDoorDataConfig(pairs=())
    with pytest.raises(ValueError, match="source"):
        KeyToDoorDataConfig(pairs=((1, 2),), source="a3c")


@pytest.mark.parametrize("scale", ["small", "full"])
def test_held_out_tasks_are_never_trained_on(scale):
    x = harder_rooms_experiment(scale)
    assert not set(x.hard_train_goals) & set(x.hard_test_goals)
    assert set(x.hard_source.goals) == set(x.hard_train_goals)
    assert not set(x.key_door_train_pairs) & set(x.key_door_test_pairs)
    assert set(x.key_door_source.pairs) == set(x.key_door_train_pairs)
    assert len(x.key_door_train_pairs) <= 2000
    assert x.hard_expert.goals == x.hard_source.goals and x.key_door_expert.pairs == x.key_door_source.pairs
    # validation tasks (where `adlib trial` scores variants) are neither trained on nor held out
    for train, val, test in ((x.hard_train_goals, x.hard_validation_goals, x.hard_test_goals),
                             (x.key_door_train_pairs, x.key_door_validation_pairs, x.key_door_test_pairs)):
        assert len(val) == len(test) and not set(val) & set(train) and not set(val) & set(test)
    if scale == "full":
        assert (len(x.hard_train_goals), len(x.hard_validation_goals), len(x.hard_test_goals)) == (209, 40, 40)


def test_no_held_out_pair_or_goal_appears_in_any_training_history():
    x = harder_rooms_experiment("small")
    for config in (x.key_door_source, x.key_door_expert):
        data = key_to_door_histories(config)
        trained = set(zip(data.meta["key"], data.meta["door"]))
        assert trained == set(x.key_door_train_pairs)
        assert not trained & set(x.key_door_test_pairs)
    hard = darkroom_histories(x.hard_source)
    assert data.n_observations == 81 and hard.n_observations == 17 * 17
    assert not set(hard.meta["goal"]) & set(x.hard_test_goals)


def test_q_learning_reward_stages_read_the_key_from_rewards():
    q = QLearning(4, 2, learning_rate=1.0, discount=0.5, epsilon_start=0.0, epsilon_end=0.0, reward_stages=2)
    q.reset(1, np.random.default_rng(0))
    assert q.q.shape == (1, 8, 2)
    q.q[0, 4 + 2] = [0.0, 3.0]  # (cell 2, holding the key) is worth 3
    q.act(np.array([1]))
    q.observe(np.array([0]), np.array([1.0]), next_obs=np.array([2]), done=np.array([False]))  # the key
    assert q.q[0, 1, 0] == pytest.approx(1.0 + 0.5 * 3.0)  # bootstrapped from stage 1
    assert q.stage[0] == 1
    q.act(np.array([2]))
    assert q.state[0] == 4 + 2
    q.observe(np.array([1]), np.array([1.0]), next_obs=np.array([3]), done=np.array([True]), terminated=np.array([True]))
    assert q.q[0, 6, 1] == pytest.approx(1.0)  # the door: terminal, no bootstrap
    assert q.stage[0] == 0  # a new episode starts without the key
    with pytest.raises(ValueError, match="reward_stages"):
        QLearning(4, 2, reward_stages=0)
    with pytest.raises(ValueError, match="max_episode_len"):
        QLearning(4, 2, episode_replay=True)


def test_episode_replay_carries_a_reward_back_along_the_whole_path():
    """A 1-D corridor 0 -> 1 -> 2 -> 3 (goal): one rewarded walk values every step at once."""
    def walk(replay):
        q = QLearning(4, 2, learning_rate=1.0, discount=0.5, epsilon_start=0.0, epsilon_end=0.0,
                      episode_replay=replay, max_episode_len=3)
        q.reset(1, np.random.default_rng(0))
        for cell in range(3):
            q.act(np.array([cell]))
            last = cell == 2
            q.observe(np.array([1]), np.array([float(last)]), next_obs=np.array([cell + 1]), done=np.array([last]),
                      terminated=np.array([last]))
        return q.q[0, :3, 1]
    np.testing.assert_allclose(walk(replay=False), [0.0, 0.0, 1.0])  # one step per visit
    np.testing.assert_allclose(walk(replay=True), [0.25, 0.5, 1.0])  # discounted all the way back


def _success_by_episode(traj, n_episodes):
    returns, _ = episodes_from_dones(traj.rewards, traj.dones, n_episodes)
    return (returns > 0).mean(axis=0)


def test_hard_source_goes_from_rarely_to_reliably_finding_its_goal():
    goals = darkroom_goals(17)[::7]
    config = HardDarkRoomDataConfig(goals=tuple(int(g) for g in (goals[:, 0] * 17 + goals[:, 1])), histories_per_goal=1,
                                    n_episodes=150, learning_rate=1.0, discount=0.95, initial_value=0.1,
                                    epsilon_start=0.0, epsilon_end=0.0, epsilon_decay_episodes=1)
    data = generate_darkroom_histories(config)
    assert data.n_steps == 3000 and data.rewards.max() == 1
    env = DarkRoomEnv(goals, 17, 20, hard=True)
    traj = rollout(env, QLearning(289, 5, learning_rate=1.0, discount=0.95, epsilon_start=0.0, epsilon_end=0.0,
                                  initial_value=0.1, episode_replay=True, max_episode_len=20), 3000, seed=0)
    success = _success_by_episode(traj, 140)
    assert success[:10].mean() < 0.3 and success[-10:].mean() > 0.75


def test_key_to_door_source_learns_and_expert_is_optimal():
    train, _ = key_door_split(9, n_train=60, n_test=1)
    config = KeyToDoorDataConfig(pairs=tuple(map(tuple, train.tolist())), n_steps=2000)
    data = key_to_door_histories(config)
    keys, doors = config.cells()
    env = KeyToDoorEnv(keys, doors, seed=config.seed)
    np.testing.assert_array_equal(env.reset(), data.observations[:, 0])  # histories start where the room does
    learner = QLearning(81, 5, learning_rate=1.0, discount=0.95, epsilon_start=0.0, epsilon_end=0.0, initial_value=0.1,
                        reward_stages=2, episode_replay=True, max_episode_len=50)
    returns, _ = episodes_from_dones(*_rewards_dones(env, learner, 2000), 40)
    assert returns[:, :3].mean() < 1.0 and returns[:, -10:].mean() > 1.9
    expert_returns, lengths = episodes_from_dones(*_rewards_dones(env, KeyToDoorExpert(keys, doors), 500), 10)
    assert (expert_returns == 2).all()
    assert (lengths <= 2 * 16 + 1).all()  # start -> key -> door, each at most 16 steps, plus a no-op on the key


def test_episode_ends_from_rewards_match_the_rooms():
    train, _ = key_door_split(9, n_train=30, n_test=1)
    config = KeyToDoorDataConfig(pairs=tuple(map(tuple, train.tolist())), n_steps=600)
    keys, doors = config.cells()
    traj = rollout(KeyToDoorEnv(keys, doors, seed=4), data_source(config, keys, doors), 600, seed=1)
    np.testing.assert_array_equal(episode_ends_from_rewards(traj.rewards, 50, 2), traj.dones)
    goals = darkroom_goals(17)[::11]
    traj = rollout(DarkRoomEnv(goals, 17, 20, hard=True), RandomPolicy(5), 400, seed=2)
    np.testing.assert_array_equal(episode_ends_from_rewards(traj.rewards, 20, 1), traj.dones)
    with pytest.raises(ValueError, match="rewards_to_end"):
        episode_ends_from_rewards(traj.rewards, 20, 0)


def _rewards_dones(env, policy, n_steps):
    traj = rollout(env, policy, n_steps, seed=3)
    return traj.rewards, traj.dones


def test_episodes_from_dones_known_values():
    rewards = np.array([[0, 1, 0, 0, 1, 1, 0], [1, 0, 0, 0, 0, 0, 1]], dtype=float)
    dones = np.array([[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 1, 0]], dtype=bool)
    returns, lengths = episodes_from_dones(rewards, dones, 2)
    np.testing.assert_array_equal(returns, [[1, 1], [1, 0]])
    np.testing.assert_array_equal(lengths, [[2, 3], [3, 3]])
    with pytest.raises(ValueError, match="finished only 2"):  # the second run's third episode is unfinished
        episodes_from_dones(rewards, dones, 3)
    with pytest.raises(ValueError, match="matching"):
        episodes_from_dones(rewards, dones[:, :3], 1)


def test_rollout_until_episodes_stops_early_and_agrees_with_a_full_rollout():
    goals = np.array([[8, 9], [8, 12], [2, 2]])
    env = DarkRoomEnv(goals, 17, 20, hard=True)
    full = rollout(env, DarkRoomExpert(goals, 17), 100, seed=0)
    short = rollout(env, DarkRoomExpert(goals, 17), 100, seed=0, until_episodes=2)
    assert short.observations.shape == (3, 2 * 12)  # the farthest goal is 12 steps away
    np.testing.assert_array_equal(short.actions, full.actions[:, :24])
    with pytest.raises(ValueError, match="episodic"):
        from adlib.envs import BanditTasks
        tasks = BanditTasks(np.zeros((2, 3)), "gaussian")
        rollout(tasks.env(10, seed=0), RandomPolicy(3), 10, seed=0, until_episodes=1)


def test_hard_and_key_door_evaluations_score_experts_as_optimal_and_random_low():
    hard_goals = [8 * 17 + 9, 0, 16 * 17 + 16]
    expert = DarkRoomExpert(np.stack(np.divmod(np.tile(hard_goals, 2), 17), axis=1), 17)
    ev = evaluate_on_goals([expert], hard_goals, n_episodes=5, n_eval_seeds=2, seed=0, size=17, hard=True)
    assert ev.returns.shape == (2, 3, 5) and (ev.returns == 1).all()
    np.testing.assert_array_equal(ev.lengths[0, :, 0], [1, 16, 16])  # Manhattan distance from (8, 8)
    assert ev.last_episodes(5) == (1.0, 0.0)
    np.testing.assert_array_equal(ev.first_success(), [1.0, 1.0])
    random_ev = evaluate_on_goals([RandomPolicy(5)], hard_goals, n_episodes=20, n_eval_seeds=2, seed=0, size=17, hard=True)
    assert random_ev.rate(1).mean() < 0.5
    pairs = np.array([[0, 80], [40, 3]])
    keys, doors = (np.stack(np.divmod(np.tile(pairs[:, i], 2), 9), axis=1) for i in (0, 1))
    kd = evaluate_on_key_doors([KeyToDoorExpert(keys, doors)], pairs, n_episodes=4, n_eval_seeds=2, seed=0)
    assert (kd.returns == 2).all() and kd.rate(2).min() == 1.0
    kd_random = evaluate_on_key_doors([RandomPolicy(5)], pairs, n_episodes=4, n_eval_seeds=2, seed=0)
    assert kd_random.rate(2).mean() < 0.5 and kd_random.lengths.max() == 50


def test_grid_evaluation_rates_and_first_success_known_values():
    returns = np.array([[[0, 1, 1]], [[0, 0, 0]]], dtype=float)  # two runs (two groups), one task, three episodes
    ev = GridEvaluation(returns, np.array([1.0]), np.zeros((2, 1, 3), dtype=np.int16), np.array([0, 1]))
    np.testing.assert_array_equal(ev.rate(1), [[0, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(ev.first_success(), [2, 4])  # never: n_episodes + 1
    one_group = GridEvaluation(returns, np.array([1.0]), np.zeros((2, 1, 3), dtype=np.int16), np.array([0, 0]))
    np.testing.assert_array_equal(one_group.rate(1), [[0, 1, 1], [0, 0, 0]])  # a baseline's runs keep their spread
    np.testing.assert_array_equal(one_group.curves_by_group(), [[0, 0.5, 0.5]])
    with pytest.raises(ValueError, match="fixed-length"):
        ev.mean_lengths()


def test_success_after_a_success_and_after_a_miss_known_values():
    # run 0: two tasks; task 0 hits 1 1 0 1, task 1 misses 0 0 0 0; run 1 always hits
    returns = np.array([[[1, 1, 0, 1], [0, 0, 0, 0]], [[1, 1, 1, 1], [1, 1, 1, 1]]], dtype=float)
    ev = GridEvaluation(returns, np.array([1.0, 1.0]), np.zeros((2, 2, 4), dtype=np.int16), np.array([0, 1]))
    # run 0 after a hit: (hit, miss) -> 1/2; after a miss: (hit) + (miss, miss, miss) -> 1/4
    np.testing.assert_allclose(ev.success_after(previous_succeeded=True), [0.5, 1.0])
    after_miss = ev.success_after(previous_succeeded=False)
    assert after_miss[0] == 0.25 and np.isnan(after_miss[1])  # run 1 never missed
    np.testing.assert_array_equal(ev.ever_succeeded(), [0.5, 1.0])
    # two runs in one unit: a run without such episodes is left out of the unit's mean
    three = np.concatenate([returns, returns[:1]])
    grouped = GridEvaluation(three, ev.optimal, np.zeros((3, 2, 4), dtype=np.int16), np.array([0, 0, 1]))
    np.testing.assert_allclose(grouped.success_after(previous_succeeded=False), [0.25, 0.25])
    # Key-to-Door returns: 2 (door) is rarer than 1 (key), and kept differently
    key_door = np.array([[[2, 1, 2, 2, 0]], [[1, 2, 1, 2, 1]]], dtype=float)
    kd = GridEvaluation(key_door, np.array([2.0]), np.zeros((2, 1, 5), dtype=np.int16), np.array([0, 1]))
    np.testing.assert_allclose(kd.success_after(previous_succeeded=True, at_least=2), [1 / 3, 0.0])  # 2->1, 2->2, 2->0; 2->1
    np.testing.assert_allclose(kd.success_after(previous_succeeded=True, at_least=1), [3 / 4, 1.0])  # every >=1 then 0 once


def test_moves_toward_a_known_cell_known_values():
    # A 3x3 room, the key on cell 0 (top left). Episode 1 (3 steps) ends standing on the key;
    # episode 2 (4 steps) starts elsewhere, and each run then moves as written.
    first = [4, 1, 0]
    obs = np.array([[first + [4, 5, 2, 1]],  # away (2 -> 3), closer (3 -> 2), closer (2 -> 1): 2 of 3
                    [first + [1, 0, 3, 6]],  # closer (1 -> 0), then the key is reached: later moves do not count
                    [[4, 5, 2, 1, 4, 5, 2]]], dtype=np.int16)  # never reaches the key: nothing counts
    lengths = np.array([[[3, 4]], [[3, 4]], [[3, 4]]])
    ev = GridEvaluation(np.zeros((3, 1, 2)), np.array([2.0]), obs, np.array([0, 1, 2]), lengths)
    toward = ev.moves_toward_known_cell([0], size=3, window=100)
    np.testing.assert_allclose(toward[:2], [2 / 3, 1.0])
    assert np.isnan(toward[2])
    # The key must still be in view: 2 steps of window see it at step 3 only (1 step after), 3 steps at steps 3 and 4.
    assert ev.moves_toward_known_cell([0], size=3, window=2)[0] == 0.0
    assert ev.moves_toward_known_cell([0], size=3, window=3)[0] == 0.5
    # Padding after a short run (zeros: the key's own cell) is not a visit, and a start on the key is not a paid one.
    padded = np.array([[first + [4, 5, 0, 0]], [[0, 1, 0, 4, 1, 0, 3]], [[0, 1, 4, 4, 1, 0, 3]]], dtype=np.int16)
    lengths = np.array([[[3, 2]], [[3, 4]], [[3, 4]]])
    short = GridEvaluation(np.zeros((3, 1, 2)), np.array([2.0]), padded, np.array([0, 1, 2]), lengths)
    toward = short.moves_toward_known_cell([0], size=3, window=100)
    assert toward[0] == 0.0  # only 4 -> 5 counts; 5 -> padding does not
    assert toward[1] == 1.0  # starts on the key (unpaid), walks off and back (paid); then 4 -> 1 -> 0 in episode 2
    assert np.isnan(toward[2])  # the start on the key never paid, so the key is not known before it is reached again
    with pytest.raises(ValueError, match="one cell per task"):
        ev.moves_toward_known_cell([0, 1], size=3, window=10)
    with pytest.raises(ValueError, match="cell indices in"):
        ev.moves_toward_known_cell([9], size=3, window=10)  # a cell outside the 3x3 room
    with pytest.raises(ValueError, match="window"):
        ev.moves_toward_known_cell([0], size=3, window=0)
    with pytest.raises(ValueError, match="episode lengths"):
        GridEvaluation(ev.returns, ev.optimal, obs, ev.groups).moves_toward_known_cell([0], size=3, window=10)


def test_moves_toward_the_key_separates_the_expert_from_random_moves():
    pairs = np.array([[0, 80], [40, 8], [72, 4]])
    keys, doors = (np.stack(np.divmod(np.tile(pairs[:, i], 2), 9), axis=1) for i in (0, 1))
    expert = evaluate_on_key_doors([KeyToDoorExpert(keys, doors)], pairs, n_episodes=6, n_eval_seeds=2, seed=0)
    assert expert.moves_toward_known_cell(pairs[:, 0], size=9, window=100)[0] == 1.0  # a shortest path to the key
    wander = evaluate_on_key_doors([RandomPolicy(5)], pairs, n_episodes=30, n_eval_seeds=2, seed=0)
    assert 0.2 < wander.moves_toward_known_cell(pairs[:, 0], size=9, window=100).mean() < 0.5


def test_steps_to_reach_with_episode_lengths():
    assert steps_to_reach([0.1, 0.5, 0.9], 0.8, 20) == 60
    assert steps_to_reach([0.1, 0.5, 0.9], 0.8, [20, 10, 5]) == 35
    assert steps_to_reach([0.1, 0.5], 0.8, [20, 10]) == float("inf")


def test_hard_config_keeps_dark_room_cache_keys_apart():
    x = harder_rooms_experiment("small")
    plain = dataclasses.asdict(x.hard_source)
    assert plain["size"] == 17 and plain["episode_replay"]
    with pytest.raises(ValueError, match="inside"):
        DarkRoomEnv(np.array([[17, 0]]), 17, hard=True)
    _, test = darkroom_split(17, n_test=40)
    assert len(test) == 40
