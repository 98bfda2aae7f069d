"""The chapters' results records, read back: the reproducibility page and the book's summary.

Every chapter notebook ends by writing one JSON record (:func:`adlib.runtime.run_record` plus
its headline numbers). This module reads a folder of them (:func:`read_records`) and turns
them into the summary's rows (:func:`claims`): one per claim of the paper, of 1a3orn's post
and of the critique, each with this build's number, its spread and a verdict computed by a
rule stated in the row. A chapter that did not run gives "not in this build"; a claim no
chapter tests yet gives "not attempted yet".
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .evaluation import compare

REQUIRED = ("notebook", "scale", "runtime_seconds", "seeds", "versions", "finished_at")
"""Keys that make a JSON object a chapter record."""

CHAPTERS = {
    "01_bandit": "1. Bandit",
    "02_darkroom": "2. Dark Room",
    "03_expert_distillation": "3. ED vs AD",
    "04_out_of_distribution": "4. Out of distribution",
    "05_harder_dark_rooms": "5. Harder dark rooms",
    "06_critique": "6. The critique",
}

REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_ATTEMPTED, NOT_IN_BUILD = (
    "reproduced", "partly", "not reproduced", "not attempted yet", "not in this build")
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, NOT_ATTEMPTED, NOT_IN_BUILD)


def read_records(folder: str | Path) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """The chapter records in ``folder``: ``({notebook: record}, [(file name, why skipped)])``.

    A file counts when it holds a JSON object with every key of :data:`REQUIRED`; others
    are listed as skipped with the reason, never silently dropped. A missing folder gives
    no records and no skipped files.
    """
    folder = Path(folder)
    records: dict[str, dict] = {}
    skipped: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            skipped.append((path.name, f"not readable as JSON ({type(exc).__name__})"))
            continue
        missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
        if missing:
            skipped.append((path.name, "missing " + ", ".join(missing)))
            continue
        records[str(data["notebook"])] = data
    return records, skipped


HYPOTHESES = ("H_copy", "H_RL", "both", "neither")


def place_between(value: float, h_copy: float, h_rl: float) -> float:
    """Where a measured value lies on the line from H_copy's prediction (0) to H_RL's (1)
    (chapter 6: each prediction is a scripted agent's measured result). NaN if they coincide."""
    if not np.isfinite(h_rl - h_copy) or h_rl == h_copy:
        return float("nan")
    return float((value - h_copy) / (h_rl - h_copy))


def supported(position: float) -> str:
    """The hypothesis a position from :func:`place_between` supports: within the third nearest
    a prediction (or beyond it), that hypothesis; in the middle third (or undefined), neither."""
    if not np.isfinite(position):
        return "neither"
    if position <= 1 / 3:
        return "H_copy"
    if position >= 2 / 3:
        return "H_RL"
    return "neither"


def mean_std(value) -> tuple[float, float]:
    """``(mean, std)`` from a record's ``{"mean", "std"}``, ``[mean, std]`` or plain number (std 0)."""
    if isinstance(value, dict):
        return float(value["mean"]), float(value.get("std", 0.0))
    if isinstance(value, (list, tuple)):
        return float(value[0]), float(value[1]) if len(value) > 1 else 0.0
    return float(value), 0.0


@dataclass(frozen=True)
class Claim:
    """One row of the summary."""

    who: str
    """Whose claim: "paper", "1a3orn" or "critique"."""
    claim: str
    chapter: str
    """The notebook that tests it (a key of :data:`CHAPTERS`)."""
    number: str
    """This build's measurement, with its spread, in words."""
    verdict: str
    """One of :data:`VERDICTS`."""
    rule: str
    """How the verdict follows from the number."""


def _fmt(ms: tuple[float, float], digits: int = 2) -> str:
    """``mean ± std``, with one more digit when the spread would otherwise print as zero."""
    if 0 < ms[1] < 0.5 * 10 ** -digits:
        digits += 1
    return f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"


def _steps(x: float | None) -> str:
    """Environment steps to a level, or "never" (stored as infinity or null)."""
    return "never" if x is None or not math.isfinite(x) else f"{x:,.0f} steps"


def claims(records: dict[str, dict]) -> list[Claim]:
    """The summary's rows, computed from the chapter records (``{notebook: record}``)."""
    rows: list[Claim] = []

    def add(who, claim, chapter, rule, measure):
        # ``measure(record) -> (number, verdict)``; a chapter absent from this build gives no number.
        record = records.get(chapter)
        if record is None:
            rows.append(Claim(who, claim, chapter, "—", NOT_IN_BUILD, rule))
        else:
            number, verdict = measure(record)
            rows.append(Claim(who, claim, chapter, number, verdict, rule))

    # --- the paper ---------------------------------------------------------------------------
    def darkroom_in_context(r):
        first, last = r["ad_held_out"]["first_episode"], mean_std(r["ad_held_out"]["last_10"])
        rises = last[0] - first > 2 * last[1]
        verdict = REPRODUCED if rises and last[0] >= 0.9 else PARTLY if rises else NOT_REPRODUCED
        trained = r.get("model", {}).get("training_episodes_per_history")
        beyond = (f" (episodes far past the {trained} episodes of any training history, a regime chapter 2 calls out of "
                  "distribution)") if trained else ""
        return f"AD {first:.2f} in episode 1 → {_fmt(last)} of optimal over the last 10{beyond}", verdict

    add("paper", "AD learns in context on held-out Dark Room goals, to near-optimal returns", "02_darkroom",
        "reproduced: last 10 episodes ≥ 0.9 of optimal and above episode 1 by > 2 std; partly: it rises but stays below 0.9",
        darkroom_in_context)

    def data_efficiency(r, subsampled: bool):
        # Against the source, or against the source subsampled as AD's data was ("source, every kth episode").
        steps = r["steps_to_fraction_of_optimal"]
        other = next(k for k in steps["0.8"] if k.startswith("source, every")) if subsampled else "source"
        at = {t: (steps[t]["AD"], steps[t][other]) for t in ("0.5", "0.8")}
        reached = lambda v: v is not None and math.isfinite(v)  # noqa: E731
        faster = {t: reached(ad) and (not reached(o) or ad < o) for t, (ad, o) in at.items()}
        verdict = REPRODUCED if all(faster.values()) else PARTLY if any(faster.values()) else NOT_REPRODUCED
        text = "; ".join(f"to {float(t):.0%}: AD {_steps(ad)}, {other} {_steps(o)}"
                         for t, (ad, o) in at.items()) + " (crossings of the mean curves)"
        spread = r.get("steps_to_fraction_of_optimal_spread", {})
        if not subsampled and "0.8" in spread:
            ranges = {k: [v for v in spread["0.8"][k] if reached(v)] for k in ("AD", "source")}
            if all(ranges.values()):
                text += (f"; per seed or run, to 80%: AD {min(ranges['AD']):,.0f}-{max(ranges['AD']):,.0f}, "
                         f"source {min(ranges['source']):,.0f}-{max(ranges['source']):,.0f}")
        return text, verdict

    add("paper", "AD is more data-efficient than its source", "02_darkroom",
        "environment steps to 50% and 80% of optimal: reproduced if AD needs fewer at both, partly at one",
        lambda r: data_efficiency(r, subsampled=False))
    add("paper", "… even than the source subsampled as AD's data was", "02_darkroom",
        "the same, against the source keeping the episodes AD was trained on",
        lambda r: data_efficiency(r, subsampled=True))

    def context_needed(r):
        ablation = {int(k): mean_std(v) for k, v in r["context_ablation_last_10"].items()}
        short, long = ablation[min(ablation)], ablation[max(ablation)]
        verdict = REPRODUCED if compare(long, short, min_margin=0.0) == "above" else NOT_REPRODUCED
        return ("last-10 return with a context of " + ", ".join(f"{n} episode{'s' if n > 1 else ''}: {_fmt(v)}"
                                                             for n, v in sorted(ablation.items()))), verdict

    add("paper", "In-context RL needs a context spanning several episodes", "02_darkroom",
        "last-10 return with the longest context above the shortest by > 2 std", context_needed)

    def ed_fails(r):
        held = r["darkroom_held_out"]
        ad, ed = mean_std(held["AD"]["last_10"]), mean_std(held["ED"]["last_10"])
        below = compare(ed, ad, min_margin=0.0) == "below"
        rises = ed[0] - held["ED"]["first_episode"] > 2 * ed[1]
        verdict = REPRODUCED if below and not rises else PARTLY if below else NOT_REPRODUCED
        rise = "rising by more than 2 std" if rises else "a rise not distinguishable with these seeds"
        return (f"ED {held['ED']['first_episode']:.2f} in episode 1 → {_fmt(ed)} over the last 10 ({rise}); "
                f"AD {_fmt(ad)} (fractions of optimal)"), verdict

    add("paper", "Expert Distillation (expert-only data) does not learn in context", "03_expert_distillation",
        "reproduced: ED below AD by > 2 std and no rise from episode 1 beyond 2 std; partly: below AD but rising",
        ed_fails)

    def prompting(r):
        n = sum(1 for k in r["prompting"] if k.startswith("AD@"))
        ad_up, ed_keep = r["ad_improves_on_prompts"], r["ed_keeps_prompt_level"]
        verdict = REPRODUCED if ad_up == n and ed_keep == n else PARTLY if ad_up > 0 else NOT_REPRODUCED
        gains = {float(k): g for k, g in r.get("ed_gain_over_prompt", {}).items() if abs(g) > 0.1}
        missed = ("; ED ends " + ", ".join(f"{g:+.2f} of optimal from the {k:.0%}-target prompt" for k, g in sorted(gains.items()))
                  if gains else "")
        return f"AD improves on {ad_up} of {n} prompts; ED keeps the prompt's level on {ed_keep} of {n}{missed}", verdict

    add("paper", "Prompted with demonstrations, AD improves on every prompt; ED stays at the prompt's level",
        "03_expert_distillation", "for each prompt: AD ends above the prompt's level by > 5 points and > 2 std, or within 5 points of optimal; "
        "ED within 10 points of it",
        prompting)

    def odd_even(r):
        v = r["odd_even_verdicts"]
        test_side, train_side = r["odd_even"]["test side (even favoured)"], r["odd_even"]["training side (odd favoured)"]
        test = mean_std(test_side["AD"]["regret_step_100"])
        learns = v["test_regret_vs_random"] == "below"
        verdict = (REPRODUCED if learns and v["test_regret_vs_training_side"] != "above"
                   else PARTLY if learns else NOT_REPRODUCED)
        return (f"AD's regret at step 100 on the even-arm test: {_fmt(test, 1)}, {v['test_regret_vs_random']} random's "
                f"{mean_std(test_side['random']['regret_step_100'])[0]:.1f} and {v['test_regret_vs_training_side']} its own "
                f"{mean_std(train_side['AD']['regret_step_100'])[0]:.1f} on the training side (Thompson sampling: "
                f"{mean_std(test_side['Thompson sampling']['regret_step_100'])[0]:.1f})"), verdict

    add("paper", "Bandit: AD generalises to the even-arm (out-of-distribution) test", "04_out_of_distribution",
        "reproduced: regret below random's and no worse than on the training side; partly: below random's only", odd_even)

    def harder_room(room: str, metric: str, what: str):
        # Chapter 5's numbers for one room, and its own verdict: "reproduced", "partly reproduced at this budget"
        # or "not reproduced at this budget".
        def measure(r):
            ad, ed, rnd = (mean_std(r[room][m][f"last_10_{metric}"]) for m in ("ad", "ed", "random"))
            first = mean_std(r[room]["ad"][f"first_10_{metric}"])
            said = r["verdicts"][room]
            verdict = REPRODUCED if said == "reproduced" else PARTLY if said.startswith("partly") else NOT_REPRODUCED
            return (f"{what}: AD {first[0]:.2f} over its first 10 episodes → {_fmt(ad)} over the last 10; "
                    f"ED {_fmt(ed)}, random {_fmt(rnd)}; chapter 5 says: {said}"), verdict
        return measure

    add("paper", "Dark Room Hard: AD learns in context on held-out goals", "05_harder_dark_rooms",
        "chapter 5's rule: reproduced when AD's last-10 success is ≥ 0.7, above its first 10 episodes and above ED and "
        "random, each by > 2 std; partly when all but the 0.7 bar hold", harder_room("hard", "success", "success rate"))
    add("paper", "Dark Key-to-Door: AD learns in context on held-out (key, door) pairs", "05_harder_dark_rooms",
        "chapter 5's rule: as for Dark Room Hard, with a bar of 1.4 of the optimal 2",
        harder_room("key_to_door", "return", "return (of 2)"))

    rows.append(Claim("paper", "Watermaze (3-D pixels): AD learns in context", "—", "—", NOT_ATTEMPTED,
                      "needs DMLab and a GPU-scale budget; not attempted on a CPU"))

    # --- 1a3orn ------------------------------------------------------------------------------
    def optimistic_in_context(r):
        v = r["ad_optimistic_vs_random_steps_11_100"]
        ad, rnd = mean_std(v["ad_late"]), mean_std(v["random"])
        source = r.get("ad_optimistic_vs_source_steps_11_100", {}).get("source")
        verdict = REPRODUCED if v["verdict_late"] == "above" else NOT_REPRODUCED
        source_text = f", its source {_fmt(mean_std(source), 1)}" if source is not None else ""
        return f"% best arm over steps 11-100: AD {_fmt(ad, 1)}, random {_fmt(rnd, 1)}{source_text}", verdict

    add("1a3orn", "AD distilled from optimistic greedy learns in context on fresh bandits", "01_bandit",
        "AD's % best arm over steps 11-100 above random's by > 2 std (and 1 point)", optimistic_in_context)

    def beats_data(r):
        sweep = r["ad_optimistic_checkpoint_sweep"]
        above = [e["step"] for e in sweep if e["vs_source"] == "above"]
        best = max(sweep, key=lambda e: e["pct_best_arm_steps_11_100"]["mean"])
        source = r["ad_optimistic_sweep_source_pct_best_arm_steps_11_100"]
        source = mean_std(source)[0]
        first, last = (mean_std(e["pct_best_arm_steps_11_100"])[0] for e in (sweep[0], sweep[-1]))
        text = (f"best of {len(sweep)} checkpoints: {_fmt(mean_std(best['pct_best_arm_steps_11_100']), 1)}% best arm over "
                f"steps 11-100 (step {best['step']}{', the last' if best is sweep[-1] else ''}); source {source:.1f}%; "
                f"from the first checkpoint to the last the score goes {first:.1f}% → {last:.1f}%")
        return text, REPRODUCED if above else NOT_REPRODUCED

    add("1a3orn", "Early checkpoints of AD do better than the data they imitate", "01_bandit",
        "some checkpoint above the source by > 2 std (and 1 point)", beats_data)

    def past_horizon(r):
        at_100, at_200 = (mean_std(r["ad_optimistic_late"][f"pct_best_arm_step_{k}"]) for k in (100, 200))
        verdict = REPRODUCED if compare(at_200, at_100) == "above" else NOT_REPRODUCED
        return f"% best arm: step 100 {_fmt(at_100, 1)} → step 200 {_fmt(at_200, 1)}", verdict

    add("1a3orn", "AD keeps improving to step 200, past the 100 steps of its training histories", "01_bandit",
        "% best arm at step 200 above step 100 by > 2 std (and 1 point)", past_horizon)

    def swap(r):
        v = r["arm_swap_verdicts"]
        ad = mean_std(r["arm_swap"]["swapped"]["AD"]["pct_best_arm_step_100"])
        return f"% best arm at step 100 on swapped bandits: {_fmt(ad, 1)}, {v['swapped_vs_random']} random", (
            REPRODUCED if v["swapped_vs_random"] == "above" else NOT_REPRODUCED)

    add("1a3orn", "AD still learns on bandits whose best arm was never best in training (arm swap)",
        "04_out_of_distribution", "AD's % best arm at step 100 above random's by > 2 std", swap)

    def swap_degrades(r):
        t = r["horizon"]["AD, arm swap, swapped"]
        words = {"improves": "rises by more than 2 std", "degrades": "falls by more than 2 std",
                 "flat": "not distinguishable from no change with these seeds"}[t["trend"]]
        change = f", a change of {_fmt(mean_std(t['change']), 1)} points" if "change" in t else ""
        return (f"% best arm: steps 91-100 {mean_std(t['at_horizon'])[0]:.1f}% → steps 191-200 {mean_std(t['at_end'])[0]:.1f}%"
                f"{change} ({words})"), REPRODUCED if t["trend"] == "degrades" else NOT_REPRODUCED

    add("1a3orn", "… but gets worse past the 100 steps it was trained on", "04_out_of_distribution",
        "the change in % best arm from steps 91-100 to 191-200, per training seed, below zero by > 2 std", swap_degrades)

    # --- the critique ------------------------------------------------------------------------
    def ed_explores_less(r):
        measures = r.get("first_episode_end_points", {}).get("measures", {})
        key = "distinct cells, first 5 episodes"
        if all(m in measures and key in measures[m] for m in ("AD", "ED")):
            cells = {m: mean_std(measures[m][key]) for m in measures if key in measures[m]}
        else:
            cells = {m: (float(v), 0.0) for m, v in r["cells_visited_first_5_episodes"].items()}
        verdict = REPRODUCED if compare(cells["ED"], cells["AD"], min_margin=0.0) == "below" else NOT_REPRODUCED
        return "distinct cells visited in the first 5 episodes: " + ", ".join(f"{m} {_fmt(v, 1)}" for m, v in cells.items()), verdict

    add("critique", "ED fails on new goals because it never saw exploration: it explores less than AD",
        "03_expert_distillation", "ED's distinct cells below AD's by > 2 std. This supports the critique's reading of ED's "
        "failure; it does not decide between the critique and the paper on what AD has learned", ed_explores_less)

    def copy_or_rl(r):
        counts = {h: sum(row["supports"] == h for row in r["verdict"]) for h in HYPOTHESES}
        text = (f"of {len(r['verdict'])} probes: {counts['H_copy']} support the heuristic, {counts['H_RL']} a general learner, "
                f"{counts['both']} cannot separate them, {counts['neither']} match neither")
        if counts["H_copy"] <= counts["H_RL"]:
            return text, NOT_REPRODUCED
        return text, REPRODUCED if counts["H_copy"] >= counts["neither"] else PARTLY

    add("critique", "AD's Dark Room behaviour is explained by \"go back to the last rewarded cell\"", "06_critique",
        "more probes support the heuristic than a general learner (reproduced if also at least as many as match neither; "
        "partly otherwise)", copy_or_rl)
    return rows


def _model_text(model: dict) -> str:
    from .model import ADConfig, ADTransformer  # torch is only needed for the parameter count

    n = ADTransformer(ADConfig(**model)).n_parameters()
    return (f"{model['n_layers']} layers, width {model['d_model']}, {model['n_heads']} heads, feed-forward {model['d_ff']}, "
            f"{n / 1000:.0f}k parameters, context {model['context_len']} steps"
            + (", reward embedded per action" if model.get("reward_by_action") else "")
            + (", the cell's row and column also embedded as numbers" if model.get("coordinate_embedding") else ""))


def deviations(records: dict[str, dict]) -> list[dict]:
    """Where this build departs from the paper: ``[{"aspect", "paper", "this book"}]``.

    The paper's side is what its text and hyper-parameter table state; the book's side is
    read from the settings each chapter recorded, so it follows the configs.
    """
    settings = {name: r.get("settings", {}) for name, r in records.items()}
    bandit, room, harder = (settings.get(k) for k in ("01_bandit", "02_darkroom", "05_harder_dark_rooms"))
    rows = []

    def row(aspect, paper, book_parts):
        parts = [p for p in book_parts if p]
        rows.append({"aspect": aspect, "paper": paper, "this book": "; ".join(parts) if parts else "—"})

    row("model", "4 layers, width 64, 4 heads, feed-forward 2048, dropout 0.1 (attention 0.5): about 1.1M parameters", [
        bandit and f"bandit: {_model_text(bandit['model'])}",
        room and f"Dark Room: {_model_text(room['model'])}",
        harder and f"Dark Room Hard: {_model_text(harder['hard_model'])}",
        harder and f"Key-to-Door: {_model_text(harder['key_door_model'])}",
    ])
    def budget(name, train):
        return f"{name}: {train['steps']:,} steps of batch {train['batch_size']}, peak {train['lr']:g}"

    row("training", "batch 128, Adam, cosine schedule peaking at 3e-4", [
        bandit and budget("bandit", bandit["train"]),
        room and budget("Dark Room", room["train"]),
        harder and budget("Dark Room Hard", harder["hard_budget"]),
        harder and budget("Key-to-Door", harder["key_door_budget"]),
    ])
    row("source algorithm", "A3C (dark rooms), distributed DQN (Watermaze), UCB (bandits)", [
        bandit and "bandit: optimistic greedy (1a3orn's source) and Thompson sampling",
        room and "Dark Room: tabular Q-learning with optimistic values and ε-greedy exploration",
        harder and ("Dark Room Hard: tabular Q-learning with optimistic values and episode replay; "
                    "Key-to-Door: the same over (cell, rewards so far), privileged state AD never sees"),
    ])
    row("learning histories", "2,000 A3C learning histories per dark room", [
        room and (f"Dark Room: {len(room['source']['goals']) * room['source']['histories_per_goal']:,} histories of "
                  f"{room['source']['n_episodes']} episodes"),
        harder and (f"Dark Room Hard: {len(harder['hard_source']['goals']) * harder['hard_source']['histories_per_goal']:,} "
                    f"histories of {harder['hard_source']['n_episodes']} episodes; Key-to-Door: "
                    f"{len(harder['key_door_source']['pairs']) * harder['key_door_source'].get('histories_per_pair', 1):,} "
                    f"histories of {harder['key_door_source']['n_steps']:,} steps"),
        bandit and f"bandit: {bandit['optimistic_data']['n_histories']:,} histories of {bandit['optimistic_data']['n_steps']} pulls",
    ])
    row("subsampling", "every 10th episode of a history", [
        room and (f"Dark Room: every {room['subsample']}th episode (histories are {room['source']['n_episodes']} episodes long, "
                  f"so every 10th would leave {room['source']['n_episodes'] // 10})"),
    ])
    row("seeds", "5 training seeds × 20 evaluation seeds", [
        bandit and f"bandit: {len(bandit['train_seeds'])} training seeds, each on its own group of bandits",
        room and f"Dark Room: {len(room['train_seeds'])} training seeds × {room['n_eval_seeds']} evaluation seeds",
        harder and (f"harder rooms: {len(harder['train_seeds'])} training seeds (ED {len(harder['ed_seeds'])}) × "
                    f"{harder['n_eval_seeds']} evaluation seeds"),
    ])
    row("actions at evaluation", "not stated for every figure", ["sampled from the model's distribution unless a figure says greedy"])
    row("environments", "Dark Room, Dark Room Hard, Dark Key-to-Door, Watermaze, adversarial bandit",
        ["all but Watermaze (3-D pixels, not attempted on a CPU)"])
    return rows


def rollout_cache_sentence(records: dict[str, dict]) -> str:
    """How many of AD's in-context steps the build ran and how many it loaded from the rollout
    cache, as a sentence for the reproducibility page ("" when none were loaded)."""
    split = [r.get("time_split", {}) for r in records.values()]
    run = sum(float(t.get("in_context_steps", 0.0)) for t in split)
    loaded = sum(float(t.get("in_context_steps_from_cache", 0.0)) for t in split)
    if not loaded:
        return ""
    return (f" This build loaded {loaded / 1e6:,.1f} million of AD's in-context steps from the rollout cache and ran "
            f"{run / 1e6:,.1f} million; the throughput is over the steps it ran.")


def training_compute(records: dict[str, dict]) -> dict[str, dict]:
    """Per chapter (in the records' order): the training runs it uses, how many of them it is the
    first chapter to use (a cold build trains those there), and the FLOPs training those takes.

    Chapters reuse each other's models (chapter 6 trains none of its own), so a run counts only
    where it is first used, and the chapters' FLOPs add up to the cold build's. A record without
    the run list (from before it was kept) is left out.
    """
    seen: set[str] = set()
    rows = {}
    for name, record in records.items():
        runs = record.get("training_runs")
        if not isinstance(runs, dict):
            continue
        new = {run: flops for run, flops in runs.items() if run not in seen}
        seen.update(runs)
        rows[name] = {"runs": len(runs), "first_used": len(new), "flops": float(sum(new.values()))}
    return rows


def model_origins(records: dict[str, dict], manifest: dict) -> dict:
    """Where this build's models came from, from the chapters' records and the shipped weights' manifest.

    Returns ``{"counts": {origin: runs}, "rows": [...]}``: one row per group of runs (a chapter's
    runs that differ only in their seed), in the order the chapters first use them, with where
    their weights came from in this build and, for shipped runs, how `make weights` trained them
    (device, code, wall time, final loss). A run counts once, with its origin in the first chapter
    that used it.
    """
    first: dict[str, tuple[str, str]] = {}  # run id -> (chapter, origin)
    for chapter, record in records.items():
        for rid, origin in (record.get("run_origins") or {}).items():
            first.setdefault(rid, (chapter, origin))
    counts: dict[str, int] = {}
    groups: dict[tuple, dict] = {}
    for rid, (chapter, origin) in first.items():
        counts[origin] = counts.get(origin, 0) + 1
        entry = manifest.get("runs", {}).get(rid)
        name = re.sub(r", seed \d+$", "", entry["name"]) if entry else "(not in the shipped weights)"
        g = groups.setdefault((chapter, name), {"chapter": chapter, "name": name, "seeds": [], "origins": {}, "entries": []})
        g["origins"][origin] = g["origins"].get(origin, 0) + 1
        if entry:
            g["seeds"].append(entry["train_config"]["seed"])
            if origin == "shipped":  # how the shipped file was trained; a model trained or cached here is another file
                g["entries"].append(entry)
    rows = []
    for g in groups.values():
        entries = g["entries"]
        trained = sorted({f"{e['trained']['device']} ({e['trained']['cpu']}), code `{e['trained']['code']}`" for e in entries})
        rows.append({
            "chapter": g["chapter"], "name": g["name"], "seeds": sorted(g["seeds"]),
            "origin": ", ".join(f"{o} ×{n}" if n > 1 else o for o, n in g["origins"].items()),
            "trained_on": "; ".join(trained) if trained else ("this machine" if g["origins"] else "—"),
            "steps": entries[0]["train_config"]["steps"] if entries else None,
            "wall_seconds": [e["trained"]["wall_seconds"] for e in entries],
            "final_loss": [e["loss"]["final"] for e in entries],
        })
    return {"counts": counts, "rows": rows}


def format_flops(flops: float) -> str:
    """``3.0e14`` -> ``"300 TFLOP"``; below a TFLOP in GFLOP, so small runs do not read as 0."""
    flops = float(flops)
    return f"{flops / 1e12:,.0f} TFLOP" if flops >= 1e12 else f"{flops / 1e9:,.0f} GFLOP"


def markdown_table(header, rows) -> str:
    """A Markdown table: ``header`` cells, then one row per sequence of cells."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def format_seconds(seconds: float) -> str:
    """``754.2`` -> ``"754 s (12 min 34 s)"``."""
    seconds = float(seconds)
    minutes, secs = divmod(seconds, 60)
    return f"{seconds:,.0f} s" if minutes < 1 else f"{seconds:,.0f} s ({int(minutes)} min {secs:.0f} s)"


def flatten(value, prefix: str = "", max_items: int = 24) -> list[tuple[str, str]]:
    """A nested record (e.g. a chapter's settings) as ``[(dotted key, value as text)]`` rows.

    Lists longer than ``max_items`` are shown by their length and first items, so a table of
    2,000 task pairs stays readable; everything shorter is shown in full.
    """
    if isinstance(value, dict):
        rows = []
        for k, v in value.items():
            rows += flatten(v, f"{prefix}.{k}" if prefix else str(k), max_items)
        return rows
    if isinstance(value, (list, tuple)):
        items = [json.dumps(v) if isinstance(v, (list, dict)) else str(v) for v in value]
        text = ", ".join(items) if len(items) <= max_items else f"{len(items):,} items: {', '.join(items[:8])}, …"
        return [(prefix, text)]
    return [(prefix, str(value))]
