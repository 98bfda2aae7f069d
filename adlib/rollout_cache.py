"""Rollouts kept in the artefact cache.

Evaluation is most of a rebuilt book's time, and every rollout is a pure function of the
environment's state, the policy, the seed and the code. So a rollout is stored under a hash
of exactly those and loaded when they recur: the same numbers a fresh run computes, without
running it. What goes into the hash: the package's source files as imported, the versions,
processor, device and thread count (they can change float sums, hence sampled actions),
every attribute of the environment, and the policy: an AD model by its configuration and
weights, a prompt by its arrays, a NumPy policy (sources, baselines, scripted agents) by its
pickled state. Only adlib's own classes qualify, used as they are (no subclass, no hook, no
training mode): anything else is simply not cached. After a hit the policy object has not
acted (nothing in the book reads a policy's state after a rollout; each rollout resets it).
The cache folder is trusted as the checkpoints are: restoring the environment unpickles.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from .artifacts import atomic_path, cache_dir, package_fingerprint, to_jsonable
from .model import ADTransformer
from .runtime import cpu_name, rollout_cache_enabled, timed, work_total


CACHE_MIN_STEPS = 50_000
"""Smaller rollouts run about as fast as their file is written and read, so they are not cached."""

_ARRAY_DTYPES = {"observations": np.int64, "actions": np.int64, "rewards": np.float32, "dones": bool, "probs": np.float32}


def model_fingerprint(model: ADTransformer) -> str:
    """A hash of a model's configuration, member count and weights (their exact bytes and dtypes)."""
    # The repr names every module and its settings (an activation swapped for another has no weights).
    digest = hashlib.sha256(json.dumps([to_jsonable(model.config), model.n_members, repr(model)], sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _plain_model(model) -> bool:
    """An :class:`ADTransformer` itself, made of adlib's and torch's modules only, all in eval
    mode, with no hooks that could change its output."""
    modules = list(model.modules())
    own = all(type(m).__module__.startswith(("adlib.model", "torch.nn.")) for m in modules)
    hooked = any(m._forward_hooks or m._forward_pre_hooks for m in modules)
    global_hooks = getattr(torch.nn.modules.module, "_global_forward_hooks", {}) or getattr(
        torch.nn.modules.module, "_global_forward_pre_hooks", {})
    return type(model) is ADTransformer and own and not any(m.training for m in modules) and not hooked and not global_hooks


_TRUSTED_MODULES = ("adlib", "numpy", "builtins", "collections", "copyreg", "_codecs")


class _AdlibOnlyPickler(pickle.Pickler):
    """Pickles only objects whose code the key covers: adlib's (in :func:`package_fingerprint`)
    and NumPy's and Python's (in the versions). An object of any other module, even deep inside
    (a notebook's class in an agent's attribute), makes the state unfit for the key."""

    def reducer_override(self, obj):
        owner = obj if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")) else type(obj)
        module = getattr(owner, "__module__", None) or ""
        if module.split(".")[0] not in _TRUSTED_MODULES:
            raise pickle.PicklingError(f"{module}.{getattr(owner, '__qualname__', owner)} is not adlib's, NumPy's or Python's")
        return NotImplemented


def _pickled(obj) -> bytes:
    """``obj`` pickled with :class:`_AdlibOnlyPickler`."""
    buffer = io.BytesIO()
    _AdlibOnlyPickler(buffer).dump(obj)
    return buffer.getvalue()


def _policy_fingerprint(policy) -> list | None:
    """What determines a policy's actions in a rollout, or None when that cannot be told."""
    from .in_context import InContextPolicy, PromptedPolicy  # which imports this module

    if type(policy) is InContextPolicy:
        # reset() rebuilds the context, so only the model and how it acts matter.
        if not _plain_model(policy.model) or policy.camera is not None:
            return None
        return ["in-context", model_fingerprint(policy.model), bool(policy.greedy), bool(policy.use_kv_cache), str(policy.device)]
    if type(policy) is PromptedPolicy:
        inner = _policy_fingerprint(policy.policy)
        return None if inner is None else ["prompted", inner, [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
                                                               + str(np.asarray(a).dtype) + str(np.shape(a)) for a in policy.prompt]]
    if type(policy).__module__ in ("adlib.sources", "adlib.agents"):  # NumPy state only, so pickling captures all of it
        try:
            return ["pickled", type(policy).__qualname__, hashlib.sha256(_pickled(policy)).hexdigest()]
        except (pickle.PicklingError, TypeError, AttributeError):
            return None
    return None


def _env_state(env) -> dict[str, bytes] | None:
    """Every attribute of an environment of :mod:`adlib.envs`, pickled; None for any other
    environment (its code is not in :func:`package_fingerprint`) or one that cannot be pickled."""
    if any(cls.__module__ != "adlib.envs" for cls in type(env).__mro__[:-1]):
        return None
    try:
        return {name: _pickled(value) for name, value in vars(env).items()}
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


def cached_run(env, policy, n_steps: int, call: tuple, compute) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of the arrays in :data:`_ARRAY_DTYPES`), or what it returned before
    for the same environment state, policy, call arguments and code.

    On a hit the environment is left as the run would have left it (the attributes the run
    changed are stored with the arrays), and the ledger books the steps as loaded, not run.
    """
    large = env.n_envs * n_steps >= CACHE_MIN_STEPS
    fingerprint = _policy_fingerprint(policy) if large and rollout_cache_enabled() else None
    before = _env_state(env) if fingerprint is not None else None
    if before is None:
        return compute()
    key = hashlib.sha256(json.dumps([
        package_fingerprint(), _numerics(), f"{type(env).__module__}.{type(env).__qualname__}",
        {name: hashlib.sha256(blob).hexdigest() for name, blob in sorted(before.items())}, fingerprint, to_jsonable(list(call)),
    ]).encode()).hexdigest()[:24]
    path = cache_dir() / "rollouts" / package_fingerprint() / f"{key}.npz"
    if path.exists():
        with timed("evaluation") as work:
            stored = _load_rollout(path)
            if stored is not None:
                arrays, changed, booked = stored
                for name, blob in changed.items():
                    setattr(env, name, pickle.loads(blob))
                if booked:
                    work["in_context_steps_from_cache"] = booked
                return arrays
    booked = work_total("in_context_steps")
    arrays = compute()
    booked = work_total("in_context_steps") - booked
    after = _env_state(env)
    if after is None or not before.keys() <= after.keys():  # a state that setting attributes cannot restore
        return arrays
    changed = {name: blob for name, blob in after.items() if before.get(name) != blob}
    _drop_other_code_versions(path.parent)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, booked_steps=np.array(booked, dtype=np.int64), **{name: _narrow(a) for name, a in arrays.items() if a is not None},
                     **{f"env.{name}": np.frombuffer(blob, dtype=np.uint8) for name, blob in changed.items()})
    except OSError as error:  # e.g. another process removed the folder: the result stands, only the copy is lost
        warnings.warn(f"could not store the rollout in {path} ({error}); it will run again next time", stacklevel=3)
    return arrays


STALE_AFTER_SECONDS = 3600
"""Another code version's rollouts are removed once untouched this long (a kernel started before
an edit may still be using them)."""

_kept_folders: set[Path] = set()  # the folders this process has already cleaned around


def _drop_other_code_versions(folder: Path) -> None:
    """Remove the rollouts stored by other versions of the code, once per process and cache:
    a book's rollouts take several hundred MB, and only the code that stored them can load them."""
    if folder in _kept_folders:
        return
    _kept_folders.add(folder)
    if folder.parent.is_dir():
        for other in folder.parent.iterdir():
            if other != folder and other.is_dir() and time.time() - other.stat().st_mtime > STALE_AFTER_SECONDS:
                shutil.rmtree(other, ignore_errors=True)


def _numerics() -> list:
    """What besides the code can change a float sum, hence a sampled action: versions, the
    processor and its vector instructions, threads, matmul precision, and the GPU if any."""
    facts = [sys.version.split()[0], torch.__version__, np.__version__, cpu_name(), torch.backends.cpu.get_cpu_capability(),
             torch.get_num_threads(), torch.get_float32_matmul_precision()]
    if torch.cuda.is_available():
        facts += [torch.cuda.get_device_name(), torch.version.cuda, torch.backends.cudnn.version(),
                  torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32]
    return facts


def _narrow(a: np.ndarray) -> np.ndarray:
    """Integer arrays in the smallest type that holds them (observations and actions are small)."""
    if a.dtype.kind in "iu" and a.size:
        for dtype in (np.int8, np.int16, np.int32):
            if np.iinfo(dtype).min <= a.min() and a.max() <= np.iinfo(dtype).max:
                return a.astype(dtype)
    return a


def _load_rollout(path) -> tuple[dict[str, np.ndarray], dict[str, bytes], int] | None:
    """A stored rollout, the environment attributes it changed and the in-context steps it ran;
    None (with a warning) when the file cannot be read, so the rollout runs again and replaces it."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            booked = int(stored["booked_steps"])
            arrays = {name: stored[name].astype(_ARRAY_DTYPES[name]) for name in stored.files if name in _ARRAY_DTYPES}
            changed = {name[4:]: stored[name].tobytes() for name in stored.files if name.startswith("env.")}
        if not {"observations", "actions", "rewards"} <= arrays.keys():
            raise ValueError("observations, actions or rewards missing")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        warnings.warn(f"cached rollout {path} cannot be read ({error}); running the rollout again", stacklevel=3)
        return None
    arrays.setdefault("dones", None)
    return arrays, changed, booked
