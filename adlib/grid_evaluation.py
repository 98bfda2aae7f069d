"""Evaluation in the grid rooms (Dark Room, Dark Room Hard, Key-to-Door): episode returns
from batched rollouts, :class:`GridEvaluation` and its measures over training seeds."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from .behaviour import first_success_episodes
from .envs import DarkRoomEnv, KeyToDoorEnv, darkroom_optimal_return, distance_to_nearest
from .rollouts import rollout
from .stats import as_dict, mean_and_spread, mean_by_group


def episode_returns(rewards: np.ndarray, episode_len: int) -> np.ndarray:
    """``[n_runs, n_episodes]`` return of each fixed-length episode, from rewards ``[n_runs, T]``."""
    n, T = rewards.shape
    if episode_len < 1 or T % episode_len:
        raise ValueError(f"{T} steps are not a whole number of {episode_len}-step episodes")
    return rewards.reshape(n, T // episode_len, episode_len).sum(axis=2)


def episodes_from_dones(rewards: np.ndarray, dones: np.ndarray, n_episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths ``[n_runs, n_episodes]`` of the first ``n_episodes`` episodes of each run.

    For environments whose episodes end at different times (a found goal in Dark Room Hard,
    an opened door in Key-to-Door): episode boundaries are read from ``dones`` ``[n_runs, T]``.
    Every run must have finished ``n_episodes`` episodes.
    """
    rewards, dones = np.asarray(rewards), np.asarray(dones, dtype=bool)
    if rewards.shape != dones.shape or rewards.ndim != 2:
        raise ValueError(f"rewards and dones must be matching [n_runs, T] arrays, got {rewards.shape} and {dones.shape}")
    finished = dones.sum(axis=1)
    if n_episodes < 1 or finished.min() < n_episodes:
        raise ValueError(f"asked for {n_episodes} episodes, but a run finished only {finished.min()}")
    n = len(rewards)
    episode = np.concatenate([np.zeros((n, 1), dtype=np.int64), np.cumsum(dones, axis=1)[:, :-1]], axis=1)  # [n, T]
    keep = episode < n_episodes
    flat = (np.arange(n)[:, None] * n_episodes + episode)[keep]
    returns = np.bincount(flat, weights=rewards[keep], minlength=n * n_episodes).reshape(n, n_episodes)
    lengths = np.bincount(flat, minlength=n * n_episodes).reshape(n, n_episodes)
    return returns, lengths


def episode_ends_from_rewards(rewards: np.ndarray, horizon: int, rewards_to_end: int) -> np.ndarray:
    """``[n_runs, T]`` done flags of recorded histories whose episodes end on their ``rewards_to_end``-th reward.

    A dataset keeps no done flags; in Dark Room Hard (``rewards_to_end=1``: the goal) and
    Key-to-Door (2: key, then door) they follow from the rewards and the time limit ``horizon``.
    """
    rewards = np.asarray(rewards)
    if rewards.ndim != 2 or horizon < 1 or rewards_to_end < 1:
        raise ValueError("need [n_runs, T] rewards, horizon >= 1 and rewards_to_end >= 1")
    dones = np.zeros(rewards.shape, dtype=bool)
    length = np.zeros(len(rewards), dtype=np.int64)
    collected = np.zeros(len(rewards), dtype=np.int64)
    for t in range(rewards.shape[1]):
        length += 1
        collected += rewards[:, t] > 0
        dones[:, t] = (length >= horizon) | (collected >= rewards_to_end)
        length[dones[:, t]], collected[dones[:, t]] = 0, 0
    return dones


def steps_to_reach(curve: np.ndarray, threshold: float, steps_per_point) -> float:
    """Environment steps until ``curve`` (one point per episode) first reaches ``threshold``.

    Counts the steps of every episode up to and including the first one at or above the
    threshold; ``inf`` if it never gets there. ``steps_per_point`` is the length of every
    episode, or an array with the (mean) length of each.
    """
    hits = np.nonzero(np.asarray(curve) >= threshold)[0]
    if not len(hits):
        return float("inf")
    lengths = np.broadcast_to(np.asarray(steps_per_point, dtype=float), np.shape(curve))
    return float(lengths[: hits[0] + 1].sum())


@dataclass
class GridEvaluation:
    """Returns of one method on a set of grid tasks (goals, or key-door pairs), over several runs.

    ``returns[r, g, e]`` is the return of run ``r`` (a training seed x evaluation seed, or an
    independent run of a source algorithm) on task ``g`` in episode ``e``.
    """

    returns: np.ndarray
    """``[n_runs, n_tasks, n_episodes]`` episode returns."""
    optimal: np.ndarray
    """``[n_tasks]`` best possible return per episode on each task."""
    observations: np.ndarray
    """``[n_runs, n_tasks, n_steps]`` the cells visited (for pictures of paths)."""
    groups: np.ndarray
    """``[n_runs]`` group (e.g. training seed) of each run; the plots' band is the spread over groups."""
    lengths: np.ndarray | None = None
    """``[n_runs, n_tasks, n_episodes]`` steps per episode, where episodes can end early."""

    @property
    def fraction_of_optimal(self) -> np.ndarray:
        """``[n_runs, n_episodes]`` return as a fraction of the optimal, averaged over tasks."""
        return (self.returns / self.optimal[None, :, None]).mean(axis=1)

    def _by_group(self, per_run: np.ndarray) -> np.ndarray:
        return mean_by_group(per_run, self.groups)

    def per_unit(self, per_run: np.ndarray) -> np.ndarray:
        """Per-run values averaged within each group; a method with one group (a baseline's
        independent runs) keeps its runs, so its spread is over runs."""
        return self._by_group(per_run) if len(np.unique(self.groups)) > 1 else np.asarray(per_run)

    def for_groups(self, groups) -> "GridEvaluation":
        """The runs of ``groups`` alone (e.g. one variant's members of a stacked model)."""
        rows = np.isin(self.groups, np.asarray(groups))
        if not rows.any():
            raise ValueError(f"no runs in groups {list(groups)}; this evaluation has groups {np.unique(self.groups).tolist()}")
        pick = lambda x: None if x is None else x[rows]  # noqa: E731
        return replace(self, returns=self.returns[rows], observations=self.observations[rows], groups=self.groups[rows],
                       lengths=pick(self.lengths))

    def curves_by_group(self) -> np.ndarray:
        """``[n_groups, n_episodes]`` fraction of optimal, averaged within each group."""
        return self._by_group(self.fraction_of_optimal)

    def episode_paths(self, run: int, task: int) -> list[np.ndarray]:
        """The cells visited in each episode of one run on one task, cut at the episode ends
        (fixed-length episodes when the evaluation kept no lengths)."""
        n_episodes = self.returns.shape[2]
        lengths = (self.lengths[run, task] if self.lengths is not None
                   else np.full(n_episodes, self.observations.shape[2] // n_episodes))
        ends = np.cumsum(lengths)
        return [self.observations[run, task, e - n:e] for e, n in zip(ends, lengths)]

    def rate(self, at_least: float) -> np.ndarray:
        """``[n_units, n_episodes]`` share of tasks whose episode return is at least ``at_least``
        (units: :meth:`per_unit`).

        With ``at_least=1`` in Dark Room Hard: the success rate; in Key-to-Door, 1 is the key
        found and 2 the door opened after it.
        """
        return self.per_unit((self.returns >= at_least).mean(axis=1))

    def mean_lengths(self) -> np.ndarray:
        """``[n_episodes]`` mean steps per episode over runs and tasks."""
        if self.lengths is None:
            raise ValueError("this evaluation has fixed-length episodes and kept no lengths")
        return self.lengths.mean(axis=(0, 1))

    def first_success(self, at_least: float = 1.0) -> np.ndarray:
        """``[n_units]`` mean (over tasks) 1-based episode of the first return >= ``at_least``.

        Runs that never get there count as ``n_episodes + 1``.
        """
        first = first_success_episodes(self.returns, at_least)  # [n_runs, n_tasks], inf: never
        return self.per_unit(np.where(np.isfinite(first), first, self.returns.shape[2] + 1).mean(axis=1))

    def ever_succeeded(self, at_least: float = 1.0) -> np.ndarray:
        """``[n_units]`` share of tasks on which some episode's return reached ``at_least``."""
        return self.per_unit((self.returns >= at_least).any(axis=2).mean(axis=1))

    def success_after(self, *, previous_succeeded: bool, at_least: float = 1.0) -> np.ndarray:
        """``[n_units]`` share of episodes with a return >= ``at_least`` among those whose previous
        episode on the same task did (``previous_succeeded=True``: how well a find is kept) or did
        not (``False``: how often a success comes after a miss).

        Pooled over each run's tasks and episodes. A run with no such episode is left out of its
        unit's mean; a unit whose runs have none is ``nan``.
        """
        hit = self.returns >= at_least
        before, now = hit[:, :, :-1], hit[:, :, 1:]
        chosen = before if previous_succeeded else ~before
        return self._share_per_unit((now & chosen).sum(axis=(1, 2)), chosen.sum(axis=(1, 2)))

    def _share_per_unit(self, hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """``[n_units]`` mean over each unit's runs of ``hits / counts`` (``[n_runs]`` each); a run
        with no count is left out, and a unit whose runs all have none is ``nan``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            per_run = np.where(counts > 0, hits / counts, np.nan)
        with warnings.catch_warnings():  # the mean of a unit whose runs are all nan is nan, as said above
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            return self.per_unit(per_run)

    def moves_toward_known_cell(self, cells: np.ndarray, size: int, window: int) -> np.ndarray:
        """``[n_units]`` share of moves that bring the agent closer to its task's cell (``cells[g]``,
        e.g. Key-to-Door's key) while a paid visit to that cell is in view: the agent moved onto
        it in an earlier episode, at most ``window - 1`` steps before (so a model attending over
        its last ``window`` steps has that step in its attention window), and has not reached it
        yet in this episode.

        Meant for a cell that pays on the first visit of an episode and does not end it (the
        key). A visit pays only when a move lands on the cell: an episode that *starts* on it
        is not a paid visit, and a paid move that ends an episode (its time limit) is missed,
        which only leaves moves out. Moves made from the cell itself, and moves that end an
        episode (the next cell is a new start), are not counted. Distances are Manhattan
        distances in a ``size`` x ``size`` room. The share is over moves, so a long wandering
        episode weighs more than a short walk back. A run with no such move is left out of its
        unit's mean; a unit whose runs have none is ``nan``.
        """
        if self.lengths is None:
            raise ValueError("moves_toward_known_cell needs the episode lengths of the evaluation")
        if window < 1:
            raise ValueError(f"window must be >= 1 step, got {window}")
        cells = np.asarray(cells)
        if cells.shape != (self.returns.shape[1],):
            raise ValueError(f"need one cell per task ({self.returns.shape[1]}), got shape {cells.shape}")
        R, G, T = self.observations.shape
        distance = np.stack([distance_to_nearest(self.observations[:, g], [cells[g]], size) for g in range(G)], axis=1)  # [R, G, T]
        stops = np.cumsum(self.lengths, axis=2)  # [R, G, E] one past each episode's last step
        last_step = np.zeros((R, G, T), dtype=bool)  # True at the step that ends an episode
        np.put_along_axis(last_step, stops - 1, True, axis=2)
        ran = np.arange(T)[None, None, :] < stops[:, :, -1:]  # steps a chunk did not run are padding
        reached = np.zeros((R, G), dtype=bool)  # the cell was reached in the current episode
        seen_at = np.full((R, G), -(T + window))  # step of the last rewarded visit
        counted, closer = np.zeros(R), np.zeros(R)
        for t in range(T - 1):
            first = np.ones((R, G), dtype=bool) if t == 0 else last_step[:, :, t - 1]  # a new episode starts at t
            reached &= ~first
            on_cell = distance[:, :, t] == 0
            arrives = on_cell & ~reached & ~first  # moved onto it: a paid visit
            reached |= arrives
            seen_at = np.where(arrives, t, seen_at)
            known = ~reached & ~on_cell & (t - seen_at < window) & ~last_step[:, :, t] & ran[:, :, t + 1]
            counted += known.sum(axis=1)
            closer += (known & (distance[:, :, t + 1] < distance[:, :, t])).sum(axis=1)
        return self._share_per_unit(closer, counted)

    @staticmethod
    def mean_std(per_group: np.ndarray) -> tuple[float, float]:
        """(mean, std over groups) of ``[n_groups]`` values: :func:`adlib.stats.mean_and_spread`."""
        return mean_and_spread(per_group)

    def episodes_mean(self, first: int, last: int) -> tuple[float, float]:
        """Mean fraction of optimal over 1-based episodes ``first`` to ``last`` (inclusive): (mean, std over groups)."""
        n = self.returns.shape[2]
        if not 1 <= first <= last <= n:
            raise ValueError(f"need 1 <= first <= last <= {n} episodes, got {first} and {last}")
        return self.mean_std(self.curves_by_group()[:, first - 1:last].mean(axis=1))

    def summary(self, training_episodes: int) -> dict:
        """The record of a curve: its first episode, its last 10 episodes and the 10 episodes up to
        ``training_episodes`` (the longest training history, or the run's end if shorter), each a
        fraction of optimal (``{"mean", "std"}`` over groups)."""
        end = min(training_episodes, self.returns.shape[2])
        return {"first_episode": float(self.curves_by_group()[:, 0].mean()), "last_10": as_dict(self.last_episodes(10)),
                "training_horizon_10": as_dict(self.episodes_mean(max(1, end - 9), end))}

    def last_episodes(self, k: int = 10) -> tuple[float, float]:
        """Mean fraction of optimal over the last ``k`` episodes: (mean, std over groups)."""
        return self.mean_std(self.curves_by_group()[:, -k:].mean(axis=1))


def evaluate_in_rooms(policies, make_env, n_tasks: int, optimal: np.ndarray, n_episodes: int, horizon: int,
                      n_eval_seeds: int, seed: int) -> GridEvaluation:
    """Run each policy on every task of a grid room, ``n_eval_seeds`` times; each member of a policy is one group.

    ``make_env(k)`` builds the room with its ``n_tasks`` tasks repeated ``k`` times. A policy
    is a baseline (one group) or an AD model, possibly with one member per training seed
    (one group per member). All tasks, evaluation seeds and members of one policy run in one
    batched rollout, until every environment has finished ``n_episodes`` episodes (at most
    ``horizon`` steps each).
    """
    returns, lengths, observations, groups = [], [], [], []
    n_groups = 0
    for p, policy in enumerate(policies):
        n_members = getattr(policy, "n_members", 1)
        n_runs = n_members * n_eval_seeds
        env = make_env(n_runs)
        if env.n_envs != n_runs * n_tasks:
            raise ValueError(f"make_env({n_runs}) built {env.n_envs} environments, expected {n_runs * n_tasks}")
        traj = rollout(env, policy, n_episodes * horizon, seed=seed + 1000 * p, until_episodes=n_episodes)
        r, n = episodes_from_dones(traj.rewards, traj.dones, n_episodes)
        returns.append(r.reshape(n_runs, n_tasks, n_episodes))
        lengths.append(n.reshape(n_runs, n_tasks, n_episodes))
        obs = np.zeros((n_runs * n_tasks, n_episodes * horizon), dtype=np.int16)
        obs[:, : traj.observations.shape[1]] = traj.observations
        observations.append(obs.reshape(n_runs, n_tasks, -1))
        groups += [n_groups + m for m in range(n_members) for _ in range(n_eval_seeds)]
        n_groups += n_members
    return GridEvaluation(np.concatenate(returns), np.asarray(optimal, dtype=float), np.concatenate(observations),
                          np.array(groups), np.concatenate(lengths))


def evaluate_on_goals(policies, goal_cells, n_episodes: int, n_eval_seeds: int, seed: int, size: int = 9, horizon: int = 20,
                      hard: bool = False) -> GridEvaluation:
    """:func:`evaluate_in_rooms` in Dark Room (``hard=True``: Dark Room Hard) on the given goal cells.

    Evaluation seeds differ only in the policy's random draws (Dark Room itself is deterministic).
    """
    goals = np.stack(np.divmod(np.asarray(goal_cells), size), axis=1)
    return evaluate_in_rooms(
        policies, lambda k: DarkRoomEnv(np.tile(goals, (k, 1)), size, horizon, hard=hard), len(goals),
        darkroom_optimal_return(goals, size, horizon, hard=hard), n_episodes, horizon, n_eval_seeds, seed,
    )


EVAL_SEED_OFFSET, SOURCE_SEED_OFFSET = 500, 700
"""Chapters 2 and 3 draw a model's evaluation runs from the base seed + 500, a source's runs from scratch from + 700."""


def evaluate_darkroom(policies, goal_cells, experiment, source: bool = False) -> GridEvaluation:
    """Chapters 2 and 3's evaluation on Dark Room goals (``experiment``: a
    :class:`~adlib.experiments.DarkRoomExperiment`): ``experiment.eval_episodes`` episodes in a
    row on every goal; a model ``n_eval_seeds`` times per member, or with ``source=True`` (a
    learner from scratch) ``source_runs`` independent runs. Seeds are offsets from the base
    seed (:data:`EVAL_SEED_OFFSET`, :data:`SOURCE_SEED_OFFSET`)."""
    runs, offset = (experiment.source_runs, SOURCE_SEED_OFFSET) if source else (experiment.n_eval_seeds, EVAL_SEED_OFFSET)
    return evaluate_on_goals(policies, goal_cells, experiment.eval_episodes, runs, experiment.source.seed + offset,
                             experiment.size, experiment.horizon)


def evaluate_on_key_doors(policies, pairs, n_episodes: int, n_eval_seeds: int, seed: int, size: int = 9, horizon: int = 50) -> GridEvaluation:
    """:func:`evaluate_in_rooms` in Dark Key-to-Door on ``[n, 2]`` (key cell, door cell) pairs (optimal return 2).

    Random start cells come from ``seed`` (the room draws them from one stream in the order
    episodes end), so a rollout is reproducible.
    """
    pairs = np.asarray(pairs)
    keys, doors = (np.stack(np.divmod(pairs[:, i], size), axis=1) for i in (0, 1))
    return evaluate_in_rooms(
        policies, lambda k: KeyToDoorEnv(np.tile(keys, (k, 1)), np.tile(doors, (k, 1)), size, horizon, seed=seed),
        len(pairs), np.full(len(pairs), 2.0), n_episodes, horizon, n_eval_seeds, seed,
    )


# --- One grid evaluation, goal by goal and episode by episode (chapter 2) -------------------


def task_fraction_of_optimal(evaluation: GridEvaluation, last: int = 10) -> np.ndarray:
    """``[n_units, n_tasks]`` mean return over the last ``last`` episodes as a fraction of each
    task's optimum, averaged over the runs of each unit (:meth:`GridEvaluation.per_unit`: a
    training seed, or a baseline's independent run)."""
    n_episodes = evaluation.returns.shape[2]
    if not 1 <= last <= n_episodes:
        raise ValueError(f"last must be in [1, {n_episodes}], got {last}")
    per_run = evaluation.returns[:, :, -last:].mean(axis=2) / evaluation.optimal[None, :]
    return evaluation.per_unit(per_run)


# --- Where episodes end, and how much is explored (chapter 3) --------------------------------


def end_point_measures(evaluation: GridEvaluation, train_goals, size: int, horizon: int) -> dict[str, tuple[float, float]]:
    """Where a method's Dark Room episodes end and how much it explores, per run (averaged over
    tasks), then ``(mean, std)`` over units (:meth:`GridEvaluation.per_unit`: training seeds, or
    a baseline's runs). Distances are Manhattan steps from the cell occupied at an episode's
    last step; the start is the centre cell. The first episode ends before anything from an
    earlier episode is in the context."""
    start = (size // 2) * size + size // 2
    ends = evaluation.observations[:, :, horizon - 1::horizon]  # [runs, tasks, episodes]
    first = ends[:, :, 0]
    per_run = {
        "on a training goal, first episode": np.isin(first, train_goals).mean(axis=1),
        "to nearest training goal, first episode": distance_to_nearest(first, train_goals, size).mean(axis=1),
        "to nearest training goal, all episodes": distance_to_nearest(ends, train_goals, size).mean(axis=(1, 2)),
        "from the start, first episode": distance_to_nearest(first, [start], size).mean(axis=1),
        "from the start, all episodes": distance_to_nearest(ends, [start], size).mean(axis=(1, 2)),
        "episodes on its most frequent end cell": np.array(
            [[np.bincount(task_ends).max() / len(task_ends) for task_ends in run] for run in ends]).mean(axis=1),
        "distinct cells, first 5 episodes": np.array(
            [[len(np.unique(path)) for path in run] for run in evaluation.observations[:, :, :5 * horizon]]).mean(axis=1),
    }
    return {name: mean_and_spread(evaluation.per_unit(v)) for name, v in per_run.items()}
