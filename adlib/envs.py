"""Batched environments: many tasks stepped at once, no Python loop per task.

Every environment follows one small protocol, which the sources, the data recorder and the
evaluator rely on::

    env.n_envs, env.n_actions, env.n_observations
    obs = env.reset()                    # [n_envs] int64
    obs, rewards = env.step(actions)     # actions [n_envs] int64 -> obs [n_envs], rewards [n_envs] float32
    env.subset(index)                    # the same environment restricted to some tasks

Episodic environments also expose, after each step, ``env.done`` (an episode just ended;
the environment has already reset itself and ``obs`` is the next episode's first
observation), ``env.terminated`` (it ended in a terminal state, not by the time limit)
and ``env.final_observations`` (where each agent was before any reset).

Bandits have a single (constant) observation, 0.

Common random numbers: a bandit environment draws its whole reward-noise tape up front,
one number per (task, step), from its seed. Two policies run on environments built with the
same tasks and seed therefore see the same noise at the same step, which makes the
comparison between them much less noisy. For a single policy the rewards are still exactly
distributed as the bandit says, because the step-t noise is independent of everything that
happened before step t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

BANDIT_KINDS = ("gaussian", "bernoulli")


@dataclass(frozen=True)
class BanditTasks:
    """A batch of multi-armed bandit tasks.

    Attributes:
        means: ``[n_tasks, n_arms]`` expected reward of every arm of every task.
        kind: ``"gaussian"`` (reward ~ N(mean, 1)) or ``"bernoulli"`` (reward ~ Bernoulli(mean)).
    """

    means: np.ndarray
    kind: str = "gaussian"

    def __post_init__(self) -> None:
        means = np.asarray(self.means, dtype=np.float64)
        if means.ndim != 2:
            raise ValueError(f"bandit means must be a 2-D array [n_tasks, n_arms], got shape {means.shape}")
        if means.shape[0] < 1:
            raise ValueError("a bandit task batch needs at least one task")
        if means.shape[1] < 2:
            raise ValueError(f"a bandit needs at least 2 arms, got {means.shape[1]}")
        if not np.all(np.isfinite(means)):
            raise ValueError("bandit means must be finite")
        if self.kind not in BANDIT_KINDS:
            raise ValueError(f"bandit kind must be one of {BANDIT_KINDS}, got {self.kind!r}")
        if self.kind == "bernoulli" and (means.min() < 0 or means.max() > 1):
            raise ValueError("Bernoulli arm means must lie in [0, 1]")
        object.__setattr__(self, "means", means)

    @property
    def n_tasks(self) -> int:
        return self.means.shape[0]

    @property
    def n_arms(self) -> int:
        return self.means.shape[1]

    @property
    def best_arm(self) -> np.ndarray:
        """``[n_tasks]`` index of the arm with the highest mean."""
        return self.means.argmax(axis=1)

    @property
    def best_mean(self) -> np.ndarray:
        return self.means.max(axis=1)

    def __len__(self) -> int:
        return self.n_tasks

    def __getitem__(self, index) -> "BanditTasks":
        means = self.means[index]
        return BanditTasks(means[None] if means.ndim == 1 else means, self.kind)

    def regret(self, actions: np.ndarray) -> np.ndarray:
        """Per-step regret (best mean minus chosen arm's mean) for ``actions [n_tasks, T]``."""
        actions = np.asarray(actions)
        chosen = np.take_along_axis(self.means, actions, axis=1)
        return self.best_mean[:, None] - chosen

    def env(self, n_steps: int, seed: int) -> "BanditEnv":
        """A batched environment over these tasks with a reward-noise tape drawn from ``seed``."""
        return BanditEnv(self, n_steps=n_steps, seed=seed)


class BanditEnv:
    """Batched multi-armed bandit following the adlib environment protocol."""

    n_observations = 1

    def __init__(self, tasks: BanditTasks, n_steps: int, seed: int | None = None, noise: np.ndarray | None = None):
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.tasks = tasks
        self.n_steps = int(n_steps)
        if noise is None:
            rng = np.random.default_rng(seed)
            shape = (tasks.n_tasks, self.n_steps)
            # Gaussian: a standard-normal draw added to the chosen arm's mean.
            # Bernoulli: a uniform draw compared with the chosen arm's mean.
            noise = rng.standard_normal(shape) if tasks.kind == "gaussian" else rng.random(shape)
        if noise.shape != (tasks.n_tasks, self.n_steps):
            raise ValueError(f"noise tape shape {noise.shape} does not match (n_tasks, n_steps)")
        self.noise = noise.astype(np.float32)
        self.t = 0

    @property
    def n_envs(self) -> int:
        return self.tasks.n_tasks

    @property
    def n_actions(self) -> int:
        return self.tasks.n_arms

    def subset(self, index) -> "BanditEnv":
        return BanditEnv(self.tasks[index], self.n_steps, noise=self.noise[index])

    def reset(self) -> np.ndarray:
        self.t = 0
        return np.zeros(self.n_envs, dtype=np.int64)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.t >= self.n_steps:
            raise RuntimeError(f"bandit environment has a noise tape of {self.n_steps} steps; reset it")
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.n_envs,):
            raise ValueError(f"actions must have shape ({self.n_envs},), got {actions.shape}")
        if actions.min() < 0 or actions.max() >= self.n_actions:
            raise ValueError(f"actions must lie in [0, {self.n_actions}), got range [{actions.min()}, {actions.max()}]")
        mean = self.tasks.means[np.arange(self.n_envs), actions]
        noise = self.noise[:, self.t]
        if self.tasks.kind == "gaussian":
            rewards = mean + noise
        else:
            rewards = (noise < mean).astype(np.float64)
        self.t += 1
        return np.zeros(self.n_envs, dtype=np.int64), rewards.astype(np.float32)


def _check_best_arm_constraints(
    n_arms: int, excluded_best_arms: Iterable[int], required_best_arm: int | None, favoured_arms: Iterable[int], favoured_fraction: float
) -> tuple[set, set]:
    excluded, favoured = set(int(a) for a in excluded_best_arms), set(int(a) for a in favoured_arms)
    for arm in excluded | favoured | ({required_best_arm} if required_best_arm is not None else set()):
        if not 0 <= arm < n_arms:
            raise ValueError(f"arm {arm} does not exist in a {n_arms}-armed bandit")
    if len(excluded) >= n_arms:
        raise ValueError("excluded_best_arms excludes every arm: no task can satisfy it")
    if required_best_arm is not None and required_best_arm in excluded:
        raise ValueError(f"arm {required_best_arm} is both required and excluded as best arm")
    if favoured:
        if len(favoured) >= n_arms:
            raise ValueError("favoured_arms must leave at least one arm out, or it favours nothing")
        if excluded or required_best_arm is not None:
            raise ValueError("favoured_arms cannot be combined with excluded_best_arms or required_best_arm")
    if not 0.0 <= favoured_fraction <= 1.0:
        raise ValueError(f"favoured_fraction must be in [0, 1], got {favoured_fraction}")
    return excluded, favoured


def _sample_bandits(
    rng: np.random.Generator, draw, n_tasks: int, n_arms: int, kind: str,
    excluded_best_arms, required_best_arm, favoured_arms, favoured_fraction: float,
) -> BanditTasks:
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    if n_arms < 2:
        raise ValueError(f"a bandit needs at least 2 arms, got {n_arms}")
    excluded, favoured = _check_best_arm_constraints(n_arms, excluded_best_arms, required_best_arm, favoured_arms, favoured_fraction)
    means = draw((n_tasks, n_arms))
    if required_best_arm is not None:
        # Arm means are i.i.d., so moving each task's best mean to the required arm (a swap)
        # gives exactly the distribution conditioned on "the required arm is best".
        rows = np.arange(n_tasks)
        best = means.argmax(axis=1)
        means[rows, best], means[rows, required_best_arm] = means[rows, required_best_arm], means[rows, best]
    if excluded:
        # Rejection sampling: redraw the tasks whose best arm is excluded.
        bad = np.isin(means.argmax(axis=1), list(excluded))
        while bad.any():
            means[bad] = draw((int(bad.sum()), n_arms))
            bad = np.isin(means.argmax(axis=1), list(excluded))
    if favoured:
        # The paper's adversarial split, as a ranking: in a favoured task every favoured arm
        # has a higher mean than every other arm; in the rest, every other arm beats every
        # favoured one. Within each side the means are shuffled, so no arm is singled out.
        favoured_order = rng.permuted(np.tile(sorted(favoured), (n_tasks, 1)), axis=1)
        other_order = rng.permuted(np.tile(sorted(set(range(n_arms)) - favoured), (n_tasks, 1)), axis=1)
        is_favoured = rng.random(n_tasks) < favoured_fraction
        # [n_tasks, n_arms]: which arm receives the 1st, 2nd, ... highest mean of its task
        receivers = np.where(
            is_favoured[:, None],
            np.concatenate([favoured_order, other_order], axis=1),
            np.concatenate([other_order, favoured_order], axis=1),
        )
        ranked = -np.sort(-means, axis=1)
        means = np.empty_like(ranked)
        means[np.arange(n_tasks)[:, None], receivers] = ranked
    return BanditTasks(means, kind)


def sample_gaussian_bandits(
    n_tasks: int,
    n_arms: int,
    rng: np.random.Generator,
    *,
    excluded_best_arms: Iterable[int] = (),
    required_best_arm: int | None = None,
    favoured_arms: Iterable[int] = (),
    favoured_fraction: float = 0.95,
) -> BanditTasks:
    """Gaussian bandits with arm means ~ N(0, 1) and rewards ~ N(mean, 1).

    Args:
        excluded_best_arms: arms that must never be the best arm (e.g. ``(0,)`` for 1a3orn's
            training distribution).
        required_best_arm: an arm that must always be the best arm (e.g. ``0`` for the swapped test).
        favoured_arms: the paper's adversarial split (e.g. the odd arms): with probability
            ``favoured_fraction`` a task gives its highest means to these arms (each beats every
            other arm), otherwise its lowest. Cannot be combined with the two options above.
        favoured_fraction: probability that a task favours ``favoured_arms``.
    """
    return _sample_bandits(rng, rng.standard_normal, n_tasks, n_arms, "gaussian",
                           excluded_best_arms, required_best_arm, favoured_arms, favoured_fraction)


def sample_bernoulli_bandits(
    n_tasks: int,
    n_arms: int,
    rng: np.random.Generator,
    *,
    excluded_best_arms: Iterable[int] = (),
    required_best_arm: int | None = None,
    favoured_arms: Iterable[int] = (),
    favoured_fraction: float = 0.95,
) -> BanditTasks:
    """Bernoulli bandits with success probabilities ~ U(0, 1); options as :func:`sample_gaussian_bandits`."""
    return _sample_bandits(rng, rng.random, n_tasks, n_arms, "bernoulli",
                           excluded_best_arms, required_best_arm, favoured_arms, favoured_fraction)


# --------------------------------------------------------------------------------------
# Dark Room (Laskin et al. 2022): a grid the agent cannot see; one task = one goal cell.
#
# Conventions follow the public Gymnasium Dark Room used by the follow-up literature:
# observation = row * size + col; actions 0 no-op, 1 up (row - 1), 2 right (col + 1),
# 3 down (row + 1), 4 left (col - 1); moves into a wall leave the agent where it is.
# --------------------------------------------------------------------------------------

DARKROOM_MOVES = np.array([[0, 0], [-1, 0], [0, 1], [1, 0], [0, -1]])  # (d_row, d_col) per action


def darkroom_move(positions: np.ndarray, actions: np.ndarray, size: int) -> np.ndarray:
    """New ``[n, 2]`` (row, col) positions after ``actions``, clipped at the walls."""
    actions = np.asarray(actions, dtype=np.int64)
    if actions.min() < 0 or actions.max() >= len(DARKROOM_MOVES):
        raise ValueError(f"Dark Room actions must lie in [0, 5), got range [{actions.min()}, {actions.max()}]")
    return np.clip(positions + DARKROOM_MOVES[actions], 0, size - 1)


def cells_after_moves(observations, actions, size: int) -> np.ndarray:
    """``[n, T]`` the cell each move of a recorded grid rollout led to (before any automatic
    reset), from the cells it started in and the actions taken: the rooms are deterministic."""
    observations = np.asarray(observations, dtype=np.int64)
    rows, cols = np.divmod(observations.ravel(), size)
    after = darkroom_move(np.stack([rows, cols], axis=1), np.asarray(actions).ravel(), size)
    return (after[:, 0] * size + after[:, 1]).reshape(observations.shape)


def darkroom_goals(size: int = 9) -> np.ndarray:
    """All ``size * size`` goal cells as ``[n, 2]`` (row, col), in observation order."""
    rows, cols = np.divmod(np.arange(size * size), size)
    return np.stack([rows, cols], axis=1)


def darkroom_optimal_return(goals: np.ndarray, size: int = 9, horizon: int = 20, hard: bool = False) -> np.ndarray:
    """Best possible episode return for each goal (Manhattan distance d from the centre).

    Dark Room: reward on every step spent on the goal after arriving, ``horizon - d + 1``
    (capped at ``horizon``; a goal at the centre pays every step). Hard: 1 if reachable in time.
    """
    centre = size // 2
    d = np.abs(np.asarray(goals) - centre).sum(axis=1)
    if hard:
        return (d <= horizon).astype(float)
    return np.clip(horizon - d + 1, 0, horizon).astype(float)


class GridWorld:
    """What the batched grid worlds share: the room, the time limit, positions and observations."""

    n_actions = 5

    def __init__(self, size: int, horizon: int):
        if not isinstance(size, (int, np.integer)) or size < 2:
            raise ValueError(f"grid size must be an integer >= 2, got {size!r}")
        if not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"episode horizon must be an integer >= 1, got {horizon!r}")
        self.size, self.horizon = int(size), int(horizon)

    @property
    def n_observations(self) -> int:
        return self.size * self.size

    def observations(self) -> np.ndarray:
        """``[n]`` current observation (cell index ``row * size + col``) of every environment."""
        return self.positions[:, 0] * self.size + self.positions[:, 1]

    def _check_cells(self, cells: np.ndarray, what: str) -> np.ndarray:
        cells = np.asarray(cells)
        if cells.dtype.kind not in "iu" and not (cells.dtype.kind == "f" and np.all(cells == np.round(cells))):
            raise ValueError(f"{what} must be whole (row, col) numbers, got {cells.tolist()}")
        cells = cells.astype(np.int64)
        if cells.ndim != 2 or cells.shape[1] != 2 or len(cells) == 0:
            raise ValueError(f"{what} must be a non-empty [n, 2] array of (row, col), got shape {cells.shape}")
        if cells.min() < 0 or cells.max() >= self.size:
            raise ValueError(f"{what} must lie inside the {self.size}x{self.size} room")
        return cells

    def _start_clock(self) -> None:
        """Every environment at the first step of an episode."""
        self.t = np.zeros(self.n_envs, dtype=np.int64)
        self.done = np.zeros(self.n_envs, dtype=bool)
        self.terminated = np.zeros(self.n_envs, dtype=bool)

    def _tick(self, terminated: np.ndarray) -> np.ndarray:
        """Count a step and mark which episodes end (terminal, or out of time).

        Records ``final_observations`` before the caller resets the finished environments,
        restarts their clocks, and returns the ``done`` mask.
        """
        self.t += 1
        self.terminated = terminated
        self.done = (self.t >= self.horizon) | terminated
        self.final_observations = self.observations()
        self.t[self.done] = 0
        return self.done

    def _check_actions(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.n_envs,):
            raise ValueError(f"actions must have shape ({self.n_envs},), got {actions.shape}")
        return actions


class DarkRoomEnv(GridWorld):
    """Batched Dark Room: ``n`` environments, one goal each, stepped together.

    Episodes last ``horizon`` steps and start at the centre; when one ends the environment
    resets by itself, so a rollout of ``k * horizon`` steps is ``k`` consecutive episodes,
    which is what a learning history is. ``done`` says which environments just finished an
    episode. With ``hard=True`` (Dark Room Hard) the reward is given once and the episode
    ends on reaching the goal.
    """

    def __init__(self, goals: np.ndarray, size: int = 9, horizon: int = 20, hard: bool = False):
        super().__init__(size, horizon)
        self.goals, self.hard = self._check_cells(goals, "goal cells"), bool(hard)
        self.start = np.array([self.size // 2, self.size // 2])
        self.reset()

    @property
    def n_envs(self) -> int:
        return len(self.goals)

    def subset(self, index) -> "DarkRoomEnv":
        return DarkRoomEnv(self.goals[index], self.size, self.horizon, self.hard)

    def reset(self) -> np.ndarray:
        self.positions = np.tile(self.start, (self.n_envs, 1))
        self._start_clock()
        return self.observations()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.positions = darkroom_move(self.positions, self._check_actions(actions), self.size)
        on_goal = (self.positions == self.goals).all(axis=1)
        rewards = on_goal.astype(np.float32)  # counted after the move
        done = self._tick(on_goal & self.hard)  # Dark Room Hard: reaching the goal ends the episode
        self.positions[done] = self.start  # automatic reset for the next episode
        return self.observations(), rewards


class MovingGoalDarkRoom(DarkRoomEnv):
    """Dark Room whose goal moves once: after ``move_after`` episodes, environment i's goal
    becomes ``new_goals[i]`` and stays there (chapter 6's "the goal moves" probe).

    Episodes last the full horizon (no Hard variant), so every environment moves at the same step.
    """

    def __init__(self, goals: np.ndarray, new_goals: np.ndarray, move_after: int, size: int = 9, horizon: int = 20):
        super().__init__(goals, size, horizon)  # checks the room and the first goals
        self.first_goals = self.goals
        self.new_goals = self._check_cells(new_goals, "new goal cells")
        if self.new_goals.shape != self.first_goals.shape:
            raise ValueError(f"goals and new_goals must match, got shapes {self.first_goals.shape} and {self.new_goals.shape}")
        if isinstance(move_after, bool) or not isinstance(move_after, (int, np.integer)) or move_after < 1:
            raise ValueError(f"move_after must be a positive number of episodes, got {move_after!r}")
        self.move_after = int(move_after)
        self.reset()

    def subset(self, index) -> "MovingGoalDarkRoom":
        return MovingGoalDarkRoom(self.first_goals[index], self.new_goals[index], self.move_after, self.size, self.horizon)

    def reset(self) -> np.ndarray:
        self.goals = getattr(self, "first_goals", self.goals)  # (during DarkRoomEnv.__init__ there is none yet)
        self.episodes = 0  # finished so far (the same in every environment)
        return super().reset()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs, rewards = super().step(actions)
        if self.done.all():
            self.episodes += 1
            if self.episodes == self.move_after:
                self.goals = self.new_goals
        return obs, rewards


class KeyToDoorEnv(GridWorld):
    """Batched Dark Key-to-Door (Laskin et al. 2022): find an invisible key, then an invisible door.

    One task = (key cell, door cell). Each episode starts at a uniformly random cell; the
    first visit to the key pays 1, reaching the door while holding the key pays 1 and ends
    the episode; otherwise episodes last ``horizon`` steps. The agent observes only its
    cell, so whether it holds the key must be read from the reward history. Random starts
    come from ``seed``, so two runs with the same seed see the same starts (common random numbers).
    """

    def __init__(self, keys: np.ndarray, doors: np.ndarray, size: int = 9, horizon: int = 50, seed: int = 0):
        super().__init__(size, horizon)
        self.keys, self.doors = self._check_cells(keys, "key cells"), self._check_cells(doors, "door cells")
        if self.keys.shape != self.doors.shape:
            raise ValueError(f"keys and doors must be matching [n, 2] arrays, got {self.keys.shape} and {self.doors.shape}")
        self.seed = seed
        self.reset()

    @property
    def n_envs(self) -> int:
        return len(self.keys)

    def subset(self, index) -> "KeyToDoorEnv":
        return KeyToDoorEnv(self.keys[index], self.doors[index], self.size, self.horizon, self.seed)

    def _random_starts(self, n: int) -> np.ndarray:
        return self.rng.integers(0, self.size, size=(n, 2))

    def reset(self) -> np.ndarray:
        self.rng = np.random.default_rng(self.seed)
        self.positions = self._random_starts(self.n_envs)
        self.has_key = np.zeros(self.n_envs, dtype=bool)
        self._start_clock()
        return self.observations()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.positions = darkroom_move(self.positions, self._check_actions(actions), self.size)
        at_key = (self.positions == self.keys).all(axis=1)
        at_door = (self.positions == self.doors).all(axis=1)
        opens_door = self.has_key & at_door  # the key must have been picked up on an earlier step
        picks_key = ~self.has_key & at_key
        rewards = (picks_key | opens_door).astype(np.float32)
        self.has_key |= picks_key
        done = self._tick(opens_door)
        n_done = int(done.sum())
        if n_done:  # automatic reset: a fresh random start, no key
            self.positions[done] = self._random_starts(n_done)
            self.has_key[done] = False
        return self.observations(), rewards


def darkroom_split(size: int = 9, n_test: int = 16, seed: int = 2022) -> tuple[np.ndarray, np.ndarray]:
    """The book's fixed split of goal cells (observation indices) into training and held-out goals.

    A seeded permutation of all ``size * size`` cells: the last ``n_test`` are held out
    (9x9 default: 65 training / 16 held-out goals, as in the AD follow-ups). The start cell
    (the centre) is never held out: a goal there is found by standing still, which tests no
    exploration, so it is skipped and the next cell of the permutation is held out instead.
    Both arrays are sorted.
    """
    if not 1 <= n_test < size * size:
        raise ValueError(f"n_test must be in [1, {size * size}), got {n_test}")
    start = (size // 2) * size + size // 2
    order = np.random.default_rng(seed).permutation(size * size)
    test = order[order != start][-n_test:]
    return np.setdiff1d(order, test), np.sort(test)


def key_door_split(size: int = 9, n_train: int = 2000, n_test: int = 40, seed: int = 2022) -> tuple[np.ndarray, np.ndarray]:
    """The book's fixed split of Dark Key-to-Door tasks into training and held-out (key, door) pairs.

    Tasks are ordered pairs of distinct cells (observation indices): a key and a door on one
    cell are never drawn, as in the public Gymnasium version of this room. A seeded
    permutation of all ``size^2 * (size^2 - 1)`` pairs gives the first ``n_train`` to training
    and the last ``n_test`` to evaluation, so no held-out pair is ever trained on.
    Returns two ``[n, 2]`` arrays of (key cell, door cell), each sorted by key then door.
    """
    n_cells = size * size
    n_pairs = n_cells * (n_cells - 1)
    if n_train < 1 or n_test < 1 or n_train + n_test > n_pairs:
        raise ValueError(f"need n_train >= 1, n_test >= 1 and n_train + n_test <= {n_pairs} pairs, got {n_train} and {n_test}")
    keys, doors = np.divmod(np.arange(n_cells * n_cells), n_cells)
    pairs = np.stack([keys, doors], axis=1)[keys != doors]
    order = np.random.default_rng(seed).permutation(n_pairs)
    sort = lambda p: p[np.lexsort((p[:, 1], p[:, 0]))]  # noqa: E731
    return sort(pairs[order[:n_train]]), sort(pairs[order[-n_test:]])


def validation_goals(size: int = 17, n_test: int = 40, n_val: int = 40, seed: int = 2022) -> tuple[np.ndarray, np.ndarray]:
    """Goal cells kept apart for choosing settings: ``(training goals, validation goals)``.

    :func:`darkroom_split`'s held-out goals stay as they are; the ``n_val`` training goals that
    come just before them in the same permutation become validation goals, so that training
    goals, validation goals and held-out goals are three disjoint sets (tested); the start cell is
    skipped, as for the held-out goals. Settings are
    compared on the validation goals, never on the held-out ones. Both arrays are sorted.
    """
    train, test = darkroom_split(size, n_test, seed)
    if not 1 <= n_val < len(train):
        raise ValueError(f"n_val must be in [1, {len(train)}), got {n_val}")
    order = np.random.default_rng(seed).permutation(size * size)
    start = (size // 2) * size + size // 2  # never a validation goal either (found by standing still)
    val = order[~np.isin(order, test) & (order != start)][-n_val:]
    return np.setdiff1d(train, val), np.sort(val)


def validation_key_doors(size: int = 9, n_train: int = 2000, n_test: int = 40, n_val: int = 40, seed: int = 2022) -> np.ndarray:
    """``n_val`` (key, door) pairs that neither :func:`key_door_split`'s training pairs nor its held-out
    pairs contain (the next ones in its permutation), for choosing settings. ``[n_val, 2]``, sorted."""
    n_cells = size * size
    n_pairs = n_cells * (n_cells - 1)
    if n_val < 1 or n_train + n_val + n_test > n_pairs:
        raise ValueError(f"need n_val >= 1 and n_train + n_val + n_test <= {n_pairs}, got {n_train}, {n_val} and {n_test}")
    key_door_split(size, n_train, n_test, seed)  # the same checks
    keys, doors = np.divmod(np.arange(n_cells * n_cells), n_cells)
    pairs = np.stack([keys, doors], axis=1)[keys != doors]
    order = np.random.default_rng(seed).permutation(n_pairs)
    val = pairs[order[n_train:n_train + n_val]]
    return val[np.lexsort((val[:, 1], val[:, 0]))]


def distance_to_nearest(cells, targets, size: int) -> np.ndarray:
    """Manhattan distance from each cell to the nearest of ``targets`` on a ``size x size`` grid.

    Cells and targets are observation indices (``row * size + col``, as the grid worlds
    number them). ``cells`` may have any shape; the result has the same shape (int64).
    Chapter 3 uses it to ask whether Expert Distillation's episodes end near goals it was
    trained on, compared with the end points of a random walk.

    Raises ``ValueError`` for a size that is not an integer >= 1, no targets, or cells or
    targets that are not whole numbers inside the grid.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"grid size must be an integer >= 1, got {size!r}")
    n_cells = int(size) * int(size)

    def as_cells(values, what: str) -> np.ndarray:
        values = np.asarray(values)
        if values.size == 0:
            return values.astype(np.int64)
        whole_floats = values.dtype.kind == "f" and bool(np.all(np.isfinite(values) & (values == np.round(values))))
        if values.dtype.kind not in "iu" and not whole_floats:
            raise ValueError(f"{what} must be whole cell indices (row * size + col), got dtype {values.dtype}")
        values = values.astype(np.int64)
        if values.min() < 0 or values.max() >= n_cells:
            raise ValueError(
                f"{what} must be cell indices in [0, {n_cells}) of the {size}x{size} grid, "
                f"got values from {values.min()} to {values.max()}"
            )
        return values

    cells = as_cells(cells, "cells")
    targets = np.unique(as_cells(targets, "targets").ravel())
    if targets.size == 0:
        raise ValueError("targets must hold at least one cell")
    rows, cols = np.divmod(cells, size)
    target_rows, target_cols = np.divmod(targets, size)
    distances = np.abs(rows[..., None] - target_rows) + np.abs(cols[..., None] - target_cols)
    return distances.min(axis=-1) if cells.size else np.zeros(cells.shape, dtype=np.int64)
