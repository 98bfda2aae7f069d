import dataclasses

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from adlib.envs import DarkRoomEnv, darkroom_goals, darkroom_move, darkroom_optimal_return  # noqa: E402
from adlib.gymnasium_envs import register_gymnasium_envs  # noqa: E402

register_gymnasium_envs()


def test_moves_follow_public_conventions():
    pos = np.array([[4, 4]] * 5)
    new = darkroom_move(pos, np.arange(5), 9)
    assert new.tolist() == [[4, 4], [3, 4], [4, 5], [5, 4], [4, 3]]  # no-op, up, right, down, left
    corner = darkroom_move(np.array([[0, 0], [8, 8]]), np.array([1, 2]), 9)
    assert corner.tolist() == [[0, 0], [8, 8]]  # clipped at the walls
    env = DarkRoomEnv(np.array([[0, 0]]))
    assert env.reset().tolist() == [4 * 9 + 4]  # observation = row * size + col


def test_reward_every_step_on_goal_and_episodes_reset():
    env = DarkRoomEnv(np.array([[3, 4]]), horizon=5)
    env.reset()
    rewards = [env.step(np.array([a]))[1][0] for a in (1, 0, 0, 0, 0)]
    assert rewards == [1, 1, 1, 1, 1] and env.done[0]
    obs, r = env.step(np.array([0]))  # a new episode started at the centre
    assert obs[0] == 40 and r[0] == 0


def test_hard_variant_pays_once_and_ends_episode():
    env = DarkRoomEnv(np.array([[3, 4]]), size=9, horizon=20, hard=True)
    env.reset()
    obs, r = env.step(np.array([1]))
    assert r[0] == 1 and env.done[0] and obs[0] == 40  # back at the centre for the next episode
    assert env.final_observations[0] == 3 * 9 + 4


def test_optimal_return_matches_reference():
    # ad-facts.md: 21 - d at Manhattan distance d (20 at the centre); mean over 81 goals 16.54.
    opt = darkroom_optimal_return(darkroom_goals(9))
    assert opt[40] == 20 and opt[0] == 21 - 8
    assert opt.mean() == pytest.approx(16.54, abs=0.01)
    # The bound is achieved by walking straight to the goal and staying.
    goal = np.array([[1, 6]])
    env = DarkRoomEnv(goal)
    env.reset()
    plan = [1, 1, 1, 2, 2] + [0] * 15
    assert sum(env.step(np.array([a]))[1][0] for a in plan) == darkroom_optimal_return(goal)[0]


@pytest.mark.parametrize("env_id", ["adlib/DarkRoom-9x9-v0", "adlib/DarkRoomHard-17x17-v0"])
def test_gymnasium_envs_pass_check_env(env_id):
    env = gymnasium.make(env_id)
    check_env(env.unwrapped)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and "goal" in info


@pytest.mark.parametrize("env_id, size, hard", [("adlib/DarkRoom-9x9-v0", 9, False), ("adlib/DarkRoomHard-17x17-v0", 17, True)])
def test_batch_equals_single_gymnasium_env_on_fixed_actions(env_id, size, hard):
    rng = np.random.default_rng(0)
    centre = size // 2
    # Goals near the centre, so random actions reach some of them (and Hard episodes end early).
    goals = np.array([[centre + dr, centre + dc] for dr in (-2, -1, 0, 1) for dc in (-1, 0, 1)])
    actions = rng.integers(0, 5, size=(len(goals), 60))  # three 20-step episodes
    batch = DarkRoomEnv(goals, size=size, hard=hard)
    obs_b, rew_b = [batch.reset()], []
    for t in range(60):
        o, r = batch.step(actions[:, t])
        obs_b.append(o), rew_b.append(r)
    obs_b, rew_b = np.array(obs_b[:-1]).T, np.array(rew_b).T  # obs at which each action was taken
    assert rew_b.sum() > 0
    for i, goal in enumerate(goals):
        env = gymnasium.make(env_id)
        obs, _ = env.reset(options={"goal": goal})
        for t in range(60):
            assert obs == obs_b[i, t]
            obs, r, terminated, truncated, _ = env.step(int(actions[i, t]))
            assert r == rew_b[i, t]
            if terminated or truncated:
                obs, _ = env.reset(options={"goal": goal})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(goals=np.array([[9, 0]])), "inside"),
        (dict(goals=np.array([1, 2])), r"\[n, 2\]"),
        (dict(goals=np.array([[0, 0]]), size=1), "grid size"),
        (dict(goals=np.array([[0, 0]]), horizon=0), "horizon"),
        (dict(goals=np.array([[1.5, 2]])), "whole"),
    ],
)
def test_invalid_darkroom_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DarkRoomEnv(**kwargs)


def test_invalid_actions_raise():
    env = DarkRoomEnv(np.array([[0, 0], [1, 1]]))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        env.step(np.array([0, 5]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.array([0]))


def test_split_is_fixed_disjoint_and_complete():
    from adlib.envs import darkroom_split

    train, test = darkroom_split()
    assert len(train) == 65 and len(test) == 16
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(range(81))
    again_train, again_test = darkroom_split()
    assert np.array_equal(test, again_test)  # fixed, not redrawn
    with pytest.raises(ValueError, match="n_test"):
        darkroom_split(n_test=81)


@pytest.mark.parametrize("size,n_test", [(9, 16), (17, 40), (17, 288), (5, 24)])
def test_split_never_holds_out_the_start_cell(size, n_test):
    from adlib.envs import darkroom_split

    train, test = darkroom_split(size, n_test=n_test)
    start = (size // 2) * size + size // 2  # every episode starts at the centre
    assert start in train and start not in test
    assert len(test) == n_test and set(train) | set(test) == set(range(size * size)) and set(train).isdisjoint(test)


def test_nine_by_nine_split_is_the_books_known_split():
    from adlib.envs import darkroom_split

    _, test = darkroom_split()  # chapters 2, 3 and 6 depend on these 16 held-out goals
    assert test.tolist() == [2, 10, 16, 23, 27, 34, 38, 47, 51, 53, 59, 60, 64, 67, 69, 73]


def test_no_held_out_goal_in_any_training_history():
    from adlib.data import DarkRoomDataConfig, generate_darkroom_histories
    from adlib.envs import darkroom_split

    train, test = darkroom_split()
    h = generate_darkroom_histories(DarkRoomDataConfig(goals=tuple(train), histories_per_goal=1, n_episodes=30))
    assert set(h.meta["goal"]) == set(train.tolist())
    # From the data itself: the cells where reward was paid (position after each rewarded move).
    rows, cols = np.nonzero(h.rewards > 0)
    before = np.stack(np.divmod(h.observations[rows, cols].astype(int), 9), axis=1)
    after = darkroom_move(before, h.actions[rows, cols], 9)
    rewarded_cells = set((after[:, 0] * 9 + after[:, 1]).tolist())
    assert rewarded_cells and rewarded_cells.isdisjoint(test.tolist())
    assert rewarded_cells <= set(train.tolist())


def test_q_learning_histories_improve_from_random_to_good():
    from adlib.data import DarkRoomDataConfig, generate_darkroom_histories

    goals = tuple(range(81))
    h = generate_darkroom_histories(DarkRoomDataConfig(goals=goals, histories_per_goal=2, n_episodes=100))
    returns = h.rewards.reshape(h.n_histories, 100, 20).sum(axis=2)
    optimal = darkroom_optimal_return(np.stack(np.divmod(np.array(h.meta["goal"]), 9), axis=1))
    first, last = (returns[:, :5].mean(axis=1) / optimal).mean(), (returns[:, -10:].mean(axis=1) / optimal).mean()
    assert first < 0.1 and last > 0.75


def test_chapter_two_source_converges_near_optimal():
    """The book's source (step size 1, optimistic start) ends its histories near optimal."""
    from adlib.data import generate_darkroom_histories
    from adlib.experiments import darkroom_experiment

    config = dataclasses.replace(darkroom_experiment("full").source, histories_per_goal=2)
    h = generate_darkroom_histories(config)
    optimal = darkroom_optimal_return(np.stack(np.divmod(np.array(h.meta["goal"]), 9), axis=1))
    fraction = h.rewards.reshape(h.n_histories, 100, 20).sum(axis=2) / optimal[:, None]
    assert fraction[:, :5].mean() < 0.05  # starts as a random walk
    assert fraction[:, -10:].mean() > 0.95  # ends near optimal (bar of the book's chapter 2)
    with pytest.raises(ValueError, match="whole cell indices"):
        dataclasses.replace(config, goals=(1.5,))


def test_q_learning_update_known_value():
    from adlib.sources import QLearning

    q = QLearning(3, 2, learning_rate=0.5, discount=0.9, epsilon_start=0.0, epsilon_end=0.0)
    q.reset(1, np.random.default_rng(0))
    q.q[0, 2] = [0.0, 4.0]
    q.act(np.array([1]))
    q.observe(np.array([0]), np.array([1.0]), next_obs=np.array([2]), done=np.array([False]), terminated=np.array([False]))
    assert q.q[0, 1, 0] == pytest.approx(0.5 * (1.0 + 0.9 * 4.0))
    q.act(np.array([1]))
    q.observe(np.array([1]), np.array([1.0]), next_obs=np.array([2]), done=np.array([True]), terminated=np.array([True]))
    assert q.q[0, 1, 1] == pytest.approx(0.5 * 1.0)  # terminal: no bootstrap
    assert q.episodes[0] == 1
    with pytest.raises(ValueError, match="next observation"):
        q.observe(np.array([0]), np.array([0.0]))
    with pytest.raises(ValueError, match="discount"):
        QLearning(3, 2, discount=1.0)


def test_agent_acts_identically_in_batch_and_in_gymnasium():
    import torch

    from adlib.in_context import InContextPolicy
    from adlib.rollouts import rollout, run_gymnasium
    from adlib.model import ADConfig, ADTransformer

    torch.manual_seed(0)
    model = ADTransformer(ADConfig(n_actions=5, n_observations=81, context_len=30, d_model=16, n_layers=2, n_heads=2, d_ff=16))
    goal = np.array([[3, 4]])  # next to the start: a random policy earns some reward
    batch = rollout(DarkRoomEnv(goal), InContextPolicy(model), 5 * 20, seed=4)
    returns, gym = run_gymnasium(InContextPolicy(model), gymnasium.make("adlib/DarkRoom-9x9-v0", goal=(3, 4)), 5, seed=4)
    np.testing.assert_array_equal(gym.actions, batch.actions)
    np.testing.assert_array_equal(gym.observations, batch.observations)
    np.testing.assert_array_equal(gym.rewards, batch.rewards)
    np.testing.assert_array_equal(gym.dones, batch.dones)
    np.testing.assert_allclose(returns, batch.rewards.reshape(5, 20).sum(axis=1))
    assert returns.sum() > 0
    with pytest.raises(ValueError, match="actions"):
        run_gymnasium(InContextPolicy(model), _FakeEnv(n_actions=4), 1)


class _FakeEnv:
    def __init__(self, n_actions):
        from gymnasium import spaces

        self.observation_space, self.action_space = spaces.Discrete(81), spaces.Discrete(n_actions)


def test_key_to_door_rewards_key_then_door_and_ends():
    from adlib.envs import KeyToDoorEnv

    env = KeyToDoorEnv(np.array([[0, 1]]), np.array([[0, 3]]), horizon=50, seed=0)
    env.positions[:] = [[0, 2]]  # place the agent by hand between key and door
    _, r = env.step(np.array([2]))  # to the door without the key: nothing
    assert r[0] == 0 and not env.done[0]
    rewards = [env.step(np.array([a]))[1][0] for a in (4, 4)]  # back over (0, 2) to the key
    assert rewards == [0, 1] and env.has_key[0]
    _, r = env.step(np.array([4]))  # staying near the key pays nothing more
    assert r[0] == 0
    rewards = [env.step(np.array([a]))[1][0] for a in (2, 2, 2)]
    assert rewards == [0, 0, 1] and env.terminated[0] and env.done[0]
    assert env.final_observations[0] == 3 and not env.has_key[0]  # reset: key dropped, new random start


def test_key_to_door_random_starts_follow_the_seed():
    from adlib.envs import KeyToDoorEnv

    keys, doors = np.zeros((200, 2), dtype=int), np.ones((200, 2), dtype=int)
    a, b = KeyToDoorEnv(keys, doors, seed=3), KeyToDoorEnv(keys, doors, seed=3)
    assert np.array_equal(a.reset(), b.reset())
    assert len(np.unique(a.reset())) > 50  # starts spread over the room
    with pytest.raises(ValueError, match="matching"):
        KeyToDoorEnv(keys, doors[:3])


def test_key_to_door_gymnasium_matches_batch():
    from adlib.envs import KeyToDoorEnv

    env = gymnasium.make("adlib/DarkKeyToDoor-9x9-v0")
    check_env(env.unwrapped)
    obs, info = env.reset(seed=5, options={"key": (4, 4), "door": (4, 6)})
    batched = env.unwrapped._batched
    mirror = KeyToDoorEnv(np.array([[4, 4]]), np.array([[4, 6]]), seed=batched.seed)
    assert mirror.reset()[0] == obs
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = int(rng.integers(0, 5))
        o, r, terminated, truncated, _ = env.step(a)
        mo, mr = mirror.step(np.array([a]))
        assert r == mr[0] and o == mirror.final_observations[0]
        if terminated or truncated:
            break


def test_evaluate_on_goals_shapes_and_oracle_like_values():
    from adlib.grid_evaluation import evaluate_on_goals
    from adlib.sources import RandomPolicy

    ev = evaluate_on_goals([RandomPolicy(5), RandomPolicy(5)], [40, 0, 31], n_episodes=4, n_eval_seeds=3, seed=0)
    assert ev.returns.shape == (6, 3, 4) and ev.observations.shape == (6, 3, 80)
    np.testing.assert_array_equal(ev.optimal, [20, 13, 20])
    assert ev.curves_by_group().shape == (2, 4)
    # Random never beats the optimum, and at the centre goal it scores often (no-op keeps it there).
    assert (ev.fraction_of_optimal <= 1).all() and ev.returns[:, 0].mean() > 1
    mean, std = ev.last_episodes(2)
    assert 0 <= mean <= 1 and std >= 0


def test_evaluate_darkroom_is_the_chapters_evaluation_with_its_seeds():
    from adlib.experiments import darkroom_experiment
    from adlib.grid_evaluation import EVAL_SEED_OFFSET, SOURCE_SEED_OFFSET, evaluate_darkroom, evaluate_on_goals
    from adlib.sources import RandomPolicy

    X = darkroom_experiment("small", seed=3)
    ev = evaluate_darkroom([RandomPolicy(5)], [40, 0], X)
    same = evaluate_on_goals([RandomPolicy(5)], [40, 0], X.eval_episodes, X.n_eval_seeds, seed=3 + EVAL_SEED_OFFSET)
    np.testing.assert_array_equal(ev.returns, same.returns)
    runs = evaluate_darkroom([RandomPolicy(5)], [40, 0], X, source=True)
    assert runs.returns.shape[0] == X.source_runs
    np.testing.assert_array_equal(runs.returns, evaluate_on_goals([RandomPolicy(5)], [40, 0], X.eval_episodes, X.source_runs,
                                                                  seed=3 + SOURCE_SEED_OFFSET).returns)


def test_expert_is_optimal_on_every_goal_and_varies_its_paths():
    from adlib.data import DarkRoomDataConfig, generate_darkroom_histories
    from adlib.grid_evaluation import episode_returns

    h = generate_darkroom_histories(DarkRoomDataConfig(goals=tuple(range(81)), source="expert", histories_per_goal=2, n_episodes=2))
    optimal = darkroom_optimal_return(np.stack(np.divmod(np.array(h.meta["goal"]), 9), axis=1))
    np.testing.assert_array_equal(episode_returns(h.rewards, 20), np.repeat(optimal[:, None], 2, axis=1))
    goal_0 = np.array(h.meta["goal"]) == 0  # a corner: several shortest paths
    assert len({tuple(row[:8]) for row in h.actions[goal_0]}) > 1 or len(set(map(tuple, h.actions[goal_0][:, 20:28]))) > 1
    with pytest.raises(ValueError, match="source"):
        DarkRoomDataConfig(goals=(1,), source="a3c")


def test_prompt_equals_full_forward_over_the_same_history():
    import torch

    from adlib.in_context import InContextPolicy
    from adlib.model import ADConfig, ADTransformer

    torch.manual_seed(0)
    model = ADTransformer(ADConfig(n_actions=5, n_observations=81, grid_size=9, context_len=12, d_model=16, n_layers=2, n_heads=2, d_ff=16)).eval()
    rng = np.random.default_rng(0)
    obs, act, rew = rng.integers(0, 81, (3, 30)), rng.integers(0, 5, (3, 30)), rng.random((3, 30)).astype(np.float32)
    policy = InContextPolicy(model)
    policy.reset(3, rng)
    policy.prompt(obs[:, :29], act[:, :29], rew[:, :29])
    prompted = policy.action_probs(obs[:, 29])
    prev_a = np.concatenate([np.full((3, 1), 5), act[:, :29]], axis=1)
    prev_r = np.concatenate([np.zeros((3, 1)), rew[:, :29]], axis=1)
    with torch.no_grad():
        full = torch.softmax(model(torch.tensor(obs), torch.tensor(prev_a), torch.tensor(prev_r, dtype=torch.float32))[:, -1], -1)
    np.testing.assert_allclose(prompted, full.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="prompt needs"):
        policy.prompt(obs[:2], act[:2], rew[:2])
