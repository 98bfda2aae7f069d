"""Measures of behaviour over episodes: first successes, what a context holds, found-then-lost
goals, step-through frames, and the critique's probes (chapter 6)."""

from __future__ import annotations

import numpy as np

from .sources import useful_moves


def first_success_episodes(returns: np.ndarray, at_least: float = 1.0) -> np.ndarray:
    """1-based episode of the first return >= ``at_least`` along the last axis (episodes);
    ``inf`` where no episode gets there. ``[..., n_episodes]`` -> ``[...]`` floats."""
    hit = np.asarray(returns) >= at_least
    if hit.ndim < 1 or hit.shape[-1] < 1:
        raise ValueError(f"need returns [..., n_episodes] with at least one episode, got shape {hit.shape}")
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1) + 1.0, np.inf)


def rewarded_in_window(returns: np.ndarray, window: int, at_least: float = 1.0) -> np.ndarray:
    """``[..., n_episodes]`` how many of the ``window`` episodes just before each episode were
    rewarded (return >= ``at_least``): what a ``window``-episode context holds when the episode
    starts. Episode 1 has an empty context (0)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    hit = (np.asarray(returns) >= at_least).astype(np.int64)
    n = hit.shape[-1]
    seen = np.concatenate([np.zeros(hit.shape[:-1] + (1,), dtype=np.int64), np.cumsum(hit, axis=-1)], axis=-1)
    e = np.arange(n)  # 0-based episode; its context holds episodes e - window .. e - 1
    return seen[..., e] - seen[..., np.maximum(e - window, 0)]


def found_then_lost(returns: np.ndarray, window: int, at_least: float = 1.0) -> dict | None:
    """Did one run (``returns [n_episodes]`` on one task) find the goal and then lose it?

    Lost means: an episode after the first success starts with no rewarded episode among
    the ``window`` before it, i.e. the last rewarded episode has left a ``window``-episode
    context. Returns None if the goal was never found or never lost, else a dict of 1-based
    episodes: ``found`` (first success), ``lost`` (first episode with no reward left in the
    context), ``rewarded_before`` (rewarded episodes before ``lost``), ``found_again``
    (first rewarded episode from ``lost`` on, or None).
    """
    returns = np.asarray(returns)
    if returns.ndim != 1:
        raise ValueError(f"need the returns of one run on one task, [n_episodes], got shape {returns.shape}")
    hit = returns >= at_least
    if not hit.any():
        return None
    found = int(hit.argmax())
    empty = np.flatnonzero(rewarded_in_window(returns, window, at_least)[found + 1:] == 0)
    if not len(empty):
        return None
    lost = found + 1 + int(empty[0])
    again = np.flatnonzero(hit[lost:])
    return {"found": found + 1, "lost": lost + 1, "rewarded_before": int(hit[:lost].sum()),
            "found_again": int(lost + again[0] + 1) if len(again) else None}


def pick_found_then_lost(returns: np.ndarray, window: int, at_least: float = 1.0,
                         min_search: int = 3) -> tuple[int, int, dict] | None:
    """The clearest found-then-lost case among ``returns [n_runs, n_tasks, n_episodes]``.

    Prefers, in this order: a goal first found in episode ``min_search`` or later, so that
    the search before the first find can be seen; a run that came back to the goal (at least
    two rewarded episodes) before losing it; one whose goal then stays lost for at least ``window``
    episodes (or to the end of the run), rather than being found again at once; the
    earliest loss; the lowest run and task index. Returns ``(run, task,
    found_then_lost(...))``, or None if no run ever lost a goal it had found.
    """
    returns = np.asarray(returns)
    if returns.ndim != 3:
        raise ValueError(f"need returns [n_runs, n_tasks, n_episodes], got shape {returns.shape}")
    best, best_key = None, None
    for run, task in np.ndindex(returns.shape[:2]):
        case = found_then_lost(returns[run, task], window, at_least)
        if case is None:
            continue
        again = case["found_again"]
        stays_lost = again is None or again - case["lost"] >= window
        key = (case["found"] < min_search, case["rewarded_before"] < 2, not stays_lost, case["lost"], run, task)
        if best_key is None or key < best_key:
            best, best_key = (int(run), int(task), case), key
    return best


def example_tasks(returns: np.ndarray, distance: np.ndarray) -> dict[int, list[str]]:
    """Tasks worth a picture for one run (``returns [n_tasks, n_episodes]``): the typical one
    (the median first success among the tasks it found), the one farthest from the start
    (``distance [n_tasks]``) and the one it found last. ``{task: [labels]}``: a task that is two
    of these appears once, with both labels."""
    first = first_success_episodes(returns)
    found = np.flatnonzero(np.isfinite(first))
    by_first = found[np.argsort(first[found], kind="stable")]
    picks = [("typical goal", by_first[(len(by_first) - 1) // 2])] if len(by_first) else []
    picks.append(("farthest goal", int(np.argmax(distance))))
    if len(by_first):
        picks.append(("latest first success", by_first[-1]))
    tasks: dict[int, list[str]] = {}
    for label, task in picks:
        tasks.setdefault(int(task), []).append(label)
    return tasks


def typical_first_best(returns: np.ndarray) -> tuple[int, int, int] | None:
    """For one run (``returns [n_tasks, n_episodes]``): the task whose first best return (the
    run's highest on any task) came at the median episode among the tasks where it ever scored it.
    ``(task, that 1-based episode, how many tasks it scored it on)``; None when it never scored."""
    returns = np.asarray(returns)
    if returns.max() <= 0:
        return None
    hit = returns >= returns.max()
    found = np.flatnonzero(hit.any(axis=1))
    firsts = hit[found].argmax(axis=1)
    task = int(found[np.argsort(firsts, kind="stable")[len(found) // 2]])
    return task, int(hit[task].argmax()) + 1, len(found)


def step_through_case(returns: np.ndarray, window: int, distance: np.ndarray, min_search: int = 3, fallback_run: int = 0) -> dict:
    """The run and task an episode-by-episode step-through shows, and its episodes of interest.

    The clearest found-then-lost case of :func:`pick_found_then_lost` (``returns [n_runs,
    n_tasks, n_episodes]``), focused from 3 episodes before the first find to 2 after the loss
    (or after the goal is found again, when that comes within 10 episodes). Where no run ever
    lost a goal it had found: run ``fallback_run`` on the first of its :func:`example_tasks`,
    focused around its first success. Returns ``{"run", "task", "case"`` (None in the fallback)
    ``, "focus"`` (1-based first and last episode, or None)``}``.
    """
    picked = pick_found_then_lost(returns, window, min_search=min_search)
    if picked is not None:
        run, task, case = picked
        again = case["found_again"]
        end = (again if again is not None and again <= case["lost"] + 10 else case["lost"]) + 2
        return {"run": run, "task": task, "case": case, "focus": (case["found"] - 3, end)}
    task = next(iter(example_tasks(returns[fallback_run], distance)))
    first = first_success_episodes(returns[fallback_run, task])
    focus = (int(first) - 3, int(first) + 8) if np.isfinite(first) else None
    return {"run": fallback_run, "task": task, "case": None, "focus": focus}


def describe_step_through(case: dict | None, window: int, n_episodes: int, min_search: int = 3) -> str:
    """How the step-through's run was chosen and what happens in it, in words (for its caption):
    the rule of :func:`pick_found_then_lost`, which of its preferences the chosen case misses,
    and its episodes of interest. ``case``: the ``"case"`` of :func:`step_through_case`."""
    if case is None:
        return ("No run lost a goal it had found, so this is a typical success instead: the goal on which this agent's "
                "first success is the median among the goals it found (or, if it found none, its farthest goal).")
    again = case["found_again"]
    unmet = ([f"was first found in episode {case['found']}"] if case["found"] < min_search else []) + \
            (["was rewarded only once before the loss"] if case["rewarded_before"] < 2 else []) + \
            ([f"found the goal again {again - case['lost']} episode(s) after losing it"]
             if again is not None and again - case["lost"] < window else [])
    rule = (f"The run is chosen by a rule: among all runs and goals, a goal the agent first found in episode {min_search} or "
            f"later (so the search before it shows), went back to, and then lost for at least {window} episodes, taking the "
            "earliest such loss")
    rule += f" (no case meets all of it; this one, the closest in that order of preference, {' and '.join(unmet)}). " if unmet else ". "
    return rule + (f"It is first rewarded in episode {case['found']}, is rewarded in {case['rewarded_before']} episodes before "
                   f"episode {case['lost']}, and starts episode {case['lost']} with no rewarded episode left among the {window} "
                   "in its context; " + (f"it finds the goal again in episode {again}." if again is not None else
                                         f"it does not find the goal again within {n_episodes} episodes."))


def context_reward_rates(returns: np.ndarray, window: int, at_least: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """How often an episode is rewarded, by what its ``window``-episode context holds.

    For ``returns [n_runs, n_tasks, n_episodes]``, two ``[n_runs]`` shares (pooled over
    tasks): of the episodes that start with at least one rewarded episode in the context,
    and of those that start with none although the goal was found before (a lost goal).
    NaN where a run has no such episode.
    """
    returns = np.asarray(returns)
    if returns.ndim != 3:
        raise ValueError(f"need returns [n_runs, n_tasks, n_episodes], got shape {returns.shape}")
    hit = returns >= at_least
    in_context = rewarded_in_window(returns, window, at_least) > 0
    found_before = np.cumsum(hit, axis=2) - hit > 0  # a rewarded episode earlier in the run

    def share(where):
        n = where.sum(axis=(1, 2))
        return np.divide((hit & where).sum(axis=(1, 2)), n, out=np.full(len(n), np.nan), where=n > 0)

    return share(in_context), share(~in_context & found_before)


def step_through_episodes(n_episodes: int, focus: tuple[int, int] | None = None, first: int = 5, every: int = 5,
                          max_frames: int = 40) -> list[int]:
    """1-based episodes to show in an episode-by-episode step-through of one run.

    Every episode of the first ``first`` and of ``focus`` (first, last, inclusive, clipped to
    the run), every ``every``-th episode elsewhere, and the last episode; at most
    ``max_frames``. Where that is too many, the sparse episodes are thinned (a wider stride),
    and if the dense ones alone are too many, they are cut at the end.
    """
    if n_episodes < 1 or first < 0 or every < 1 or max_frames < 2:
        raise ValueError("need n_episodes >= 1, first >= 0, every >= 1 and max_frames >= 2")
    dense = set(range(1, min(first, n_episodes) + 1))
    if focus is not None:
        lo, hi = max(1, int(focus[0])), min(n_episodes, int(focus[1]))
        dense |= set(range(lo, hi + 1))
    dense = sorted(dense)[: max_frames - 1]
    stride = every
    while True:
        frames = sorted(set(dense) | set(range(stride, n_episodes + 1, stride)) | {n_episodes})
        if len(frames) <= max_frames:
            return frames
        stride += every


# --- Probes of the critique (chapter 6) ---------------------------------------------------


def cross_episode_novelty(observations: np.ndarray, horizon: int, window: int, before: np.ndarray) -> np.ndarray:
    """``[n]`` mean share of the cells an agent visits in an episode that it had not visited in
    the ``window`` steps before the episode began, over episodes 2 .. ``before[i] - 1`` of run i
    (e.g. the episodes before its first reward), NaN where there are none.

    ``observations``: ``[n, T]`` cells of fixed-length episodes (``horizon`` steps), as in
    Dark Room, or Dark Room Hard before the first success (episodes end early only on success).
    A systematic searcher scores near 1; a random walk that keeps to the cells around the start, low.
    """
    observations = np.asarray(observations)
    n, T = observations.shape
    n_cells = int(observations.max()) + 1
    out = np.full(n, np.nan)
    for i in range(n):
        last = min(int(before[i]) - 1, T // horizon) if np.isfinite(before[i]) else T // horizon
        shares = []
        for e in range(1, last):
            start = e * horizon
            seen = np.zeros(n_cells, dtype=bool)
            seen[observations[i, max(0, start - window):start]] = True
            cells = np.unique(observations[i, start:start + horizon])
            shares.append(float((~seen[cells]).mean()))
        if shares:
            out[i] = np.mean(shares)
    return out


def agreement_with_targets(observations: np.ndarray, actions: np.ndarray, probs: np.ndarray | None, targets: np.ndarray, size: int) -> dict:
    """How often an agent took a shortest-path step toward ``targets`` (``[n, T]`` cells, -1: none),
    over the steps with a target that it was not already on.

    Returns per-run arrays ``[n]``: ``agree`` (share of actions that were such a step),
    ``mass`` (probability the policy put on such steps, if ``probs [n, T, A]`` is given),
    ``chance`` (the share a uniformly random action would get) and ``steps`` (how many steps counted).
    """
    observations, actions, targets = (np.asarray(x) for x in (observations, actions, targets))
    counted = (targets >= 0) & (observations != targets)
    useful = useful_moves(observations.ravel(), np.where(targets >= 0, targets, observations).ravel(), size).reshape(*observations.shape, -1)
    took = np.take_along_axis(useful, actions[..., None], axis=2)[..., 0]
    steps = counted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = {
            "agree": (took & counted).sum(axis=1) / steps,
            "chance": (useful.sum(axis=2) / useful.shape[2] * counted).sum(axis=1) / steps,
            "steps": steps,
        }
        if probs is not None:
            result["mass"] = ((probs * useful).sum(axis=2) * counted).sum(axis=1) / steps
    return result
