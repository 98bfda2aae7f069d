"""Learning-history datasets: record, store, load, and cut into training windows.

A dataset is three compact arrays, ``[n_histories, n_steps]`` each: the observation at
which every action was taken, the action, and the reward it earned. One row is one whole
learning history of the source algorithm on one task. Training windows are cut from a
single row, so they never cross the boundary between two histories.

Files are ``.npz`` archives holding the arrays and a JSON metadata record (including the
config that produced the data and its hash); they are written atomically, and loading
checks shapes, value ranges and, when asked, that the file was made by the expected config.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .artifacts import atomic_path, cache_dir, config_hash, modules_fingerprint, to_jsonable
from .envs import DarkRoomEnv, KeyToDoorEnv, sample_bernoulli_bandits, sample_gaussian_bandits
from .rollouts import rollout
from .runtime import note_dataset, timed
from .sources import (
    UCB1, BestArmOracle, DarkRoomExpert, EpsilonGreedy, KeyToDoorExpert, OptimisticGreedy, QLearning, RandomPolicy, ThompsonSampling,
)

FORMAT_VERSION = 2  # 2: bandit datasets record each history's best arm
DATA_MODULES = ("data", "envs", "sources", "rollouts")
"""The modules whose code makes the learning histories (``rollouts`` steps the sources in the envs)."""


@dataclass
class LearningHistories:
    """A batch of learning histories of equal length."""

    observations: np.ndarray
    """``[n_histories, n_steps]`` observation at which each action was taken."""
    actions: np.ndarray
    """``[n_histories, n_steps]`` action taken by the source algorithm."""
    rewards: np.ndarray
    """``[n_histories, n_steps]`` reward received for that action."""
    n_actions: int
    n_observations: int
    meta: dict = field(default_factory=dict)
    """Free-form JSON metadata; ``meta["config"]`` is the config that produced the data."""

    def __post_init__(self) -> None:
        self.observations = np.asarray(self.observations).astype(np.int16 if self.n_observations < 2**15 else np.int64)
        self.actions = np.asarray(self.actions).astype(np.int16)
        self.rewards = np.asarray(self.rewards, dtype=np.float32)
        shapes = {self.observations.shape, self.actions.shape, self.rewards.shape}
        if len(shapes) != 1 or self.actions.ndim != 2:
            raise ValueError(
                "observations, actions and rewards must all be [n_histories, n_steps]; got "
                f"{self.observations.shape}, {self.actions.shape}, {self.rewards.shape}"
            )
        if self.actions.size == 0:
            raise ValueError("a dataset needs at least one history of at least one step")
        if self.actions.min() < 0 or self.actions.max() >= self.n_actions:
            raise ValueError(f"actions must lie in [0, {self.n_actions}), got [{self.actions.min()}, {self.actions.max()}]")
        if self.observations.min() < 0 or self.observations.max() >= self.n_observations:
            raise ValueError(f"observations must lie in [0, {self.n_observations})")
        if not np.all(np.isfinite(self.rewards)):
            raise ValueError("rewards must be finite")

    @property
    def n_histories(self) -> int:
        return self.actions.shape[0]

    @property
    def n_steps(self) -> int:
        return self.actions.shape[1]

    @property
    def fingerprint(self) -> str:
        """Hash identifying the data (its producing config, or its contents if it has none)."""
        if "config" in self.meta:
            return config_hash(self.meta["config"], self.n_histories, self.n_steps)
        return config_hash(self.actions.tobytes().hex()[:4096], float(self.rewards.sum()), self.actions.shape)

    def content_digest(self) -> str:
        """SHA-256 of what the model trains on: the arrays (shapes, dtypes, bytes) and the action and
        observation counts. Unlike :attr:`fingerprint`, which names the producing config, it changes
        when a source algorithm or an environment behaves differently under the same config.
        Computed once per dataset (datasets are not changed after they are made)."""
        if "_content_digest" not in self.__dict__:
            digest = hashlib.sha256(f"{self.n_actions},{self.n_observations}".encode())
            for array in (self.observations, self.actions, self.rewards):
                array = np.ascontiguousarray(array)
                digest.update(f"|{array.dtype.str}{array.shape}|".encode())
                digest.update(memoryview(array).cast("B"))
            self._content_digest = digest.hexdigest()
        return self._content_digest

    def select(self, index) -> "LearningHistories":
        """A subset of the histories (rows)."""
        meta = dict(self.meta, selection=str(index) if not isinstance(index, np.ndarray) else config_hash(index.tolist()))
        for key in ("best_arm", "goal", "key", "door"):  # per-history metadata follows the rows
            if key in meta:
                meta[key] = np.asarray(meta[key])[index].tolist()
        return LearningHistories(
            self.observations[index], self.actions[index], self.rewards[index], self.n_actions, self.n_observations, meta
        )

    def subsample_episodes(self, every: int, episode_len: int) -> "LearningHistories":
        """Keep every ``every``-th episode of each history (the paper's subsampling ablation)."""
        if every < 1 or episode_len < 1:
            raise ValueError("every and episode_len must be >= 1")
        if self.n_steps % episode_len != 0:
            raise ValueError(f"history length {self.n_steps} is not a whole number of {episode_len}-step episodes")
        n_episodes = self.n_steps // episode_len
        keep = np.arange(0, n_episodes, every)
        steps = (keep[:, None] * episode_len + np.arange(episode_len)[None, :]).ravel()
        meta = dict(self.meta, subsample_every=every, episode_len=episode_len)
        return LearningHistories(
            self.observations[:, steps], self.actions[:, steps], self.rewards[:, steps], self.n_actions, self.n_observations, meta
        )

    def subsample_uneven_episodes(self, every: int, dones: np.ndarray) -> "LearningHistories":
        """Keep every ``every``-th episode of each history whose episodes end where ``dones [n, T]``
        is True (episodes of uneven length, e.g. Dark Room Hard's, which end at the goal).

        Histories then keep different numbers of steps; all are cut to the shortest, so that they
        stay one array. A history's first episode is always kept.
        """
        dones = np.asarray(dones)
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if dones.shape != self.rewards.shape or dones.dtype != bool:
            raise ValueError(f"dones must be a bool array of shape {self.rewards.shape}, got {dones.dtype} {dones.shape}")
        episode = np.cumsum(dones, axis=1) - dones  # [n, T]: the episode each step belongs to
        keep = episode % every == 0
        length = int(keep.sum(axis=1).min())
        order = np.argsort(~keep, axis=1, kind="stable")[:, :length]  # kept steps first, in their order
        take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
        meta = dict(self.meta, subsample_every=every, cut_to=length)
        if "config" in meta:  # the fingerprint reads the config: K episodes in one is other data
            meta["config"] = dict(meta["config"], kept_one_episode_in=every)
        return LearningHistories(take(self.observations), take(self.actions), take(self.rewards), self.n_actions,
                                 self.n_observations, meta)

    def sample_windows(self, batch_size: int, window_len: int, rng: np.random.Generator, device="cpu"):
        """Random training windows, each inside one history.

        Returns tensors ``obs, prev_actions, prev_rewards, targets``, each ``[batch, window]``:
        the model reads (o_t, a_{t-1}, r_{t-1}) and is trained to output a_t. At a history's
        first step the previous action is the start index ``n_actions`` and the reward 0.
        """
        if window_len > self.n_steps:
            raise ValueError(f"window_len {window_len} is longer than the histories ({self.n_steps} steps)")
        rows = rng.integers(0, self.n_histories, size=batch_size)
        starts = rng.integers(0, self.n_steps - window_len + 1, size=batch_size)
        return self.windows(rows, starts, window_len, rng, device)

    def windows(self, rows, starts, window_len: int, rng: np.random.Generator | None = None, device="cpu"):
        """The training windows of ``window_len`` steps from ``starts`` in histories ``rows`` (as
        :meth:`sample_windows` returns them); ``rng`` is unused here (subclasses draw observations with it)."""
        rows, starts = np.asarray(rows), np.asarray(starts)
        if rows.shape != starts.shape or rows.ndim != 1:
            raise ValueError(f"rows and starts must be 1-D and of one length, got shapes {rows.shape} and {starts.shape}")
        if starts.size and (starts.min() < 0 or starts.max() + window_len > self.n_steps):
            raise ValueError(f"windows of {window_len} steps from {starts.min()}..{starts.max()} do not fit in {self.n_steps} steps")
        cols = starts[:, None] + np.arange(window_len)[None, :]  # [B, W]
        r = rows[:, None]
        obs = self.observations[r, cols]
        targets = self.actions[r, cols]
        prev_cols = np.maximum(cols - 1, 0)
        first = cols == 0
        prev_actions = np.where(first, self.n_actions, self.actions[r, prev_cols])
        prev_rewards = np.where(first, 0.0, self.rewards[r, prev_cols])
        as_long = lambda a: torch.as_tensor(a.astype(np.int64), device=device)  # noqa: E731
        return as_long(obs), as_long(prev_actions), torch.as_tensor(prev_rewards, dtype=torch.float32, device=device), as_long(targets)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the dataset atomically to ``path`` (``.npz``)."""
        path = Path(path)
        meta = {
            "format_version": FORMAT_VERSION,
            "n_actions": self.n_actions,
            "n_observations": self.n_observations,
            "config_hash": config_hash(self.meta["config"]) if "config" in self.meta else None,
            **to_jsonable(self.meta),
        }
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, observations=self.observations, actions=self.actions, rewards=self.rewards, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, expected_config=None) -> "LearningHistories":
        """Load a dataset; if ``expected_config`` is given the file must have been made by it."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no dataset file at {path}")
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in ("observations", "actions", "rewards", "meta")}
        except KeyError as e:
            raise ValueError(f"dataset file {path} is missing the array {e}") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise ValueError(f"dataset file {path} is corrupted or not an adlib dataset: {e}") from None
        meta = json.loads(str(arrays["meta"]))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"dataset file {path} has format version {meta.get('format_version')}, expected {FORMAT_VERSION}")
        if expected_config is not None:
            expected = config_hash(expected_config)
            if meta.get("config_hash") != expected:
                raise ValueError(
                    f"dataset file {path} was made by config hash {meta.get('config_hash')}, "
                    f"but config hash {expected} was expected: it belongs to another config"
                )
        n_actions, n_observations = meta.pop("n_actions"), meta.pop("n_observations")
        for key in ("format_version", "config_hash"):
            meta.pop(key, None)
        return cls(arrays["observations"], arrays["actions"], arrays["rewards"], n_actions, n_observations, meta)


@dataclass(frozen=True)
class BanditDataConfig:
    """Everything that determines a bandit learning-history dataset, and so its cache key."""

    source: str = "optimistic_greedy"
    """Source algorithm: optimistic_greedy | epsilon_greedy | ucb1 | thompson | oracle | random."""
    n_histories: int = 10_000
    """Number of learning histories, one fresh task each."""
    n_steps: int = 100
    """Length of each history (pulls)."""
    n_arms: int = 10
    kind: str = "gaussian"
    """Arm distribution: gaussian (means ~ N(0,1), rewards ~ N(mean,1)) or bernoulli (p ~ U(0,1))."""
    initial_value: float = 15.0
    """Optimistic greedy: initial value estimate."""
    step_size: float | None = 0.1
    """Optimistic greedy: constant step size (None: sample average)."""
    epsilon: float = 0.1
    """Epsilon-greedy: exploration probability."""
    ucb_c: float = math.sqrt(2)
    """UCB1: exploration constant."""
    excluded_best_arms: tuple = ()
    """Task sampler: arms that are never the best arm."""
    required_best_arm: int | None = None
    """Task sampler: an arm that is always the best arm."""
    favoured_arms: tuple = ()
    """Task sampler, the paper's adversarial split: arms that hold a task's highest means with
    probability ``favoured_fraction`` (and its lowest otherwise); e.g. the odd arms."""
    favoured_fraction: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_histories < 1 or self.n_steps < 1:
            raise ValueError("n_histories and n_steps must be >= 1")
        if not isinstance(self.n_arms, int) or self.n_arms < 2:
            raise ValueError(f"BanditDataConfig.n_arms must be an integer >= 2 (a bandit needs a choice), got {self.n_arms!r}")
        if self.source not in ("optimistic_greedy", "epsilon_greedy", "ucb1", "thompson", "oracle", "random"):
            raise ValueError(f"unknown bandit source {self.source!r}")


def bandit_source(config: BanditDataConfig, best_arm: np.ndarray | None = None):
    """The source policy a :class:`BanditDataConfig` names."""
    n = config.n_arms
    if config.source == "optimistic_greedy":
        return OptimisticGreedy(n, initial_value=config.initial_value, step_size=config.step_size)
    if config.source == "epsilon_greedy":
        return EpsilonGreedy(n, epsilon=config.epsilon)
    if config.source == "ucb1":
        return UCB1(n, c=config.ucb_c)
    if config.source == "thompson":
        return ThompsonSampling(n, kind=config.kind)
    if config.source == "oracle":
        return BestArmOracle(best_arm, n)
    return RandomPolicy(n)


def sample_bandit_tasks(config: BanditDataConfig, n_tasks: int, rng: np.random.Generator):
    """Tasks from the distribution a :class:`BanditDataConfig` describes."""
    sampler = sample_gaussian_bandits if config.kind == "gaussian" else sample_bernoulli_bandits
    return sampler(
        n_tasks, config.n_arms, rng, excluded_best_arms=config.excluded_best_arms, required_best_arm=config.required_best_arm,
        favoured_arms=config.favoured_arms, favoured_fraction=config.favoured_fraction,
    )


def generate_bandit_histories(config: BanditDataConfig) -> LearningHistories:
    """Run the source on ``n_histories`` fresh tasks and record every step."""
    rng = np.random.default_rng(config.seed)
    tasks = sample_bandit_tasks(config, config.n_histories, rng)
    env = tasks.env(config.n_steps, seed=int(rng.integers(2**31)))
    source = bandit_source(config, best_arm=tasks.best_arm)
    traj = rollout(env, source, config.n_steps, seed=int(rng.integers(2**31)), cache=False)
    meta = {"config": to_jsonable(config, for_hash=True), "best_arm": tasks.best_arm.tolist()}
    return LearningHistories(traj.observations, traj.actions, traj.rewards, tasks.n_arms, 1, meta)


def _describe(config, kind: str) -> str:
    """A dataset's kind and source, with what sets a bandit task distribution apart (for the reproducibility page)."""
    parts = [kind, getattr(config, "source", "")]
    if isinstance(config, BanditDataConfig):
        parts.append(config.kind)
        if config.excluded_best_arms:
            parts.append(f"best arm never {', '.join(map(str, config.excluded_best_arms))}")
        if config.required_best_arm is not None:
            parts.append(f"best arm always {config.required_best_arm}")
        if config.favoured_arms:
            parts.append(f"arms {', '.join(map(str, config.favoured_arms))} favoured in {config.favoured_fraction:.0%}")
    return ", ".join(p for p in parts if p)


def _cached_histories(config, kind: str, generate, use_cache: bool, extra_modules: tuple = ()) -> LearningHistories:
    """Load the dataset made by ``config`` from the artefact cache, or generate and store it.
    ``extra_modules``: further modules whose code makes this kind of data (e.g. ``("pixels",)``)."""
    # Keyed by the code that generates data too: a changed source algorithm or environment makes new data.
    code = modules_fingerprint(*DATA_MODULES, *extra_modules)
    path = cache_dir() / "datasets" / f"{kind}-v{FORMAT_VERSION}-{config_hash(config)}-{code}.npz"
    with timed("data"):
        if use_cache and path.exists():
            histories = LearningHistories.load(path, expected_config=config)
        else:
            histories = generate(config)
            if use_cache:
                histories.save(path)
    note_dataset(f"{_describe(config, kind)}: {histories.n_histories:,} histories x {histories.n_steps:,} steps", histories.fingerprint)
    return histories


def bandit_histories(config: BanditDataConfig, use_cache: bool = True) -> LearningHistories:
    """The bandit dataset for ``config``, from the artefact cache when it was made before."""
    return _cached_histories(config, "bandit", generate_bandit_histories, use_cache)


@dataclass(frozen=True)
class DarkRoomDataConfig:
    """Everything that determines a Dark Room learning-history dataset (Q-learning source)."""

    goals: tuple
    """Goal cells (observation indices ``row * size + col``) to record histories on."""
    source: str = "q_learning"
    """``q_learning`` (learning histories, for AD) or ``expert`` (shortest paths only, for ED)."""
    histories_per_goal: int = 4
    """Independent learning runs (different seeds) per goal."""
    n_episodes: int = 100
    """Episodes per learning history."""
    size: int = 9
    horizon: int = 20
    learning_rate: float = 0.5
    discount: float = 0.9
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_episodes: int = 60
    initial_value: float = 0.0
    """Q-learning's initial estimate of every action's value; above 0 it is optimistic, so untried
    actions look best and the learner explores systematically instead of only at random."""
    seed: int = 0

    def __post_init__(self) -> None:
        if any(int(g) != g for g in self.goals):
            raise ValueError(f"DarkRoomDataConfig.goals must be whole cell indices (row * size + col), got {self.goals}")
        object.__setattr__(self, "goals", tuple(int(g) for g in self.goals))
        if not self.goals:
            raise ValueError("DarkRoomDataConfig.goals must name at least one goal cell")
        if min(self.goals) < 0 or max(self.goals) >= self.size * self.size:
            raise ValueError(f"goal cells must lie in [0, {self.size * self.size})")
        if self.histories_per_goal < 1 or self.n_episodes < 1:
            raise ValueError("histories_per_goal and n_episodes must be >= 1")
        if self.source not in ("q_learning", "expert"):
            raise ValueError(f"Dark Room source must be 'q_learning' or 'expert', got {self.source!r}")

    def epsilon_after(self, episodes: int) -> float:
        """The Q-learning source's exploration rate once ``episodes`` episodes have ended (its schedule)."""
        frac = min(episodes / self.epsilon_decay_episodes, 1.0)
        return self.epsilon_start + frac * (self.epsilon_end - self.epsilon_start)


def darkroom_source(config: DarkRoomDataConfig, goals: np.ndarray | None = None):
    """The source a :class:`DarkRoomDataConfig` describes (the expert needs the ``[n, 2]`` goals)."""
    if config.source == "expert":
        if goals is None:
            raise ValueError("the expert source needs the goal of every environment")
        return DarkRoomExpert(goals, config.size)
    hard = isinstance(config, HardDarkRoomDataConfig)
    return QLearning(
        config.size * config.size, DarkRoomEnv.n_actions, learning_rate=config.learning_rate, discount=config.discount,
        epsilon_start=config.epsilon_start, epsilon_end=config.epsilon_end, epsilon_decay_episodes=config.epsilon_decay_episodes,
        initial_value=config.initial_value, episode_replay=hard and config.episode_replay, max_episode_len=config.horizon,
    )


@dataclass(frozen=True)
class HardDarkRoomDataConfig(DarkRoomDataConfig):
    """Dark Room Hard (17x17, 20 steps, one reward that ends the episode): the same Q-learning source.

    A history is ``n_episodes * horizon`` steps long; it holds more than ``n_episodes``
    episodes once the learner finds its goal, since a found goal ends the episode early.
    """

    size: int = 17
    episode_replay: bool = True
    """Q-learning replays each finished episode backwards (:class:`adlib.sources.QLearning`)."""


def generate_darkroom_histories(config: DarkRoomDataConfig) -> LearningHistories:
    """Run the source ``histories_per_goal`` times on each goal, recording every step."""
    goal_ids = np.repeat(np.array(config.goals), config.histories_per_goal)
    goals = np.stack(np.divmod(goal_ids, config.size), axis=1)
    env = DarkRoomEnv(goals, config.size, config.horizon, hard=isinstance(config, HardDarkRoomDataConfig))
    traj = rollout(env, darkroom_source(config, goals), config.n_episodes * config.horizon, seed=config.seed, cache=False)
    meta = {"config": to_jsonable(config, for_hash=True), "goal": goal_ids.tolist(), "episode_len": config.horizon}
    return LearningHistories(traj.observations, traj.actions, traj.rewards, DarkRoomEnv.n_actions, config.size**2, meta)


def darkroom_histories(config: DarkRoomDataConfig, use_cache: bool = True) -> LearningHistories:
    """The Dark Room dataset for ``config``, from the artefact cache when it was made before."""
    kind = "darkroom-hard" if isinstance(config, HardDarkRoomDataConfig) else "darkroom"
    return _cached_histories(config, kind, generate_darkroom_histories, use_cache)


@dataclass(frozen=True)
class KeyToDoorDataConfig:
    """Everything that determines a Dark Key-to-Door dataset.

    The Q-learning source learns over (cell, holding the key), reading "holding the key"
    from its own rewards (``reward_stages=2`` in :class:`adlib.sources.QLearning`), and
    replays each finished episode backwards. Histories are ``n_steps`` long; episodes end at
    the door or after ``horizon`` steps, so their number varies.
    """

    pairs: tuple
    """Tasks: (key cell, door cell) observation-index pairs, key and door on different cells."""
    source: str = "q_learning"
    """``q_learning`` (learning histories, for AD) or ``expert`` (key then door by shortest paths, for ED)."""
    histories_per_pair: int = 1
    n_steps: int = 2000
    size: int = 9
    horizon: int = 50
    learning_rate: float = 1.0
    discount: float = 0.95
    initial_value: float = 0.1
    """Optimistic start: every untried action looks worth 0.1, so the learner explores systematically."""
    seed: int = 0

    def __post_init__(self) -> None:
        pairs = tuple(tuple(int(c) for c in p) for p in self.pairs)
        if any(len(p) != 2 for p in pairs) or any(int(c) != c for p in self.pairs for c in p):
            raise ValueError("KeyToDoorDataConfig.pairs must be (key cell, door cell) pairs of whole cell indices")
        object.__setattr__(self, "pairs", pairs)
        if not pairs:
            raise ValueError("KeyToDoorDataConfig.pairs must name at least one (key, door) pair")
        if min(min(p) for p in pairs) < 0 or max(max(p) for p in pairs) >= self.size * self.size:
            raise ValueError(f"key and door cells must lie in [0, {self.size * self.size})")
        if any(k == d for k, d in pairs):
            raise ValueError("a key and its door must be on different cells")
        if self.histories_per_pair < 1 or self.n_steps < 1:
            raise ValueError("histories_per_pair and n_steps must be >= 1")
        if self.source not in ("q_learning", "expert"):
            raise ValueError(f"Key-to-Door source must be 'q_learning' or 'expert', got {self.source!r}")

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        """``[n_histories, 2]`` (row, col) key and door of every history."""
        pairs = np.repeat(np.array(self.pairs), self.histories_per_pair, axis=0)
        return np.stack(np.divmod(pairs[:, 0], self.size), axis=1), np.stack(np.divmod(pairs[:, 1], self.size), axis=1)


def key_to_door_source(config: KeyToDoorDataConfig, keys: np.ndarray | None = None, doors: np.ndarray | None = None):
    """The source a :class:`KeyToDoorDataConfig` names (the expert needs the ``[n, 2]`` keys and doors)."""
    if config.source == "expert":
        if keys is None or doors is None:
            raise ValueError("the expert source needs the key and door of every environment")
        return KeyToDoorExpert(keys, doors, config.size)
    return QLearning(
        config.size * config.size, KeyToDoorEnv.n_actions, learning_rate=config.learning_rate, discount=config.discount,
        epsilon_start=0.0, epsilon_end=0.0, epsilon_decay_episodes=1, initial_value=config.initial_value,
        reward_stages=2, episode_replay=True, max_episode_len=config.horizon,
    )


def generate_key_to_door_histories(config: KeyToDoorDataConfig) -> LearningHistories:
    """Run the source ``histories_per_pair`` times on each (key, door) pair, recording every step."""
    keys, doors = config.cells()
    env = KeyToDoorEnv(keys, doors, config.size, config.horizon, seed=config.seed)
    traj = rollout(env, key_to_door_source(config, keys, doors), config.n_steps, seed=config.seed + 1, cache=False)
    pairs = np.repeat(np.array(config.pairs), config.histories_per_pair, axis=0)
    meta = {"config": to_jsonable(config, for_hash=True), "key": pairs[:, 0].tolist(), "door": pairs[:, 1].tolist()}
    return LearningHistories(traj.observations, traj.actions, traj.rewards, KeyToDoorEnv.n_actions, config.size**2, meta)


def key_to_door_histories(config: KeyToDoorDataConfig, use_cache: bool = True) -> LearningHistories:
    """The Key-to-Door dataset for ``config``, from the artefact cache when it was made before."""
    return _cached_histories(config, "key-to-door", generate_key_to_door_histories, use_cache)


def episodes_at_level(histories: LearningHistories, optimal: np.ndarray, level: float, n_episodes: int, episode_len: int):
    """For each history, the ``n_episodes`` episodes whose return is closest to ``level`` x optimal.

    Returns ``(observations, actions, rewards)``, each ``[n_histories, n_episodes * episode_len]``,
    the chosen episodes in their original order (so a prompt still reads as learning), and
    the ``[n_histories]`` mean fraction of optimal they actually achieve.
    """
    if not 0 <= level <= 1:
        raise ValueError(f"level must be a fraction of the optimal return in [0, 1], got {level}")
    n, T = histories.actions.shape
    if T % episode_len or n_episodes > T // episode_len:
        raise ValueError(f"cannot take {n_episodes} episodes of {episode_len} steps from histories of {T} steps")
    shape = (n, T // episode_len, episode_len)
    fraction = histories.rewards.reshape(shape).sum(axis=2) / np.asarray(optimal)[:, None]
    chosen = np.sort(np.argsort(np.abs(fraction - level), axis=1, kind="stable")[:, :n_episodes], axis=1)  # [n, k]
    rows = np.arange(n)[:, None]
    pick = lambda a: a.reshape(shape)[rows, chosen].reshape(n, -1)  # noqa: E731
    return pick(histories.observations), pick(histories.actions), pick(histories.rewards), fraction[rows, chosen].mean(axis=1)
