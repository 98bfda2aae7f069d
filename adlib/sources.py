"""Batched source algorithms (and baseline policies) for bandits.

Every policy here, and the in-context AD policy in :mod:`adlib.in_context`, follows one
protocol, so the same code records learning histories and evaluates any method::

    policy.reset(n_envs, rng)           # start a fresh learner in every environment
    actions = policy.act(obs)           # obs [n_envs] -> actions [n_envs]
    policy.observe(actions, rewards, next_obs=..., done=..., terminated=...)  # learn from the step

All state is arrays over environments: one call acts in thousands of bandits at once.
"""

from __future__ import annotations

import math

import numpy as np


def argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax of ``values [n, k]`` breaking ties uniformly at random."""
    is_max = values == values.max(axis=1, keepdims=True)
    return np.argmax(is_max * rng.random(values.shape), axis=1)


def _check_n_arms(n_arms: int) -> int:
    if not isinstance(n_arms, (int, np.integer)) or n_arms < 2:
        raise ValueError(f"a bandit algorithm needs at least 2 arms, got {n_arms!r}")
    return int(n_arms)


class BanditPolicy:
    """Shared bookkeeping: per-arm pull counts and reward sums, and the step counter."""

    name = "policy"

    def __init__(self, n_arms: int):
        self.n_actions = _check_n_arms(n_arms)

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.counts = np.zeros((n_envs, self.n_actions))
        self.sums = np.zeros((n_envs, self.n_actions))
        self.t = 0

    def observe(self, actions: np.ndarray, rewards: np.ndarray, **transition) -> None:
        rows = np.arange(len(actions))
        self.counts[rows, actions] += 1
        self.sums[rows, actions] += rewards
        self.t += 1

    def act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class RandomPolicy(BanditPolicy):
    """Uniformly random actions: the floor every method should beat."""

    name = "random"

    def act(self, obs):
        return self.rng.integers(0, self.n_actions, size=len(obs))


class BestArmOracle(BanditPolicy):
    """Always pulls the best arm (it is told the answer): the ceiling, and the 'expert'."""

    name = "oracle"

    def __init__(self, best_arm: np.ndarray, n_arms: int):
        super().__init__(n_arms)
        self.best_arm = np.asarray(best_arm, dtype=np.int64)

    def reset(self, n_envs, rng):
        if n_envs != len(self.best_arm):
            raise ValueError(f"oracle knows the best arm of {len(self.best_arm)} tasks, asked to act in {n_envs}")
        super().reset(n_envs, rng)

    def act(self, obs):
        return self.best_arm.copy()


class OptimisticGreedy(BanditPolicy):
    """Greedy on value estimates that start optimistically high (Sutton & Barto 2.6).

    ``Q <- Q + step_size * (r - Q)`` with a constant step size, or the sample average when
    ``step_size`` is None. 1a3orn's source: ``initial_value=15``; a constant ``step_size=0.1``
    reproduces his curve (the spike at step 11, then a slow decline towards uniform).
    """

    name = "optimistic greedy"

    def __init__(self, n_arms: int, initial_value: float = 15.0, step_size: float | None = 0.1):
        super().__init__(n_arms)
        if step_size is not None and not 0 < step_size <= 1:
            raise ValueError(f"step_size must be in (0, 1] (or None for sample averages), got {step_size}")
        if not math.isfinite(initial_value):
            raise ValueError(f"initial_value must be finite, got {initial_value}")
        self.initial_value = float(initial_value)
        self.step_size = step_size

    def reset(self, n_envs, rng):
        super().reset(n_envs, rng)
        self.q = np.full((n_envs, self.n_actions), self.initial_value)

    def act(self, obs):
        return argmax_random_ties(self.q, self.rng)

    def observe(self, actions, rewards, **transition):
        super().observe(actions, rewards)
        rows = np.arange(len(actions))
        alpha = self.step_size if self.step_size is not None else 1.0 / self.counts[rows, actions]
        self.q[rows, actions] += alpha * (rewards - self.q[rows, actions])


class EpsilonGreedy(BanditPolicy):
    """Sample-average estimates; a random arm with probability ``epsilon``, else the greedy arm."""

    name = "epsilon-greedy"

    def __init__(self, n_arms: int, epsilon: float = 0.1):
        super().__init__(n_arms)
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)

    def act(self, obs):
        means = np.divide(self.sums, self.counts, out=np.zeros_like(self.sums), where=self.counts > 0)
        greedy = argmax_random_ties(means, self.rng)
        explore = self.rng.random(len(obs)) < self.epsilon
        return np.where(explore, self.rng.integers(0, self.n_actions, size=len(obs)), greedy)


class UCB1(BanditPolicy):
    """UCB1 (Auer et al. 2002): pull each arm once, then argmax of mean + c * sqrt(ln t / n)."""

    name = "UCB1"

    def __init__(self, n_arms: int, c: float = math.sqrt(2)):
        super().__init__(n_arms)
        if not c >= 0:
            raise ValueError(f"exploration constant c must be >= 0, got {c}")
        self.c = float(c)

    def act(self, obs):
        with np.errstate(divide="ignore", invalid="ignore"):
            means = self.sums / self.counts
            bonus = self.c * np.sqrt(math.log(max(self.t, 1)) / self.counts)
        scores = np.where(self.counts > 0, means + bonus, np.inf)  # untried arms first
        return argmax_random_ties(scores, self.rng)


class ThompsonSampling(BanditPolicy):
    """Thompson sampling with the conjugate prior of the bandit kind.

    Gaussian arms (known reward variance 1, prior N(0, 1) on each mean): the posterior of an
    arm pulled n times with reward sum s is N(s / (n + 1), 1 / (n + 1)).
    Bernoulli arms: Beta(1 + successes, 1 + failures).
    """

    name = "Thompson sampling"

    def __init__(self, n_arms: int, kind: str = "gaussian"):
        super().__init__(n_arms)
        if kind not in ("gaussian", "bernoulli"):
            raise ValueError(f"kind must be 'gaussian' or 'bernoulli', got {kind!r}")
        self.kind = kind

    def act(self, obs):
        if self.kind == "gaussian":
            precision = self.counts + 1.0
            samples = self.sums / precision + self.rng.standard_normal(self.counts.shape) / np.sqrt(precision)
        else:
            samples = self.rng.beta(1.0 + self.sums, 1.0 + self.counts - self.sums)
        return samples.argmax(axis=1)


def mixture_entropy(epsilon, ties, n_actions: int) -> np.ndarray:
    """Entropy (nats) of choosing uniformly among all ``n_actions`` with probability ``epsilon`` and
    otherwise uniformly among ``ties`` equally good actions: an epsilon-greedy policy's, ties at random."""
    eps, k = np.asarray(epsilon, dtype=float), np.asarray(ties, dtype=float)
    if n_actions < 2:
        raise ValueError(f"n_actions must be at least 2, got {n_actions}")
    if (eps.size and (eps.min() < 0 or eps.max() > 1)) or (k.size and (k.min() < 1 or k.max() > n_actions)):
        raise ValueError(f"epsilon must lie in [0, 1] and ties in [1, {n_actions}]")
    tied = (1 - eps) / k + eps / n_actions  # each greedy action's probability
    other = eps / n_actions  # each other action's
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(other > 0, (n_actions - k) * other * np.log(np.where(other > 0, other, 1)), 0.0)
        return -(k * tied * np.log(tied)) - rest + 0.0


class QLearning:
    """Tabular Q-learning with an epsilon-greedy policy, one Q-table per environment.

    The source for the grid worlds: cheap, honest (it really learns from reward), and its
    learning histories run from random behaviour to near optimal. Epsilon decays linearly
    per *episode*, from ``epsilon_start`` to ``epsilon_end`` over ``epsilon_decay_episodes``.
    Time-limit ends of episodes are bootstrapped through; terminal ones are not.

    Two options for the harder rooms (both off by default, i.e. plain Q-learning):

    - ``reward_stages`` = k > 1: the learner's state is (observation, rewards collected so far
      in this episode, capped at k - 1). In Dark Key-to-Door with k = 2 that is (cell, holding
      the key): the first reward of an episode is the key. The learner reads the stage from its
      own rewards, information an in-context learner also has in its context.
    - ``episode_replay``: at the end of every episode the learner replays that episode's
      transitions once more, last to first, with the same update. One rewarded episode then
      carries the reward's value back along the whole path at once, instead of one step per
      visit; without it a goal found late is forgotten again while the value creeps back.
    """

    name = "Q-learning"

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        learning_rate: float = 0.5,
        discount: float = 0.9,
        epsilon_start: float = 1.0,
        epsilon_end: float = 0.05,
        epsilon_decay_episodes: int = 50,
        initial_value: float = 0.0,
        reward_stages: int = 1,
        episode_replay: bool = False,
        max_episode_len: int | None = None,
    ):
        if n_states < 1 or n_actions < 2:
            raise ValueError(f"Q-learning needs n_states >= 1 and n_actions >= 2, got {n_states}, {n_actions}")
        if not 0 < learning_rate <= 1:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate}")
        if not 0 <= discount < 1:
            raise ValueError(f"discount must be in [0, 1), got {discount}")
        if not (0 <= epsilon_end <= 1 and 0 <= epsilon_start <= 1):
            raise ValueError("epsilon_start and epsilon_end must be in [0, 1]")
        if epsilon_decay_episodes < 1:
            raise ValueError(f"epsilon_decay_episodes must be >= 1, got {epsilon_decay_episodes}")
        if not isinstance(reward_stages, (int, np.integer)) or reward_stages < 1:
            raise ValueError(f"reward_stages must be an integer >= 1, got {reward_stages!r}")
        if episode_replay and (max_episode_len is None or max_episode_len < 1):
            raise ValueError("episode_replay needs max_episode_len, the longest an episode can be")
        self.n_states, self.n_actions = int(n_states), int(n_actions)
        self.learning_rate, self.discount = float(learning_rate), float(discount)
        self.epsilon_start, self.epsilon_end = float(epsilon_start), float(epsilon_end)
        self.epsilon_decay_episodes = int(epsilon_decay_episodes)
        self.initial_value = float(initial_value)
        self.reward_stages, self.episode_replay = int(reward_stages), bool(episode_replay)
        self.max_episode_len = max_episode_len

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.q = np.full((n_envs, self.n_states * self.reward_stages, self.n_actions), self.initial_value)
        self.episodes = np.zeros(n_envs, dtype=np.int64)  # completed episodes per environment
        self.stage = np.zeros(n_envs, dtype=np.int64)  # rewards collected this episode (capped)
        if self.episode_replay:  # this episode's transitions so far: state, action, reward, next state, terminal
            shape = (n_envs, self.max_episode_len)
            self.trace = {k: np.zeros(shape, dtype=np.float64 if k == "r" else np.int64) for k in ("s", "a", "r", "s2")}
            self.trace["term"] = np.zeros(shape, dtype=bool)
            self.trace_len = np.zeros(n_envs, dtype=np.int64)

    def epsilon(self, episodes=None) -> np.ndarray:
        """The exploration rate after ``episodes`` completed episodes (default: each environment's now, ``[n_envs]``)."""
        episodes = self.episodes if episodes is None else np.asarray(episodes)
        frac = np.minimum(episodes / self.epsilon_decay_episodes, 1.0)
        return self.epsilon_start + frac * (self.epsilon_end - self.epsilon_start)

    def _states(self, obs: np.ndarray, stage: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.int64)
        if obs.min() < 0 or obs.max() >= self.n_states:
            raise ValueError(f"Q-learning observations must lie in [0, {self.n_states}), got [{obs.min()}, {obs.max()}]")
        return obs + self.n_states * stage

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.state = self._states(obs, self.stage)
        rows = np.arange(len(obs))
        greedy = argmax_random_ties(self.q[rows, self.state], self.rng)
        explore = self.rng.random(len(obs)) < self.epsilon()
        return np.where(explore, self.rng.integers(0, self.n_actions, size=len(obs)), greedy)

    def policy_entropy(self, obs: np.ndarray) -> np.ndarray:
        """``[n_envs]`` entropy (nats) of the distribution :meth:`act` draws from at ``obs`` now: epsilon spread
        over every action, the rest over the greedy ties. Draws nothing; call it before :meth:`act`."""
        q = self.q[np.arange(len(obs)), self._states(obs, self.stage)]
        ties = (q == q.max(axis=1, keepdims=True)).sum(axis=1)
        eps = self.epsilon()
        return mixture_entropy(eps, ties, self.n_actions)

    def _update(self, rows, states, actions, rewards, next_states, terminal) -> None:
        bootstrap = np.where(terminal, 0.0, self.q[rows, next_states].max(axis=1))
        target = rewards + self.discount * bootstrap
        self.q[rows, states, actions] += self.learning_rate * (target - self.q[rows, states, actions])

    def observe(self, actions, rewards, next_obs=None, done=None, terminated=None, **transition) -> None:
        if next_obs is None:
            raise ValueError("Q-learning needs the next observation of every transition")
        n = len(actions)
        rows = np.arange(n)
        actions, rewards = np.asarray(actions, dtype=np.int64), np.asarray(rewards, dtype=np.float64)
        done = np.zeros(n, dtype=bool) if done is None else np.asarray(done, dtype=bool)
        terminal = np.zeros(n, dtype=bool) if terminated is None else np.asarray(terminated, dtype=bool)
        next_stage = np.minimum(self.stage + (rewards > 0), self.reward_stages - 1)
        next_states = self._states(next_obs, next_stage)
        self._update(rows, self.state, actions, rewards, next_states, terminal)
        if self.episode_replay:
            t = self.trace_len
            if t.max() >= self.max_episode_len:
                raise ValueError(f"an episode ran longer than max_episode_len = {self.max_episode_len}")
            for key, value in (("s", self.state), ("a", actions), ("r", rewards), ("s2", next_states), ("term", terminal)):
                self.trace[key][rows, t] = value
            self.trace_len += 1
            if done.any():
                self._replay(np.nonzero(done)[0])
        self.stage = np.where(done, 0, next_stage)
        self.episodes += done

    def _replay(self, envs: np.ndarray) -> None:
        """Update once more along the finished episodes of ``envs``, last transition first."""
        lengths = self.trace_len[envs]
        for t in range(int(lengths.max()) - 1, -1, -1):
            rows = envs[lengths > t]
            tr = {k: v[rows, t] for k, v in self.trace.items()}
            self._update(rows, tr["s"], tr["a"], tr["r"], tr["s2"], tr["term"])
        self.trace_len[envs] = 0


def useful_moves(cells, targets, size: int) -> np.ndarray:
    """``[n, 5]`` bool: which actions bring each cell one step closer to its target cell.

    Cells and targets are observation indices (``row * size + col``). Action 0 (stay) is never
    useful, and no action is once a cell is on its target: a room without walls inside has a
    shortest path along every move that shortens the Manhattan distance.
    """
    rows, cols = np.divmod(np.asarray(cells), size)
    target_rows, target_cols = np.divmod(np.asarray(targets), size)
    d_row, d_col = target_rows - rows, target_cols - cols
    return np.stack([np.zeros_like(d_row, dtype=bool), d_row < 0, d_col > 0, d_row > 0, d_col < 0], axis=1)


def step_toward(cells, targets, size: int, rng: np.random.Generator) -> np.ndarray:
    """One step of a shortest path from each cell to its target (0, stay, once there).

    Among the moves that shorten the distance it picks one at random, so paths vary.
    """
    useful = useful_moves(cells, targets, size)[:, 1:]  # up, right, down, left
    choice = np.argmax(useful * rng.random(useful.shape), axis=1) + 1
    return np.where(useful.any(axis=1), choice, 0)


class DarkRoomExpert:
    """The optimal Dark Room policy: walk a shortest path to the goal, then stay.

    Used for Expert Distillation (ED): histories with no exploration and no improvement.
    Among the moves that shorten the distance it picks one at random, so expert paths vary.
    """

    name = "expert"

    def __init__(self, goals: np.ndarray, size: int = 9):
        self.goals = np.asarray(goals, dtype=np.int64)
        if self.goals.ndim != 2 or self.goals.shape[1] != 2:
            raise ValueError(f"goals must be an [n, 2] array of (row, col), got shape {self.goals.shape}")
        self.size, self.n_actions = int(size), 5

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        if n_envs != len(self.goals):
            raise ValueError(f"expert knows the goals of {len(self.goals)} tasks, asked to act in {n_envs}")
        self.rng = rng

    def act(self, obs: np.ndarray) -> np.ndarray:
        return step_toward(obs, self.goals[:, 0] * self.size + self.goals[:, 1], self.size, self.rng)

    def observe(self, actions, rewards, **transition) -> None:
        pass


class KeyToDoorExpert:
    """The optimal Dark Key-to-Door policy: a shortest path to the key, then to the door.

    Used for Expert Distillation. It knows every task's key and door; whether it holds the
    key it reads from its rewards (the first reward of an episode is the key), as a source
    that sees only the cell must.
    """

    name = "expert"

    def __init__(self, keys: np.ndarray, doors: np.ndarray, size: int = 9):
        self.keys, self.doors = np.asarray(keys, dtype=np.int64), np.asarray(doors, dtype=np.int64)
        if self.keys.shape != self.doors.shape or self.keys.ndim != 2 or self.keys.shape[1] != 2:
            raise ValueError(f"keys and doors must be matching [n, 2] arrays of (row, col), got {self.keys.shape} and {self.doors.shape}")
        self.walker = DarkRoomExpert(self.keys, size)
        self.n_actions = 5

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.walker.reset(n_envs, rng)
        self.has_key = np.zeros(n_envs, dtype=bool)

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.walker.goals = np.where(self.has_key[:, None], self.doors, self.keys)
        return self.walker.act(obs)

    def observe(self, actions, rewards, done=None, **transition) -> None:
        self.has_key |= np.asarray(rewards) > 0
        if done is not None:
            self.has_key &= ~np.asarray(done, dtype=bool)
