"""The chapters' results records, read back for the summary and the reproducibility page.

Every chapter notebook ends by writing one JSON record (:func:`adlib.runtime.run_record` plus
its headline numbers). This module reads a folder of them (:func:`read_records`) and derives
what the summary and reproducibility pages show besides the verdicts (those are in
:mod:`adlib.verdicts`): the deviations from the paper, training compute and where each
model came from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REQUIRED = ("notebook", "scale", "runtime_seconds", "seeds", "versions", "finished_at")
"""Keys that make a JSON object a chapter record."""

CHAPTERS = {
    "01_bandit": "1. Bandit",
    "02_darkroom": "2. Dark Room",
    "03_expert_distillation": "3. ED vs AD",
    "04_out_of_distribution": "4. Out of distribution",
    "05_harder_dark_rooms": "5. Harder dark rooms",
    "06_critique": "6. The critique",
    "06b_model_size": "6b. Model size",
    "07_pixels": "7. Pixels",
}


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


def _model_text(model: dict) -> str:
    from .model import ADConfig, ADTransformer  # torch is only needed for the parameter count

    n = ADTransformer(ADConfig(**model)).n_parameters()
    return (f"{model['n_layers']} layers, width {model['d_model']}, {model['n_heads']} heads, feed-forward {model['d_ff']}, "
            f"{n / 1000:.0f}k parameters, context {model['context_len']} steps"
            + (", reward embedded per action" if model.get("reward_by_action") else "")
            + (", the cell embedded as row + column embeddings" if model.get("grid_size", 0) >= 2 else "")
            + (", the cell's row and column also embedded as numbers" if model.get("coordinate_embedding") else "")
            + (", dropout off" if not model.get("dropout") and not model.get("attn_dropout")
               else f", dropout {model.get('dropout', 0):g} (attention {model.get('attn_dropout', 0):g})"))


def deviations(records: dict[str, dict]) -> list[dict]:
    """Where this build departs from the paper: ``[{"aspect", "paper", "this book"}]``.

    The paper's side is what its text and hyper-parameter table state; the book's side is
    read from the settings each chapter recorded, so it follows the configs.
    """
    settings = {name: r.get("settings", {}) for name, r in records.items()}
    bandit, room, harder, sizes, pixels = (settings.get(k) for k in ("01_bandit", "02_darkroom", "05_harder_dark_rooms", "06b_model_size",
                                                                     "07_pixels"))
    rows = []

    def row(aspect, paper, book_parts):
        parts = [p for p in book_parts if p]
        rows.append({"aspect": aspect, "paper": paper, "this book": "; ".join(parts) if parts else "—"})

    row("model", "4 layers, width 64, 4 heads, feed-forward 2048, dropout 0.1 (attention 0.5): about 1.1M parameters", [
        bandit and f"bandit: {_model_text(bandit['model'])}",
        room and f"Dark Room: {_model_text(room['model'])}",
        harder and f"Dark Room Hard: {_model_text(harder['hard_model'])}",
        harder and f"Key-to-Door: {_model_text(harder['key_door_model'])}",
        sizes and f"also, in chapters 2 and 6b, the paper's Dark Room model ({_model_text(sizes['paper'])}) and one in between "
                  f"({_model_text(sizes['between'])})",
        pixels and f"pixels: {_model_text(pixels['model'])}, each frame encoded by a small convolutional network",
    ])

    def budget(name, train):
        return f"{name}: {train['steps']:,} steps of batch {train['batch_size']}, peak {train['lr']:g}"

    row("training", "batch 128, Adam, cosine schedule peaking at 3e-4", [
        bandit and budget("bandit", bandit["train"]),
        room and budget("Dark Room", room["train"]),
        harder and budget("Dark Room Hard", harder["hard_budget"]),
        harder and budget("Key-to-Door", harder["key_door_budget"]),
        pixels and budget("pixels", pixels["train"]),
    ])
    row("source algorithm", "A3C (dark rooms), distributed DQN (Watermaze), UCB (bandits)", [
        bandit and "bandit: optimistic greedy (1a3orn's source) and Thompson sampling",
        room and "Dark Room: tabular Q-learning with optimistic values and ε-greedy exploration",
        harder and ("Dark Room Hard: tabular Q-learning with optimistic values and episode replay; "
                    "Key-to-Door: the same over (cell, rewards so far), privileged state AD never sees"),
        pixels and "pixels: tabular ε-greedy Q-learning with episode replay over (place, heading), privileged state AD never sees",
    ])
    row("learning histories", "2,000 A3C learning histories per dark room", [
        room and (f"Dark Room: {len(room['source']['goals']) * room['source']['histories_per_goal']:,} histories of "
                  f"{room['source']['n_episodes']} episodes"),
        harder and (f"Dark Room Hard: {len(harder['hard_source']['goals']) * harder['hard_source']['histories_per_goal']:,} "
                    f"histories of {harder['hard_source']['n_episodes']} episodes; Key-to-Door: "
                    f"{len(harder['key_door_source']['pairs']) * harder['key_door_source'].get('histories_per_pair', 1):,} "
                    f"histories of {harder['key_door_source']['n_steps']:,} steps"),
        bandit and f"bandit: {bandit['optimistic_data']['n_histories']:,} histories of {bandit['optimistic_data']['n_steps']} pulls",
        pixels and (f"pixels: {len(pixels['source']['goals']) * pixels['source']['histories_per_goal']:,} histories of "
                    f"{pixels['source']['n_episodes']} episodes"),
    ])
    row("subsampling", "every 10th episode of a history", [
        room and (f"Dark Room: every {room['subsample']}th episode (histories are {room['source']['n_episodes']} episodes long, "
                  f"so every 10th would leave {room['source']['n_episodes'] // 10})"),
    ])
    row("seeds", "5 training seeds × 20 evaluation seeds", [
        bandit and f"bandit: {len(bandit['train_seeds'])} training seeds, each on its own group of bandits",
        room and f"Dark Room: {len(room['train_seeds'])} training seeds × {room['n_eval_seeds']} evaluation seeds",
        harder and (f"Dark Room Hard: {len(harder['train_seeds'])} training seeds (ED {len(harder['ed_seeds'])}), Key-to-Door: "
                    f"{len(harder['key_door_seeds'])} (AD and ED) × {harder['n_eval_seeds']} evaluation seeds"),
    ])
    row("actions at evaluation", "not stated for every figure", ["sampled from the model's distribution unless a figure says greedy"])
    row("environments", "Dark Room, Dark Room Hard, Dark Key-to-Door, Watermaze, adversarial bandit", [
        "Dark Room, Dark Room Hard, Dark Key-to-Door and the bandit as in the paper",
        pixels and (f"Watermaze replaced by a small Miniworld room: {pixels['room']['size']}x{pixels['room']['size']} places, 4 headings, "
                    f"{pixels['room']['frame_size']}x{pixels['room']['frame_size']} noisy frames, a hidden goal cell"),
        not pixels and "no Watermaze (chapter 7 is not in this build)",
    ])
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
