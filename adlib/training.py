"""Training AD: a plain loop, checkpoints, resume, and a cache keyed by config hash.

The loop is deliberately ordinary (AdamW, linear warm-up then cosine decay, gradient
clipping, cross-entropy on every position of every window): the interesting part of AD is
the data, not the optimiser. The runs a chapter needs (its seeds, or its datasets) are
handed over together (:func:`train_runs`), and each ends where it would alone, up to float
rounding. On a CPU with several cores the runs are shared out among worker processes, one
thread per core: for these small models separate one-thread processes do more work than
one process whose threads wait for each other. On a GPU (or one core) runs that differ only
in their seed train as the members of one model, in fewer, larger operations. Measure with
``benchmarks/benchmark.py``.

Artefacts live in ``<cache>/runs/<hash>/``, one folder per run, where the hash covers the
model config, the training config, the dataset's fingerprint and the checkpoint format: a
second build with the same configs loads the finished runs instead of training again; runs
killed half-way resume from their last saved step.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .artifacts import atomic_path, cache_dir, config_hash, to_jsonable
from .data import LearningHistories
from .model import ADConfig, ADTransformer, training_step_flops
from . import runtime
from .runtime import default_device, quiet, seed_everything, timed, training_workers


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for one training run."""

    steps: int = 2000
    """Number of optimiser steps."""
    batch_size: int = 64
    """Windows per step."""
    lr: float = 1e-3
    """Peak learning rate (after warm-up)."""
    min_lr_ratio: float = 0.1
    """Cosine decay ends at ``lr * min_lr_ratio``."""
    warmup_steps: int = 100
    """Linear warm-up steps."""
    weight_decay: float = 0.01
    betas: tuple = (0.9, 0.99)
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value."""
    seed: int = 0
    """Seeds weight init, dropout and window sampling."""
    checkpoint_steps: tuple = ()
    """Steps at which to keep the weights for later evaluation (e.g. early and late)."""
    save_every: int = 500
    """Write a resumable snapshot every this many steps."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("TrainConfig.steps and batch_size must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("TrainConfig.min_lr_ratio must be in [0, 1]")
        if self.warmup_steps < 0 or self.warmup_steps >= self.steps:
            raise ValueError(f"TrainConfig.warmup_steps must be in [0, steps), got {self.warmup_steps}")
        if not self.grad_clip > 0:
            raise ValueError("TrainConfig.grad_clip must be > 0")
        if any(not 1 <= s <= self.steps for s in self.checkpoint_steps):
            raise ValueError(f"checkpoint_steps must lie in [1, {self.steps}], got {self.checkpoint_steps}")
        if self.save_every < 1:
            raise ValueError("TrainConfig.save_every must be >= 1")


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr * min_lr_ratio``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


@dataclass
class TrainedRun:
    """A finished training run: the final model, kept checkpoints, and the loss curve."""

    model: ADTransformer
    checkpoints: dict = field(default_factory=dict)
    """``{step: ADTransformer}`` for each of ``TrainConfig.checkpoint_steps``."""
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Training loss at every step."""
    run_dir: Path | None = None
    from_cache: bool = False
    tokens_per_second: float = float("nan")
    """Training throughput when it was trained: tokens per second summed over the runs trained
    at the same time (see :func:`train_runs`)."""
    trained_together: int = 1
    """How many runs were trained at the same time as it (itself included): as one ensemble,
    or side by side in worker processes."""
    tokens_trained: int = 0
    """Tokens it trained on in the call that trained it (0 when loaded; less than planned after a resume)."""


# Bump when the saved weights change layout, so that no older cache entry is ever loaded.
CHECKPOINT_FORMAT = 2  # 2: weights carry a leading member axis (adlib.model "Members")


def run_directory(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories) -> Path:
    return cache_dir() / "runs" / config_hash(model_config, train_config, data.fingerprint, CHECKPOINT_FORMAT)


def _save(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _model_from_state(state: dict, model_config: ADConfig, device) -> ADTransformer:
    model = ADTransformer(model_config).to(device)
    model.load_state_dict(state)
    return model.eval()


def _load_model(path: Path, model_config: ADConfig, device) -> tuple[ADTransformer, dict]:
    """The model saved in ``path`` (checked against ``model_config``) and the whole saved payload."""
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} is missing; delete its folder {path.parent} and run again to retrain")
    try:
        payload = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # torch reports truncation as e.g. "failed finding central directory"
        raise ValueError(
            f"checkpoint {path} is truncated or corrupted ({e}); delete it (or its folder {path.parent}) "
            f"and run again to retrain"
        ) from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"checkpoint {path} is not an adlib checkpoint; delete it and run again to retrain")
    if payload.get("model_config") != to_jsonable(model_config, for_hash=True):
        raise ValueError(f"checkpoint {path} was saved for another model config")
    return _model_from_state(payload["model"], model_config, device), payload


def _load_run(run_dir: Path, model_config: ADConfig, train_config: TrainConfig, device) -> TrainedRun:
    model, payload = _load_model(run_dir / "final.pt", model_config, device)
    return TrainedRun(
        model=model,
        checkpoints={s: _load_model(run_dir / f"step_{s}.pt", model_config, device)[0] for s in train_config.checkpoint_steps},
        losses=np.asarray(payload["losses"]),
        run_dir=run_dir,
        from_cache=True,
        tokens_per_second=payload.get("tokens_per_second", float("nan")),
        trained_together=payload.get("trained_together", 1),
    )


def clip_grad_norm_per_member(model: ADTransformer, max_norm: float) -> torch.Tensor:
    """Clip each member's global gradient norm to ``max_norm``, as each would be clipped alone.

    Same rule as ``torch.nn.utils.clip_grad_norm_`` (scale by ``max_norm / (norm + 1e-6)`` when
    that is below 1), applied to every member's own gradient. Returns the ``[E]`` norms before clipping.
    """
    E = model.n_members
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norms = torch.stack([g.reshape(E, -1).pow(2).sum(dim=1) for g in grads]).sum(dim=0).sqrt()  # [E]
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(E, *[1] * (g.dim() - 1)))
    return norms


def _check_member(model_config: ADConfig, data: LearningHistories) -> None:
    if data.n_actions != model_config.n_actions:
        raise ValueError(f"dataset has {data.n_actions} actions, model config {model_config.n_actions}")
    if data.n_observations > model_config.n_observations:
        raise ValueError(f"dataset has {data.n_observations} observations, model config only {model_config.n_observations}")
    if model_config.context_len > data.n_steps:
        raise ValueError(f"context_len {model_config.context_len} exceeds history length {data.n_steps}")


PARALLEL_MIN_TOKENS = 2_000_000
"""Below this many training tokens in all, worker processes are not worth starting (each
takes a few seconds to import torch)."""


def train_runs(
    runs: list[tuple[ADConfig, TrainConfig, LearningHistories]],
    use_cache: bool = True,
    progress: bool | None = None,
    device=None,
) -> list[TrainedRun]:
    """Train several runs, of one architecture or several (or load the finished ones from the cache).

    ``runs`` lists ``(model_config, train_config, data)`` triples. Every run is cached on its
    own, so a later call that asks for any of them loads it. The runs not in the cache train:

    - on a CPU (POSIX), with several cores (:func:`~adlib.runtime.training_workers`) and at
      least :data:`PARALLEL_MIN_TOKENS` of work, shared out among worker processes, largest
      first, each worker training one run at a time with its share of the cores; a worker
      that finds no run left gives its cores to those still busy;
    - otherwise, runs that differ only in their seed as the members of one model (see
      :func:`train_together`), the others one after another.

    Either way a run starts from the weights, draws the windows and follows the updates it
    would alone (equal up to float rounding, tested). Hand a chapter's runs over in one call
    where the text allows: the more runs, the better the workers share the cores.
    ``progress``: a progress bar over training steps; by default shown unless :func:`~adlib.runtime.quiet`.
    """
    if not runs:
        raise ValueError("train_runs needs at least one (model_config, train_config, data) run")
    for model_config, _, data in runs:
        _check_member(model_config, data)
    run_dirs = [run_directory(m, c, d) for m, c, d in runs]
    if len(set(run_dirs)) < len(run_dirs):
        raise ValueError("the same run (config, seed and data) is listed twice")
    device = torch.device(device) if device is not None else default_device()
    progress = not quiet() if progress is None else progress
    trained: list[TrainedRun | None] = [None] * len(runs)
    with timed("training") as work:
        todo = []
        for i, ((model_config, train_config, _), run_dir) in enumerate(zip(runs, run_dirs)):
            runtime.note_training_run(run_dir.name, train_config.steps * training_step_flops(model_config, train_config.batch_size))
            if use_cache and (run_dir / "final.pt").exists():
                trained[i] = _load_run(run_dir, model_config, train_config, device)
            else:
                todo.append(i)
        n_workers = in_workers([runs[i] for i in todo], device)
        if n_workers > 1:
            done, tokens = _train_in_workers([runs[i] for i in todo], [run_dirs[i] for i in todo], n_workers, use_cache, progress)
            for i, run in zip(todo, done):
                trained[i] = run
            work["training_tokens"] = tokens
            work["training_flops"] = sum(run.tokens_trained * training_flops_per_token(runs[i][0]) for i, run in zip(todo, done))
        else:
            for group in _ensembles(runs, todo):
                model_config = runs[group[0]][0]
                members = [runs[i][1:] for i in group]
                for i, run in zip(group, _train_ensemble(model_config, members, [run_dirs[i] for i in group], use_cache, progress, device)):
                    trained[i] = run
    return trained


def train_together(
    model_config: ADConfig,
    members: list[tuple[TrainConfig, LearningHistories]],
    use_cache: bool = True,
    progress: bool | None = None,
    device=None,
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
    return train_runs([(model_config, c, d) for c, d in members], use_cache=use_cache, progress=progress, device=device)


def in_workers(runs, device) -> int:
    """How many worker processes :func:`train_runs` trains ``runs`` in (1: in this process)."""
    if torch.device(device).type != "cpu" or os.name != "posix" or sum(_tokens(r) for r in runs) < PARALLEL_MIN_TOKENS:
        return 1
    return min(training_workers(), len(runs))


def training_flops_per_token(model_config: ADConfig) -> float:
    """Training FLOPs per token of a window (:func:`~adlib.model.training_step_flops` is linear in the batch)."""
    return training_step_flops(model_config, 1) / model_config.context_len


def _tokens(run) -> int:
    model_config, train_config, _ = run
    return train_config.steps * train_config.batch_size * model_config.context_len


def _ensembles(runs, todo: list[int]) -> list[list[int]]:
    """``todo`` cut into groups that can train as one ensemble: one architecture, train configs
    equal but for the seed, and no dropout (dropout runs train alone)."""
    groups: dict = {}
    for i in todo:
        model_config, train_config, _ = runs[i]
        dropout = model_config.dropout > 0 or model_config.attn_dropout > 0
        key = (config_hash(model_config, replace(train_config, seed=0)), i if dropout else None)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _train_in_workers(runs, run_dirs: list[Path], n_workers: int, use_cache: bool, progress: bool) -> tuple[list[TrainedRun], int]:
    """Train ``runs`` in ``n_workers`` worker processes (CPU). Returns the runs, in order, and
    the tokens trained (fewer than planned where a run resumed from a snapshot).

    Workers are fresh Python processes (``python -c``, not ``multiprocessing``, which would
    re-run an unguarded calling script), each holding one end of a pipe. This process hands
    out the runs, largest first, one to each idle worker, and tells the busy workers how many
    threads to use: the cores, shared among the workers still busy.
    """
    cores = runtime.cpu_cores()
    pending = sorted(range(len(runs)), key=lambda i: -_tokens(runs[i]))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    workers, busy = [], {}  # busy: worker -> the run it trains
    results: dict[int, dict] = {}
    done_steps = [0] * len(runs)
    bar = tqdm(total=sum(r[1].steps for r in runs), disable=not progress, desc=f"train {len(runs)} runs in {n_workers} processes")
    t0 = time.perf_counter()

    def gone(w) -> RuntimeError:
        during = f" while training run {run_dirs[busy[w]].name}" if w in busy else ""
        return RuntimeError(f"a training worker process ended unexpectedly (exit code {w[0].wait()}){during}; "
                            f"set ADLIB_TRAIN_WORKERS=1 to train in this process")

    def send(w, message) -> None:
        try:
            w[1].send(message)
        except OSError:  # the worker is gone
            raise gone(w) from None

    def threads(k: int, n_busy: int) -> int:  # the k-th of n_busy workers' share of the cores
        return max(1, cores // n_busy + (k < cores % n_busy))

    def hand_out(w) -> None:
        if pending:
            i = pending.pop(0)
            busy[w] = i
            send(w, ("run", threads(workers.index(w), n_workers), (i, *runs[i], run_dirs[i], use_cache)))
        else:
            busy.pop(w, None)
            send(w, ("stop", 0, None))
            for k, other in enumerate(busy):  # the cores this worker leaves go to those still busy
                send(other, ("threads", threads(k, len(busy)), None))

    try:
        for _ in range(n_workers):
            ours, theirs = multiprocessing.Pipe()
            command = [sys.executable, "-c", f"from adlib.training import _serve; _serve({theirs.fileno()})"]
            process = subprocess.Popen(command, env=env, pass_fds=(theirs.fileno(),))
            theirs.close()
            workers.append((process, ours))
        for w in workers:
            hand_out(w)
        while len(results) < len(runs):
            ready = multiprocessing.connection.wait([w[1] for w in busy])  # a message, or a worker's end closing
            for w in [w for w in busy if w[1] in ready]:
                try:
                    kind, i, payload = w[1].recv()
                except EOFError:
                    raise gone(w) from None
                if kind == "error":
                    raise RuntimeError(f"training run {run_dirs[i].name} failed in a worker process:\n{payload}")
                if kind == "step":
                    bar.update(payload - done_steps[i])
                    done_steps[i] = payload
                else:
                    results[i] = payload
                    hand_out(w)
    finally:
        bar.close()
        for process, conn in workers:
            conn.close()  # a worker still waiting for work sees the pipe close and ends
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    tokens = sum(r["tokens"] for r in results.values())
    tokens_per_second = tokens / max(time.perf_counter() - t0, 1e-9)

    def model(arrays, model_config) -> ADTransformer:
        return _model_from_state({k: torch.from_numpy(v) for k, v in arrays.items()}, model_config, "cpu")

    trained = []
    for i, (model_config, _, _) in enumerate(runs):
        r = results[i]
        trained.append(TrainedRun(
            model=model(r["model"], model_config),
            checkpoints={s: model(arrays, model_config) for s, arrays in r["checkpoints"].items()},
            losses=r["losses"], run_dir=run_dirs[i] if use_cache else None, from_cache=False,
            tokens_per_second=tokens_per_second, trained_together=n_workers, tokens_trained=r["tokens"],
        ))
        if use_cache:  # the record on disk gives the throughput of all workers, as an ensemble's does of all members
            _save(run_dirs[i] / "final.pt", {
                **torch.load(run_dirs[i] / "final.pt", map_location="cpu", weights_only=False),
                "tokens_per_second": tokens_per_second, "trained_together": n_workers,
            })
    return trained, tokens


def _serve(fd: int) -> None:
    """A training worker's loop (see :func:`_train_in_workers`): runs in, progress and results out."""
    conn = multiprocessing.connection.Connection(fd)

    def follow(message) -> None:
        kind, threads, _ = message
        if kind in ("run", "threads") and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] == "stop":
            return
        follow(message)
        if message[0] != "run":
            continue
        i, model_config, train_config, data, run_dir, use_cache = message[2]

        def on_step(done: int) -> None:
            conn.send(("step", i, done))
            while conn.poll():  # a thread count, when another worker has finished
                follow(conn.recv())

        try:
            [run] = _train_ensemble(model_config, [(train_config, data)], [run_dir], use_cache, False, torch.device("cpu"), on_step)
        except Exception:
            with contextlib.suppress(OSError):  # the pipe is gone when the caller has given up
                conn.send(("error", i, traceback.format_exc()))
            return
        # As NumPy arrays: plain pickles, whatever torch's own sharing of tensors between processes does.
        as_arrays = lambda model: {k: v.numpy() for k, v in model.state_dict().items()}  # noqa: E731
        conn.send(("done", i, {
            "model": as_arrays(run.model), "losses": run.losses, "tokens": run.tokens_trained,
            "checkpoints": {s: as_arrays(m) for s, m in run.checkpoints.items()},
        }))


def _train_ensemble(model_config, members, run_dirs: list[Path], use_cache: bool, progress: bool, device, on_step=None) -> list[TrainedRun]:
    """Train ``members`` (``(train_config, data)`` pairs differing only in seed) as one ensemble.

    ``on_step(steps_done)``, if given, is called every 25 steps and at the end (worker progress).
    """
    config = members[0][0]  # the shared settings (seeds aside)
    E, A = len(members), model_config.n_actions
    singles = []
    for c, _ in members:  # each member initialised exactly as a run of its own would be
        seed_everything(c.seed)
        singles.append(ADTransformer(model_config))
    model = ADTransformer.stack(singles).to(device)
    rngs = [np.random.default_rng(c.seed) for c, _ in members]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)
    losses: list[list[float]] = []  # per step: one loss per member
    start = 0
    # The resumable snapshot belongs to this set of runs together.
    resume_path = cache_dir() / "runs" / f"together-{config_hash([p.name for p in run_dirs])}" / "resume.pt"
    if use_cache and resume_path.exists():
        snap = torch.load(resume_path, map_location=device, weights_only=False)
        model.load_state_dict(snap["model"])
        optimizer.load_state_dict(snap["optimizer"])
        for rng, state in zip(rngs, snap["numpy_rngs"]):
            rng.bit_generator.state = state
        torch.set_rng_state(snap["torch_rng"])
        losses, start = [list(x) for x in snap["losses"]], snap["step"]

    metas = [{"model_config": to_jsonable(model_config, for_hash=True), "train_config": to_jsonable(c), "data": d.fingerprint} for c, d in members]
    kept: dict[int, list[ADTransformer]] = {}  # step -> each member's weights, at the checkpoints reached in this call
    model.train()
    tokens = 0
    t0 = time.perf_counter()
    desc = "train" if E == 1 else f"train {E} together"
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, disable=not progress, desc=desc)
    with timed("training") as work:
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, config)
            windows = [d.sample_windows(config.batch_size, model_config.context_len, rng, device) for (_, d), rng in zip(members, rngs)]
            obs, prev_a, prev_r, targets = (torch.cat(parts) for parts in zip(*windows))  # [E * B, T], member-major
            logits = model(obs, prev_a, prev_r)  # [E * B, T, A]
            per_token = F.cross_entropy(logits.reshape(-1, A), targets.reshape(-1), reduction="none")
            member_loss = per_token.view(E, -1).mean(dim=1)  # [E]: each member's own mean loss
            optimizer.zero_grad(set_to_none=True)
            member_loss.sum().backward()  # members share no weights, so each gets exactly its own gradient
            clip_grad_norm_per_member(model, config.grad_clip)
            optimizer.step()
            losses.append(member_loss.tolist())
            tokens += targets.numel()
            done = step + 1
            if on_step is not None and (done % 25 == 0 or done == config.steps):
                on_step(done)
            if done % 50 == 0:
                recent = np.mean(losses[-50:], axis=0)
                bar.set_postfix(loss="/".join(f"{x:.3f}" for x in recent), tok_s=f"{tokens / (time.perf_counter() - t0):,.0f}")
            if done in config.checkpoint_steps:
                kept[done] = [model.member(e).eval() for e in range(E)]
                if use_cache:
                    for e, run_dir in enumerate(run_dirs):
                        _save(run_dir / f"step_{done}.pt", {**metas[e], "model": kept[done][e].state_dict(), "step": done})
            if use_cache and done % config.save_every == 0 and done < config.steps:
                _save(resume_path, {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "numpy_rngs": [r.bit_generator.state for r in rngs],
                    "torch_rng": torch.get_rng_state(), "losses": losses, "step": done,
                })
        work["training_tokens"] = tokens
        work["training_flops"] = tokens * training_flops_per_token(model_config)
    bar.close()
    tokens_per_second = tokens / max(time.perf_counter() - t0, 1e-9)
    model.eval()
    per_member_losses = np.asarray(losses, dtype=np.float64).reshape(-1, E).T  # [E, steps]

    runs = []
    for e, ((c, _), run_dir) in enumerate(zip(members, run_dirs)):
        member = model.member(e).eval()
        if use_cache:
            _save(run_dir / "final.pt", {
                **metas[e], "model": member.state_dict(), "losses": per_member_losses[e].tolist(),
                "tokens_per_second": tokens_per_second, "trained_together": E,
            })
        # Checkpoints passed before a resume exist only on disk.
        checkpoints = {
            s: kept[s][e] if s in kept else _load_model(run_dir / f"step_{s}.pt", model_config, device)[0]
            for s in c.checkpoint_steps
        }
        runs.append(TrainedRun(member, checkpoints, per_member_losses[e], run_dir if use_cache else None, False, tokens_per_second, E,
                               tokens // E))
    if use_cache and resume_path.exists():
        resume_path.unlink()
        resume_path.parent.rmdir()
    return runs


def train(
    model_config: ADConfig,
    train_config: TrainConfig,
    data: LearningHistories,
    use_cache: bool = True,
    progress: bool | None = None,
    device=None,
) -> TrainedRun:
    """Train an AD model on ``data`` (or load the finished run from the cache)."""
    return train_together(model_config, [(train_config, data)], use_cache=use_cache, progress=progress, device=device)[0]


def train_seeds(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, seeds, **kwargs) -> list[TrainedRun]:
    """One run per seed (same configs otherwise), trained together, each cached on its own."""
    return train_runs(seed_runs(model_config, train_config, data, seeds), **kwargs)


def seed_runs(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, seeds) -> list[tuple]:
    """One :func:`train_runs` run per seed, same configs and data otherwise."""
    return [(model_config, replace(train_config, seed=int(s)), data) for s in seeds]


def train_groups(groups: dict[str, list[tuple]], **kwargs) -> dict[str, list[TrainedRun]]:
    """:func:`train_runs` over every group's runs at once (so they share the cores), returned by group."""
    names = [name for name, runs in groups.items() for _ in runs]
    trained = train_runs([run for runs in groups.values() for run in runs], **kwargs)
    return {name: [r for n, r in zip(names, trained) if n == name] for name in groups}


def stacked(runs: list[TrainedRun]) -> ADTransformer:
    """The final models of ``runs`` as one model with a member each (to evaluate them in one batch)."""
    return ADTransformer.stack([r.model for r in runs]).eval()
