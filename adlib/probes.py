"""Chapter 6's probes of the critique: what AD, the scripted agents of :mod:`adlib.agents` and
the source do where "go back to the rewarded cell" (H_copy) and a general in-context learner
(H_RL) predict different behaviour.

Each probe is one function over rollouts or models; the chapter calls them and shows their
numbers. Spreads are ``(mean, std)`` over the units a probe names: AD's training seeds, or a
scripted agent's runs.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import agents, interventions, sources
from .behaviour import cross_episode_novelty, first_success_episodes
from .envs import MovingGoalDarkRoom, cells_after_moves
from .grid_evaluation import episode_returns
from .in_context import InContextPolicy, PromptedPolicy
from .plotting import color_for, plot_curve
from .rollouts import rollout
from .stats import mean_and_spread, mean_by_group


def fraction_of_optimal(traj, optimal: np.ndarray, horizon: int) -> np.ndarray:
    """``[n_runs, n_episodes]`` each run's return per episode as a fraction of its goal's optimum
    (runs lay the goals out goal-minor, ``optimal [n_goals]`` repeated)."""
    return episode_returns(traj.rewards, horizon) / np.tile(optimal, len(traj.rewards) // len(optimal))[:, None]


# --- Probe 2: search before the first reward ---------------------------------------------------


def search_stats(traj, horizon: int, window: int, groups: np.ndarray | None = None) -> tuple[tuple, tuple]:
    """``((mean, std) episode of the first reward, (mean, std) cross-episode novelty)``: runs
    never rewarded count as one episode past the end; novelty (:func:`adlib.behaviour.cross_episode_novelty`)
    is averaged over the episodes before the first reward, a run rewarded in episode 1 or 2 left
    out. With ``groups [n_runs]`` (AD's training seed of each run) the spread is over groups,
    else over runs."""
    returns = episode_returns(traj.rewards, horizon)
    first = first_success_episodes(returns[:, None, :])[:, 0]
    novelty = cross_episode_novelty(traj.observations, horizon, window, first)
    first = np.where(np.isfinite(first), first, returns.shape[1] + 1)
    if groups is not None:
        return mean_and_spread(mean_by_group(first, groups)), mean_and_spread(mean_by_group(novelty, groups))
    return mean_and_spread(first), mean_and_spread(novelty[np.isfinite(novelty)])


def hard_room_search(model, experiment, n_eval_seeds: int, n_episodes: int, seed: int) -> dict:
    """Probe 2 in Dark Room Hard (``experiment``: chapter 5's settings; ``model``: its AD seeds
    stacked): :func:`search_stats` of AD, the two copy agents, search-then-return, random and the
    source learning from scratch, each on every held-out goal ``n_eval_seeds`` times per member."""
    from .data import darkroom_source
    from .envs import DarkRoomEnv

    H, size, horizon, window = experiment, experiment.hard_size, experiment.hard_horizon, experiment.hard_model.context_len
    goals = np.array(H.hard_test_goals)
    cells = np.stack(np.divmod(np.tile(goals, model.n_members * n_eval_seeds), size), axis=1)
    room = DarkRoomEnv(cells, size, horizon, hard=True)
    groups = np.repeat(np.arange(model.n_members), n_eval_seeds * len(goals))
    members = {"AD": InContextPolicy(model), **agents.scripted(size, window), "source": darkroom_source(H.hard_source, goals=cells)}
    return {name: search_stats(rollout(room, agent, n_episodes * horizon, seed=seed), horizon, window, groups if name == "AD" else None)
            for name, agent in members.items()}


# --- Probe 3: a made-up rewarded episode --------------------------------------------------------


def prompted_visits(room, make_agents: dict, prompt, goals: np.ndarray, decoys: np.ndarray, n_runs: int, size: int, horizon: int,
                    n_episodes: int, seed: int) -> dict:
    """Each agent acts ``n_episodes`` episodes after one prompt episode (``(observations,
    actions, rewards)`` per goal, tiled over ``n_runs``); ``make_agents``: name -> a function
    making the agent (an :class:`~adlib.in_context.InContextPolicy` is prompted through its
    context, a scripted agent lives the prompt, the source learns from it). Per agent: ``decoy`` and ``goal`` ``[runs x
    goals, n_episodes]`` whether each episode stepped on that cell, and ``paths`` (each
    episode's cells, start to end)."""
    tiled = tuple(np.tile(x, (n_runs, 1)) for x in prompt)
    out = {}
    for name, make in make_agents.items():
        agent = make()
        policy = PromptedPolicy(agent, *tiled) if isinstance(agent, InContextPolicy) else agents.PromptedAgent(agent, tiled, size, horizon)
        traj = rollout(room, policy, n_episodes * horizon, seed=seed)
        cells = cells_after_moves(traj.observations, traj.actions, size).reshape(len(traj.observations), n_episodes, horizon)
        visited = lambda target: (cells == np.tile(target, n_runs)[:, None, None]).any(axis=2)  # noqa: E731
        paths = np.concatenate([traj.observations.reshape(cells.shape), cells[:, :, -1:]], axis=2)
        out[name] = {"decoy": visited(decoys), "goal": visited(goals), "paths": paths}
    return out


# --- Probe 4: the goal moves -------------------------------------------------------------------


def moving_room(first_goals: np.ndarray, second_goals: np.ndarray, copies: int, move_after: int, size: int, horizon: int):
    """Each goal ``copies`` times; the goal moves from ``first_goals`` to ``second_goals`` (cells)
    after ``move_after`` episodes."""
    first, second = (np.stack(np.divmod(np.tile(g, copies), size), axis=1) for g in (first_goals, second_goals))
    return MovingGoalDarkRoom(first, second, move_after, size, horizon)


def goal_move_stats(traj, first_goals: np.ndarray, size: int, horizon: int, move_after: int, after_move: int, n_groups: int) -> dict:
    """Per group (consecutive blocks of runs), over the runs rewarded at the first goal G1 in the
    last episode before the move (they had G1 to let go of): ``skip_g1``, the episodes after the
    move until an episode that does not step on G1, and ``find_g2``, until the first reward at G2
    (runs that never do count as ``after_move + 1``), each ``(mean, std over groups)``;
    ``held_g1``: the share of runs rewarded at G1 before the move."""
    total = move_after + after_move
    cells = cells_after_moves(traj.observations, traj.actions, size).reshape(len(traj.observations), total, horizon)[:, move_after:]
    on_g1 = (cells == np.tile(first_goals, len(traj.observations) // len(first_goals))[:, None, None]).any(axis=2)
    skips = np.where((~on_g1).any(axis=1), (~on_g1).argmax(axis=1) + 1, after_move + 1).astype(float)
    returns = episode_returns(traj.rewards, horizon)
    paid = returns[:, move_after:] > 0
    found = np.where(paid.any(axis=1), paid.argmax(axis=1) + 1, after_move + 1).astype(float)
    held = returns[:, move_after - 1] > 0
    split = np.array_split(np.arange(len(skips)), n_groups)
    over_held = lambda v: mean_and_spread([v[i][held[i]].mean() if held[i].any() else np.nan for i in split])  # noqa: E731
    return {"skip_g1": over_held(skips), "find_g2": over_held(found), "held_g1": float(held.mean())}


def window_slopes(moves: dict, name: str, windows) -> tuple[float, list[float]]:
    """How many more episodes ``name`` needs to let go of the old goal per episode of window:
    the slope of its mean ``skip_g1`` over ``windows`` (:func:`goal_move_stats` in ``moves[name,
    window]``), and the slope of each training seed that every window's models share."""
    slope = lambda values: float(np.polyfit(windows, values, 1)[0])  # noqa: E731
    per_seed = [np.asarray(moves[name, w]["skip_g1"].values) for w in windows]
    shared = min(len(v) for v in per_seed)
    return slope([moves[name, w]["skip_g1"][0] for w in windows]), [slope([v[g] for v in per_seed]) for g in range(shared)]


# --- Probe 5: inside the model -----------------------------------------------------------------


def one_reward_decisions(traj, goal_of_run: np.ndarray, horizon: int, window: int, rng: np.random.Generator, limit: int = 2000,
                         rewarded: int = 1, groups: np.ndarray | None = None):
    """The decisions the masking probe asks about: the first step of an episode (on the start
    cell, not on the goal) whose ``window``-step context holds exactly ``rewarded`` rewarded
    episodes (1: the probe's decisions; 0: its baseline, nothing rewarded in view). Returns
    ``[n, 4]`` rows of (run, step, the rewarded episode or -1, an unrewarded one in the window),
    at most ``limit`` (with ``groups [n_runs]``, e.g. each run's training seed: at most ``limit``
    per group), in a random order. Raises ``RuntimeError`` when there is none."""
    if rewarded not in (0, 1):
        raise ValueError(f"rewarded must be 0 or 1 rewarded episodes in the window, got {rewarded!r}")
    per_window = window // horizon
    returns = episode_returns(traj.rewards, horizon)
    found = []
    for k in range(per_window, returns.shape[1]):
        paid = returns[:, k - per_window:k] > 0
        for i in np.flatnonzero((paid.sum(axis=1) == rewarded) & (goal_of_run != traj.observations[:, k * horizon])):
            paid_episode = k - per_window + int(paid[i].argmax()) if rewarded else -1
            unpaid = [e for e in range(k - per_window, k) if e != paid_episode]
            found.append((i, k * horizon, paid_episode, unpaid[rng.integers(len(unpaid))]))
    if not found:
        raise RuntimeError(f"no moment with exactly {rewarded} rewarded episode(s) in AD's window: run more episodes")
    found = np.array(found)
    found = found[rng.permutation(len(found))]
    if groups is None:
        return found[:limit]
    of_run = np.asarray(groups)[found[:, 0]]
    order = np.argsort(of_run, kind="stable")  # each group's rows together, still in the random order
    rank = np.empty(len(of_run), dtype=np.int64)  # each row's place among its own group's rows
    rank[order] = np.arange(len(of_run)) - np.searchsorted(of_run[order], of_run[order], side="left")
    return found[rank < limit]


def baseline_decisions(traj, goal_of_run: np.ndarray, horizon: int, window: int, rng: np.random.Generator, limit: int = 2000,
                       groups: np.ndarray | None = None):
    """:func:`one_reward_decisions` with no rewarded episode in the window (the masking probe's
    floor), or None where the rollout ``traj`` always had a reward in view."""
    try:
        return one_reward_decisions(traj, goal_of_run, horizon, window, rng, limit, rewarded=0, groups=groups)
    except RuntimeError:
        return None


def masking(models: list, traj, decisions: np.ndarray, groups: np.ndarray, goal_of_run: np.ndarray, size: int, horizon: int,
            window: int, start_action: int, seed: int, baseline: tuple | None = None, make_source=None) -> dict:
    """How strongly AD (each context read by the training seed that lived it: ``models[g]``)
    and the scripted agents move toward a target at ``decisions`` (:func:`one_reward_decisions`),
    with the window intact, with the rewarded episode hidden (AD: its tokens masked from
    attention; scripted agents: the episode removed from what they lived), with an unrewarded
    episode hidden, and with the rewarded episode patched into a made-up rewarded walk to the
    goal's mirror image (toward that decoy, and toward the goal). The reward carried by the
    decision's own token is set to 0 everywhere (no mask can hide it). ``baseline``: ``(traj,
    decisions)`` (decisions None: no floor), contexts with no rewarded episode in the window (:func:`baseline_decisions`)
    from another rollout of the same runs, so that they are not picked by AD's own outcomes (e.g.
    the random policy's: AD's training histories start that way); each agent's aim toward the
    goal there is its floor, ``"no reward in view"``, with its own chance level ``"chance, no
    reward in view"``. ``make_source``: a function making the source, which learns from the
    window's episodes (``"source"``). Returns ``{condition: {"AD" | "copy" | "search" [|
    "source"]: (mean, std over training seeds)}}`` plus ``"chance"``, a uniform choice's aim."""
    makers = {"copy": lambda: agents.CopyAgent(size, window), "search": lambda: agents.SearchThenReturn(size)}
    if make_source is not None:
        makers["source"] = make_source

    def at_decisions(rows, at, lived=traj):
        member = groups[rows]
        real = tuple(x[rows].copy() for x in (lived.observations, lived.actions, lived.rewards))
        real[2][np.arange(len(rows)), at - 1] = 0
        return member, lived.observations[rows, at], real, goal_of_run[rows]

    def moves(rows, at, member, start_cells, steps, hidden=None, drop=None):
        obs, act, rew = interventions.contexts(*steps, at, window, start_action)
        probs = np.zeros((len(rows), 5))
        for g, model in enumerate(models):
            pick = member == g
            probs[pick] = interventions.action_probabilities(model, obs[pick], act[pick], rew[pick], None if hidden is None else hidden[pick])
        out = {"AD": probs}
        keep = np.arange(window)[None, :] + (at - window)[:, None]  # [n, window] the window's steps
        if drop is not None:
            keep = keep[(keep // horizon) != drop[:, None]].reshape(len(rows), -1)
        lived = tuple(np.take_along_axis(x, keep, axis=1) for x in steps)
        for who, make in makers.items():
            agent = agents.PromptedAgent(make(), lived, size, horizon)
            agent.reset(len(rows), np.random.default_rng(seed + 1600))
            out[who] = np.eye(5)[agent.act(start_cells)]
        return out

    rows, at, paid, unpaid = decisions.T
    member, start_cells, real, goals = at_decisions(rows, at)
    decoys = interventions.mirror_cells(goals, size)
    patched = tuple(x.copy() for x in real)
    columns = paid[:, None] * horizon + np.arange(horizon)[None, :]
    for array, part in zip(patched, interventions.scripted_episodes(decoys, size, horizon, rewarded=True, seed=seed)):
        np.put_along_axis(array, columns, part, axis=1)
    patched[2][np.arange(len(rows)), at - 1] = 0
    hide = lambda episodes: interventions.episode_tokens(at, window, horizon, episodes)  # noqa: E731
    toward = lambda m, targets, cells=start_cells, member=member: mean_by_group(  # noqa: E731
        (m * sources.useful_moves(cells, targets, size)).sum(axis=1), member)
    chance = lambda cells, targets, member: mean_and_spread(  # noqa: E731  a uniform choice's aim, per training seed
        mean_by_group(sources.useful_moves(cells, targets, size).mean(axis=1), member))
    condition_moves = {
        "intact": moves(rows, at, member, start_cells, real),
        "rewarded episode hidden": moves(rows, at, member, start_cells, real, hide(paid), paid),
        "an unrewarded episode hidden": moves(rows, at, member, start_cells, real, hide(unpaid), unpaid),
    }
    patched_moves = moves(rows, at, member, start_cells, patched)
    aims = {condition: {who: toward(m, goals) for who, m in by.items()} for condition, by in condition_moves.items()}
    aims["patched: toward the decoy"] = {who: toward(m, decoys) for who, m in patched_moves.items()}
    aims["patched: toward the goal"] = {who: toward(m, goals) for who, m in patched_moves.items()}
    out = {condition: {who: mean_and_spread(v) for who, v in by.items()} for condition, by in aims.items()}
    out["chance"] = dict.fromkeys(("AD", *makers), chance(start_cells, goals, member))
    if baseline is not None and baseline[1] is not None:
        lived, b_decisions = baseline
        b_rows, b_at = b_decisions[:, 0], b_decisions[:, 1]
        b_member, b_cells, b_real, b_goals = at_decisions(b_rows, b_at, lived)
        out["no reward in view"] = {who: mean_and_spread(toward(m, b_goals, b_cells, b_member))
                                    for who, m in moves(b_rows, b_at, b_member, b_cells, b_real).items()}
        out["chance, no reward in view"] = dict.fromkeys(("AD", *makers), chance(b_cells, b_goals, b_member))
    return out


def linear_probes(models: list, traj, groups: np.ndarray, goal_of_run: np.ndarray, fit_goals: np.ndarray, size: int, horizon: int,
                  window: int, n_episodes: int, start_action: int, rng: np.random.Generator, per_seed: int = 1500) -> dict:
    """R² of ridge read-outs of the residual stream at the first step of an episode, per layer
    (the embedding first), one read-out per training seed (``models[g]``, on its own runs): the
    goal's row and column where a reward is in view, and whether one is. Fit on contexts from
    ``fit_goals``, scored on the other goals. ``{name: [n_seeds, n_layers + 1]}``."""
    at_steps = np.arange(window // horizon, n_episodes) * horizon
    probes = {"goal row": [], "goal column": [], "reward in view": []}
    for g, model in enumerate(models):
        runs = np.flatnonzero(groups == g)
        pick_runs = runs[rng.integers(0, len(runs), per_seed)]
        pick_at = at_steps[rng.integers(0, len(at_steps), len(pick_runs))]
        obs, act, rew = interventions.contexts(*(x[pick_runs] for x in (traj.observations, traj.actions, traj.rewards)), pick_at, window,
                                               start_action)
        in_view = rew.sum(axis=1) > 0
        goal_rc = np.stack(np.divmod(goal_of_run[pick_runs], size), axis=1)
        fit = np.isin(goal_of_run[pick_runs], fit_goals)
        train, test = fit & in_view, ~fit & in_view  # the goal can only be read where a reward shows it
        streams = interventions.residual_streams(model, obs, act, rew)
        probes["goal row"].append([interventions.ridge_probe(x[train], goal_rc[train, 0], x[test], goal_rc[test, 0]) for x in streams])
        probes["goal column"].append([interventions.ridge_probe(x[train], goal_rc[train, 1], x[test], goal_rc[test, 1]) for x in streams])
        probes["reward in view"].append([interventions.ridge_probe(x[fit], in_view[fit], x[~fit], in_view[~fit]) for x in streams])
    return {name: np.array(v) for name, v in probes.items()}


# --- The chapter's figures ------------------------------------------------------------------


def plot_search(search: dict, names: list):
    """Figure 6.2: per room (``{room: {agent: (first reward, novelty)}}``), the episode of the
    first reward and the cross-episode novelty of each agent in ``names`` (mean ± std). Returns the figure."""
    fig, axes = plt.subplots(1, 2 * len(search), figsize=(13, 3.6), layout="constrained")
    for col, (room, by_agent) in enumerate(search.items()):
        for row, what in enumerate(("episode of the first reward", "cross-episode novelty")):
            ax, values = axes[2 * col + row], [by_agent[n][row] for n in names]
            ax.bar(range(len(names)), [v[0] for v in values], yerr=[v[1] for v in values], capsize=3, color=[color_for(n) for n in names])
            ax.set_xticks(range(len(names)), [n.replace("copy agent ", "copy ") for n in names], rotation=45, ha="right", fontsize="small")
            ax.set_title(f"{room}:\n{what}", fontsize="medium")
            ax.set_ylim(0, 1 if row == 1 else None)
    return fig


def plot_goal_move(moves: dict, windows):
    """Figure 6.5: episodes after the move until an episode skips G1 (left) and until the first
    reward at G2 (right), against the context window, for AD and the copy agent (``moves[name,
    window]``); search-then-return and the source (``moves[name, None]``, no window) as lines."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for ax, (key, label) in zip(axes, (("skip_g1", "episodes until it first skips G1"), ("find_g2", "episodes until its first reward at G2"))):
        for name in ("AD", "copy agent (random)"):
            values = [moves[name, w][key] for w in windows]
            ax.errorbar(windows, [v[0] for v in values], yerr=[v[1] for v in values], marker="o", capsize=3, label=name, color=color_for(name))
        for name in ("search-then-return", "source"):
            if (name, None) in moves:
                ax.axhline(moves[name, None][key][0], color=color_for(name), linestyle="--", label=name)
        ax.set(xlabel="context window (episodes)", ylabel=label, xticks=list(windows), title=label)
    axes[0].legend(fontsize="small")
    return fig


MASKING_CONDITIONS = ("intact", "rewarded episode hidden", "an unrewarded episode hidden", "patched: toward the decoy", "patched: toward the goal")


def plot_masking(masking: dict, linear: dict, n_layers: int):
    """Figure 6.6: each agent's aim under each condition of :func:`masking` (top, with chance
    dotted) and the R² of :func:`linear_probes` by layer (bottom; grey: measures, not methods)."""
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(9, 9), gridspec_kw={"height_ratios": [1.5, 1]}, layout="constrained")
    conditions = MASKING_CONDITIONS + (("no reward in view",) if "no reward in view" in masking else ())  # the floor, on the random policy's contexts
    who = {"AD": "AD", "copy": "copy agent (random)", "search": "search-then-return", "source": "source"}
    who = {key: name for key, name in who.items() if key in masking["intact"]}
    y, width = np.arange(len(conditions))[::-1], 0.8 / len(who)
    for j, (key, name) in enumerate(who.items()):
        values = [masking[c][key] for c in conditions]
        ax.barh(y + ((len(who) - 1) / 2 - j) * width, [v[0] for v in values], width, xerr=[v[1] for v in values], capsize=2,
                color=color_for(name), label=name)
    ax.axvline(masking["chance"]["AD"][0], color=color_for("random"), linestyle=":", label="chance")
    ax.set_yticks(y, conditions)
    ax.set(xlim=(0, 1.05), xlabel="share of moves toward the target (AD: probability)", title="Aim toward the target")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(who) + 1, frameon=False)
    layers = np.arange(n_layers + 1)
    for (name, r2), style in zip(linear.items(), ("-", "--", ":")):
        bx.errorbar(layers, r2.mean(axis=0), yerr=r2.std(axis=0, ddof=1) if len(r2) > 1 else None, marker="o", capsize=3, color="#444444",
                    linestyle=style, label=name)
    bx.set(xticks=layers, xticklabels=["embedding"] + [f"after block {i}" for i in range(1, n_layers + 1)], ylabel="R² on held-out goals",
           ylim=(min(-0.1, float(min(v.mean(axis=0).min() for v in linear.values()))), 1), title="Linear probes")
    bx.legend(fontsize="small")
    return fig


def plot_shifts(scores: dict, methods, labels):
    """Figure 6.8: % best arm over steps 91-100 per reward transform (``labels``), one bar per
    method (``scores[method, label]`` = (mean, std over groups)), random's 10% dotted."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for j, m in enumerate(methods):
        values = [scores[m, t] for t in labels]
        ax.bar(np.arange(len(labels)) + (j - (len(methods) - 1) / 2) * 0.2, [v[0] for v in values], 0.2, yerr=[v[1] for v in values],
               capsize=2, label=m, color=color_for(m))
    ax.axhline(10, color=color_for("random"), linestyle=":", label="random (10%)")
    ax.set_xticks(np.arange(len(labels)), [f"shift {t}" if t != "negated" else t for t in labels])
    ax.set(ylabel="% best arm, steps 91–100", ylim=(0, 100), title="Bandits with shifted or negated rewards")
    ax.legend(fontsize="small", ncol=2)
    return fig


def plot_agreement(return_curves: dict, agreement: dict):
    """Figure 6.1: return per episode as a fraction of optimal for AD and the other agents (left),
    and AD's agreement with the heuristic's step toward the rewarded cell beside chance (right)."""
    from .room_figures import plot_fraction_of_optimal

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2.2, 1]}, layout="constrained")
    plot_fraction_of_optimal(ax, return_curves, legend=False)
    ax.legend(fontsize="small", loc="lower right")
    ax.set_title("Held-out goals: AD and the scripted agents")
    bars = {"AD\n(actions)": agreement["agree"], "AD\n(probability)": agreement["mass"], "chance": agreement["chance"]}
    bx.bar(list(bars), [v[0] for v in bars.values()], yerr=[v[1] for v in bars.values()], capsize=4,
           color=[color_for("AD"), color_for("AD (early)"), color_for("random")])
    bx.set(ylim=(0, 1), ylabel="share of steps", title="Steps toward the rewarded cell")
    return fig


def plot_key_door(evaluations: dict, n_episodes: int):
    """Figure 6.7: return per episode in Key-to-Door (``{agent: GridEvaluation}``, mean ± std over
    units), with the key-only return of 1 dotted."""
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, ev in evaluations.items():
        plot_curve(ax, ev.per_unit(ev.returns.mean(axis=1)), name, x=np.arange(1, n_episodes + 1), bounds=(0, 2))
    ax.axhline(1, color="k", linestyle=":", linewidth=1, label="key only (1)")
    ax.set(xlabel="episode", ylabel="return (optimal 2)", ylim=(0, 2.05), title="Dark Key-to-Door, held-out pairs")
    ax.legend(fontsize="small")
    return fig
