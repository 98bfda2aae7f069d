"""The book's plotting style: one colour per method, mean with a spread band.

Every curve is given as ``[n_groups, n_steps]``: one row per seed (training seed for AD,
evaluation group for the baselines). The line is the mean over rows, the band +/- one
standard deviation over rows (the paper's convention), omitted when there is one row.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
import seaborn as sns

METHOD_COLORS = {
    "AD": "#1f77b4",
    "AD (early)": "#9ecae1",
    "AD (late)": "#1f77b4",
    "AD greedy": "#6baed6",
    "AD (training goals)": "#17becf",
    "AD (Thompson data)": "#08519c",
    "AD, unrestricted (control)": "#9ecae1",
    "ED": "#ff7f0e",
    "optimistic greedy": "#d62728",
    "source": "#d62728",
    "UCB1": "#2ca02c",
    "Thompson sampling": "#9467bd",
    "epsilon-greedy": "#8c564b",
    "random": "#7f7f7f",
    "oracle": "#000000",
    # Chapter 6's scripted agents (adlib.agents) and AD trained on one room acting in another.
    "copy agent (random)": "#e377c2",
    "copy agent (novel)": "#ae017e",
    "search-then-return": "#637939",
    "win-stay/lose-shift": "#f768a1",
    "AD (trained on Dark Room)": "#1f77b4",
    "AD (trained on Key-to-Door)": "#08306b",
    "ED (trained on Key-to-Door)": "#ff7f0e",
}


METHOD_LINESTYLES = {"AD greedy": "--", "AD (training goals)": ":", "random": (0, (2, 2)),
                     "AD (trained on Key-to-Door)": "--", "copy agent (novel)": "--"}
"""Variants of AD drawn in AD's colour family, and random, get their own line style, so curves stay apart where they cross."""


def set_book_style() -> None:
    """Seaborn's white grid, a readable size, and no top/right spines."""
    sns.set_theme(style="whitegrid", context="notebook", rc={"axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100})


SIZE_COLORS = {"book": "#08519c", "in-between": "#4292c6", "paper": "#9ecae1"}
"""AD at three model sizes (chapters 2 and 6b): shades of AD's blue, darkest for the book's model."""


def size_color(variant: str) -> str:
    """The colour of a model-size variant named after its size ("paper, 20 goals, halfway" is the paper's)."""
    return SIZE_COLORS[variant.split(",")[0]]


def color_for(method: str) -> str:
    """The fixed colour of a method (grey-blue for unknown names)."""
    return METHOD_COLORS.get(method, "#17becf")


def plot_curve(ax, curves: np.ndarray, label: str, x: np.ndarray | None = None, color: str | None = None,
               bounds: tuple | None = None, **kwargs):
    """Plot the mean of ``curves [n_groups, n_steps]`` with a +/- 1 std band over groups,
    cut to ``bounds`` (e.g. ``(0, 1)`` for a rate) where given."""
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    x = np.arange(1, curves.shape[1] + 1) if x is None else x
    color = color_for(label) if color is None else color
    if label in METHOD_LINESTYLES and "linestyle" not in kwargs and "ls" not in kwargs:
        kwargs["linestyle"] = METHOD_LINESTYLES[label]
    mean = curves.mean(axis=0)
    line = ax.plot(x, mean, label=label, color=color, **kwargs)
    if curves.shape[0] > 1:
        std = curves.std(axis=0, ddof=1)
        low, high = mean - std, mean + std
        if bounds is not None:
            low, high = np.clip(low, *bounds), np.clip(high, *bounds)
        ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
    return line


def plot_training_loss(ax, runs_by_method: dict, window: int | None = None) -> int:
    """Training loss per optimiser step, one band per method: ``{label: [runs]}`` (each run has
    ``.losses``), a moving average over ``window`` steps (a twentieth of the run by default),
    mean ±1 std over the runs (training seeds). Returns the window."""
    steps = max(len(r.losses) for runs in runs_by_method.values() for r in runs)
    window = max(1, steps // 20) if window is None else window
    for label, runs in runs_by_method.items():
        losses = moving_average(np.stack([r.losses for r in runs]), window)
        plot_curve(ax, losses, label, x=np.arange(window, len(runs[0].losses) + 1))
    ax.set(xlabel="training step", ylabel="cross-entropy (nats)")
    return window


def curves_figure(curves_by_method: dict, ylabel: str, title: str = "", xlabel: str = "step", ax=None, vline: float | None = None,
                  bounds: tuple | None = None):
    """One axes with a curve per method; ``vline`` marks e.g. the training horizon; ``bounds``
    keeps the bands inside a rate's range (e.g. ``(0, 100)`` for a percentage)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    for method, curves in curves_by_method.items():
        plot_curve(ax, curves, method, bounds=bounds)
    if vline is not None:
        ax.axvline(vline, color="k", linestyle=":", linewidth=1)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="best", fontsize="small")
    return ax


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average along the last axis (for noisy loss curves)."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, values.shape[-1]))
    kernel = np.ones(window) / window
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), -1, values)


def plot_arm_choices(ax, actions: np.ndarray, best_arm: np.ndarray, n_arms: int, title: str = ""):
    """Picture of which arm each run pulled at each step; the best arm is outlined in black."""
    actions = np.asarray(actions)
    ax.imshow(actions, aspect="auto", cmap="tab10", vmin=-0.5, vmax=9.5 if n_arms <= 10 else n_arms - 0.5, interpolation="nearest")
    rows, cols = np.nonzero(actions == np.asarray(best_arm)[:, None])
    ax.scatter(cols, rows, marker="s", s=12, facecolors="none", edgecolors="k", linewidths=0.6)
    ax.set(xlabel="step", ylabel="run", title=title, yticks=range(len(actions)))
    ax.grid(False)
    return ax


def plot_goal_split(ax, train_goals, test_goals, size: int = 9, start: int | None = None, validation_goals=(), mark_start: bool = True):
    """The room with training goals (light), held-out goals (dark) and, when given, validation
    goals (hatched grey: kept apart for choosing settings); the start cell marked S (the centre
    unless ``start`` says otherwise; not marked with ``mark_start=False``, for random starts)."""
    grid = np.zeros((size, size))
    grid.flat[np.asarray(train_goals, dtype=int)] = 1
    grid.flat[np.asarray(test_goals, dtype=int)] = 2
    grid.flat[np.asarray(validation_goals, dtype=int)] = 3
    ax.imshow(grid, cmap=plt.matplotlib.colors.ListedColormap(["white", "#c6dbef", "#08519c", "#bdbdbd"]), vmin=0, vmax=3)
    for cell in np.asarray(validation_goals, dtype=int):
        ax.add_patch(plt.Rectangle((cell % size - 0.5, cell // size - 0.5), 1, 1, fill=False, hatch="///", linewidth=0,
                                   edgecolor="#636363"))
    start = size * size // 2 if start is None else start
    if mark_start:
        ax.text(start % size, start // size, "S", ha="center", va="center", fontsize=12, fontweight="bold", color="#d62728")
    ax.set(xticks=range(size), yticks=range(size), xlabel="column", ylabel="row")
    ax.grid(False)
    return ax


def plot_paths(ax, observations: np.ndarray, goal: int, size: int = 9, title: str = "", key: int | None = None,
               color: str | None = None):
    """One episode's path through the room (observations ``[T]``), the goal (or door) cell marked
    with a star and, in Key-to-Door, the ``key`` cell with a diamond. The path is drawn in AD's
    colour unless ``color`` is given (e.g. a neutral grey when AD and ED are shown together)."""
    rows, cols = np.divmod(np.asarray(observations), size)
    jitter = np.linspace(-0.15, 0.15, len(rows))  # separate revisits of the same cell a little
    ax.plot(cols + jitter, rows + jitter, "-o", color=color_for("AD") if color is None else color, markersize=3, linewidth=1, alpha=0.8)
    ax.plot(cols[0], rows[0], "s", color="#d62728", markersize=7, clip_on=False)  # markers at a wall are drawn whole
    ax.plot(goal % size, goal // size, "*", color="#ff7f0e", markersize=14, clip_on=False, zorder=3)
    if key is not None:
        ax.plot(key % size, key // size, "D", color="#bcbd22", markersize=8, markeredgecolor="k")
    ax.set(xlim=(-0.5, size - 0.5), ylim=(size - 0.5, -0.5), xticks=[], yticks=[], aspect="equal")
    ax.set_title(title, fontsize="small")
    for spine in ax.spines.values():  # the room's walls
        spine.set_visible(True)
        spine.set_color("k")
    ax.grid(False)
    return ax


def _bandit_step_static_parts(axes, means: np.ndarray, n_steps: int) -> None:
    """What :func:`bandit_step_pngs` draws the same at every step: limits, ticks, true means."""
    n_arms, best = len(means), int(np.argmax(means))
    arms = np.arange(n_arms)
    context_ax, probs_ax, means_ax = axes
    context_ax.axhspan(best - 0.5, best + 0.5, color="#fdd0a2", zorder=0)
    context_ax.set(xlim=(0, n_steps + 1), ylim=(-0.5, n_arms - 0.5), yticks=arms, xlabel="step", ylabel="arm")
    probs_ax.set(xlim=(0, 1), ylim=(-0.5, n_arms - 0.5), yticks=arms, xlabel="probability")
    means_ax.barh(arms, means, color=["#ff7f0e" if a == best else "#bdbdbd" for a in arms], label="true mean")
    means_ax.set(ylim=(-0.5, n_arms - 0.5), yticks=arms, xlabel="mean reward", title="arms (pulls so far)")


def _pulls_and_mean_rewards(actions, rewards, step: int, n_arms: int) -> tuple[np.ndarray, np.ndarray]:
    """Pulls of each arm before ``step`` and their mean reward (nan for an arm not pulled yet)."""
    seen_a, seen_r = np.asarray(actions[: step - 1]), np.asarray(rewards[: step - 1])
    counts = np.bincount(seen_a, minlength=n_arms)
    sums = np.bincount(seen_a, weights=seen_r, minlength=n_arms)
    return counts, np.divide(sums, counts, out=np.full(n_arms, np.nan), where=counts > 0)


def _bandit_step_contents(axes, means, actions, rewards, probs, step: int, label: str = "AD",
                          reward_range: tuple = (-2.5, 2.5), window: int | None = None) -> list:
    """What :func:`bandit_step_pngs` draws for one ``step``; returns the artists it added."""
    n_arms, best = len(means), int(np.argmax(means))
    arms = np.arange(n_arms)
    context_ax, probs_ax, means_ax = axes
    added = []
    if step > 1:
        added.append(context_ax.scatter(np.arange(1, step), actions[: step - 1], c=rewards[: step - 1], cmap="coolwarm", s=14,
                                        vmin=reward_range[0], vmax=reward_range[1]))
    context_ax.set_title(f"context: {step - 1} pulls (colour = reward; shaded = best arm)")
    added.append(context_ax.axvline(step, color="k", linewidth=1))
    if window is not None and step - 1 > window:
        added.append(context_ax.axvspan(0, step - window - 0.5, facecolor="white", alpha=0.6, hatch="//", edgecolor="#969696",
                                        zorder=3, label=f"outside the {window}-step attention window"))
        added.append(context_ax.legend(loc="upper left", fontsize="x-small"))
    added.append(probs_ax.barh(arms, probs[step - 1], color=[("#ff7f0e" if a == best else color_for(label)) for a in arms]))
    probs_ax.set_title(f"{label}: next arm at step {step}")
    counts, empirical = _pulls_and_mean_rewards(actions, rewards, step, n_arms)
    added.extend(means_ax.plot(empirical, arms, "k|", markersize=12, markeredgewidth=2, label="mean reward in context"))
    means_ax.set_yticks(arms, [f"{a} ({counts[a]}x)" for a in arms], fontsize="small")
    added.append(means_ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize="x-small", frameon=False))
    return added


def figure_png(fig: Figure, dpi: int = 80, colors: int | None = None) -> bytes:
    """A figure drawn off screen as PNG bytes (for a frame of :func:`step_through_html`).

    ``colors``: reduce the picture to that many colours (e.g. 128), which makes a plot's PNG
    about three times smaller with no visible change, so a page of many frames stays light.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if colors is None:
        return buffer.getvalue()
    from PIL import Image  # matplotlib's own dependency

    reduced = io.BytesIO()
    Image.open(io.BytesIO(buffer.getvalue())).convert("RGB").quantize(colors=colors).save(reduced, format="png", optimize=True)
    return reduced.getvalue()


def bandit_step_pngs(means, actions, rewards, probs, steps, dpi: int = 75, colors: int | None = 128, label: str = "AD",
                     reward_range: tuple = (-2.5, 2.5), window: int | None = None) -> list[bytes]:
    """What an in-context learner knows and does at each of ``steps`` of one bandit, one PNG per
    step (the frames of the book's step-throughs, at page width).

    Three panels: across the top the context so far (every pull before the step, coloured by
    its reward, ``reward_range`` setting the colour scale, pulls older than ``window`` steps
    hatched); below, the learner's (``label``) probability of each arm at the step, and the
    true arm means with the mean reward of each arm in the context. ``means [n_arms]``;
    ``actions``, ``rewards [T]``; ``probs [T, n_arms]``; ``steps`` are 1-based.

    One figure serves every frame: what is the same at every step is drawn once, and each
    frame adds its own artists and removes them again (creating axes and ticks anew was most of
    a frame's cost). The layout is computed once, at the latest step (the longest tick labels), so
    the panels do not shift from frame to frame, and the mean-reward axis spans every frame's
    marks, so it does not rescale. Uses a bare :class:`~matplotlib.figure.Figure`, not pyplot,
    so nothing is displayed as a side effect.
    """
    steps, actions, rewards = list(steps), np.asarray(actions), np.asarray(rewards)
    if not steps:
        raise ValueError("bandit_step_pngs needs at least one step")
    if not all(1 <= s <= len(actions) for s in steps):
        raise ValueError(f"every step must be in [1, {len(actions)}], got {steps}")
    style = dict(label=label, reward_range=reward_range, window=window)
    fig = Figure(figsize=(9, 6.4), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.15))
    axes = (fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1]))
    _bandit_step_static_parts(axes, means, len(actions))
    values = np.concatenate([means, [0.0]] + [_pulls_and_mean_rewards(actions, rewards, s, len(means))[1] for s in steps])
    lo, hi = np.nanmin(values), np.nanmax(values)
    axes[2].set_xlim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    added = _bandit_step_contents(axes, means, actions, rewards, probs, max(steps), **style)
    fig.draw_without_rendering()  # lays the figure out once ...
    fig.set_layout_engine("none")  # ... and keeps that layout for every frame
    pngs = []
    for step in steps:
        for artist in added:
            artist.remove()
        added = _bandit_step_contents(axes, means, actions, rewards, probs, step, **style)
        pngs.append(figure_png(fig, dpi, colors))
    return pngs


def step_through_html(frames: list[bytes], labels: list[str], alt: str, start: int = 0) -> str:
    """Pre-rendered PNG frames behind a slider, previous/next buttons and a play button.

    The page switches frames with a few lines of inline JavaScript, so it works on the built
    book with no kernel and offline (the frames are embedded as data URIs). ``labels`` name
    the frames (e.g. "step 11"); ``alt`` describes the picture for screen readers.
    """
    if not frames or len(frames) != len(labels):
        raise ValueError(f"need one label per frame, got {len(frames)} frames and {len(labels)} labels")
    if not 0 <= start < len(frames):
        raise ValueError(f"start must index a frame (0 to {len(frames) - 1}), got {start}")
    uris = ["data:image/png;base64," + base64.b64encode(f).decode("ascii") for f in frames]
    # A stable id (same frames, same page) keeps rebuilt pages identical; two steppers on one page differ.
    uid = "stepper-" + hashlib.sha1("".join(labels).encode() + b"".join(frames)).hexdigest()[:10]
    last = len(frames) - 1
    return f"""<div class="adlib-stepper" id="{uid}">
<div style="display:flex;align-items:center;gap:0.5em;flex-wrap:wrap;margin-bottom:0.3em">
<button type="button" data-move="-1" aria-label="previous frame">&#9664;</button>
<input type="range" min="0" max="{last}" value="{start}" step="1" style="flex:1;min-width:12em" aria-label="frame">
<button type="button" data-move="1" aria-label="next frame">&#9654;</button>
<button type="button" data-play="1">play</button>
<span class="adlib-stepper-label" style="min-width:9em;font-weight:bold">{html.escape(labels[start])}</span>
</div>
<img src="{uris[start]}" alt="{html.escape(alt)}" style="width:100%;height:auto">
<script>
(function () {{
  var root = document.getElementById("{uid}");
  var frames = {json.dumps(uris)};
  var labels = {json.dumps(labels)};
  var img = root.querySelector("img"), slider = root.querySelector("input"), label = root.querySelector(".adlib-stepper-label");
  var play = root.querySelector("[data-play]"), timer = null;
  function show(i) {{
    i = Math.max(0, Math.min({last}, i));
    slider.value = i; img.src = frames[i]; label.textContent = labels[i];
    root.setAttribute("data-frame", i);
  }}
  slider.addEventListener("input", function () {{ show(parseInt(slider.value, 10)); }});
  root.querySelectorAll("[data-move]").forEach(function (b) {{
    b.addEventListener("click", function () {{ show(parseInt(slider.value, 10) + parseInt(b.getAttribute("data-move"), 10)); }});
  }});
  play.addEventListener("click", function () {{
    if (timer) {{ clearInterval(timer); timer = null; play.textContent = "play"; return; }}
    if (parseInt(slider.value, 10) >= {last}) show(0);
    play.textContent = "pause";
    timer = setInterval(function () {{
      var i = parseInt(slider.value, 10) + 1;
      show(i);
      if (i >= {last}) {{ clearInterval(timer); timer = null; play.textContent = "play"; }}
    }}, 600);
  }});
  show({start});
}})();
</script>
</div>"""


def plot_checkpoint_sweep(ax, steps, losses: np.ndarray, scores: np.ndarray, source_score: float, random_score: float, label: str = "AD"):
    """A score of each training checkpoint against its training loss.

    ``losses`` and ``scores`` are ``[n_checkpoints, n_seeds]``: a point per checkpoint at the
    mean over seeds, with +/- 1 std error bars in both directions, labelled by its training
    step; the source and random are horizontal lines.
    """
    losses, scores = np.asarray(losses, dtype=float), np.asarray(scores, dtype=float)
    spread = lambda a: a.std(axis=1, ddof=1) if a.shape[1] > 1 else None  # noqa: E731
    ax.errorbar(losses.mean(axis=1), scores.mean(axis=1), xerr=spread(losses), yerr=spread(scores), fmt="o-",
                color=color_for(label), label=label, capsize=3)
    for i, (step, x, y) in enumerate(zip(steps, losses.mean(axis=1), scores.mean(axis=1))):
        # Late checkpoints crowd together as the loss flattens: label them above and below in turn.
        ax.annotate(f"{step}", (x, y), textcoords="offset points", xytext=(0, 8 if i % 2 == 0 else -14), ha="center", fontsize="x-small")
    ax.axhline(source_score, color=color_for("source"), linestyle="--", linewidth=1.5, label="source")
    ax.axhline(random_score, color=color_for("random"), linestyle=":", linewidth=1.5, label="random")
    ax.invert_xaxis()  # training runs left to right: the loss falls
    return ax


def plot_bandit_sides(results_by_side: dict, title: str, horizon: int):
    """A shifted bandit test at a glance: % of runs pulling the best arm (left) and cumulative
    regret (right), one row per side of the shift (``{side: {method: GroupedBanditMetrics}}``),
    a dotted line at the training ``horizon`` and one legend below. Returns the figure."""
    fig, axes = plt.subplots(len(results_by_side), 2, figsize=(12, 4.25 * len(results_by_side)), sharex=True, layout="constrained",
                             squeeze=False)
    legend = {}
    for row, (side, methods) in enumerate(results_by_side.items()):
        for name, m in methods.items():
            (line,) = plot_curve(axes[row, 0], m.pct_best_arm, name, bounds=(0, 100))
            plot_curve(axes[row, 1], m.cumulative_regret, name, bounds=(0, np.inf))
            legend.setdefault(name, line)
        for ax, ylabel in zip(axes[row], ("% pulling the best arm", "cumulative regret")):
            ax.axvline(horizon, color="k", linestyle=":", linewidth=1)
            ax.set(title=side, ylabel=ylabel)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncol=len(legend), frameon=False)
    fig.suptitle(title)
    return fig


def plot_pull_shares(results_by_side: dict, arms, what: str, phases, n_arms: int):
    """Grouped bars: the % of pulls that went to ``arms`` in each phase (``(first, last)`` 1-based
    steps), one panel per side, one bar per method (mean ± std over groups), and the share a
    uniformly random choice would give. Returns the figure."""
    fig, axes = plt.subplots(1, len(results_by_side), figsize=(12, 4.2), sharey=True, layout="constrained", squeeze=False)
    legend = {}
    for ax, (side, methods) in zip(axes[0], results_by_side.items()):
        width = 0.8 / len(methods)
        for k, (name, m) in enumerate(methods.items()):
            shares = [m.pct_pulls_of(arms, first, last) for first, last in phases]
            bars = ax.bar(np.arange(len(phases)) + (k - (len(methods) - 1) / 2) * width, [s[0] for s in shares], width,
                          yerr=[s[1] for s in shares], capsize=2, color=color_for(name), label=name)
            legend.setdefault(name, bars)
        legend["uniform choice"] = ax.axhline(100 * len(arms) / n_arms, color="k", linestyle=":", linewidth=1)
        ax.set(xticks=range(len(phases)), xticklabels=[f"steps {first}-{last}" for first, last in phases], ylim=(0, 100), title=side)
    axes[0, 0].set_ylabel(f"% of pulls on {what}")
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncol=len(legend), frameon=False)
    return fig


# Not the methods' colours: a phase is not a method.
PHASE_COLORS = {"data": "#8dd3c7", "training": "#bebada", "evaluation": "#e5c494", "plotting and text": "#d9d9d9"}


def plot_time_split(ax, seconds_by_chapter: dict):
    """Stacked horizontal bars: seconds per phase (``{chapter: {phase: seconds}}``), one bar per chapter."""
    chapters = list(seconds_by_chapter)[::-1]  # first chapter on top
    left = np.zeros(len(chapters))
    for phase, color in PHASE_COLORS.items():
        widths = np.array([seconds_by_chapter[c].get(phase, 0.0) for c in chapters])
        ax.barh(chapters, widths, left=left, color=color, label=phase)
        left += widths
    ax.set(xlabel="seconds")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(PHASE_COLORS), fontsize="small", frameon=False)
    return ax
