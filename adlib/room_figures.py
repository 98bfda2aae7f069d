"""The grid rooms' recurring figures: return as a fraction of optimal per episode, paths over
episodes, each task's end level and first success, and the frames of an episode-by-episode
step-through. Colours and bands follow :mod:`adlib.plotting`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from .behaviour import rewarded_in_window
from .plotting import color_for, figure_png, plot_curve, plot_paths


def plot_fraction_of_optimal(ax, curves_by_method: dict, training_episodes: int | None = None, steps_per_episode: int | None = None,
                             mark: float | None = None, colors: dict | None = None, ylabel: str = "return / optimal",
                             mark_label: str | None = None, optimum: bool = True, legend: bool = True):
    """The book's curve of return per episode as a fraction of the optimum: one line per method
    (``{label: [n_groups, n_episodes]}``, mean with a ±1 std band over rows), the optimum, an
    optional ``mark`` (e.g. 0.8), a dashed line after the longest training history
    (``training_episodes``) when the curves run past it, and environment steps on a top axis
    when ``steps_per_episode`` is given. ``colors`` overrides a method's colour (e.g. shades of
    AD's blue); ``mark_label`` names the mark (default: "80% of optimal" for 0.8). ``optimum`` and
    ``legend``: whether to draw the optimum's line and the legend (off for panels of a share)."""
    n_episodes = max(np.atleast_2d(c).shape[1] for c in curves_by_method.values())
    episodes = np.arange(1, n_episodes + 1)
    for label, curves in curves_by_method.items():  # curves may differ in length (a source's whole history)
        plot_curve(ax, curves, label, x=episodes[: np.atleast_2d(curves).shape[1]], color=(colors or {}).get(label), bounds=(0, 1))
    if optimum:
        ax.axhline(1.0, color="k", linewidth=1, label="optimal")
    if mark is not None:
        ax.axhline(mark, color="k", linestyle=":", linewidth=1, label=mark_label or f"{mark:.0%} of optimal")
    if training_episodes is not None and training_episodes < n_episodes:
        ax.axvline(training_episodes + 0.5, color="k", linestyle="--", linewidth=0.8,
                   label=f"longest training history ({training_episodes} episodes)")
    ax.set(xlabel="episode", ylabel=ylabel, ylim=(0, 1.05))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if steps_per_episode is not None:
        top = ax.secondary_xaxis("top", functions=(lambda e: e * steps_per_episode, lambda s: s / steps_per_episode))
        top.set_xlabel("environment steps")
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return ax


def path_grid(rows: dict, episodes, size: int, horizon: int, color: str | None = None):
    """Paths over episodes: a row per entry of ``rows`` (row label -> ``(observations [n_steps],
    returns [n_episodes], goal cell)`` of one run on one task), a column per 1-based episode;
    each panel's title gives the episode and its return. ``color``: the paths' colour (AD's by
    default; a neutral grey when several methods share the figure). Returns the figure."""
    episodes = list(episodes)
    fig, axes = plt.subplots(len(rows), len(episodes), figsize=(1.9 * len(episodes), 2.1 * len(rows)), squeeze=False)
    for row, (label, (observations, returns, goal)) in zip(axes, rows.items()):
        for ax, e in zip(row, episodes):
            plot_paths(ax, observations[(e - 1) * horizon: e * horizon], int(goal), size, title=f"ep. {e}: {returns[e - 1]:.0f}", color=color)
        row[0].set_ylabel(label)
    return fig


def episode_strip(paths: list, returns, episodes, goal: int, size: int, key: int | None = None):
    """One run's paths on one task in the given 1-based ``episodes``, side by side (``paths``: the
    cells of every episode; ``returns [n_episodes]``); titles give the episode and its return; in
    Key-to-Door ``goal`` is the door and ``key`` the key. Returns the figure."""
    episodes = list(episodes)
    fig, axes = plt.subplots(1, len(episodes), figsize=(2.1 * len(episodes), 2.5), squeeze=False)
    for ax, e in zip(axes[0], episodes):
        plot_paths(ax, paths[e - 1], goal, size, title=f"ep. {e}: {returns[e - 1]:.0f}", key=key)
    return fig


def plot_task_levels(ax, distance: np.ndarray, per_seed: np.ndarray, far: int | None = None, label: str = "AD"):
    """Each task's end level (``per_seed [n_seeds, n_tasks]``: the mean over seeds, bars ±1 std)
    against its distance from the start; tasks at the same distance side by side; a dotted line
    before distance ``far``."""
    distance, per_seed = np.asarray(distance), np.atleast_2d(np.asarray(per_seed, dtype=float))
    offsets = np.zeros(len(distance))
    for d in np.unique(distance):
        same = np.flatnonzero(distance == d)
        offsets[same] = (np.arange(len(same)) - (len(same) - 1) / 2) * 0.15
    spread = per_seed.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(len(distance))
    ax.errorbar(distance + offsets, per_seed.mean(axis=0), yerr=spread, fmt="o", color=color_for(label), ecolor="#9ecae1", capsize=2)
    if far is not None:
        ax.axvline(far - 0.5, color="k", linestyle=":", linewidth=1)
    ax.set(xlabel="Manhattan distance of the goal from the start", ylim=(0, 1.05))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    return ax


def plot_first_successes(ax, first: np.ndarray, labels: list[str], n_episodes: int, order=None, label: str = "AD"):
    """When each run first succeeded on each task: ``first [n_runs, n_tasks]`` (1-based
    episodes, ``inf`` for never), one row per task in ``order`` (top first). Dots: runs
    (jittered vertically, seeded); black bar: the median over runs; a cross at "never", larger
    the more runs never got there."""
    first = np.asarray(first, dtype=float)
    order = np.arange(first.shape[1]) if order is None else np.asarray(order)
    median = np.median(first, axis=0)
    rng = np.random.default_rng(0)  # vertical jitter only
    never_x, shown = n_episodes * 1.1, set()

    def once(text):  # one legend entry per kind of mark
        if text in shown:
            return None
        shown.add(text)
        return text

    for y, task in enumerate(order):
        hit = np.isfinite(first[:, task])
        if hit.any():
            ax.scatter(first[hit, task], y + rng.uniform(-0.25, 0.25, hit.sum()), s=12, color=color_for(label), alpha=0.6,
                       label=once("first success of one run"))
        if (~hit).any():
            ax.scatter([never_x], [y], marker="x", color="k", s=20 + 6 * (~hit).sum(), label=once("never found (the more runs, the larger)"))
        if np.isfinite(median[task]):
            ax.plot([median[task]] * 2, [y - 0.35, y + 0.35], color="k", linewidth=2, label=once("median over runs"))
    ax.set_yticks(range(len(order)), [labels[t] for t in order])
    ax.set(ylim=(len(order) - 0.5, -0.5), xlim=(0, n_episodes * 1.16), xlabel="episode of the first rewarded episode")
    ax.axvline(n_episodes + 0.5, color="k", linestyle=":", linewidth=1)
    ticks = list(range(0, n_episodes + 1, max(1, int(np.ceil(n_episodes / 5)))))
    ax.set_xticks(ticks + [never_x], [str(t) for t in ticks] + ["never"])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize="small", frameon=False)
    return ax


def room_step_pngs(observations: np.ndarray, returns: np.ndarray, goal: int, optimal: float, episodes, window: int, size: int,
                   horizon: int, dpi: int = 75, colors: int | None = 128) -> list[bytes]:
    """The frames of one run's episode-by-episode step-through on one task, one PNG per 1-based
    episode in ``episodes``: the path in that episode, and the returns of all episodes so far
    with the ``window`` episodes in the context at its start shaded. ``observations [n_steps]``,
    ``returns [n_episodes]``."""
    returns = np.asarray(returns, dtype=float)
    in_context = rewarded_in_window(returns, window)
    pngs = []
    for e in episodes:
        if not 1 <= e <= len(returns):
            raise ValueError(f"episodes must be in [1, {len(returns)}], got {e}")
        fig = Figure(figsize=(9, 3.4), layout="constrained")
        path_ax, bars_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2.2]})
        plot_paths(path_ax, observations[(e - 1) * horizon: e * horizon], goal, size, title=f"path in episode {e}")
        if e > 1:
            bars_ax.axvspan(max(1, e - window) - 0.5, e - 0.5, color="#d9d9d9", linewidth=0)
        bars_ax.bar(np.arange(1, e + 1), returns[:e], width=0.8, color=color_for("AD"))
        bars_ax.axvline(e, color="k", linewidth=1)  # this episode, visible even when its return is 0
        bars_ax.axhline(optimal, color="k", linestyle=":", linewidth=1)
        bars_ax.set(xlim=(0.5, len(returns) + 0.5), ylim=(0, optimal + 1), xlabel="episode", ylabel="return")
        bars_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        bars_ax.set_title(f"returns so far (grey: the {window} episodes in context at its start; dotted: optimal)", fontsize="small")
        fig.suptitle(f"episode {e}: return {returns[e - 1]:.0f}; rewarded episodes in context: {in_context[e - 1]} of "
                     f"{min(window, e - 1)}", fontsize="medium")
        pngs.append(figure_png(fig, dpi=dpi, colors=colors))
    return pngs


def paths_step_pngs(frames: list, goal: int, size: int, key: int | None = None, dpi: int = 75, colors: int | None = 128) -> list[bytes]:
    """The frames of a step-through that shows several agents' paths side by side, one PNG per
    frame: ``frames`` is a list of ``(suptitle, [(path, title, colour), ...])``; ``goal`` is
    starred and ``key`` (e.g. a decoy) drawn as a diamond in every panel."""
    pngs = []
    for suptitle, panels in frames:
        fig = Figure(figsize=(3 * len(panels), 3.2), layout="constrained")
        for ax, (path, title, color) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
            plot_paths(ax, path, goal, size, key=key, color=color)
            ax.set_title(title, fontsize="small")
        fig.suptitle(suptitle, fontsize="medium")
        pngs.append(figure_png(fig, dpi=dpi, colors=colors))
    return pngs


def pixel_filmstrip(frames: np.ndarray, states: np.ndarray, rewards: np.ndarray, goal: int, size: int, horizon: int, episodes,
                    every: int = 2):
    """Chapter 7: what an agent saw and where it went. A row per 1-based episode: its path from
    above (the state's cell is ``state // 4``), then every ``every``-th frame it saw (``frames
    [T, 3, f, f]`` in [0, 1], ``states`` and ``rewards`` ``[T]``); a frame seen on the goal cell is
    framed in orange. Returns the figure."""
    episodes = list(episodes)
    shown = list(range(0, horizon, every))
    fig, axes = plt.subplots(len(episodes), 1 + len(shown), figsize=(1.15 * (1 + len(shown)) + 0.8, 1.45 * len(episodes)),
                             squeeze=False, gridspec_kw={"width_ratios": [1.6] + [1] * len(shown), "hspace": 0.45})
    for row, e in zip(axes, episodes):
        steps = slice((e - 1) * horizon, e * horizon)
        cells = np.asarray(states[steps]) // 4
        plot_paths(row[0], cells, goal, size, title=f"ep. {e}: {rewards[steps].sum():.0f}")
        for ax, t in zip(row[1:], shown):
            ax.imshow(np.transpose(frames[steps][t], (1, 2, 0)), interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            on_goal = cells[t] == goal
            for spine in ax.spines.values():
                spine.set_visible(bool(on_goal))
                spine.set_color("#ff7f0e")
                spine.set_linewidth(3)
            if e == episodes[0]:
                ax.set_title(f"step {t + 1}", fontsize="x-small")
    return fig
