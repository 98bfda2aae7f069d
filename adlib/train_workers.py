"""Sharing training runs out among worker processes on a CPU.

For these small models, separate one-thread processes do more work than one process whose
threads wait for each other. Each worker is a fresh Python process that trains one run at a
time with :func:`adlib.training.train_ensemble`, exactly as the calling process would.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import runtime
from .runtime import training_workers
from .training import TrainedRun, model_from_state, save_atomic, train_ensemble

PARALLEL_MIN_TOKENS = 2_000_000
"""Below this many training tokens in all, worker processes are not worth starting (each
takes a few seconds to import torch)."""


def run_tokens(run) -> int:
    """Training tokens of one ``(model_config, train_config, data)`` run."""
    model_config, train_config, _ = run
    return train_config.steps * train_config.batch_size * model_config.context_len


def in_workers(runs, device) -> int:
    """How many worker processes :func:`adlib.run_store.train_runs` trains ``runs`` in (1: in this process)."""
    if torch.device(device).type != "cpu" or os.name != "posix" or sum(run_tokens(r) for r in runs) < PARALLEL_MIN_TOKENS:
        return 1
    return min(training_workers(), len(runs))


def train_in_workers(runs, run_dirs: list[Path], n_workers: int, use_cache: bool, progress: bool, on_done=None) -> tuple[list[TrainedRun], int]:
    """Train ``runs`` in ``n_workers`` worker processes (CPU). Returns the runs, in order, and
    the tokens trained (fewer than planned where a run resumed from a snapshot).
    ``on_done(i, run)``, if given, is called in this process as soon as run ``i`` has finished.

    Workers are fresh Python processes (``python -c``, not ``multiprocessing``, which would
    re-run an unguarded calling script), each holding one end of a pipe. This process hands
    out the runs, largest first, one to each idle worker, and tells the busy workers how many
    threads to use: the cores, shared among the workers still busy.
    """
    cores = runtime.cpu_cores()
    pending = sorted(range(len(runs)), key=lambda i: -run_tokens(runs[i]))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    workers, busy = [], {}  # busy: worker -> the run it trains
    results: dict[int, TrainedRun] = {}
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
                # One that has just ended (its run failed) cannot take the message: the loop reads its error next.
                with contextlib.suppress(OSError):
                    other[1].send(("threads", threads(k, len(busy)), None))

    def model(arrays, model_config):
        return model_from_state({k: torch.from_numpy(v) for k, v in arrays.items()}, model_config, "cpu")

    def finished(i: int, r: dict) -> TrainedRun:
        model_config = runs[i][0]
        return TrainedRun(
            model=model(r["model"], model_config),
            checkpoints={s: model(arrays, model_config) for s, arrays in r["checkpoints"].items()},
            losses=r["losses"], run_dir=run_dirs[i] if use_cache else None, origin="trained",
            tokens_per_second=r["tokens"] / max(r["seconds"], 1e-9), trained_together=n_workers, tokens_trained=r["tokens"],
            wall_seconds=r["seconds"], device="cpu",
        )

    try:
        for _ in range(n_workers):
            ours, theirs = multiprocessing.Pipe()
            command = [sys.executable, "-c", f"from adlib.train_workers import serve; serve({theirs.fileno()})"]
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
                    results[i] = finished(i, payload)
                    if on_done is not None:
                        on_done(i, results[i])
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
    tokens = sum(r.tokens_trained for r in results.values())
    tokens_per_second = tokens / max(time.perf_counter() - t0, 1e-9)
    trained = []
    for i in range(len(runs)):
        run = results[i]
        run.tokens_per_second = tokens_per_second  # the throughput of all workers, as an ensemble's is of all members
        trained.append(run)
        if use_cache:  # the record on disk says the same
            path = run_dirs[i] / "final.pt"
            save_atomic(path, {**torch.load(path, map_location="cpu", weights_only=False),
                               "tokens_per_second": tokens_per_second, "trained_together": n_workers})
    return trained, tokens


def serve(fd: int) -> None:
    """A training worker's loop (see :func:`train_in_workers`): runs in, progress and results out."""
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
            t0 = time.perf_counter()
            [run] = train_ensemble(model_config, [(train_config, data)], [run_dir], use_cache, False, torch.device("cpu"), on_step)
            seconds = time.perf_counter() - t0
        except Exception:
            with contextlib.suppress(OSError):  # the pipe is gone when the caller has given up
                conn.send(("error", i, traceback.format_exc()))
            return
        # As NumPy arrays: plain pickles, whatever torch's own sharing of tensors between processes does.
        as_arrays = lambda model: {k: v.numpy() for k, v in model.state_dict().items()}  # noqa: E731
        conn.send(("done", i, {
            "model": as_arrays(run.model), "losses": run.losses, "tokens": run.tokens_trained, "seconds": seconds,
            "checkpoints": {s: as_arrays(m) for s, m in run.checkpoints.items()},
        }))
