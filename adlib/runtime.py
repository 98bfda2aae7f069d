"""Seeding, device choice and environment facts, kept in one place."""

from __future__ import annotations

import functools
import os
import platform
import random
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch from one integer and return a NumPy generator.

    Library code never draws from global random state: it takes a ``np.random.Generator``
    (or a seed) explicitly. This function exists for the torch side (weight init, dropout),
    which only has global state.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    return np.random.default_rng(int(seed))


def quiet() -> bool:
    """True when the notebooks run unattended (``ADLIB_QUIET=1``, set by ``make book`` and
    ``make test``): no progress bars and no log lines, so built pages show only results."""
    return os.environ.get("ADLIB_QUIET", "0") not in ("", "0")


def switch(name: str) -> bool:
    """An on/off environment variable, on by default: ``1`` or unset is on, ``0`` off, anything else an error."""
    value = os.environ.get(name, "1")
    if value not in ("0", "1"):
        raise ValueError(f"{name} must be 0 or 1, got {value!r}")
    return value == "1"


def rollout_cache_enabled() -> bool:
    """Whether rollouts are kept in and loaded from the artefact cache (``ADLIB_ROLLOUT_CACHE``,
    ``1`` by default; ``0`` runs every rollout afresh, e.g. to time evaluation)."""
    return switch("ADLIB_ROLLOUT_CACHE")


def shipped_weights_enabled() -> bool:
    """Whether :func:`adlib.run_store.train_runs` looks at the shipped weights (``ADLIB_SHIPPED_WEIGHTS``,
    ``1`` by default; ``0`` ignores them, as ``make book-from-scratch`` does)."""
    return switch("ADLIB_SHIPPED_WEIGHTS")


def log(*parts) -> None:
    """A line of progress or throughput for a person running the notebook; silent when
    :func:`quiet` (the built book shows the time split on its reproducibility page instead)."""
    if not quiet():
        print(*parts)


@contextmanager
def stopwatch(what: str) -> Iterator[dict]:
    """Time a block and :func:`log` ``"<what>: 12.3 s"`` when it ends; the dict it yields gets
    ``"seconds"`` then (for a chapter's own records)."""
    clock = {"seconds": 0.0}
    t0 = time.perf_counter()
    try:
        yield clock
    finally:
        clock["seconds"] = time.perf_counter() - t0
        log(f"{what}: {clock['seconds']:.1f} s")


def default_device() -> torch.device:
    """CUDA when present, else CPU. Nothing in the book needs a GPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def training_workers() -> int:
    """How many processes may train runs side by side on a CPU (see :func:`adlib.run_store.train_runs`):
    ``ADLIB_TRAIN_WORKERS`` when set (1 trains everything in this process), else one per core."""
    value = os.environ.get("ADLIB_TRAIN_WORKERS")
    if value is None:
        return cpu_cores()
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(f"ADLIB_TRAIN_WORKERS must be a positive integer, got {value!r}")
    return int(value)


@functools.cache
def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), or what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_version() -> str:
    """The git commit of the code that ran (with "+changes" when the work tree differs), or "unknown"."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def environment_info() -> dict:
    """Versions of Python and the key packages, the code and the machine, for the reproducibility page."""
    import matplotlib

    info = {
        "code": code_version(),
        "cpu": f"{cpu_name()} ({os.cpu_count()} cores)",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "device": str(default_device()),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        import seaborn

        info["seaborn"] = seaborn.__version__
    except ImportError:  # seaborn is a core dependency; this only guards odd installs
        info["seaborn"] = "not installed"
    return info


PHASES = ("data", "training", "evaluation")
"""Where a chapter's time goes, as booked by adlib itself; the rest is plotting and text."""


class _Ledger:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = defaultdict(float)
        self.work: dict[str, float] = defaultdict(float)  # e.g. training tokens
        self.work_seconds: dict[str, float] = defaultdict(float)  # seconds of the blocks that did that work
        self.open: list[str] = []
        self.datasets: dict[str, str] = {}  # fingerprint -> description, in the order first used
        self.training_runs: dict[str, float] = {}  # run id -> FLOPs to train it, trained or loaded
        self.run_origins: dict[str, str] = {}  # run id -> "trained", "cache" or "shipped"


_ledger = _Ledger()


@contextmanager
def timed(phase: str) -> Iterator[dict]:
    """Book the time of a block to ``phase`` (one of :data:`PHASES`).

    Only the outermost block counts its seconds (data generation runs rollouts, which are
    not evaluation). The block may report work it did in the dict it gets (e.g.
    ``work["training_tokens"] = n``); throughput is that work over the block's seconds.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    ledger = _ledger
    work: dict[str, float] = {}
    t0 = time.perf_counter()
    ledger.open.append(phase)
    try:
        yield work
    finally:
        ledger.open.pop()
        dt = time.perf_counter() - t0
        if not ledger.open:
            ledger.seconds[phase] += dt
        for key, amount in work.items():
            ledger.work[key] += amount
            ledger.work_seconds[key] += dt


def work_total(key: str) -> float:
    """How much of one kind of work (e.g. ``"in_context_steps"``) the chapter has booked so far."""
    return _ledger.work.get(key, 0.0)


def note_dataset(description: str, fingerprint: str) -> None:
    """Record a dataset the chapter used (its fingerprint goes into the chapter's record)."""
    _ledger.datasets.setdefault(fingerprint, description)


def note_training_run(name: str, flops: float, origin: str = "trained") -> None:
    """Record a training run the chapter used, the FLOPs training it takes (see
    :func:`adlib.model.training_step_flops`: what a build from scratch must compute for it) and
    where its weights came from (trained here, the local cache or the shipped weights)."""
    _ledger.training_runs[name] = float(flops)
    _ledger.run_origins[name] = origin


def matmul_flops_per_second(size: int = 1024, seconds: float = 1.0) -> float:
    """This machine's float32 matrix-product rate with torch's threads: FLOPs per second of
    ``size x size`` products, repeated for about ``seconds``. Float32 training that does the
    products of :func:`adlib.model.training_step_flops` cannot do them faster."""
    a, b, out = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm-up: thread pool and caches
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or count < 3:
        torch.mm(a, b, out=out)
        count += 1
    return 2 * size**3 * count / elapsed


def start_chapter() -> float:
    """Reset the time ledger at the top of a chapter; returns the start (``time.perf_counter()``)."""
    global _ledger
    _ledger = _Ledger()
    return _ledger.started


def _rate(key: str) -> float | None:
    """Work of one kind per second spent on it, or None where none was booked."""
    return work_total(key) / _ledger.work_seconds[key] if work_total(key) else None


def time_split() -> dict:
    """Seconds per phase since :func:`start_chapter`, and throughput where work was done."""
    total = time.perf_counter() - _ledger.started
    seconds = {phase: _ledger.seconds.get(phase, 0.0) for phase in PHASES}
    seconds["plotting and text"] = max(0.0, total - sum(seconds.values()))
    return {
        "seconds": seconds,
        "training_tokens": work_total("training_tokens"),
        "training_tokens_per_second": _rate("training_tokens"),
        "training_flops": work_total("training_flops"),
        "training_flops_per_second": _rate("training_flops"),
        "in_context_steps": work_total("in_context_steps"),
        "in_context_steps_per_second": _rate("in_context_steps"),
        "in_context_steps_from_cache": work_total("in_context_steps_from_cache"),
    }


def notebooks_at_once() -> int:
    """How many notebooks ``adlib execute-book`` ran side by side, this one included, at most (1 otherwise)."""
    value = os.environ.get("ADLIB_NOTEBOOKS_AT_ONCE", "1")
    return int(value) if value.strip().isdigit() and int(value) >= 1 else 1


def run_record(notebook: str, scale: str, seeds: dict, started: float) -> dict:
    """The fields every chapter's results JSON carries for the reproducibility page.

    ``started`` is the value :func:`start_chapter` returned when the notebook began.
    """
    return {
        "notebook": notebook,
        "scale": scale,
        "seeds": seeds,
        "runtime_seconds": time.perf_counter() - started,
        "notebooks_at_once": notebooks_at_once(),
        "time_split": time_split(),
        "datasets": [{"dataset": d, "fingerprint": f} for f, d in _ledger.datasets.items()],
        "training_runs": dict(_ledger.training_runs),
        "run_origins": dict(_ledger.run_origins),
        "versions": environment_info(),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
