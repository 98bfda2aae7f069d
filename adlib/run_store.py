"""Where a trained run comes from: the local cache, the weights shipped with the book, or training.

A run is a ``(model_config, train_config, data)`` triple, named by a hash of the two configs
and the dataset's fingerprint (:func:`run_id`). :func:`train_runs` looks every run up in this
order and says which happened in :attr:`~adlib.training.TrainedRun.origin`:

1. the local artefact cache (``<cache>/runs/<run id>/``), where runs this machine trained live;
2. the shipped weights (``weights/`` in the repository, or ``$ADLIB_WEIGHTS_DIR``): one file per
   run the full-scale book uses, listed in ``weights/manifest.json`` with its configs, a content
   digest of its training data, the file's SHA-256, how it was trained and its loss curve. A
   shipped file is used only when all of these match what the code asks for now; one that does
   not is an error naming the run, the file and the way out, never a silent retraining;
3. training (:func:`adlib.training.train_ensemble`, in worker processes on a multi-core CPU).

Shipped weights are read-only here: only ``make weights`` (:func:`make_weights`) writes them,
each run's file and manifest entry as soon as that run has finished.
``ADLIB_SHIPPED_WEIGHTS=0`` ignores them (a build from scratch).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import warnings
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import runtime
from .artifacts import REPO_ROOT, atomic_path, cache_dir, config_hash, to_jsonable, write_json
from .data import LearningHistories
from .model import ADConfig, ADTransformer, training_step_flops
from .runtime import default_device, quiet, shipped_weights_enabled, timed
from .train_workers import in_workers, train_in_workers
from .training import (
    CHECKPOINT_FORMAT, TrainConfig, TrainedRun, check_member, ensembles, load_checkpoint, model_from_state,
    train_ensemble, training_flops_per_token,
)

MANIFEST = "manifest.json"
WEIGHTS_FORMAT = 1
"""Layout of a shipped weights file: ``{"model": state_dict, "checkpoints": {step: state_dict}, "losses": [steps]}``."""
REPLAY_STEPS = 50
"""Optimiser steps whose losses the manifest records one by one (replayed by the tests)."""
CURVE_POINTS = 200
"""After the first :data:`REPLAY_STEPS`, the manifest's loss curve is at most this many block means."""


class ShippedWeightsError(ValueError):
    """A shipped weights file is missing, corrupted or does not match what the code asks for."""


def run_id(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories) -> str:
    """The name of a run: a hash of its configs, its data's fingerprint and the checkpoint format."""
    return config_hash(model_config, train_config, data.fingerprint, CHECKPOINT_FORMAT)


def run_directory(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories) -> Path:
    """The run's folder in the local artefact cache."""
    return cache_dir() / "runs" / run_id(model_config, train_config, data)


def weights_dir() -> Path:
    """The shipped weights: ``$ADLIB_WEIGHTS_DIR``, or ``weights/`` beside the ``adlib`` package
    (the repository's, for a clone or an editable install)."""
    return Path(os.environ.get("ADLIB_WEIGHTS_DIR", REPO_ROOT / "weights"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def retrain_command(chapter: str) -> str:
    return f"make weights CHAPTER={chapter}"


class ShippedCheckpoints(dict):
    """A shipped run's checkpoints: only those a chapter reads are shipped; asking for another says so."""

    def __init__(self, checkpoints: dict, run: str) -> None:
        super().__init__(checkpoints)
        self.run = run

    def __missing__(self, step):
        raise KeyError(f"the checkpoint at step {step} of {self.run} is not shipped (only the checkpoints a chapter reads "
                       f"are: mark the run keep_checkpoints in adlib.experiments.book_runs, then run make weights)")


class ShippedWeights:
    """The weights store: a folder of ``<chapter>/<run>.pt`` files and their ``manifest.json``."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else weights_dir()
        self._default = root is None and "ADLIB_WEIGHTS_DIR" not in os.environ
        self._manifest: dict | None = None

    # -- reading ---------------------------------------------------------------------------
    @property
    def manifest(self) -> dict:
        if self._manifest is None:
            path = self.root / MANIFEST
            if not path.exists():
                if not self.root.exists() and self._default:
                    warnings.warn(f"no shipped weights at {self.root}: models will be trained here. Outside a clone of the "
                                  f"repository, set ADLIB_WEIGHTS_DIR to a clone's weights/ folder", stacklevel=2)
                self._manifest = {"format": WEIGHTS_FORMAT, "runs": {}}
            else:
                try:
                    manifest = json.loads(path.read_text())
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    raise ShippedWeightsError(f"{path} is not valid JSON ({e}); restore it with `git checkout -- {path}`") from None
                if manifest.get("format") != WEIGHTS_FORMAT or not isinstance(manifest.get("runs"), dict):
                    raise ShippedWeightsError(f"{path} is not a weights manifest of format {WEIGHTS_FORMAT}; "
                                              f"restore it with `git checkout -- {path}`")
                self._manifest = manifest
        return self._manifest

    def entry(self, rid: str) -> dict | None:
        return self.manifest["runs"].get(rid)

    def mismatches(self, rid: str, model_config: ADConfig, train_config: TrainConfig, data: LearningHistories) -> list[str]:
        """What differs between the manifest's entry ``rid`` and what the code asks for now (empty: it matches)."""
        entry = self.entry(rid)
        if entry is None:
            return ["no shipped weights"]
        problems = []
        if entry["model_config"] != to_jsonable(model_config, for_hash=True):
            problems.append("the model config differs")
        if entry["train_config"] != to_jsonable(train_config, for_hash=True):
            problems.append("the training config differs")
        if entry["data"]["digest"] != data.content_digest():
            problems.append("the training data differ (a source algorithm or an environment behaves differently)")
        return problems

    def file_problem(self, rid: str) -> str | None:
        """Why the file of entry ``rid`` cannot be used (missing, or its SHA-256 differs), or None."""
        entry = self.entry(rid)
        path = self.root / entry["file"]
        if not path.exists():
            return f"{path} is missing"
        if sha256_file(path) != entry["sha256"]:
            return f"{path} is corrupted or was changed (its SHA-256 differs from the manifest's)"
        return None

    def describe(self, rid: str) -> str:
        entry = self.entry(rid)
        return f"{entry['chapter']}: {entry['name']}"

    def load(self, rid: str, model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, device) -> TrainedRun | None:
        """The shipped run ``rid``, verified, or None where none is shipped. Raises :class:`ShippedWeightsError`
        where one is listed but its file or its configs and data do not match."""
        entry = self.entry(rid)
        if entry is None:
            near = [e["name"] for e in self.manifest["runs"].values()
                    if e["data"]["fingerprint"] == data.fingerprint and e["train_config"].get("seed") == train_config.seed]
            if near:  # e.g. a setting changed in a notebook: another model, which trains here
                runtime.log(f"no shipped weights for run {rid}: the shipped {', '.join(near)} used other settings; training it")
            return None
        recover = (f"restore the file with `git checkout -- {self.root / entry['file']}`, or retrain it with "
                   f"`{retrain_command(entry['chapter'])}`")
        problems = self.mismatches(rid, model_config, train_config, data)
        if problems:
            raise ShippedWeightsError(
                f"the shipped weights of run {rid} ({self.describe(rid)}, {self.root / entry['file']}) do not match what "
                f"the code asks for now: {'; '.join(problems)}. Retrain them with `{retrain_command(entry['chapter'])}` "
                f"(or set ADLIB_SHIPPED_WEIGHTS=0 to ignore the shipped weights and train here)"
            )
        problem = self.file_problem(rid)
        if problem:
            raise ShippedWeightsError(f"shipped weights of run {rid} ({self.describe(rid)}): {problem}; {recover}")
        path = self.root / entry["file"]
        try:
            payload = torch.load(path, map_location=device, weights_only=True)
            model = model_from_state(payload["model"], model_config, device)
            checkpoints = ShippedCheckpoints({int(s): model_from_state(state, model_config, device)
                                              for s, state in payload["checkpoints"].items()}, f"run {rid} ({self.describe(rid)})")
            losses = np.asarray(payload["losses"], dtype=np.float64)
        except Exception as e:
            raise ShippedWeightsError(f"shipped weights file {path} cannot be read as run {rid} ({e}); {recover}") from None
        trained = entry["trained"]
        return TrainedRun(model=model, checkpoints=checkpoints, losses=losses, run_dir=None, origin="shipped",
                          tokens_per_second=trained.get("tokens_per_second", float("nan")),
                          trained_together=trained.get("trained_together", 1),
                          wall_seconds=trained.get("wall_seconds", float("nan")), device=trained.get("device", ""))

    # -- writing (make weights only) -------------------------------------------------------
    def add(self, chapter: str, name: str, model_config: ADConfig, train_config: TrainConfig, data: LearningHistories,
            run: TrainedRun, keep_checkpoints: bool, code: str | None = None) -> Path:
        """Write ``run``'s weights file and manifest entry, each atomically (the file first). ``code``:
        the code version that trained it (by default, the work tree's now)."""
        rid = run_id(model_config, train_config, data)
        relative = f"{chapter}/{slug(name)}.pt"
        path = self.root / relative
        payload = {
            "model": {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()},
            "checkpoints": {int(s): {k: v.detach().cpu().contiguous() for k, v in m.state_dict().items()}
                            for s, m in run.checkpoints.items()} if keep_checkpoints else {},
            "losses": torch.as_tensor(np.asarray(run.losses, dtype=np.float32)),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        losses = np.asarray(run.losses, dtype=np.float64)
        every = max(1, -(-(len(losses) - REPLAY_STEPS) // CURVE_POINTS))
        rest = losses[REPLAY_STEPS:]
        entry = {
            "chapter": chapter, "name": name, "file": relative, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "model_config": to_jsonable(model_config, for_hash=True), "train_config": to_jsonable(train_config, for_hash=True),
            "data": {"fingerprint": data.fingerprint, "digest": data.content_digest(), "histories": data.n_histories,
                     "steps": data.n_steps},
            "kept_checkpoints": sorted(int(s) for s in payload["checkpoints"]),
            "trained": {
                "code": code or runtime.code_version(), "device": run.device or "cpu", "cpu": runtime.cpu_name(),
                "torch": torch.__version__, "wall_seconds": round(float(run.wall_seconds), 1),
                "tokens_per_second": round(float(run.tokens_per_second)), "trained_together": run.trained_together,
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
            "loss": {
                "first_steps": [float(x) for x in losses[:REPLAY_STEPS]],
                "block": every,
                "block_means": [round(float(rest[i:i + every].mean()), 5) for i in range(0, len(rest), every)],
                "final": round(float(losses[-min(50, len(losses)):].mean()), 5),
            },
        }
        runs = self.manifest["runs"]
        for other in [k for k, e in runs.items() if e["file"] == relative and k != rid]:
            del runs[other]  # the run this file held before (other settings)
        old = runs.get(rid, {}).get("file")
        runs[rid] = entry
        if old and old != relative and not any(e["file"] == old for e in runs.values()):
            (self.root / old).unlink(missing_ok=True)  # the run's file under its former name
        self._write_manifest()
        return path

    def prune(self, keep: set[str], chapters: set[str]) -> list[str]:
        """Remove the entries (and files) of ``chapters`` that no run of the book asks for any more."""
        gone = [rid for rid, e in self.manifest["runs"].items() if e["chapter"] in chapters and rid not in keep]
        for rid in gone:
            path = self.root / self.manifest["runs"].pop(rid)["file"]
            if path.exists() and not any(e["file"] == str(path.relative_to(self.root)) for e in self.manifest["runs"].values()):
                path.unlink()
        if gone:
            self._write_manifest()
        return gone

    def _write_manifest(self) -> None:
        manifest = {"format": WEIGHTS_FORMAT, "runs": dict(sorted(self.manifest["runs"].items(), key=lambda kv: kv[1]["file"]))}
        self._manifest = manifest
        write_json(self.root / MANIFEST, manifest)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# -- the loading order ---------------------------------------------------------------------------

def _load_cached(run_dir: Path, model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, device) -> TrainedRun | None:
    """The run in the local cache, or None where it was trained on other data than ``data`` (a changed
    source algorithm or environment) or before the cache recorded the data's digest: then it trains again."""
    model, payload = load_checkpoint(run_dir / "final.pt", model_config, device)
    if payload.get("data_digest") != data.content_digest():
        runtime.log(f"run {run_dir.name} in the cache was trained on other data: training it again")
        return None
    return TrainedRun(
        model=model,
        checkpoints={s: load_checkpoint(run_dir / f"step_{s}.pt", model_config, device)[0] for s in train_config.checkpoint_steps},
        losses=np.asarray(payload["losses"]),
        run_dir=run_dir,
        origin="cache",
        tokens_per_second=payload.get("tokens_per_second", float("nan")),
        trained_together=payload.get("trained_together", 1),
        wall_seconds=payload.get("wall_seconds", float("nan")),
        device=payload.get("device", ""),
    )


def train_runs(
    runs: list[tuple[ADConfig, TrainConfig, LearningHistories]],
    use_cache: bool = True,
    progress: bool | None = None,
    device=None,
    shipped: ShippedWeights | None | bool = None,
    on_done=None,
) -> list[TrainedRun]:
    """The trained runs ``runs`` (``(model_config, train_config, data)`` triples), each from the local
    cache, else the shipped weights (verified), else trained; each run's ``origin`` says which.

    ``use_cache``: look in and store to the local cache (``False``: train afresh). ``shipped``: the
    store to look in (by default, with ``use_cache``, :func:`weights_dir`'s unless
    ``ADLIB_SHIPPED_WEIGHTS=0``; ``False``: none).
    ``on_done(i, run)``: called as soon as run ``i`` has been trained (``make weights`` writes it then).

    The runs left to train train:

    - on a CPU (POSIX), with several cores (:func:`~adlib.runtime.training_workers`) and enough
      work (:data:`~adlib.train_workers.PARALLEL_MIN_TOKENS`), shared out among worker
      processes, largest first, each worker training one run at a time with its share of the cores;
    - otherwise, runs that differ only in their seed as the members of one model
      (:func:`~adlib.training.train_ensemble`), the others one after another.

    Either way a run starts from the weights, draws the windows and follows the updates it
    would alone (equal up to float rounding, tested). Hand a chapter's runs over in one call
    where the text allows: the more runs, the better the workers share the cores.
    ``progress``: a progress bar over training steps; by default shown unless :func:`~adlib.runtime.quiet`.
    """
    if not runs:
        raise ValueError("train_runs needs at least one (model_config, train_config, data) run")
    for model_config, _, data in runs:
        check_member(model_config, data)
    run_dirs = [run_directory(m, c, d) for m, c, d in runs]
    if len(set(run_dirs)) < len(run_dirs):
        raise ValueError("the same run (config, seed and data) is listed twice")
    if shipped is None:
        shipped = ShippedWeights() if use_cache and shipped_weights_enabled() else False
    device = torch.device(device) if device is not None else default_device()
    progress = not quiet() if progress is None else progress
    trained: list[TrainedRun | None] = [None] * len(runs)
    with timed("training") as work:
        todo = []
        for i, ((model_config, train_config, data), run_dir) in enumerate(zip(runs, run_dirs)):
            if use_cache and (run_dir / "final.pt").exists():
                trained[i] = _load_cached(run_dir, model_config, train_config, data, device)
            if trained[i] is None and shipped:
                trained[i] = shipped.load(run_dir.name, model_config, train_config, data, device)
            if trained[i] is None:
                todo.append(i)
        n_workers = in_workers([runs[i] for i in todo], device)
        if n_workers > 1:
            done_here = None if on_done is None else (lambda k, run: on_done(todo[k], run))
            done, tokens = train_in_workers([runs[i] for i in todo], [run_dirs[i] for i in todo], n_workers, use_cache, progress,
                                            done_here)
            for i, run in zip(todo, done):
                trained[i] = run
            work["training_tokens"] = tokens
            work["training_flops"] = sum(run.tokens_trained * training_flops_per_token(runs[i][0]) for i, run in zip(todo, done))
        else:
            for group in ensembles(runs, todo):
                model_config = runs[group[0]][0]
                members = [runs[i][1:] for i in group]
                for i, run in zip(group, train_ensemble(model_config, members, [run_dirs[i] for i in group], use_cache, progress, device)):
                    trained[i] = run
                    if on_done is not None:
                        on_done(i, run)
    for (model_config, train_config, _), run_dir, run in zip(runs, run_dirs, trained):
        runtime.note_training_run(run_dir.name, train_config.steps * training_step_flops(model_config, train_config.batch_size),
                                  run.origin)
    return trained


def train_together(
    model_config: ADConfig,
    members: list[tuple[TrainConfig, LearningHistories]],
    use_cache: bool = True,
    progress: bool | None = None,
    device=None,
    shipped=None,
) -> list[TrainedRun]:
    """:func:`train_runs` for runs of one architecture whose train configs differ only in their seed.

    ``members`` lists ``(train_config, data)`` pairs, e.g. one per training seed, or one per
    dataset. Where the runs do not train in worker processes they train as one ensemble
    (:class:`~adlib.model.ADTransformer` members): each member starts from the weights,
    draws the windows and follows the updates it would as a run of its own, in fewer, larger
    operations. With dropout, whose masks come from torch's one global stream, a run trained
    with others would depend on them, so dropout runs train one after another instead.
    """
    if not members:
        raise ValueError("train_together needs at least one (train_config, data) pair")
    first = members[0][0]
    for train_config, _ in members:
        if replace(train_config, seed=first.seed) != first:
            raise ValueError("runs trained together may differ only in TrainConfig.seed")
    return train_runs([(model_config, c, d) for c, d in members], use_cache=use_cache, progress=progress, device=device,
                      shipped=shipped)


def train(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, use_cache: bool = True,
          progress: bool | None = None, device=None, shipped=None) -> TrainedRun:
    """One trained run (from the cache, the shipped weights or training; see :func:`train_runs`)."""
    return train_together(model_config, [(train_config, data)], use_cache=use_cache, progress=progress, device=device,
                          shipped=shipped)[0]


def seed_runs(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, seeds) -> list[tuple]:
    """One :func:`train_runs` run per seed, same configs and data otherwise."""
    return [(model_config, replace(train_config, seed=int(s)), data) for s in seeds]


def train_seeds(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, seeds, **kwargs) -> list[TrainedRun]:
    """One run per seed (same configs otherwise), each looked up or trained on its own (:func:`train_runs`)."""
    return train_runs(seed_runs(model_config, train_config, data, seeds), **kwargs)


def train_groups(groups: dict[str, list[tuple]], **kwargs) -> dict[str, list[TrainedRun]]:
    """:func:`train_runs` over every group's runs at once (so they share the cores), returned by group."""
    names = [name for name, runs in groups.items() for _ in runs]
    trained = train_runs([run for runs in groups.values() for run in runs], **kwargs)
    return {name: [r for n, r in zip(names, trained) if n == name] for name in groups}


def stacked(runs: list[TrainedRun]) -> ADTransformer:
    """The final models of ``runs`` as one model with a member each (to evaluate them in one batch)."""
    return ADTransformer.stack([r.model for r in runs]).eval()


# -- make weights --------------------------------------------------------------------------------

def book_run_data(chapters=None, scale: str = "full") -> list[tuple]:
    """``(BookRun, data)`` for every run the chapters (or ``chapters``) ask for at ``scale``, data loaded once each."""
    from .experiments import book_runs

    specs = [r for r in book_runs(scale) if chapters is None or r.chapter in chapters]
    loaded: dict = {}
    for r in specs:
        if r.data not in loaded:
            loaded[r.data] = r.data.load()
    return [(r, loaded[r.data]) for r in specs]


def stale(store: ShippedWeights, spec, data: LearningHistories) -> list[str]:
    """Why the shipped weights of book run ``spec`` cannot be used as they are (empty: they are current)."""
    rid = run_id(spec.model, spec.train, data)
    wrong = store.mismatches(rid, spec.model, spec.train, data)
    if wrong:
        return wrong
    problem = store.file_problem(rid)
    if problem:
        return [problem]
    if store.entry(rid)["kept_checkpoints"] != (sorted(spec.train.checkpoint_steps) if spec.keep_checkpoints else []):
        return ["its kept checkpoints differ from those the chapter reads"]
    return []


def check_shipped(chapters=None, store: ShippedWeights | None = None, scale: str = "full") -> list[str]:
    """One line per run the full-scale book asks for whose shipped weights are missing or stale
    (configs, data digest, file), each with the command that retrains it. Empty: all current."""
    store = store or ShippedWeights()
    problems = []
    for spec, data in book_run_data(chapters, scale):
        rid = run_id(spec.model, spec.train, data)
        wrong = stale(store, spec, data)
        if wrong:
            problems.append(f"{spec.chapter}: {spec.name} (run {rid}): {'; '.join(wrong)}; retrain with "
                            f"`{retrain_command(spec.chapter)}`")
    return problems


def make_weights(chapters=None, retrain: bool = False, device=None, log=print, scale: str = "full",
                 store: ShippedWeights | None = None) -> dict:
    """Train every run of the full-scale book (or of ``chapters``) whose shipped weights are missing or
    stale, and write each one's file and manifest entry as soon as it has finished. ``retrain``:
    every run, current or not. Returns ``{"trained": [...], "current": [...], "removed": [...], "seconds": s}``."""
    from .experiments import CHAPTERS

    chapters = set(CHAPTERS if not chapters else chapters)
    unknown = chapters - set(CHAPTERS)
    if unknown:
        raise ValueError(f"unknown chapter(s) {sorted(unknown)}; the chapters are {', '.join(CHAPTERS)}")
    start = time.perf_counter()
    code = runtime.code_version()  # when training starts: the work tree may change while it runs
    store = store or ShippedWeights()
    pairs = book_run_data(chapters, scale)
    todo, current = [], []
    for spec, data in pairs:
        if retrain or stale(store, spec, data):
            todo.append((spec, data))
        else:
            current.append(f"{spec.chapter}: {spec.name}")
    log(f"make weights: {len(current)} runs current, {len(todo)} to train "
        f"({', '.join(sorted({s.chapter for s, _ in todo})) or 'none'})")

    def done(i: int, run: TrainedRun) -> None:
        spec, data = todo[i]
        path = store.add(spec.chapter, spec.name, spec.model, spec.train, data, run, spec.keep_checkpoints, code)
        log(f"  wrote {path.relative_to(store.root)} ({spec.chapter}: {spec.name}; {run.wall_seconds:,.0f} s on {run.device}, "
            f"final loss {np.mean(run.losses[-50:]):.4f})")

    if todo:
        train_runs([(s.model, s.train, d) for s, d in todo], use_cache=False, shipped=False, device=device, on_done=done)
    removed = store.prune({run_id(s.model, s.train, d) for s, d in pairs}, chapters)
    return {"trained": [f"{s.chapter}: {s.name}" for s, _ in todo], "current": current, "removed": removed,
            "seconds": time.perf_counter() - start}


def train_book_runs(chapters=None, fresh: bool = True) -> list[TrainedRun]:
    """Every run the full-scale chapters ask for, trained into the local cache, never from the shipped
    weights (``make book-from-scratch`` runs it before building, so that no notebook trains).
    ``fresh``: first remove the trained runs already in the cache."""
    if fresh:
        shutil.rmtree(cache_dir() / "runs", ignore_errors=True)
    return train_runs([(s.model, s.train, d) for s, d in book_run_data(chapters)], shipped=False)


def replay_losses(rid: str, model_config: ADConfig, train_config: TrainConfig, data: LearningHistories,
                  steps: int = REPLAY_STEPS, device="cpu") -> np.ndarray:
    """The losses of the first ``steps`` optimiser steps of run ``rid``'s configs on ``data``, trained
    afresh here (to compare with the manifest's ``loss.first_steps``)."""
    [run] = train_ensemble(model_config, [(train_config, data)], [cache_dir() / "runs" / rid], False, False, torch.device(device),
                           stop_after=steps)
    return np.asarray(run.losses)
