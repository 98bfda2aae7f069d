"""The book's verdicts: one function per claim, called by the chapter that tests it and by the
summary page alike.

Each claim of the paper, of 1a3orn's post and of the critique is a :class:`ClaimRule`: who
made it, the chapter that tests it, the rule in words, and a function that reads the chapter's
record (its results JSON, or the same dict in the notebook before it is written) and returns
this build's number in words and a verdict (one of :data:`VERDICTS`). :func:`claims` scores
them all on a folder of records for the summary; a chapter that did not run gives "not in
this build"; a claim no chapter tests yet gives "not attempted yet". Comparisons use the
book's one rule, :func:`adlib.stats.compare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from .report import pm, steps
from .stats import PERCENT_POINT, as_tuple, compare, per_seed

REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_ATTEMPTED, NOT_IN_BUILD = (
    "reproduced", "partly", "not reproduced", "not attempted yet", "not in this build")
CLOSER_TO_IT, CLOSER_TO_RL, SPLIT = "closer to the heuristic", "closer to a general learner", "split"
"""The critique's row takes chapter 6's own words: how many probes lean each way, not a bar met."""
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, CLOSER_TO_IT, CLOSER_TO_RL, SPLIT, NOT_ATTEMPTED, NOT_IN_BUILD)


HYPOTHESES = ("H_copy", "H_RL", "both", "neither", "unresolved")


def place_between(value: float, h_copy: float, h_rl: float) -> float:
    """Where a measured value lies on the line from H_copy's prediction (0) to H_RL's (1)
    (chapter 6: each prediction is a scripted agent's measured result). NaN if they coincide."""
    if not np.isfinite(h_rl - h_copy) or h_rl == h_copy:
        return float("nan")
    return float((value - h_copy) / (h_rl - h_copy))


mean_std = as_tuple
"""``(mean, std)`` from a record's ``{"mean", "std"}``, ``[mean, std]`` or plain number: :func:`adlib.stats.as_tuple`."""


@dataclass(frozen=True)
class Claim:
    """One row of the summary."""

    who: str
    """Whose claim: "paper", "1a3orn" or "critique"."""
    claim: str
    chapter: str
    """The notebook that tests it (a key of :data:`adlib.results.CHAPTERS`)."""
    number: str
    """This build's measurement, with its spread, in words."""
    verdict: str
    """One of :data:`VERDICTS`."""
    rule: str
    """How the verdict follows from the number."""
    caveat: str = ""
    """What to keep in mind when reading the verdict."""
    where: str = ""
    """Where the claim is made: the paper's figure, or the part of the post ("" where not pinned down)."""


@dataclass(frozen=True)
class ClaimRule:
    """A claim and how this book scores it."""

    who: str
    """Whose claim: "paper", "1a3orn" or "critique"."""
    claim: str
    chapter: str
    """The notebook that tests it (a key of :data:`adlib.results.CHAPTERS`), or "—"."""
    rule: str
    """How the verdict follows from the number, in words."""
    measure: Callable[[dict], tuple[str, str]] | None
    """``measure(record) -> (number in words, verdict)``; None for a claim no chapter tests yet."""
    caveat: str = ""
    """What to keep in mind when reading the verdict (not a result: the same in every build)."""
    where: str = ""
    """Where the claim is made: the paper's figure, or the part of the post ("" where not pinned down)."""

    def score(self, record: dict | None) -> Claim:
        """This claim's row for a chapter record (None: the chapter is not in this build)."""
        if self.measure is None:
            return Claim(self.who, self.claim, self.chapter, "—", NOT_ATTEMPTED, self.rule, self.caveat, self.where)
        if record is None:
            return Claim(self.who, self.claim, self.chapter, "—", NOT_IN_BUILD, self.rule, self.caveat, self.where)
        number, verdict = self.measure(record)
        return Claim(self.who, self.claim, self.chapter, number, verdict, self.rule, self.caveat, self.where)


def darkroom_in_context(r):
    first, last = r["ad_held_out"]["first_episode"], mean_std(r["ad_held_out"]["last_10"])
    rises = last[0] - first > 2 * last[1]
    verdict = REPRODUCED if rises and last[0] >= 0.9 else PARTLY if rises else NOT_REPRODUCED
    trained = r.get("model", {}).get("training_episodes_per_history")
    beyond = (f" (episodes far past the {trained} episodes of any training history, a regime chapter 2 calls out of "
              "distribution)") if trained else ""
    at_horizon = r["ad_held_out"].get("training_horizon_10")
    inside = (f"; {pm(mean_std(at_horizon))} over episodes {trained - 9}-{trained}, the training horizon"
              if at_horizon is not None and trained else "")
    return f"AD {first:.2f} in episode 1 → {pm(last)} of optimal over the last 10{beyond}{inside}", verdict


def data_efficiency(r, subsampled: bool):
    # Against the source, or against the source subsampled as AD's data was ("source, every kth episode").
    to_reach = r["steps_to_fraction_of_optimal"]
    other = next(k for k in to_reach["0.8"] if k.startswith("source, every")) if subsampled else "source"
    at = {t: (to_reach[t]["AD"], to_reach[t][other]) for t in ("0.5", "0.8")}
    reached = lambda v: v is not None and math.isfinite(v)  # noqa: E731
    faster = {t: reached(ad) and (not reached(o) or ad < o) for t, (ad, o) in at.items()}
    verdict = REPRODUCED if all(faster.values()) else PARTLY if any(faster.values()) else NOT_REPRODUCED
    text = "; ".join(f"to {float(t):.0%}: AD {steps(ad)}, {other} {steps(o)}"
                     for t, (ad, o) in at.items()) + " (crossings of the mean curves)"
    spread = r.get("steps_to_fraction_of_optimal_spread", {})
    if not subsampled and "0.8" in spread:
        ranges = {k: [v for v in spread["0.8"][k] if reached(v)] for k in ("AD", "source")}
        if all(ranges.values()):
            text += (f"; per seed or run, to 80%: AD {min(ranges['AD']):,.0f}-{max(ranges['AD']):,.0f}, "
                     f"source {min(ranges['source']):,.0f}-{max(ranges['source']):,.0f}")
    source = r.get("settings", {}).get("source", {})
    if not subsampled and "epsilon_decay_episodes" in source:
        ad, o = at["0.8"]
        ratio = f"{o / ad:.1f}x fewer steps to 80%; " if reached(ad) and reached(o) else ""
        text += (f". {ratio}the source's pace is set by its exploration schedule (ε from {source['epsilon_start']:g} to "
                 f"{source['epsilon_end']:g} over its first {source['epsilon_decay_episodes']} episodes): a faster schedule "
                 "would move its crossings, so this compares AD with this schedule, not with Q-learning at its fastest")
    return text, verdict


def context_needed(r):
    ablation = {int(k): mean_std(v) for k, v in r["context_ablation_last_10"].items()}
    short, long = ablation[min(ablation)], ablation[max(ablation)]
    verdict = REPRODUCED if compare(long, short, min_margin=0.0) == "above" else NOT_REPRODUCED
    return ("last-10 return with a context of " + ", ".join(f"{n} episode{'s' if n > 1 else ''}: {pm(v)}"
                                                         for n, v in sorted(ablation.items()))), verdict


def ed_fails(r):
    held = r["darkroom_held_out"]
    ad, ed = mean_std(held["AD"]["last_10"]), mean_std(held["ED"]["last_10"])
    below = compare(ed, ad, min_margin=0.0) == "below"
    gain = mean_std(r["ed_in_context_gain"]["ED"])  # each seed's change from episode 1 to its last 10 (paired)
    rises = compare(gain, (0.0, 0.0)) == "above"
    verdict = REPRODUCED if below and not rises else PARTLY if below else NOT_REPRODUCED
    rise = f"a change of {gain[0]:+.2f} ± {gain[1]:.2f} per seed, " + ("a rise" if rises else "not distinguishable from none")
    return (f"ED {held['ED']['first_episode']:.2f} in episode 1 → {pm(ed)} over the last 10 ({rise}); "
            f"AD {pm(ad)} (fractions of optimal)"), verdict


def prompting(r):
    n = sum(1 for k in r["prompting"] if k.startswith("AD@"))
    ad_up, ed_keep = r["ad_improves_on_prompts"], r["ed_keeps_prompt_level"]
    verdict = REPRODUCED if ad_up == n and ed_keep == n else PARTLY if ad_up > 0 else NOT_REPRODUCED
    gains = {float(k): g for k, g in r.get("ed_gain_over_prompt", {}).items() if abs(g) > 0.1}
    missed = ("; ED ends " + ", ".join(f"{g:+.2f} of optimal from the {k:.0%}-target prompt" for k, g in sorted(gains.items()))
              if gains else "")
    ad = sorted((float(k[3:]), v["last_5"] - v["prompt_level"], v["last_5"]) for k, v in r["prompting"].items() if k.startswith("AD@"))
    near = [(level, gain) for level, gain, last in ad if gain <= 0.05 and last >= 0.95]  # improving only by being near optimal
    near_text = (f" ({len(near)} of them only by ending within 5 points of optimal: "
                 + ", ".join(f"the {level:.0%}-target prompt, {gain:+.2f}" for level, gain in near) + ")") if near else ""
    return f"AD improves on {ad_up} of {n} prompts{near_text}; ED keeps the prompt's level on {ed_keep} of {n}{missed}", verdict


def odd_even(r):
    v = r["odd_even_verdicts"]
    test_side, train_side = r["odd_even"]["test side (even favoured)"], r["odd_even"]["training side (odd favoured)"]
    test = mean_std(test_side["AD"]["regret_step_100"])
    learns = v["test_regret_vs_random"] == "below"
    verdict = (REPRODUCED if learns and v["test_regret_vs_training_side"] != "above"
               else PARTLY if learns else NOT_REPRODUCED)
    return (f"AD's regret at step 100 on the even-arm test: {pm(test, 1)}, {v['test_regret_vs_random']} random's "
            f"{mean_std(test_side['random']['regret_step_100'])[0]:.1f} and {v['test_regret_vs_training_side']} its own "
            f"{mean_std(train_side['AD']['regret_step_100'])[0]:.1f} on the training side (Thompson sampling: "
            f"{mean_std(test_side['Thompson sampling']['regret_step_100'])[0]:.1f})"), verdict


HARDER_ROOM_BARS = {"hard": 0.7, "key_to_door": 1.4}
"""Chapter 5's bars for calling the paper's result reproduced in a room: AD's success rate in Dark
Room Hard, its return (of the best possible 2) in Dark Key-to-Door, over its last 10 episodes."""

HARDER_ROOM_METRIC = {"hard": "success", "key_to_door": "return"}


def harder_room_rule(r, room: str) -> tuple[str, list[str]]:
    """Chapter 5's verdict on one room (``"hard"`` or ``"key_to_door"``) from its record, and the
    conditions AD missed. "reproduced": AD's last-10 score reaches :data:`HARDER_ROOM_BARS`, is
    above its own first 10 episodes, and above ED and random, each by the book's rule
    (:func:`adlib.stats.compare`); "partly reproduced at this budget": all but the bar; else "not
    reproduced at this budget"."""
    metric = HARDER_ROOM_METRIC[room]
    ad, first, ed, rnd = (mean_std(r[room][m][f"{k}_10_{metric}"]) for m, k in (("ad", "last"), ("ad", "first"), ("ed", "last"),
                                                                                ("random", "last")))
    checks = {"below the bar": ad[0] >= HARDER_ROOM_BARS[room],
              "no rise over its first episodes by more than 2 std": compare(ad, first) == "above",
              "not above ED by more than 2 std": compare(ad, ed) == "above",
              "not above random by more than 2 std": compare(ad, rnd) == "above"}
    missed = [what for what, ok in checks.items() if not ok]
    word = ("reproduced" if not missed else "partly reproduced at this budget" if missed == ["below the bar"]
            else "not reproduced at this budget")
    return word, missed


def harder_room(room: str, what: str):
    # Chapter 5's numbers for one room, and its verdict (harder_room_rule), the same function the chapter calls.
    def measure(r):
        metric = HARDER_ROOM_METRIC[room]
        ad, ed, rnd = (mean_std(r[room][m][f"last_10_{metric}"]) for m in ("ad", "ed", "random"))
        first = mean_std(r[room]["ad"][f"first_10_{metric}"])
        said, _ = harder_room_rule(r, room)
        verdict = REPRODUCED if said == "reproduced" else PARTLY if said.startswith("partly") else NOT_REPRODUCED
        return (f"{what}: AD {first[0]:.2f} over its first 10 episodes → {pm(ad)} over the last 10; "
                f"ED {pm(ed)}, random {pm(rnd)}; chapter 5 says: {said}"), verdict
    return measure


PIXEL_BAR = 0.7
"""Chapter 7's bar: AD's last 10 episodes on held-out goals, as a fraction of each episode's optimum."""


def pixels_rule(r) -> tuple[str, list[str]]:
    """Chapter 7's verdict from its record, and the conditions AD missed: "reproduced" when AD's
    last-10 return reaches :data:`PIXEL_BAR` of optimal, is above its first episode and ED is below
    it, each by the book's 2-std rule (:func:`adlib.stats.compare`); "partly reproduced at this
    budget" when only the bar is missed; else "not reproduced at this budget"."""
    ad, first, ed = (mean_std(x) for x in (r["ad"]["last_10"], r["ad"]["first_episode"], r["ed"]["last_10"]))
    checks = {f"below the {PIXEL_BAR:g} bar": ad[0] >= PIXEL_BAR,
              "no rise over its first episode by more than 2 std": compare(ad, first) == "above",
              "ED not below AD by more than 2 std": compare(ed, ad) == "below"}
    missed = [what for what, ok in checks.items() if not ok]
    word = ("reproduced" if not missed else f"partly reproduced at this budget" if missed == [f"below the {PIXEL_BAR:g} bar"]
            else "not reproduced at this budget")
    return word, missed


LOSS_TOLERANCE = 0.05
"""Nats above the floor (the data's own randomness) within which a model counts as predicting its data as
well as anything can (chapter 7)."""


def pixel_loss_reading(ad_learning: float, ad_later: float, ed_gap: float, episodes: int) -> str:
    """What chapter 7's loss-by-episode figure says, from how far the models' losses lie above their floors, in
    nats: AD's over the first ``episodes`` episodes of each history, while the source learns and the context holds
    the whole history (``ad_learning``), and over the later ones (``ad_later``); ED's once an episode is in its
    context (``ed_gap``)."""
    close = lambda gap: gap <= LOSS_TOLERANCE  # noqa: E731
    if close(ad_learning) and close(ad_later):
        return ("AD predicts its source about as well as anything can on its training histories, its search included: "
                "whatever it does on held-out goals (Figure 7.2), it has distilled the source's choices from frames.")
    if close(ad_later):
        return ("So AD predicts its source about as well as anything can once the source has learned, but not in the "
                f"first {episodes} episodes, while it searches: there AD's guess is broader than the best guess its "
                "context allows. AD's training windows start anywhere in a history, so the start of a window lacks the "
                "episodes before it that the source's search depended on; whether that or the budget keeps AD above its "
                "floor there is not measured here.")
    if close(ed_gap):
        return ("ED, which reads the same frames through an encoder of the same design, predicts its expert about as "
                "well as anything can, so the frames alone are not what stops AD. AD stays above a floor whose "
                "information its context (nearly always) holds, so its budget or its size is what keeps it there; "
                "this chapter does not separate the two.")
    return ("Both models stay above what their data allows: the frames, the budget or the model's size may be what "
            "limits them; this chapter does not separate these.")


def pixels_in_short(r) -> str:
    """Chapter 7's result in two sentences, from its record: the verdict first, then AD sampled and
    greedy against random and the bar (greedy against its own first episode too), and ED against AD
    (the book's 2-std rule)."""
    said, missed = pixels_rule(r)
    ad, ed, rnd = (mean_std(r[k]["last_10"]) for k in ("ad", "ed", "random"))
    lead = {"reproduced": "AD learns in context from these frames, as the paper's Watermaze result says",
            "not reproduced at this budget": "AD does not reproduce the paper's pixel result in this stand-in at this budget"}.get(
        said, "AD learns in context from these frames but stays below the bar")
    greedy, greedy_first = (r.get("ad_greedy", {}).get(k) for k in ("last_10", "first_episode"))
    greedy_words = f"; taking its most likely action instead, {pm(mean_std(greedy))}" if greedy is not None else ""
    if greedy is not None and greedy_first is not None:
        greedy_words += f" ({compare(mean_std(greedy), mean_std(greedy_first))} its first episode's {pm(mean_std(greedy_first))})"
    ed_words = compare(ed, ad)
    ed_note = " (the paper found ED below AD)" if ed_words != "below" else ""
    return (f"{lead}: sampling its actions, AD ends its last 10 episodes on held-out goals at {pm(ad)} of optimal (random "
            f"{pm(rnd)}, the bar {PIXEL_BAR:g}){greedy_words}. ED, the same model trained on an expert's histories, ends at "
            f"{pm(ed)}, {ed_words} AD{ed_note}.")


def pixels(r):
    said, _ = pixels_rule(r)
    ad, ed, source, rnd = (mean_std(r[k]["last_10"]) for k in ("ad", "ed", "source", "random"))
    first = mean_std(r["ad"]["first_episode"])
    verdict = REPRODUCED if said == "reproduced" else PARTLY if said.startswith("partly") else NOT_REPRODUCED
    return (f"AD {first[0]:.2f} in episode 1 → {pm(ad)} of optimal over the last 10; ED {pm(ed)}, the source from scratch "
            f"{pm(source)}, random {pm(rnd)}; chapter 7 says: {said}"), verdict


def optimistic_in_context(r):
    v = r["ad_optimistic_vs_random_steps_11_100"]
    ad, rnd = mean_std(v["ad_late"]), mean_std(v["random"])
    source = r.get("ad_optimistic_vs_source_steps_11_100", {}).get("source")
    verdict = REPRODUCED if v["verdict_late"] == "above" else NOT_REPRODUCED
    source_text = f", its source {pm(mean_std(source), 1)}" if source is not None else ""
    sweep = r.get("ad_optimistic_checkpoint_sweep")
    early = (f"; the first checkpoint (training step {sweep[0]['step']}, loss {mean_std(sweep[0]['loss'])[0]:.2f} nats) "
             f"already {pm(mean_std(sweep[0]['pct_best_arm_steps_11_100']), 1)}") if sweep else ""
    return f"% best arm over steps 11-100: AD {pm(ad, 1)}, random {pm(rnd, 1)}{source_text}{early}", verdict


def beats_data(r):
    sweep = r["ad_optimistic_checkpoint_sweep"]
    above = [e["step"] for e in sweep if e["vs_source"] == "above"]
    best = max(sweep, key=lambda e: e["pct_best_arm_steps_11_100"]["mean"])
    source = r["ad_optimistic_sweep_source_pct_best_arm_steps_11_100"]
    source = mean_std(source)[0]
    first, last = (mean_std(e["pct_best_arm_steps_11_100"])[0] for e in (sweep[0], sweep[-1]))
    text = (f"best of {len(sweep)} checkpoints: {pm(mean_std(best['pct_best_arm_steps_11_100']), 1)}% best arm over "
            f"steps 11-100 (step {best['step']}{', the last' if best is sweep[-1] else ''}); source {source:.1f}%; "
            f"from the first checkpoint to the last the score goes {first:.1f}% → {last:.1f}%")
    return text, REPRODUCED if above else NOT_REPRODUCED


def past_horizon(r):
    at_100, at_200 = (mean_std(r["ad_optimistic_late"][f"pct_best_arm_step_{k}"]) for k in (100, 200))
    verdict = REPRODUCED if compare(at_200, at_100, min_margin=PERCENT_POINT) == "above" else NOT_REPRODUCED
    return f"% best arm: step 100 {pm(at_100, 1)} → step 200 {pm(at_200, 1)}", verdict


def swap(r):
    v = r["arm_swap_verdicts"]
    ad = mean_std(r["arm_swap"]["swapped"]["AD"]["pct_best_arm_step_100"])
    return f"% best arm at step 100 on swapped bandits: {pm(ad, 1)}, {v['swapped_vs_random']} random", (
        REPRODUCED if v["swapped_vs_random"] == "above" else NOT_REPRODUCED)


def swap_degrades(r):
    t = r["horizon"]["AD, arm swap, swapped"]
    words = {"improves": "rises by more than 2 std", "degrades": "falls by more than 2 std",
             "flat": "not distinguishable from no change with these seeds"}[t["trend"]]
    change = f", a change of {pm(mean_std(t['change']), 1)} points" if "change" in t else ""
    return (f"% best arm: steps 91-100 {mean_std(t['at_horizon'])[0]:.1f}% → steps 191-200 {mean_std(t['at_end'])[0]:.1f}%"
            f"{change} ({words})"), REPRODUCED if t["trend"] == "degrades" else NOT_REPRODUCED


def ed_explores_less(r):
    measures = r.get("first_episode_end_points", {}).get("measures", {})
    cells_key, same_key = "distinct cells, first 5 episodes", "episodes on its most frequent end cell"
    if all(m in measures and cells_key in measures[m] for m in ("AD", "ED")):
        cells = {m: mean_std(measures[m][cells_key]) for m in ("AD", "ED")}
    else:
        cells = {m: (float(v), 0.0) for m, v in r["cells_visited_first_5_episodes"].items() if m in ("AD", "ED")}
    fewer = compare(cells["ED"], cells["AD"]) == "below"
    text = "distinct cells visited in the first 5 episodes: " + ", ".join(f"{m} {pm(v, 1)}" for m, v in cells.items())
    same = {m: mean_std(measures[m][same_key]) for m in ("ED", "random policy") if same_key in measures.get(m, {})}
    if len(same) < 2:
        return text, REPRODUCED if fewer else NOT_REPRODUCED
    fixed = compare(same["ED"], same["random policy"]) == "above"
    text += (f"; episodes ending on the run's most frequent end cell: ED {same['ED'][0]:.0%} ± {same['ED'][1]:.0%}, "
             f"random {same['random policy'][0]:.0%} ± {same['random policy'][1]:.0%}")
    return text, REPRODUCED if fewer and fixed else PARTLY if fewer or fixed else NOT_REPRODUCED


def place_interval(values, h_copy: float, h_rl: float, mean: float | None = None) -> dict:
    """Where per-seed ``values`` lie on the line from H_copy's prediction (0) to H_RL's (1):
    ``{"mean", "low", "high"}``, the position of ``mean`` (default: the values' mean) and of the
    lowest- and highest-placed training seed, widened to hold the mean's where the mean comes
    from more seeds than ``values`` (:func:`place_between`; NaN where undefined); ``"seeds"`` of
    ``"of"`` training seeds could be placed (a NaN value cannot)."""
    every = np.asarray(values, dtype=float).ravel()
    values = every[np.isfinite(every)]
    if mean is None:
        mean = float(values.mean()) if values.size else float("nan")
    at = [place_between(v, h_copy, h_rl) for v in values]
    centre = place_between(mean, h_copy, h_rl)
    placed = [a for a in [*at, centre] if np.isfinite(a)] or [float("nan")]  # the interval always holds the mean's position
    return {"mean": centre, "low": float(min(placed)), "high": float(max(placed)),
            "seeds": sum(np.isfinite(a) for a in at), "of": int(every.size)}


NO_POSITION = {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "seeds": 0, "of": 0}
"""The position of a probe whose scripted agents cannot be told apart on it."""


def supported_interval(position: dict | None) -> str:
    """The hypothesis a position's whole interval over training seeds supports: H_copy when it
    lies within the third nearest H_copy's prediction (or beyond it), H_RL likewise, neither when
    it lies in the middle third or is undefined, and *unresolved* when it crosses a cut-off (the
    seeds disagree on the answer) or some seed could not be placed."""
    if position is None or not (np.isfinite(position["low"]) and np.isfinite(position["high"])):
        return "neither"
    if position.get("seeds", 0) < position.get("of", 0):
        return "unresolved"
    low, high = position["low"], position["high"]
    if high <= 1 / 3:
        return "H_copy"
    if low >= 2 / 3:
        return "H_RL"
    if low > 1 / 3 and high < 2 / 3:
        return "neither"
    return "unresolved"


def agreed(labels) -> str:
    """One seed's hypothesis for all: the label every training seed gives, else unresolved."""
    labels = set(labels)
    return labels.pop() if len(labels) == 1 else "unresolved"


def critique_positions(r, search_room: str = "Dark Room Hard") -> dict:
    """Where AD lies on chapter 6's probes, from the chapter's record: on the line from H_copy's
    scripted agent (0) to H_RL's (1), each as :func:`place_interval` over AD's training seeds
    (a record without per-seed values gives the mean alone). ``search`` and ``novelty``: Dark
    Room Hard's first reward and cross-episode novelty; ``decoy``: visits to the decoy in
    episodes 2-3; ``move``: how the time to leave a moved goal grows with the window (NaN when
    the copy agent's own slope is under 0.1); ``masking_loss``: each agent's share of its aim
    lost when the rewarded episode is hidden, measured from its own aim with no reward in view,
    each aim taken above its own decisions' chance level (a record without that condition: from
    chance; NaN when its intact aim is within 0.05 of that floor), ``separable`` (the scripted
    agents' losses at least 10 points apart) and ``masking``; ``shift``: the share of
    its shift-0 best-arm rate each method keeps at +2 and -2, AD placed from win-stay/lose-shift
    to UCB1; ``kept``: those shares, per method; ``source``: the source's own ``search``, ``decoy``
    and ``masking`` positions on the same lines (NaN where it did not run the probe, or the line is
    undefined). ``search_room``: the room probe 2 is read in. A
    record without the goal-move slopes or the bandit scores (a model probed without them) places
    nothing on those probes."""
    m = lambda v: as_tuple(v)[0]  # noqa: E731
    hard = r["search"][search_room]
    copy, rl = "copy agent (random)", "search-then-return"

    def between(group: dict, measure: str | None = None) -> dict:
        value = {name: group[name] if measure is None else group[name][measure] for name in ("AD", copy, rl)}
        return place_interval(per_seed(value["AD"]), m(value[copy]), m(value[rl]), mean=m(value["AD"]))

    slopes = r.get("goal_move_slopes")
    move = (place_interval(slopes.get("ad_per_seed", [slopes["ad"]]), slopes["copy"], 0.0, mean=slopes["ad"])
            if slopes and abs(slopes["copy"]) >= 0.1 else dict(NO_POSITION))
    masking = r["masking"]
    base = "no reward in view" if "no reward in view" in masking else "chance"
    who = [k for k in ("AD", "copy", "search", "source") if k in masking["intact"]]
    per = lambda condition, k, seeds: per_seed(masking[condition].get(k, masking[condition]["AD"])) if seeds else np.array(  # noqa: E731
        [m(masking[condition].get(k, masking[condition]["AD"]))])

    def lost(k, seeds=False):
        intact, hidden, floor = (per(c, k, seeds) for c in ("intact", "rewarded episode hidden", base))
        if floor.shape != intact.shape:  # a seed without floor decisions: the mean floor for all
            floor = np.full(intact.shape, m(masking[base].get(k, masking[base]["AD"])))
        if base == "no reward in view" and "chance, no reward in view" in masking:  # the floor's goals are not the probe's:
            floor = floor - m(masking["chance, no reward in view"]["AD"]) + m(masking["chance"]["AD"])  # compare aims above chance
        above = intact - floor
        return np.where(above >= 0.05, (intact - hidden) / np.where(above >= 0.05, above, 1.0), np.nan)

    loss = {k: float(lost(k)[0]) for k in who}
    source = {"search": place_between(*(m(hard[k]["first_reward_episode"]) for k in ("source", copy, rl))) if "source" in hard else np.nan,
              "decoy": place_between(*(m(r["decoy"]["visits_episodes_2_3"][k]) for k in ("source", copy, rl)))
              if "source" in r["decoy"]["visits_episodes_2_3"] else np.nan,
              "masking": place_between(loss["source"], loss["copy"], loss["search"]) if "source" in loss else np.nan}
    separable = bool(all(np.isfinite(loss[k]) for k in ("AD", "copy", "search")) and abs(loss["copy"] - loss["search"]) >= 0.1)
    scores = r.get("bandit_pct_best_arm_91_100", {})
    bandit = {(name, shift): scores[f"{full}, {shift}"] for name, full in (
        ("ad", "AD (Thompson data)"), ("wsls", "win-stay/lose-shift"), ("ucb", "UCB1"), ("ts", "Thompson sampling"))
        for shift in ("+0", "+2", "-2") if f"{full}, {shift}" in scores}
    kept = {(name, shift): m(bandit[name, shift]) / max(m(bandit[name, "+0"]), 1e-9) for name, shift in bandit if shift != "+0"}
    ad_kept = lambda shift: per_seed(bandit["ad", shift]) / np.maximum(per_seed(bandit["ad", "+0"]), 1e-9)  # noqa: E731
    return {
        "search": between(hard, "first_reward_episode"), "novelty": between(hard, "novelty"),
        "decoy": between(r["decoy"]["visits_episodes_2_3"]), "move": move,
        "masking_loss": loss, "separable": separable, "masking_baseline": base,
        "masking": place_interval(lost("AD", seeds=True), loss["copy"], loss["search"], mean=loss["AD"]) if separable else dict(NO_POSITION),
        "shift": {shift: place_interval(ad_kept(shift), kept["wsls", shift], kept["ucb", shift], mean=kept["ad", shift])
                  for shift in ("+2", "-2")} if bandit else None,
        "kept": kept, "bandit_best_arm": {key: m(v) for key, v in bandit.items()}, "source": source,
    }


def position_words(p: dict, short: bool = False) -> str:
    """A position as the table gives it: "40% of the way from H_copy to H_RL (seeds 30% to 55%)";
    ``short``: "40% (seeds 30% to 55%)"."""
    if not np.isfinite(p["mean"]):
        return "no position"
    near_cut = lambda x: min(abs(x - 1 / 3), abs(x - 2 / 3)) < 0.01  # noqa: E731  one decimal there, so the side is readable
    share = lambda x: f"{x:.1%}" if near_cut(x) else f"{0.0 if abs(x) < 0.005 else x:.0%}"  # noqa: E731  (no "-0%")
    seeds = f" (seeds {share(p['low'])} to {share(p['high'])})" if p["high"] - p["low"] >= 0.005 else ""
    return f"{share(p['mean'])}{seeds}" if short else f"{share(p['mean'])} of the way from H_copy to H_RL{seeds}"


NOT_RUN = "not run"
"""What a verdict row supports when its probe was not run on that model."""


def not_run(probe: str, why: str) -> dict:
    """A verdict row for a probe that was not run on a model, saying why."""
    return {"probe": probe, "h_copy_predicts": "—", "h_rl_predicts": "—", "source": "—", "observed": why, "position": None,
            "supports": NOT_RUN}


def critique_rows(r, search_room: str = "Dark Room Hard") -> list[dict]:
    """Chapter 6's verdict table from its record: for each probe, what H_copy and H_RL predict
    (their scripted agents' measured results), what the source did where it can run the probe,
    what AD did, AD's ``position`` over training seeds (:func:`critique_positions`; None where the
    probe places nothing), and the hypothesis it supports (:func:`supported_interval`, with the
    special rules chapter 6 states; a rule read per seed gives *unresolved* when seeds disagree).
    ``search_room``: the room probe 2 is read in; probes 4 and 7 are :data:`NOT_RUN` where the
    record lacks them."""
    m = lambda v: as_tuple(v)[0]  # noqa: E731
    at = critique_positions(r, search_room)
    way = lambda key: position_words(at[key])  # noqa: E731
    agree, chance = (per_seed(r["agreement"][k]) for k in ("agree", "chance"))
    hard = {name: m(v["first_reward_episode"]) for name, v in r["search"][search_room].items()}
    decoy = {name: m(v) for name, v in r["decoy"]["visits_episodes_2_3"].items()}
    slopes, loss, separable = r.get("goal_move_slopes"), at["masking_loss"], at["separable"]
    aim = {c: m(r["masking"][c]["AD"]) for c in ("intact", "rewarded episode hidden")}
    base = at["masking_baseline"]
    kd = r["key_to_door"]["AD (trained on Dark Room)"]
    key, door = kd["last_10_key_rate"], kd["last_10_door_rate"]
    keys, doors = (np.asarray(kd.get(f"last_10_{k}_rate_per_seed", [kd[f"last_10_{k}_rate"]])) for k in ("key", "door"))
    bandit = at["bandit_best_arm"]
    shift_support = {shift: supported_interval(p) for shift, p in (at["shift"] or {}).items()}
    pct = lambda name, shift: f"{bandit[name, shift]:.0f}%"  # noqa: E731
    source_move = r.get("goal_move", {}).get("source")
    return [
        {"probe": "1. agreement with the heuristic", "h_copy_predicts": "shortest-path steps toward the rewarded cell",
         "h_rl_predicts": "the same (in Dark Room the rewarded cell is the goal)", "source": "—",
         "observed": f"{agree.mean():.0%} of steps toward it (chance {chance.mean():.0%})", "position": None,
         "supports": agreed("both" if a > 2 * c else "neither" for a, c in zip(agree, chance))},
        {"probe": f"2. search before the first reward ({search_room})",
         "h_copy_predicts": f"random search: first reward in episode {hard['copy agent (random)']:.1f}",
         "h_rl_predicts": f"systematic search: episode {hard['search-then-return']:.1f}",
         "source": f"episode {hard['source']:.1f}" if "source" in hard else "—",
         "observed": f"episode {hard['AD']:.1f}: {way('search')}", "position": at["search"], "supports": supported_interval(at["search"])},
        {"probe": "3. a made-up rewarded episode",
         "h_copy_predicts": f"back to the decoy while it is in view ({decoy['copy agent (random)']:.0%} of episodes 2–3)",
         "h_rl_predicts": f"one visit, then search ({decoy['search-then-return']:.0%})",
         "source": f"{decoy['source']:.0%}" if "source" in decoy else "—",
         "observed": f"{decoy['AD']:.0%}: {way('decoy')}", "position": at["decoy"], "supports": supported_interval(at["decoy"])},
        not_run("4. the goal moves", "needs the model trained with 1-, 2- and 4-episode windows") if not slopes else
        {"probe": "4. the goal moves", "h_copy_predicts": f"time to leave the old goal grows with the window ({slopes['copy']:.2f} episodes per episode)",
         "h_rl_predicts": f"the same time for every window (search-then-return: {m(r['goal_move']['search-then-return']['skip_g1']):.1f} "
                          "episodes, 0 per episode)",
         "source": f"{m(source_move['skip_g1']):.1f} episodes (no window)" if source_move else "—",
         "observed": f"{slopes['ad']:.2f} episodes per episode of window: {way('move')}", "position": at["move"],
         "supports": supported_interval(at["move"])},
        {"probe": "5. the rewarded episode hidden", "h_copy_predicts": f"all aim lost (copy agent: {loss['copy']:.0%})",
         "h_rl_predicts": "part kept by memory of empty cells (measured: search-then-return loses "
                          f"{loss['search']:.0%}{', keeping none' if loss['search'] >= 0.95 else ''})",
         "source": (f"loses {loss['source']:.0%}" if np.isfinite(loss["source"]) else "no aim to lose") if "source" in loss else "—",
         "observed": f"aim {aim['intact']:.2f} → {aim['rewarded episode hidden']:.2f}, " + (
             f"{loss['AD']:.0%} of its aim above {'its aim with no reward in view' if base == 'no reward in view' else 'chance'} lost"
             if np.isfinite(loss["AD"]) else "no aim above its floor to lose")
                     + (f"; {way('masking')}" if separable else ""),
         "position": at["masking"] if separable else None, "supports": supported_interval(at["masking"]) if separable else "both"},
        {"probe": "6. Dark Room AD in Key-to-Door", "h_copy_predicts": "key found, door not: return stuck near 1",
         "h_rl_predicts": "door after key: return rising toward 2", "source": "—",
         "observed": f"return {m(kd['last_10_return']):.2f}; key {key:.0%}, door {door:.0%}", "position": None,
         "supports": agreed("H_RL" if d >= 0.5 else "H_copy" if k >= 0.5 else "neither" for k, d in zip(keys, doors))},
        not_run("7. bandit rewards shifted by +2 and −2", "a probe of the bandit model") if not at["shift"] else
        {"probe": "7. bandit rewards shifted by +2 and −2",
         "h_copy_predicts": f"win-stay/lose-shift collapses ({pct('wsls', '+0')} best arm → {pct('wsls', '+2')} at +2, {pct('wsls', '-2')} at −2)",
         "h_rl_predicts": f"unchanged (UCB1 {pct('ucb', '+0')} → {pct('ucb', '+2')}, {pct('ucb', '-2')})",
         "source": f"Thompson sampling {pct('ts', '+0')} → {pct('ts', '+2')}, {pct('ts', '-2')}" if ("ts", "+0") in bandit else "—",
         "observed": f"{pct('ad', '+0')} → {pct('ad', '+2')}, {pct('ad', '-2')}; at +2 {position_words(at['shift']['+2'])}, at −2 "
                     f"{at['shift']['-2']['mean']:.0%}",
         "position": at["shift"]["+2"], "position_at_minus_2": at["shift"]["-2"],
         "supports": shift_rule(shift_support, per_seed(r["bandit_pct_best_arm_91_100"]["AD (Thompson data), +0"]))},
    ]


def shift_rule(support: dict, ad_at_zero) -> str:
    """Probe 7's verdict from the +2 and -2 positions' support: it counts only where every seed of
    AD beats random clearly at shift 0 (15% best arm or more; some seeds but not all:
    unresolved), and supports neither when the two directions disagree (unresolved when either
    is)."""
    beats = np.asarray(ad_at_zero, dtype=float) >= 15
    if not beats.any():
        return "neither"
    if not beats.all() or "unresolved" in support.values():
        return "unresolved"
    return support["+2"] if support["+2"] == support["-2"] else "neither"


def critique_tally(rows: list[dict]) -> dict[str, list[str]]:
    """The probes (by number) that support each of :data:`HYPOTHESES`, from chapter 6's verdict rows."""
    return {h: [row["probe"].split(".")[0] for row in rows if row["supports"] == h] for h in HYPOTHESES}


def critique_leaning(counts: dict) -> str:
    """Chapter 6's verdict from how many probes support each hypothesis: :data:`CLOSER_TO_IT`,
    :data:`CLOSER_TO_RL` or :data:`SPLIT`."""
    return CLOSER_TO_IT if counts["H_copy"] > counts["H_RL"] else CLOSER_TO_RL if counts["H_RL"] > counts["H_copy"] else SPLIT


LEAN_WORDS = {CLOSER_TO_IT: "closer to the critique's heuristic than to a general learner",
              CLOSER_TO_RL: "closer to a general learner than to the critique's heuristic", SPLIT: "split between the two"}
""":func:`critique_leaning`'s verdict as the chapter says it."""


def critique_lean(counts: dict) -> str:
    """The chapter's verdict in words (:func:`critique_leaning`)."""
    if not counts["H_copy"] and not counts["H_RL"]:
        return "not placed on either side by any probe"
    return LEAN_WORDS[critique_leaning(counts)]


def size_claims_words(by_size: dict[str, dict[str, str]]) -> str:
    """Chapter 2's size table in a sentence (Markdown): whether any claim's verdict differs between
    the sizes (``{size: {claim: verdict}}``) and, where one does, how."""
    names = list(by_size)
    moved = {k: {n: by_size[n][k] for n in names} for k in by_size[names[0]]}
    moved = {k: by for k, by in moved.items() if len(set(by.values())) > 1}
    if not moved:
        every = "all three sizes" if len(names) == 3 else f"all {len(names)} sizes"
        return f"**Size does not change which of this page's claims reproduce**: each gets the same verdict at {every}."
    return (f"**Size changes the verdict on {len(moved)} of the {len(by_size[names[0]])} claims**: "
            + "; ".join(f"{k}: " + ", ".join(f"{v} ({n})" for n, v in by.items()) for k, by in moved.items()) + ".")


def verdict_changes(rows_by_variant: dict[str, list[dict]], names) -> dict[str, dict[str, str]]:
    """The probes whose supported hypothesis differs among the variants ``names`` (each a list of
    :func:`critique_rows`), probes not run on one of them left out: ``{probe number: {variant: supports}}``."""
    out = {}
    for rows in zip(*(rows_by_variant[n] for n in names)):
        supports = {n: row["supports"] for n, row in zip(names, rows)}
        if NOT_RUN not in supports.values() and len(set(supports.values())) > 1:
            out[rows[0]["probe"].split(".")[0]] = supports
    return out


def changes_words(changes: dict, what: str) -> str:
    """:func:`verdict_changes` as a clause: whether any probe's label changes with ``what``
    (e.g. "size") and, where one does, which and how."""
    if not changes:
        return f"no probe's label changes with {what}: every probe run on all of them supports the same hypothesis"
    moves = "; ".join(f"probe {p}: " + ", ".join(f"{h} ({n})" for n, h in by.items()) for p, by in changes.items())
    many = len(changes) > 1
    return f"the label{'s' if many else ''} of {len(changes)} probe{'s' if many else ''} change{'' if many else 's'} with {what} ({moves})"


def copy_or_rl(r):
    counts = {h: len(probes) for h, probes in critique_tally(r["verdict"]).items()}
    text = (f"of {len(r['verdict'])} probes, those supporting the heuristic: {counts['H_copy']}; a general learner: {counts['H_RL']}; "
            f"unable to separate them: {counts['both']}; matching neither: {counts['neither']}; unresolved (the training seeds "
            f"disagree): {counts['unresolved']}; chapter 6: AD is {critique_lean(counts)}")
    return text, critique_leaning(counts)


def copy_or_rl_at_paper_size(r):
    """:func:`copy_or_rl` for chapter 6b's paper-size model, and whether the verdict moves with size."""
    paper = r["by_size"]["paper"]
    counts = {h: len(probes) for h, probes in critique_tally(paper["verdict"]).items()}
    run = sum(row["supports"] != NOT_RUN for row in paper["verdict"])
    text = (f"the paper's model ({paper['parameters']:,} parameters), {run} probes run: those supporting the heuristic: {counts['H_copy']}; "
            f"a general learner: {counts['H_RL']}; unable to separate them: {counts['both']}; matching neither: {counts['neither']}; "
            f"unresolved: {counts['unresolved']}; AD is {critique_lean(counts)}, and {changes_words(r['verdict_changes']['size'], 'size')}")
    return text, critique_leaning(counts)


CLAIMS = (
    ClaimRule("paper", "AD learns in context on held-out Dark Room goals, to near-optimal returns", "02_darkroom",
        "reproduced: last 10 episodes ≥ 0.9 of optimal and above episode 1 by > 2 std; partly: it rises but stays below 0.9",
        darkroom_in_context, caveat="the last 10 episodes lie far past the training histories' length; the row also gives the training horizon",
        where="Fig. 4, Dark Room"),
    ClaimRule("paper", "AD is more data-efficient than its source", "02_darkroom",
        "environment steps to 50% and 80% of optimal: reproduced if AD needs fewer at both, partly at one",
        partial(data_efficiency, subsampled=False), caveat="the source's pace is set by its exploration schedule",
        where="abstract; Fig. 4"),
    ClaimRule("paper", "… even than the source subsampled as AD's data was", "02_darkroom",
        "the same, against the source keeping the episodes AD was trained on",
        partial(data_efficiency, subsampled=True)),
    ClaimRule("paper", "In-context RL needs a context spanning several episodes", "02_darkroom",
        "last-10 return with the longest context above the shortest by > 2 std", context_needed, where="Fig. 7"),
    ClaimRule("paper", "Expert Distillation (expert-only data) does not learn in context", "03_expert_distillation",
        "reproduced: ED below AD by > 2 std and its per-seed change from episode 1 to the last 10 within 2 std of none; "
        "partly: below AD but rising",
        ed_fails, caveat="chapter 3's Figure 3.1 shows both models' training loss, to judge undertraining", where="Fig. 4, ED"),
    ClaimRule("paper", "Prompted with demonstrations, AD improves on every prompt; ED stays at the prompt's level",
        "03_expert_distillation", "for each prompt: AD ends above the prompt's level by > 5 points and > 2 std, or within 5 points of optimal; "
        "ED within 10 points of it",
        prompting, caveat="a prompt near optimal counts as improved when AD stays near optimal", where="Fig. 5"),
    ClaimRule("paper", "Bandit: AD generalises to the even-arm (out-of-distribution) test", "04_out_of_distribution",
        "reproduced: regret below random's and no worse than on the training side; partly: below random's only", odd_even),
    ClaimRule("paper", "Dark Room Hard: AD learns in context on held-out goals", "05_harder_dark_rooms",
        "chapter 5's rule: reproduced when AD's last-10 success is ≥ 0.7, above its first 10 episodes and above ED and "
        "random, each by > 2 std; partly when all but the 0.7 bar hold", harder_room("hard", "success rate"),
        caveat="a model about a sixteenth of the paper's size, trained on a CPU", where="Fig. 4, Dark Room (Hard)"),
    ClaimRule("paper", "Dark Key-to-Door: AD learns in context on held-out (key, door) pairs", "05_harder_dark_rooms",
        "chapter 5's rule: as for Dark Room Hard, with a bar of 1.4 of the optimal 2",
        harder_room("key_to_door", "return (of 2)"), caveat="a model about a sixteenth of the paper's size, trained on a CPU",
        where="Fig. 4, Dark Key-to-Door"),
    ClaimRule("paper", "Watermaze (3-D pixels): AD learns in context", "07_pixels",
        f"chapter 7's rule, in a Miniworld stand-in: reproduced when AD's last-10 return on held-out goals is ≥ {PIXEL_BAR:g} of "
        "optimal, above its first episode by > 2 std, and ED below it by > 2 std; partly when all but the bar hold", pixels,
        caveat="a small Miniworld room (7x7 places, 4 headings, 32x32 frames) stands in for DMLab's Watermaze",
        where="Fig. 4, Watermaze"),
    ClaimRule("1a3orn", "AD distilled from optimistic greedy learns in context on fresh bandits", "01_bandit",
        "AD's % best arm over steps 11-100 above random's by > 2 std (and 1 point)", optimistic_in_context,
        caveat="set the gain beside the source's own over random and the first checkpoint's score, both in chapter 1",
        where="post, second figure"),
    ClaimRule("1a3orn", "Early checkpoints of AD do better than the data they imitate", "01_bandit",
        "some checkpoint above the source by > 2 std (and 1 point)", beats_data, where="post, second figure and the text below it"),
    ClaimRule("1a3orn", "AD keeps improving to step 200, past the 100 steps of its training histories", "01_bandit",
        "% best arm at step 200 above step 100 by > 2 std (and 1 point)", past_horizon, where="post, second figure"),
    ClaimRule("1a3orn", "AD still learns on bandits whose best arm was never best in training (arm swap; tested on AD "
              "distilled from Thompson sampling, not on his optimistic-greedy source)",
        "04_out_of_distribution", "AD's % best arm at step 100 above random's by > 2 std", swap,
        caveat="1a3orn's own test used his optimistic-greedy source", where="post, third figure"),
    ClaimRule("1a3orn", "… but gets worse past the 100 steps it was trained on (the same models)", "04_out_of_distribution",
        "the change in % best arm from steps 91-100 to 191-200, per training seed, below zero by > 2 std", swap_degrades,
        where="post, third figure and the text below it"),
    ClaimRule("critique", "ED fails on new goals because it never saw exploration: it explores less than AD",
        "03_expert_distillation", "reproduced: ED visits fewer distinct cells than AD and ends more of its episodes on one cell than "
        "random, each by > 2 std; partly: one of the two. This reads the critique's account of ED's failure; it does not decide "
        "between the critique and the paper on what AD has learned", ed_explores_less, where="appendix, \"expert distillation\""),
    ClaimRule("critique", "AD's Dark Room behaviour is explained by \"go back to the last rewarded cell\"", "06_critique",
        "chapter 6's own words: closer to the heuristic when more probes support it than a general learner, and the "
        "reverse; a probe supports a hypothesis only when its whole interval over training seeds lies in that third",
        copy_or_rl, caveat="the book's small CPU models, over the chapter's training seeds; the source's result stands beside probes 2-5 and 7",
        where="main text"),
    ClaimRule("critique", "… and at the paper's model size", "06b_model_size",
        "chapter 6's rule on chapter 6b's paper-size model (probes 1-3, 5 and 6, in the 9×9 room, with a lighter protocol)",
        copy_or_rl_at_paper_size, caveat="chapter 6b compares the three sizes on one protocol", where="main text"),
)
"""Every claim the summary scores, in its order: the paper's, then 1a3orn's, then the critique's."""


def claims(records: dict[str, dict]) -> list[Claim]:
    """The summary's rows, computed from the chapter records (``{notebook: record}``)."""
    return [rule.score(records.get(rule.chapter)) for rule in CLAIMS]


def claim(text: str) -> ClaimRule:
    """The :class:`ClaimRule` whose claim is ``text`` (so a chapter can score its own claims)."""
    for rule in CLAIMS:
        if rule.claim == text:
            return rule
    raise KeyError(f"no claim {text!r}; the claims are: {[r.claim for r in CLAIMS]}")
