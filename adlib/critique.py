"""Chapter 6's probes of one Dark Room AD model as a few calls, so that chapter 6 and the size
study (6b) run the same ones.

:func:`probe_model` runs AD's side of probes 1, 2, 3, 5 and 6 for one stacked model (its
training seeds as members) on :class:`HeldOutRuns`; the scripted agents and the source, whose
behaviour does not depend on the model, are run once by :func:`references`. The ``*_record``
functions turn what the probes measured into the parts of a chapter record that
:func:`adlib.verdicts.critique_rows` reads, so both pages write them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import agents, behaviour, data, envs, grid_evaluation, interventions, probes
from .in_context import InContextPolicy, in_context_trace
from .model import ADTransformer
from .rollouts import Trajectories, rollout, take_runs
from .stats import Spread, as_dict, mean_and_spread, mean_by_group

PROMPTS = ("decoy, rewarded", "goal, rewards zeroed", "goal, rewarded (control)")
"""Probe 3's made-up prompts: a rewarded walk to the goal's mirror cell, a walk to the goal with its rewards zeroed, and a control."""


@dataclass(frozen=True)
class HeldOutRuns:
    """Where a stacked model's in-context runs happen: every goal ``n_eval_seeds`` times per
    member, member-major and goal-minor (run ``i`` is member ``group[i]``'s, on ``goal_of_run[i]``)."""

    goals: np.ndarray
    """``[n_goals]`` goal cells (row * size + column)."""
    n_members: int
    """Training seeds stacked in the model."""
    n_eval_seeds: int
    """Runs per goal and member."""
    size: int = 9
    horizon: int = 20

    def __post_init__(self):
        if self.n_members < 1 or self.n_eval_seeds < 1:
            raise ValueError(f"need at least one member and one evaluation seed, got {self.n_members} and {self.n_eval_seeds}")

    @property
    def runs_per_goal(self) -> int:
        return self.n_members * self.n_eval_seeds

    @property
    def goal_of_run(self) -> np.ndarray:
        return np.tile(np.asarray(self.goals), self.runs_per_goal)

    @property
    def group(self) -> np.ndarray:
        """``[n_runs]`` the member (training seed) of each run."""
        return np.repeat(np.arange(self.n_members), self.n_eval_seeds * len(self.goals))

    @property
    def optimal(self) -> np.ndarray:
        return envs.darkroom_optimal_return(np.stack(np.divmod(np.asarray(self.goals), self.size), axis=1), self.size, self.horizon)

    def room(self) -> envs.DarkRoomEnv:
        return envs.DarkRoomEnv(np.stack(np.divmod(self.goal_of_run, self.size), axis=1), self.size, self.horizon)


def stack_by_config(variants: dict[str, list]) -> list[tuple]:
    """Variants (name -> its per-seed models) stacked into one model per architecture, so that
    variants of one config act in one batch: ``[(model, members, {name: member indices})]``,
    ``members`` the per-seed models in stacking order."""
    groups: dict = {}
    for name, models in variants.items():
        if not models:
            raise ValueError(f"variant {name!r} has no models")
        groups.setdefault(models[0].config, []).append((name, models))
    out = []
    for named in groups.values():
        members = [m for _, models in named for m in models]
        starts = np.cumsum([0] + [len(models) for _, models in named])
        out.append((ADTransformer.stack(members).eval(), members,
                    {name: np.arange(a, b) for (name, _), a, b in zip(named, starts[:-1], starts[1:])}))
    return out


def prompted_references(size: int, window: int, source_config) -> dict:
    """Makers of the agents probe 3 prompts beside AD: H_copy's copy agent, H_RL's
    search-then-return and the source, which learns from the prompt as from its own first episode."""
    return {"copy agent (random)": lambda: agents.CopyAgent(size, window, "random"), "search-then-return": lambda: agents.SearchThenReturn(size),
            "source": lambda: data.darkroom_source(source_config)}


def references(runs: HeldOutRuns, source_config, window: int, n_episodes: int, seed: int) -> dict[str, Trajectories]:
    """The scripted agents' runs (seed ``seed + 600``) and the source learning from scratch
    (``seed + 700``) on ``runs``'s rooms, ``n_episodes`` each."""
    room, steps = runs.room(), n_episodes * runs.horizon
    out = {name: rollout(room, agent, steps, seed=seed + 600) for name, agent in agents.scripted(runs.size, window).items()}
    source = data.darkroom_source(source_config, goals=np.stack(np.divmod(runs.goal_of_run, runs.size), axis=1))
    return out | {"source": rollout(room, source, steps, seed=seed + 700)}


def decoy_prompts(goals, size: int, horizon: int, seed: int) -> tuple[np.ndarray, dict]:
    """The decoys (each goal's mirror cell) and :data:`PROMPTS`, one episode per goal each."""
    decoys = interventions.mirror_cells(goals, size)
    return decoys, {
        "decoy, rewarded": interventions.scripted_episodes(decoys, size, horizon, rewarded=True, seed=seed),
        "goal, rewards zeroed": interventions.scripted_episodes(goals, size, horizon, rewarded=False, seed=seed),
        "goal, rewarded (control)": interventions.scripted_episodes(goals, size, horizon, rewarded=True, seed=seed)}


def agreement(traj: Trajectories, probs: np.ndarray, runs: HeldOutRuns, window: int) -> tuple[dict[str, Spread], np.ndarray]:
    """Probe 1: how often AD steps toward the cell the copy heuristic would aim at
    (:func:`adlib.behaviour.agreement_with_targets`), per training seed; and those targets."""
    targets = agents.shadow_targets(traj.observations, traj.actions, traj.rewards, runs.size, window)
    agree = behaviour.agreement_with_targets(traj.observations, traj.actions, probs, targets, runs.size)
    return {k: mean_and_spread(mean_by_group(agree[k], runs.group)) for k in ("agree", "mass", "chance")}, targets


def decoy_visits(visits: np.ndarray, group: np.ndarray | None = None) -> Spread:
    """Probe 3's measure: the share of episodes 2-3 after the decoy prompt that step on the decoy
    (``visits [runs, episodes]``), over training seeds (``group``) or over runs."""
    share = visits[:, 1:3].mean(axis=1).astype(float)
    return mean_and_spread(share if group is None else mean_by_group(share, group))


@dataclass
class ModelProbes:
    """AD's side of probes 1, 2, 3, 5 and 6 for one stacked model (:func:`probe_model`)."""

    runs: HeldOutRuns
    traj: Trajectories
    """AD's in-context runs on the held-out goals."""
    probs: np.ndarray
    """``[n_runs, steps, n_actions]`` its action distributions there."""
    agreement: dict
    targets: np.ndarray
    search: tuple
    """Probe 2 in this room: (episode of the first reward, novelty), over training seeds."""
    last10: Spread
    """Return as a fraction of optimal over the last 10 episodes, over training seeds."""
    prompted: dict
    """Prompt name -> :func:`adlib.probes.prompted_visits`'s result for AD."""
    decisions: np.ndarray
    """Probe 5's decisions (:func:`adlib.probes.one_reward_decisions`)."""
    floor_decisions: np.ndarray | None
    """Its decisions with no reward in view, from the random policy's runs (None where there are none)."""
    masking: dict
    key_door: grid_evaluation.GridEvaluation | None
    seen_last10: Spread | None = None
    """As ``last10``, on the training goals :func:`probe_model` was given (None: none)."""

    @property
    def decoy(self) -> Spread:
        return decoy_visits(self.prompted["decoy, rewarded"]["AD"]["decoy"], self.runs.group)


def probe_model(model, members: list, runs: HeldOutRuns, window: int, n_episodes: int, seed: int, rng: np.random.Generator,
                floor: Trajectories, source_config, prompts: dict, decoys: np.ndarray, prompt_episodes: int,
                key_door: dict | None = None, decisions: int = 2000, per_member: bool = False,
                seen_goals: np.ndarray | None = None) -> ModelProbes:
    """Run AD's side of the probes for ``model`` (its training seeds stacked) and ``members``
    (the same models one by one, each reading its own runs' contexts in probe 5).

    ``runs``: where it acts, ``n_episodes`` per run (seed ``seed + 500``); ``rng``: draws probe
    5's decisions; ``floor``: the random policy's runs on the same rooms (probe 5's contexts with
    no reward in view); ``source_config``: the source, which learns from the window's episodes in
    probe 5; ``prompts`` and ``decoys`` (:func:`decoy_prompts`, any subset of them):
    probe 3, ``prompt_episodes`` after each (seed ``seed + 900``); ``key_door``: keyword arguments
    of :func:`adlib.grid_evaluation.evaluate_on_key_doors` but the policy (probe 6), or None;
    ``decisions``: at most this many decisions in probe 5 (``per_member``: per training seed,
    so that each seed's share does not depend on what it is stacked with); ``seen_goals``: training goals on which
    the model also acts in the same batch (their runs enter no probe, only ``seen_last10``)."""
    group, goal_of_run, size, horizon = runs.group, runs.goal_of_run, runs.size, runs.horizon
    last_10 = lambda t, where: mean_and_spread(mean_by_group(  # noqa: E731  per member, fraction of optimal
        probes.fraction_of_optimal(t, where.optimal, horizon)[:, -10:].mean(axis=1), where.group))
    seen_runs = None if seen_goals is None else replace(runs, goals=np.asarray(seen_goals))
    both = runs if seen_runs is None else replace(runs, goals=np.concatenate([runs.goals, seen_runs.goals]))
    traj, probs = in_context_trace(InContextPolicy(model), both.room(), n_episodes * horizon, seed=seed + 500)
    seen_last10 = None
    if seen_runs is not None:  # each block of runs holds the held-out goals, then the seen ones
        held = np.arange(len(both.goal_of_run)) % len(both.goals) < len(runs.goals)
        seen_last10 = last_10(take_runs(traj, np.flatnonzero(~held)), seen_runs)
        traj, probs = take_runs(traj, np.flatnonzero(held)), probs[held]
    agree, targets = agreement(traj, probs, runs, window)
    make = {"AD": lambda: InContextPolicy(model)}
    prompted = {name: probes.prompted_visits(runs.room(), make, prompt, runs.goals, decoys, runs.runs_per_goal, size, horizon,
                                             prompt_episodes, seed + 900) for name, prompt in prompts.items()}
    cap = {"limit": decisions, "groups": group if per_member else None}
    chosen = probes.one_reward_decisions(traj, goal_of_run, horizon, window, rng, **cap)
    no_reward = probes.baseline_decisions(floor, goal_of_run, horizon, window, np.random.default_rng(seed + 1550), **cap)
    masking = probes.masking(members, traj, chosen, group, goal_of_run, size, horizon, window, model.start_action, seed,
                             baseline=(floor, no_reward), make_source=lambda: data.darkroom_source(source_config))
    return ModelProbes(
        runs=runs, traj=traj, probs=probs, agreement=agree, targets=targets, search=probes.search_stats(traj, horizon, window, group),
        last10=last_10(traj, runs), prompted=prompted, decisions=chosen, floor_decisions=no_reward,
        masking=masking,
        key_door=None if key_door is None else grid_evaluation.evaluate_on_key_doors([InContextPolicy(model)], **key_door),
        seen_last10=seen_last10)


# --- the record's parts ---------------------------------------------------------------------------


def search_record(by_agent: dict) -> dict:
    """Probe 2's record for one room: ``{name: (first reward, novelty)}`` -> AD's per-seed values kept."""
    return {name: {"first_reward_episode": as_dict(v[0], name == "AD"), "novelty": as_dict(v[1], name == "AD")} for name, v in by_agent.items()}


def masking_record(masking: dict) -> dict:
    """Probe 5's record: AD's per-seed aims kept (but its chance level's)."""
    return {condition: {who: as_dict(v, who == "AD" and condition != "chance") for who, v in by.items()} for condition, by in masking.items()}


def last_10_units(ev: grid_evaluation.GridEvaluation) -> np.ndarray:
    """Each unit's (training seed's) mean return over the last 10 episodes."""
    return ev.per_unit(ev.returns[:, :, -10:].mean(axis=(1, 2)))


def key_door_record(evaluations: dict) -> dict:
    """Probe 6's record: for each policy's :class:`~adlib.grid_evaluation.GridEvaluation`, its
    last-10 return over units and its key and door rates (AD's: also per training seed)."""
    out = {}
    for name, ev in evaluations.items():
        last = mean_and_spread(last_10_units(ev))
        key, door = (ev.rate(level)[:, -10:].mean(axis=1) for level in (1, 2))
        out[name] = {"last_10_return": as_dict(last), "last_10_key_rate": float(key.mean()), "last_10_door_rate": float(door.mean())} | (
            {"last_10_key_rate_per_seed": key.tolist(), "last_10_door_rate_per_seed": door.tolist()} if name.startswith("AD") else {})
    return out


def take(spread: Spread, members) -> Spread:
    """A per-member :class:`~adlib.stats.Spread` (one value per member of a stacked model) over
    ``members`` alone (indices; None: all)."""
    if members is None:
        return spread
    return mean_and_spread(np.asarray(spread.values)[np.asarray(members)])


def verdict_record(p: ModelProbes, reference_search: dict, reference_decoy: dict, room: str = "Dark Room", members=None) -> dict:
    """What :func:`adlib.verdicts.critique_rows` reads for one model (``search_room=room``):
    its probes ``p`` beside the references' probe 2 (``{name: (first reward, novelty)}``) and
    probe 3 (``{name: decoy visits}``) results. ``members``: only these members of ``p``'s
    stacked model (e.g. one variant of several stacked together; every spread in ``p`` must
    then hold one value per member)."""
    n = p.runs.n_members

    def keep(spread):
        if members is not None and len(spread.values) != n:
            raise ValueError(f"a spread of {len(spread.values)} values cannot be split among the stack's {n} members: some member "
                             "had no runs to measure (most likely no probe-5 decision with one rewarded episode in view); "
                             "give probe_model more episodes, or probe that variant on its own")
        return take(spread, members)

    masking = {condition: {who: keep(v) for who, v in by.items()} for condition, by in p.masking.items()}
    record = {
        "agreement": {k: as_dict(keep(v), per_seed=True) for k, v in p.agreement.items()},
        "returns_last_10": {"AD": as_dict(keep(p.last10), per_seed=True)},
        "search": {room: search_record({"AD": tuple(keep(v) for v in p.search)} | reference_search)},
        "decoy": {"visits_episodes_2_3": {name: as_dict(v, name == "AD") for name, v in ({"AD": keep(p.decoy)} | reference_decoy).items()}},
        "masking": masking_record(masking),
    }
    if p.key_door is not None:
        ev = p.key_door if members is None else p.key_door.for_groups(members)
        record["key_to_door"] = key_door_record({"AD (trained on Dark Room)": ev})
    return record
