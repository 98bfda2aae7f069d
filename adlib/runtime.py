"""Seeding, device choice and environment facts, kept in one place."""

from __future__ import annotations

import platform
import random
import sys
import time
from datetime import datetime, timezone

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


def default_device() -> torch.device:
    """CUDA when present, else CPU. Nothing in the book needs a GPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def environment_info() -> dict:
    """Versions of Python and the key packages, for the reproducibility page."""
    import matplotlib

    info = {
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


def run_record(notebook: str, scale: str, seeds: dict, started: float) -> dict:
    """The fields every chapter's results JSON carries for the reproducibility page.

    ``started`` is the ``time.perf_counter()`` value taken when the notebook began.
    """
    return {
        "notebook": notebook,
        "scale": scale,
        "seeds": seeds,
        "runtime_seconds": time.perf_counter() - started,
        "versions": environment_info(),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
