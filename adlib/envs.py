"""Batched environments: many tasks stepped at once, no Python loop per task.

Every environment follows one small protocol, which the sources, the data recorder and the
evaluator rely on::

    env.n_envs, env.n_actions, env.n_observations
    obs = env.reset()                    # [n_envs] int64
    obs, rewards = env.step(actions)     # actions [n_envs] int64 -> obs [n_envs], rewards [n_envs] float32
    env.subset(index)                    # the same environment restricted to some tasks

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


def _check_best_arm_constraints(n_arms: int, excluded_best_arms: Iterable[int], required_best_arm: int | None) -> set:
    excluded = set(int(a) for a in excluded_best_arms)
    for arm in excluded | ({required_best_arm} if required_best_arm is not None else set()):
        if not 0 <= arm < n_arms:
            raise ValueError(f"arm {arm} does not exist in a {n_arms}-armed bandit")
    if len(excluded) >= n_arms:
        raise ValueError("excluded_best_arms excludes every arm: no task can satisfy it")
    if required_best_arm is not None and required_best_arm in excluded:
        raise ValueError(f"arm {required_best_arm} is both required and excluded as best arm")
    return excluded


def _sample_bandits(draw, n_tasks: int, n_arms: int, kind: str, excluded_best_arms, required_best_arm) -> BanditTasks:
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    if n_arms < 2:
        raise ValueError(f"a bandit needs at least 2 arms, got {n_arms}")
    excluded = _check_best_arm_constraints(n_arms, excluded_best_arms, required_best_arm)
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
    return BanditTasks(means, kind)


def sample_gaussian_bandits(
    n_tasks: int,
    n_arms: int,
    rng: np.random.Generator,
    *,
    excluded_best_arms: Iterable[int] = (),
    required_best_arm: int | None = None,
) -> BanditTasks:
    """Gaussian bandits with arm means ~ N(0, 1) and rewards ~ N(mean, 1).

    Args:
        excluded_best_arms: arms that must never be the best arm (e.g. ``(0,)`` for 1a3orn's
            training distribution).
        required_best_arm: an arm that must always be the best arm (e.g. ``0`` for the swapped test).
    """
    return _sample_bandits(rng.standard_normal, n_tasks, n_arms, "gaussian", excluded_best_arms, required_best_arm)


def sample_bernoulli_bandits(
    n_tasks: int,
    n_arms: int,
    rng: np.random.Generator,
    *,
    excluded_best_arms: Iterable[int] = (),
    required_best_arm: int | None = None,
) -> BanditTasks:
    """Bernoulli bandits with success probabilities ~ U(0, 1)."""
    return _sample_bandits(rng.random, n_tasks, n_arms, "bernoulli", excluded_best_arms, required_best_arm)
