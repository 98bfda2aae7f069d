"""Config hashing, the artefact cache folder, and atomic file writes.

Expensive artefacts (datasets, checkpoints) are stored under a folder named by a hash of
the config that produced them, so a second build finds and reuses them, and a changed
config can never silently load a stale file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Root of the artefact cache: ``$ADLIB_CACHE_DIR`` or ``<repo>/.adlib_cache``."""
    root = Path(os.environ.get("ADLIB_CACHE_DIR", REPO_ROOT / ".adlib_cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@functools.cache
def package_fingerprint() -> str:
    """A hash of every source file of ``adlib`` as this process loaded it.

    Cached results computed by the package (rollouts) are keyed by it, so any change to the
    code, committed or not, makes them be computed afresh.
    """
    return modules_fingerprint(*(path.stem for path in Path(__file__).resolve().parent.glob("*.py")))


@functools.cache
def modules_fingerprint(*names: str) -> str:
    """A hash of the source files of the named ``adlib`` modules (e.g. ``"sources"``) as this process loaded them."""
    digest = hashlib.sha256()
    for name in sorted(f"{name}.py" for name in names):
        digest.update(name.encode() + b"\0" + (Path(__file__).resolve().parent / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def to_jsonable(obj: Any, for_hash: bool = False) -> Any:
    """Turn dataclasses, tuples and numpy scalars into plain JSON values.

    ``for_hash``: leave out every dataclass field whose ``metadata["hash_omit_if"]`` equals its
    value (and has its type). A field added to a config after artefacts were cached declares the
    value that means "as before" this way, so adding it does not invalidate every cached
    artefact. The value is fixed in the metadata rather than read from the field's default, so
    that changing a default later still changes the hash. Configs that name artefacts (model,
    training and data configs) are hashed, recorded and compared in this form.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name), for_hash) for f in dataclasses.fields(obj)
            if not (for_hash and "hash_omit_if" in f.metadata and _same(getattr(obj, f.name), f.metadata["hash_omit_if"]))
        }
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, for_hash) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, for_hash) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return obj


def _same(value: Any, as_before: Any) -> bool:
    """Equal and of one type: 0 and 0.0 are not False."""
    return type(value) is type(as_before) and value == as_before


def config_hash(*parts: Any) -> str:
    """A short stable hash of one or more configs (dataclasses, dicts, scalars)."""
    blob = json.dumps(to_jsonable(list(parts), for_hash=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    A crash or exception mid-write leaves no half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")
    return path
