"""Trial records: the variants of chapter 5's settings that `adlib trial` trained and scored.

``adlib trial ROOM ... --record FILE`` appends one JSON line per variant: its command, settings,
machine, training time, final loss and score. The committed records live in ``trials/`` at the
top of the repository. This module reads them back (:func:`read_trials`), renders them as the
chapter's table (:func:`trial_table`) and applies the rule that picks a setting
(:func:`choose`), so that the chapter's "What we tried" is computed from the records, not typed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .artifacts import REPO_ROOT, to_jsonable
from .model import ADConfig
from .report import markdown_table

TRIALS_DIR = REPO_ROOT / "trials"
"""The committed trial records, one JSON-lines file per chapter."""

REQUIRED = ("command", "room", "tasks", "scale", "model", "train", "histories", "training_seconds", "final_loss",
            "first", "last", "eval_seeds", "code", "cpu")
"""Keys every trial record has (``adlib trial --record`` writes them)."""

SELECTION_TOLERANCE = 0.05
"""How far below the best validation score a cheaper setting may be and still be chosen (chapter 5,
"What we tried", says what one seed's scores can and cannot tell apart)."""


def read_trials(path: str | Path) -> list[dict]:
    """The trial records in a JSON-lines file, in the order they were made.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and line
    for a line that is not a JSON object with every key of :data:`REQUIRED` (fix or remove the
    line; ``adlib trial --record`` writes valid ones).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trial records at {path}: run `adlib trial ROOM --record {path}` to make some")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}, line {number}: not JSON ({exc}); fix or remove the line") from None
        missing = [k for k in REQUIRED if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"{path}, line {number}: missing {', '.join(missing)}; fix or remove the line")
        records.append(record)
    return records


def training_tokens(record: dict) -> int:
    """The tokens a trial's training read: optimiser steps x windows per step x context steps."""
    return int(record["train"]["steps"]) * int(record["train"]["batch_size"]) * int(record["model"]["context_len"])


def select(records: list[dict], room: str, tasks: str = "validation", scale: str = "full") -> list[dict]:
    """The records of one room (``"hard"`` or ``"key-to-door"``) scored on ``tasks`` at ``scale``."""
    if room not in ("hard", "key-to-door"):
        raise ValueError(f"room must be 'hard' or 'key-to-door', got {room!r}")
    return [r for r in records if r["room"] == room and r["tasks"] == tasks and r["scale"] == scale]


def choose(records: list[dict], room: str, tolerance: float = SELECTION_TOLERANCE) -> dict:
    """The setting the rule picks for ``room`` from full-scale trials scored on validation tasks.

    The rule: take the best last-episodes score; among the settings within ``tolerance`` of
    it, pick the one that trains on the fewest tokens (ties: the better score). Held-out
    scores never enter. Raises ``ValueError`` when there is no such trial.
    """
    candidates = select(records, room)
    if not candidates:
        raise ValueError(f"no full-scale validation trials for {room!r}: run `adlib trial {room} --record FILE` first")
    best = max(r["last"] for r in candidates)
    close = [r for r in candidates if r["last"] >= best - tolerance]
    return min(close, key=lambda r: (training_tokens(r), -r["last"]))


def matches(record: dict, n_histories: int, model, train) -> bool:
    """Whether a trial trained what a chapter trains: as many histories (on the same training
    tasks), the same model config and the same training config, training seed aside."""
    without_seed = lambda t: {k: v for k, v in t.items() if k != "seed"}  # noqa: E731
    return (record["histories"] == n_histories and record["model"] == to_jsonable(model, for_hash=True)
            and without_seed(record["train"]) == without_seed(to_jsonable(train)))


def variant(records: list[dict], record: dict, **model_changes) -> dict | None:
    """The full-scale validation trial of the same room that differs from ``record`` only in the
    given model settings (e.g. ``coordinate_embedding=False``), or None when there is none."""
    model = to_jsonable(dataclasses.replace(ADConfig(**record["model"]), **model_changes), for_hash=True)  # as records store it
    for other in select(records, record["room"]):
        if (other["model"] == model and other["train"] == record["train"] and other["histories"] == record["histories"]
                and other is not record):
            return other
    return None


def describe(record: dict, n_tasks: int | None = None) -> dict:
    """One trial as the table's cells (strings), keyed by column; with ``n_tasks`` (the training
    tasks) the histories are given per task."""
    model, train = record["model"], record["train"]
    per_task = n_tasks is not None and record["histories"] % n_tasks == 0
    cells = {
        "histories per task" if per_task else "training histories":
            f"{record['histories'] // n_tasks:,}" if per_task else f"{record['histories']:,}",
        "optimiser steps": f"{train['steps']:,}",
        "context": str(model["context_len"]),
        "layers": str(model["n_layers"]),
        "coordinates": "yes" if model.get("coordinate_embedding") else "no",
        "training seed": str(train.get("seed", 0)),
        "machine": (f"{record['cpu']}, {record['cores']} cores" if record.get("device", "cpu") == "cpu" and "cores" in record
                    else str(record.get("device", record["cpu"]))),
        "training": f"{record['training_seconds']:,.0f} s",
        "final loss": f"{record['final_loss']:.3f}",
        f"first {record.get('window_episodes', 10)}": f"{record['first']:.2f}",
        f"last {record.get('window_episodes', 10)}": f"{record['last']:.2f}",
    }
    if "door_after_key_last" in record:
        cells["door after key"] = f"{record['door_after_key_last']:.0%}"
    return cells


def trial_table(records: list[dict], room: str, chosen: dict | None = None,
                n_tasks: int | None = None) -> tuple[list[str], list[list[str]], dict[str, str]]:
    """``(header, rows, shared)`` of the full-scale validation trials of ``room``, in the order they
    were made: a column whose cells are the same in every row moves to ``shared`` (column: value),
    so that the table shows what varied. The ``chosen`` record's cells are in bold; with
    ``n_tasks``, histories are given per task."""
    described = [(record, describe(record, n_tasks)) for record in select(records, room)]
    if not described:
        return [], [], {}
    columns = list(described[0][1])
    shared = {c: described[0][1][c] for c in columns
              if len(described) > 1 and all(cells[c] == described[0][1][c] for _, cells in described)}
    header = [c for c in columns if c not in shared]
    bold = lambda record, v: f"**{v}**" if chosen is not None and record is chosen else v  # noqa: E731
    return header, [[bold(record, cells[c]) for c in header] for record, cells in described], shared


def room_report(records: list[dict], room: str, number: int, n_validation: int, training_tasks: int, per_task: int, model, train,
                eval_episodes: int) -> tuple[str, str, bool]:
    """Chapter 5's "What we tried" for one room, rendered from its validation trials:
    ``(table, pick, used)``. ``table``: "Table 5.<number>" with its caption (the columns, what
    every trial shared, the rule's pick in bold); ``pick``: which setting the rule picks and why,
    and what the records say about the coordinates; ``used``: whether the chapter trains that
    setting (``training_tasks`` tasks x ``per_task`` histories, ``model``, ``train``)."""
    kind = "goal" if room == "hard" else "pair"
    unit = "success rate" if room == "hard" else "return (of 2)"
    chosen = choose(records, room)
    header, rows, shared = trial_table(records, room, chosen, n_tasks=training_tasks)
    table = (f"**Table 5.{number}.** {'Dark Room Hard' if room == 'hard' else 'Key-to-Door'} variants scored on {n_validation} "
             f"validation {kind}s: learning histories per training {kind}, optimiser steps of {train.batch_size} windows, context "
             "(steps), layers, whether the cells' coordinates are also embedded as numbers, training seed, the machine it trained "
             "on and its training time there, final training loss (nats, mean of the last 20 steps), and the "
             f"{unit} over the first and last {chosen.get('window_episodes', 10)} of {eval_episodes} episodes"
             + (" (and how often the door was opened after the key in the last ones)" if room != "hard" else "") + ". "
             + (f"The same in every trial: {', '.join(f'{k} {v}' for k, v in shared.items())}. " if shared else "")
             + "In bold: the rule's pick.\n\n" + markdown_table(header, rows))
    used = matches(chosen, training_tasks * per_task, model, train)
    scored = select(records, room)
    best = max(scored, key=lambda r: r["last"])
    why = ("the only variant scored on them so far" if len(scored) == 1 else "the best score" if best is chosen else
           f"the best score, {best['last']:.2f}, came from {best['train']['steps']:,} steps and {best['histories'] // training_tasks} "
           f"histories per {kind}, {training_tokens(best) / training_tokens(chosen):.0f} times the training tokens")
    with_coordinates = chosen["model"].get("coordinate_embedding", False)
    plain = variant(records, chosen, coordinate_embedding=not with_coordinates)
    pick = (f"the rule picks {chosen['histories'] // training_tasks} histories per {kind} and {chosen['train']['steps']:,} steps"
            f"{' with the coordinates' if with_coordinates else ''} ({chosen['last']:.2f} on the validation {kind}s; {why}), and "
            + ("this chapter uses that setting at full scale." if used else
               "**this chapter does not use it yet**: its models were trained at the setting found earlier, on the held-out tasks."))
    if plain is not None:
        pick += (f" With and without the coordinates at that budget the scores were {chosen['last']:.2f} and {plain['last']:.2f} "
                 f"({'with' if with_coordinates else 'without'} first), one seed each: "
                 + ("well inside the noise, so the trials do not show that the coordinates help."
                    if abs(chosen["last"] - plain["last"]) < SELECTION_TOLERANCE else "a gap beyond the rule's tolerance."))
    return table, pick, used


EARLIER_TIMING_MARKS = {"scratch script": "\\*", "second machine": "†", "third machine": "‡", "second machine, scratch script": "†\\*"}
"""How the earlier variants' table marks a training time not measured by `adlib trial` on the book's machine."""


def earlier_variants_table(path: str | Path, room: str) -> str:
    """Chapter 5's table of the variants scored on the held-out tasks before validation tasks were
    kept apart, rendered from their records (``trials/05_earlier_variants.jsonl``, one line per
    variant, in the order they were tried). The chapter's setting of that time is in bold.
    Raises ``ValueError`` naming the file for a room with no records."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no earlier-variant records at {path}")
    rows = [r for r in map(json.loads, filter(str.strip, path.read_text().splitlines())) if r["room"] == room]
    if not rows:
        raise ValueError(f"{path}: no records for room {room!r}")
    kind = "goal" if room == "hard" else "pair"
    header = [f"histories per {kind}", "optimiser steps", "other change", "training", "final loss", "last 10"]
    header += ["door after key"] if room != "hard" else []

    def cells(r: dict) -> list[str]:
        bold = (lambda v: f"**{v}**") if r.get("chapter_setting_until_validation") else (lambda v: v)  # noqa: E731
        seconds = "—" if r["training_seconds"] is None else f"{r['training_seconds']:,} s{EARLIER_TIMING_MARKS.get(r['timing'], '')}"
        out = [bold(f"{r['histories']:,}"), bold(f"{r['steps']:,}"), r["change"], seconds, f"{r['final_loss']:.3f}", f"{r['last_10']:.2f}"]
        return out + ([f"{r['door_after_key']:.0%}"] if "door_after_key" in r else [])

    return markdown_table(header, [cells(r) for r in rows])
