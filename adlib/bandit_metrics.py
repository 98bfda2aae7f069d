"""Bandit metrics: best-arm rate and regret per step, for one group of tasks or for several
(one per training seed), and the batched evaluations that compute them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rollouts import Trajectories, rollout, take_runs
from .stats import PERCENT_POINT, compare, mean_and_spread


@dataclass
class BanditMetrics:
    """Per-step bandit metrics, each ``[n_runs, n_steps]``."""

    actions: np.ndarray
    """The arm pulled."""
    best_arm: np.ndarray
    """True where the chosen arm was the task's best arm."""
    regret: np.ndarray
    """Best arm's mean minus the chosen arm's mean (expected, not sampled, regret)."""

    @property
    def pct_best_arm(self) -> np.ndarray:
        """``[n_steps]`` percentage of runs choosing the best arm at each step."""
        return 100.0 * self.best_arm.mean(axis=0)

    @property
    def cumulative_regret(self) -> np.ndarray:
        """``[n_steps]`` mean cumulative regret after each step."""
        return self.regret.cumsum(axis=1).mean(axis=0)


def bandit_metrics(tasks, trajectories: Trajectories) -> BanditMetrics:
    actions = trajectories.actions
    if actions.shape[0] != tasks.n_tasks:
        raise ValueError(f"{actions.shape[0]} rollouts for {tasks.n_tasks} tasks")
    return BanditMetrics(actions=actions, best_arm=actions == tasks.best_arm[:, None], regret=tasks.regret(actions))


def evaluate_bandit_policy(policy, tasks, n_steps: int, seed: int, chunk_size: int | None = None, progress: bool | None = None) -> BanditMetrics:
    """Roll ``policy`` out on ``tasks`` with the reward tape of ``seed`` and score it."""
    traj = rollout(tasks.env(n_steps, seed=seed), policy, n_steps, seed=seed, chunk_size=chunk_size, progress=progress)
    return bandit_metrics(tasks, traj)


@dataclass
class GroupedBanditMetrics:
    """Bandit metrics for one method over several groups of tasks (one group per seed)."""

    groups: list
    """One :class:`BanditMetrics` per group."""
    n_runs: int
    """Total number of rollouts over all groups."""

    @property
    def pct_best_arm(self) -> np.ndarray:
        """``[n_groups, n_steps]`` % of runs choosing the best arm, per group."""
        return np.stack([g.pct_best_arm for g in self.groups])

    @property
    def cumulative_regret(self) -> np.ndarray:
        """``[n_groups, n_steps]`` mean cumulative regret, per group."""
        return np.stack([g.cumulative_regret for g in self.groups])

    def pct_best_arm_at(self, step: int) -> tuple[float, float]:
        """% best arm at ``step`` (1-based): (mean, std) over groups."""
        return mean_and_spread(self.pct_best_arm[:, step - 1])

    def mean_pct_best_arm(self, first: int, last: int) -> tuple[float, float]:
        """% best arm averaged over steps ``first..last`` (1-based, inclusive): (mean, std) over groups."""
        return mean_and_spread(self.pct_best_arm[:, first - 1:last].mean(axis=1))

    def regret_at(self, step: int) -> tuple[float, float]:
        """Cumulative regret after ``step`` steps: (mean, std) over groups."""
        return mean_and_spread(self.cumulative_regret[:, step - 1])

    def pct_pulls_of(self, arms, first: int, last: int) -> tuple[float, float]:
        """% of the pulls at steps ``first..last`` (1-based, inclusive) that went to one of ``arms``."""
        return mean_and_spread(np.array([100.0 * np.isin(g.actions[:, first - 1:last], list(arms)).mean() for g in self.groups]))

    def pct_runs_tried(self, arms, by_step: int) -> tuple[float, float]:
        """% of runs that pulled one of ``arms`` at least once in their first ``by_step`` steps."""
        return mean_and_spread(np.array([100.0 * np.isin(g.actions[:, :by_step], list(arms)).any(axis=1).mean() for g in self.groups]))

    def horizon_trend(self, horizon: int, window: int = 10) -> dict:
        """Does the method keep improving after ``horizon`` steps (e.g. AD's training length)?

        For each group (a training seed, for AD), the change in % best arm from the last
        ``window`` steps up to ``horizon`` to the last ``window`` steps of the run. The trend is
        "improves" or "degrades" when :func:`~adlib.stats.compare` separates that paired change
        from zero (by 2 std and 1 point), else "flat".
        """
        curves = self.pct_best_arm
        n_steps = curves.shape[1]
        if not window <= horizon < n_steps:
            raise ValueError(f"need window <= horizon < n_steps, got window={window}, horizon={horizon}, n_steps={n_steps}")
        at_horizon = self.mean_pct_best_arm(horizon - window + 1, horizon)
        at_end = self.mean_pct_best_arm(n_steps - window + 1, n_steps)
        per_group = curves[:, -window:].mean(axis=1) - curves[:, horizon - window:horizon].mean(axis=1)
        change = mean_and_spread(per_group)
        verdict = compare(change, (0.0, 0.0), min_margin=PERCENT_POINT)
        return {"window": window, "at_horizon": at_horizon, "at_end": at_end, "end_step": n_steps,
                "trend": {"above": "improves", "below": "degrades", "level with": "flat"}[verdict],
                "change": {"mean": change[0], "std": change[1], "per_group": per_group.tolist(),
                           "distinguishable": verdict != "level with"}}

    def summary(self, steps=(11, 100)) -> dict:
        """Mean and standard deviation over groups of % best arm at ``steps`` (1-based) and regret."""
        out = {"n_runs": self.n_runs, "n_groups": len(self.groups)}
        for s in steps:
            if s <= self.pct_best_arm.shape[1]:
                out[f"pct_best_arm_step_{s}"] = dict(zip(("mean", "std"), self.pct_best_arm_at(s)))
                out[f"regret_step_{s}"] = dict(zip(("mean", "std"), self.regret_at(s)))
        return out


def pct_favouring(tasks, favoured, other) -> float:
    """% of ``tasks`` in which every ``favoured`` arm has a higher mean than every ``other`` arm."""
    return 100 * float((tasks.means[:, list(favoured)].min(axis=1) > tasks.means[:, list(other)].max(axis=1)).mean())


def evaluate_bandit_groups(
    policy, tasks, n_groups: int, n_steps: int, seed: int, chunk_size: int | None = None, progress: bool | None = None
) -> GroupedBanditMetrics:
    """Evaluate a method on ``tasks`` split into ``n_groups`` groups.

    ``policy`` is either a function ``g -> policy for group g`` (the same baseline for every
    group, one rollout per group), or one ensemble policy with ``n_members == n_groups``
    (e.g. the AD models of all training seeds stacked): member g plays group g, all groups in
    one batched rollout, which needs ``n_tasks`` divisible by ``n_groups``. Either way the
    spread over groups covers training seeds. The reward tape comes from ``seed`` over all
    tasks, so every method evaluated with the same tasks and seed faces the same rewards
    (common random numbers).
    """
    if not 1 <= n_groups <= tasks.n_tasks:
        raise ValueError(f"n_groups must be in [1, {tasks.n_tasks}], got {n_groups}")
    env = tasks.env(n_steps, seed=seed)
    index = np.array_split(np.arange(tasks.n_tasks), n_groups)
    if not callable(policy):
        if not hasattr(policy, "n_members"):
            raise ValueError("policy must be a function g -> policy, or an in-context policy whose model has one member per group")
        if policy.n_members != n_groups:
            raise ValueError(f"an ensemble policy evaluated in {n_groups} groups needs {n_groups} members, not {policy.n_members}")
        traj = rollout(env, policy, n_steps, seed=seed, chunk_size=chunk_size, progress=progress)
        return GroupedBanditMetrics([bandit_metrics(tasks[i], take_runs(traj, i)) for i in index], tasks.n_tasks)
    groups = []
    for g, i in enumerate(index):
        traj = rollout(env.subset(i), policy(g), n_steps, seed=seed + g, chunk_size=chunk_size, progress=progress)
        groups.append(bandit_metrics(tasks[i], traj))
    return GroupedBanditMetrics(groups, tasks.n_tasks)
