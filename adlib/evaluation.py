"""Batched rollouts of any policy, the in-context AD policy, and bandit metrics.

:func:`rollout` runs one policy in a batch of environments and records everything; the
same function records source learning histories (in :mod:`adlib.data`) and evaluates AD,
so the two cannot drift apart. Give two policies environments built from the same tasks
and seed and they share common random numbers (see :mod:`adlib.envs`).
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .artifacts import atomic_path, cache_dir, package_fingerprint, to_jsonable
from .envs import DarkRoomEnv, KeyToDoorEnv, darkroom_optimal_return, distance_to_nearest
from .model import ADTransformer
from .runtime import cpu_name, quiet, rollout_cache_enabled, timed, work_total
from .sources import useful_moves


@dataclass
class Trajectories:
    """What happened in a batch of rollouts, each array ``[n_envs, n_steps]``."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray | None = None
    """True where the step ended an episode (episodic environments only)."""


def member_chunks(n_envs: int, n_members: int, chunk_size: int) -> list[np.ndarray]:
    """Index sets that cut a member-major batch into chunks of about ``chunk_size`` environments.

    With ``n_members`` = E, rows ``[e*B, (e+1)*B)`` belong to member e of an ensemble policy;
    every chunk takes the same slice of each member's block, so it is member-major again.
    With one member these are plain contiguous chunks.
    """
    if n_envs % n_members:
        raise ValueError(f"{n_envs} environments cannot be split evenly among {n_members} members")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    per_member = n_envs // n_members
    size = max(1, chunk_size // n_members)
    return [
        (np.arange(n_members)[:, None] * per_member + np.arange(lo, min(lo + size, per_member))[None, :]).ravel()
        for lo in range(0, per_member, size)
    ]


def rollout(
    env, policy, n_steps: int, seed: int, chunk_size: int | None = None, progress: bool | None = None, until_episodes: int | None = None,
    cache: bool = True,
) -> Trajectories:
    """Run ``policy`` for ``n_steps`` in every environment of ``env``.

    A rollout is fully determined by the environment's state, the policy, the seed and the
    code, so one whose policy can be fingerprinted (AD models, the sources and baselines) is
    kept in the artefact cache under a hash of all of them and loaded from there next time,
    environment state after the run included (:func:`_cached_run`). ``cache=False`` skips that
    (learning histories have their own cache); ``ADLIB_ROLLOUT_CACHE=0`` turns it off for all.

    Environments are processed in chunks of ``chunk_size`` (all at once by default) to bound
    memory, e.g. the KV cache of an AD policy; an ensemble policy (``n_members`` > 1) gets
    member-major chunks (:func:`member_chunks`). The policy's random stream is seeded from
    ``(seed, chunk index)``.

    With ``until_episodes`` = k (episodic environments whose episodes can end early), a chunk
    stops as soon as each of its environments has finished k episodes; the arrays are then
    as long as the longest chunk ran, and steps a chunk did not run are zeros with no ``done``.

    ``progress``: a progress bar; by default shown for rollouts of a million steps or more,
    unless :func:`~adlib.runtime.quiet`.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if until_episodes is not None and not hasattr(env, "done"):
        raise ValueError("until_episodes needs an episodic environment (one with a done flag)")
    compute = lambda: _run(env, policy, n_steps, seed, chunk_size, progress, until_episodes).__dict__  # noqa: E731
    if not cache:
        return Trajectories(**compute())
    return Trajectories(**_cached_run(env, policy, n_steps, ("rollout", n_steps, seed, chunk_size, until_episodes), compute))


def _run(env, policy, n_steps: int, seed: int, chunk_size: int | None, progress: bool | None, until_episodes: int | None) -> Trajectories:
    """:func:`rollout`'s loop, with no cache."""
    n = env.n_envs
    chunks = member_chunks(n, getattr(policy, "n_members", 1), n if chunk_size is None else chunk_size)
    obs_out = np.zeros((n, n_steps), dtype=np.int64)
    act_out = np.zeros((n, n_steps), dtype=np.int64)
    rew_out = np.zeros((n, n_steps), dtype=np.float32)
    done_out = np.zeros((n, n_steps), dtype=bool)
    show = (n * n_steps >= 1_000_000 and not quiet()) if progress is None else progress
    bar = tqdm(total=n * n_steps, unit="step", unit_scale=True, disable=not show, desc=getattr(policy, "name", "rollout"))
    steps_run, in_context_steps = 0, 0
    with timed("evaluation") as work:
        for c, part in enumerate(chunks):
            sub = env.subset(part) if len(chunks) > 1 else env
            policy.reset(sub.n_envs, np.random.default_rng([seed, c]))
            obs = sub.reset()
            episodes = np.zeros(sub.n_envs, dtype=np.int64)
            for t in range(n_steps):
                if until_episodes is not None and episodes.min() >= until_episodes:
                    break
                actions = policy.act(obs)
                next_obs, rewards = sub.step(actions)
                done = getattr(sub, "done", None)
                policy.observe(
                    actions, rewards, next_obs=getattr(sub, "final_observations", next_obs), done=done,
                    terminated=getattr(sub, "terminated", None),
                )
                obs_out[part, t], act_out[part, t], rew_out[part, t] = obs, actions, rewards
                if done is not None:
                    done_out[part, t] = done
                    episodes += done
                obs = next_obs
            else:
                t = n_steps
            steps_run, in_context_steps = max(steps_run, t), in_context_steps + sub.n_envs * t
            bar.update(sub.n_envs * n_steps)
        if getattr(policy, "in_context", False):
            work["in_context_steps"] = in_context_steps
    bar.close()
    keep = slice(0, steps_run)
    return Trajectories(obs_out[:, keep], act_out[:, keep], rew_out[:, keep], done_out[:, keep] if hasattr(env, "done") else None)


class InContextPolicy:
    """A frozen AD model acting in a batch of environments, learning only through its context.

    The agent API of the book. In a batch of environments::

        agent = InContextPolicy(model)           # sampled actions; greedy=True for argmax
        agent.reset(n_envs, rng)                 # empty context
        actions = agent.act(observations)        # [n_envs] -> [n_envs]
        agent.observe(actions, rewards)          # the outcome joins the context

    or let :func:`rollout` drive it; in any Gymnasium environment with the same Discrete
    spaces, :func:`run_gymnasium` does the same loop. The KV cache holds at most
    ``context_len`` steps, so each step costs the same in episode 100 as in episode 2.

    A model with several members (e.g. :func:`adlib.run_store.stacked` over the training seeds)
    acts in ``n_members * B`` environments at once, member-major: environments
    ``[e*B, (e+1)*B)`` are member e's.

    Args:
        model: a trained :class:`ADTransformer` (put in eval mode here).
        greedy: take the most likely action (True) or sample from the model's distribution (False).
        use_kv_cache: incremental inference (one token per step). Without it every step
            re-runs the model over the whole history so far: same actions, O(T) times slower;
            kept for the equivalence test and the benchmark.
    """

    in_context = True  # its steps count as in-context steps (throughput on the reproducibility page)

    def __init__(self, model: ADTransformer, greedy: bool = False, use_kv_cache: bool = True, name: str = "AD"):
        self.model = model.eval()
        self.greedy = greedy
        self.use_kv_cache = use_kv_cache
        self.name = name
        self.n_actions = model.config.n_actions
        self.n_members = model.n_members
        self.device = next(model.parameters()).device

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        if n_envs % self.n_members:
            raise ValueError(f"{n_envs} environments cannot be split evenly among the model's {self.n_members} members")
        self.rng = rng
        self.prev_actions = torch.full((n_envs,), self.model.start_action, dtype=torch.long, device=self.device)
        self.prev_rewards = torch.zeros(n_envs, device=self.device)
        self.cache = self.model.new_cache(n_envs) if self.use_kv_cache else None
        self.history: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.last_probs: np.ndarray | None = None

    @torch.inference_mode()
    def prompt(self, observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Fill the context with a given history (``[n_envs, T]`` each) before acting.

        Call after :meth:`reset`. The model reads the prompt exactly as if it had acted it
        out itself; its next action then continues from the prompt's last step.
        """
        observations, actions, rewards = np.asarray(observations), np.asarray(actions), np.asarray(rewards)
        if not observations.shape == actions.shape == rewards.shape or observations.shape[0] != len(self.prev_actions):
            raise ValueError(f"a prompt needs [n_envs={len(self.prev_actions)}, T] observations, actions and rewards")
        for t in range(observations.shape[1]):
            self.action_probs(observations[:, t])
            self.observe(actions[:, t], rewards[:, t])

    @torch.inference_mode()
    def action_probs(self, obs: np.ndarray) -> np.ndarray:
        """The model's distribution over the next action, ``[n_envs, n_actions]``; advances the context."""
        obs_t = torch.as_tensor(np.asarray(obs), dtype=torch.long, device=self.device)
        if self.use_kv_cache:
            logits = self.model.step(self.cache, obs_t, self.prev_actions, self.prev_rewards)
        else:
            self.history.append((obs_t, self.prev_actions, self.prev_rewards))
            o, a, r = (torch.stack(x, dim=1) for x in zip(*self.history))
            logits = self.model(o, a, r)[:, -1]
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    def act(self, obs: np.ndarray) -> np.ndarray:
        probs = self.action_probs(obs)
        self.last_probs = probs
        if self.greedy:
            return probs.argmax(axis=1)
        # Inverse-CDF sampling from our own NumPy stream keeps runs reproducible.
        u = self.rng.random((len(probs), 1))
        return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), self.n_actions - 1)

    def observe(self, actions: np.ndarray, rewards: np.ndarray, **transition) -> None:
        self.prev_actions = torch.as_tensor(np.asarray(actions), dtype=torch.long, device=self.device)
        self.prev_rewards = torch.as_tensor(np.asarray(rewards), dtype=torch.float32, device=self.device)


class PromptedPolicy:
    """An in-context policy whose every rollout starts from a given prompt (e.g. demonstrations)."""

    in_context = True

    def __init__(self, policy: InContextPolicy, observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray):
        self.policy, self.prompt = policy, (observations, actions, rewards)
        self.n_actions, self.n_members, self.name = policy.n_actions, policy.n_members, f"{policy.name} (prompted)"

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.policy.reset(n_envs, rng)
        self.policy.prompt(*self.prompt)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.act(obs)

    def observe(self, actions, rewards, **transition) -> None:
        self.policy.observe(actions, rewards, **transition)


class _RecordingPolicy:
    """Wraps an :class:`InContextPolicy` and keeps the distribution it sampled each action from."""

    in_context = True

    def __init__(self, policy: InContextPolicy):
        self.policy, self.n_actions, self.n_members, self.name = policy, policy.n_actions, policy.n_members, policy.name
        self.probs: list[np.ndarray] = []

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.policy.reset(n_envs, rng)
        self.probs = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = self.policy.act(obs)
        self.probs.append(self.policy.last_probs)
        return actions

    def observe(self, actions, rewards, **transition) -> None:
        self.policy.observe(actions, rewards, **transition)


def in_context_trace(policy: InContextPolicy, env, n_steps: int, seed: int) -> tuple[Trajectories, np.ndarray]:
    """A rollout that also keeps the policy's action distribution at every step.

    Returns the trajectories and ``[n_envs, n_steps, n_actions]`` probabilities: at step t,
    what the model would have done given the context before it. Meant for a few tasks (the
    book's explorer); it keeps everything in memory. Cached like :func:`rollout`.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")

    def run() -> dict:
        recorder = _RecordingPolicy(policy)
        traj = _run(env, recorder, n_steps, seed, None, None, None)
        return {**traj.__dict__, "probs": np.stack(recorder.probs, axis=1)}

    arrays = _cached_run(env, policy, n_steps, ("trace", n_steps, seed), run)
    probs = arrays.pop("probs")
    return Trajectories(**arrays), probs


# --- Rollouts kept in the artefact cache -----------------------------------------------------
#
# Evaluation is most of a rebuilt book's time, and every rollout is a pure function of the
# environment's state, the policy, the seed and the code. So a rollout is stored under a hash
# of exactly those and loaded when they recur: the same numbers a fresh run computes, without
# running it. What goes into the hash: the package's source files as imported, the versions,
# processor, device and thread count (they can change float sums, hence sampled actions),
# every attribute of the environment, and the policy: an AD model by its configuration and
# weights, a prompt by its arrays, a NumPy policy (sources, baselines, scripted agents) by its
# pickled state. Only adlib's own classes qualify, used as they are (no subclass, no hook, no
# training mode): anything else is simply not cached. After a hit the policy object has not
# acted (nothing in the book reads a policy's state after a rollout; each rollout resets it).
# The cache folder is trusted as the checkpoints are: restoring the environment unpickles.

package_fingerprint()  # read the package's sources now, as this process imports them

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
    if type(policy) is InContextPolicy:
        # reset() rebuilds the context, so only the model and how it acts matter.
        if not _plain_model(policy.model):
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


def _cached_run(env, policy, n_steps: int, call: tuple, compute) -> dict[str, np.ndarray]:
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


@dataclass
class BanditMetrics:
    """Per-step bandit metrics, each ``[n_runs, n_steps]``."""

    actions: np.ndarray
    """The arm pulled."""
    best_arm: np.ndarray
    """True where the chosen arm was the task's best arm."""
    regret: np.ndarray
    """Best arm's mean minus the chosen arm's mean (expected, not sampled, regret)."""

    @property
    def pct_best_arm(self) -> np.ndarray:
        """``[n_steps]`` percentage of runs choosing the best arm at each step."""
        return 100.0 * self.best_arm.mean(axis=0)

    @property
    def cumulative_regret(self) -> np.ndarray:
        """``[n_steps]`` mean cumulative regret after each step."""
        return self.regret.cumsum(axis=1).mean(axis=0)


def bandit_metrics(tasks, trajectories: Trajectories) -> BanditMetrics:
    actions = trajectories.actions
    if actions.shape[0] != tasks.n_tasks:
        raise ValueError(f"{actions.shape[0]} rollouts for {tasks.n_tasks} tasks")
    return BanditMetrics(actions=actions, best_arm=actions == tasks.best_arm[:, None], regret=tasks.regret(actions))


def evaluate_bandit_policy(policy, tasks, n_steps: int, seed: int, chunk_size: int | None = None, progress: bool | None = None) -> BanditMetrics:
    """Roll ``policy`` out on ``tasks`` with the reward tape of ``seed`` and score it."""
    traj = rollout(tasks.env(n_steps, seed=seed), policy, n_steps, seed=seed, chunk_size=chunk_size, progress=progress)
    return bandit_metrics(tasks, traj)


@dataclass
class GroupedBanditMetrics:
    """Bandit metrics for one method over several groups of tasks (one group per seed)."""

    groups: list
    """One :class:`BanditMetrics` per group."""
    n_runs: int
    """Total number of rollouts over all groups."""

    @property
    def pct_best_arm(self) -> np.ndarray:
        """``[n_groups, n_steps]`` % of runs choosing the best arm, per group."""
        return np.stack([g.pct_best_arm for g in self.groups])

    @property
    def cumulative_regret(self) -> np.ndarray:
        """``[n_groups, n_steps]`` mean cumulative regret, per group."""
        return np.stack([g.cumulative_regret for g in self.groups])

    @staticmethod
    def _mean_std(per_group: np.ndarray) -> tuple[float, float]:
        std = float(per_group.std(ddof=1)) if len(per_group) > 1 else 0.0
        return float(per_group.mean()), std

    def pct_best_arm_at(self, step: int) -> tuple[float, float]:
        """% best arm at ``step`` (1-based): (mean, std) over groups."""
        return self._mean_std(self.pct_best_arm[:, step - 1])

    def mean_pct_best_arm(self, first: int, last: int) -> tuple[float, float]:
        """% best arm averaged over steps ``first..last`` (1-based, inclusive): (mean, std) over groups."""
        return self._mean_std(self.pct_best_arm[:, first - 1:last].mean(axis=1))

    def regret_at(self, step: int) -> tuple[float, float]:
        """Cumulative regret after ``step`` steps: (mean, std) over groups."""
        return self._mean_std(self.cumulative_regret[:, step - 1])

    def pct_pulls_of(self, arms, first: int, last: int) -> tuple[float, float]:
        """% of the pulls at steps ``first..last`` (1-based, inclusive) that went to one of ``arms``."""
        return self._mean_std(np.array([100.0 * np.isin(g.actions[:, first - 1:last], list(arms)).mean() for g in self.groups]))

    def pct_runs_tried(self, arms, by_step: int) -> tuple[float, float]:
        """% of runs that pulled one of ``arms`` at least once in their first ``by_step`` steps."""
        return self._mean_std(np.array([100.0 * np.isin(g.actions[:, :by_step], list(arms)).any(axis=1).mean() for g in self.groups]))

    def horizon_trend(self, horizon: int, window: int = 10) -> dict:
        """Does the method keep improving after ``horizon`` steps (e.g. AD's training length)?

        For each group (a training seed, for AD), the change in % best arm from the last
        ``window`` steps up to ``horizon`` to the last ``window`` steps of the run. The trend is
        "improves" or "degrades" when that paired change is away from zero by the 2-std rule of
        :func:`compare`, else "flat".
        """
        curves = self.pct_best_arm
        n_steps = curves.shape[1]
        if not window <= horizon < n_steps:
            raise ValueError(f"need window <= horizon < n_steps, got window={window}, horizon={horizon}, n_steps={n_steps}")
        at_horizon = self.mean_pct_best_arm(horizon - window + 1, horizon)
        at_end = self.mean_pct_best_arm(n_steps - window + 1, n_steps)
        per_group = curves[:, -window:].mean(axis=1) - curves[:, horizon - window:horizon].mean(axis=1)
        change = self._mean_std(per_group)
        verdict = compare(change, (0.0, 0.0))
        return {"window": window, "at_horizon": at_horizon, "at_end": at_end, "end_step": n_steps,
                "trend": {"above": "improves", "below": "degrades", "level with": "flat"}[verdict],
                "change": {"mean": change[0], "std": change[1], "per_group": per_group.tolist(),
                           "distinguishable": verdict != "level with"}}

    def summary(self, steps=(11, 100)) -> dict:
        """Mean and standard deviation over groups of % best arm at ``steps`` (1-based) and regret."""
        out = {"n_runs": self.n_runs, "n_groups": len(self.groups)}
        for s in steps:
            if s <= self.pct_best_arm.shape[1]:
                out[f"pct_best_arm_step_{s}"] = dict(zip(("mean", "std"), self.pct_best_arm_at(s)))
                out[f"regret_step_{s}"] = dict(zip(("mean", "std"), self.regret_at(s)))
        return out


def compare(a: tuple[float, float], b: tuple[float, float], min_margin: float = 1.0) -> str:
    """'above', 'below' or 'level with': is estimate ``a = (mean, std)`` clearly different from ``b``?

    Clearly means a gap larger than two of ``a``'s standard deviations over seeds, and at
    least ``min_margin`` (so three nearly identical seeds cannot make a 0.1-point gap count).
    """
    margin = max(2 * a[1], min_margin)
    if a[0] > b[0] + margin:
        return "above"
    if a[0] < b[0] - margin:
        return "below"
    return "level with"


def why_level(a: tuple[float, float], b: tuple[float, float], n_seeds: int, min_margin: float = 1.0) -> str:
    """Why :func:`compare` calls ``a`` and ``b`` level, in words for a caption: the spread over
    seeds hides the gap, or the gap is real but smaller than the ``min_margin`` the book treats
    as meaningful. Empty when :func:`compare` separates them."""
    if compare(a, b, min_margin) != "level with":
        return ""
    if abs(a[0] - b[0]) > 2 * a[1]:
        return f"a gap of {a[0] - b[0]:+.2f}, beyond 2 std but within the {min_margin:g}-point margin the book treats as level"
    return f"not distinguishable with {n_seeds} seeds"


def evaluate_bandit_groups(
    policy, tasks, n_groups: int, n_steps: int, seed: int, chunk_size: int | None = None, progress: bool | None = None
) -> GroupedBanditMetrics:
    """Evaluate a method on ``tasks`` split into ``n_groups`` groups.

    ``policy`` is either a function ``g -> policy for group g`` (the same baseline for every
    group, one rollout per group), or one ensemble policy with ``n_members == n_groups``
    (e.g. the AD models of all training seeds stacked): member g plays group g, all groups in
    one batched rollout, which needs ``n_tasks`` divisible by ``n_groups``. Either way the
    spread over groups covers training seeds. The reward tape comes from ``seed`` over all
    tasks, so every method evaluated with the same tasks and seed faces the same rewards
    (common random numbers).
    """
    if not 1 <= n_groups <= tasks.n_tasks:
        raise ValueError(f"n_groups must be in [1, {tasks.n_tasks}], got {n_groups}")
    env = tasks.env(n_steps, seed=seed)
    index = np.array_split(np.arange(tasks.n_tasks), n_groups)
    if not callable(policy):
        if not hasattr(policy, "n_members"):
            raise ValueError("policy must be a function g -> policy, or an in-context policy whose model has one member per group")
        if policy.n_members != n_groups:
            raise ValueError(f"an ensemble policy evaluated in {n_groups} groups needs {n_groups} members, not {policy.n_members}")
        traj = rollout(env, policy, n_steps, seed=seed, chunk_size=chunk_size, progress=progress)
        return GroupedBanditMetrics([bandit_metrics(tasks[i], _take(traj, i)) for i in index], tasks.n_tasks)
    groups = []
    for g, i in enumerate(index):
        traj = rollout(env.subset(i), policy(g), n_steps, seed=seed + g, chunk_size=chunk_size, progress=progress)
        groups.append(bandit_metrics(tasks[i], traj))
    return GroupedBanditMetrics(groups, tasks.n_tasks)


def _take(traj: Trajectories, index: np.ndarray) -> Trajectories:
    """The rollouts ``index`` of a batch."""
    return Trajectories(traj.observations[index], traj.actions[index], traj.rewards[index],
                        None if traj.dones is None else traj.dones[index])


def run_gymnasium(policy, env, n_episodes: int, seed: int = 0) -> tuple[np.ndarray, Trajectories]:
    """Let a policy (e.g. a frozen AD model) act in one Gymnasium environment for ``n_episodes``.

    The context carries over from episode to episode (that is where in-context learning
    happens); the environment is reset with ``seed`` once, then without a seed. The policy
    draws from the same random stream as in ``rollout(..., seed)`` (first chunk), so a
    Gymnasium run and a one-environment batched rollout coincide step for step.

    Returns the ``[n_episodes]`` episode returns and the ``[1, T]`` trajectory. The spaces
    must be ``Discrete`` and match the policy's.
    """
    from gymnasium import spaces

    if not isinstance(env.observation_space, spaces.Discrete) or not isinstance(env.action_space, spaces.Discrete):
        raise ValueError("run_gymnasium needs Discrete observation and action spaces")
    if env.action_space.n != policy.n_actions:
        raise ValueError(f"environment has {env.action_space.n} actions, the policy {policy.n_actions}")
    model_config = getattr(getattr(policy, "model", None), "config", None)
    if model_config is not None and env.observation_space.n > model_config.n_observations:
        raise ValueError(f"environment has {env.observation_space.n} observations, the model knows {model_config.n_observations}")
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    policy.reset(1, np.random.default_rng([seed, 0]))
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(n_episodes)
    log = {"observations": [], "actions": [], "rewards": [], "dones": []}
    for episode in range(n_episodes):
        done = False
        while not done:
            action = int(policy.act(np.array([obs]))[0])
            next_obs, reward, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            policy.observe(
                np.array([action]), np.array([reward], dtype=np.float32), next_obs=np.array([next_obs]),
                done=np.array([done]), terminated=np.array([terminated]),
            )
            returns[episode] += reward
            for key, value in zip(log, (obs, action, reward, done)):
                log[key].append(value)
            obs = next_obs
        obs, _ = env.reset()
    trajectory = Trajectories(
        np.array([log["observations"]], dtype=np.int64), np.array([log["actions"]], dtype=np.int64),
        np.array([log["rewards"]], dtype=np.float32), np.array([log["dones"]], dtype=bool),
    )
    return returns, trajectory


def episode_returns(rewards: np.ndarray, episode_len: int) -> np.ndarray:
    """``[n_runs, n_episodes]`` return of each fixed-length episode, from rewards ``[n_runs, T]``."""
    n, T = rewards.shape
    if episode_len < 1 or T % episode_len:
        raise ValueError(f"{T} steps are not a whole number of {episode_len}-step episodes")
    return rewards.reshape(n, T // episode_len, episode_len).sum(axis=2)


def episodes_from_dones(rewards: np.ndarray, dones: np.ndarray, n_episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths ``[n_runs, n_episodes]`` of the first ``n_episodes`` episodes of each run.

    For environments whose episodes end at different times (a found goal in Dark Room Hard,
    an opened door in Key-to-Door): episode boundaries are read from ``dones`` ``[n_runs, T]``.
    Every run must have finished ``n_episodes`` episodes.
    """
    rewards, dones = np.asarray(rewards), np.asarray(dones, dtype=bool)
    if rewards.shape != dones.shape or rewards.ndim != 2:
        raise ValueError(f"rewards and dones must be matching [n_runs, T] arrays, got {rewards.shape} and {dones.shape}")
    finished = dones.sum(axis=1)
    if n_episodes < 1 or finished.min() < n_episodes:
        raise ValueError(f"asked for {n_episodes} episodes, but a run finished only {finished.min()}")
    n = len(rewards)
    episode = np.concatenate([np.zeros((n, 1), dtype=np.int64), np.cumsum(dones, axis=1)[:, :-1]], axis=1)  # [n, T]
    keep = episode < n_episodes
    flat = (np.arange(n)[:, None] * n_episodes + episode)[keep]
    returns = np.bincount(flat, weights=rewards[keep], minlength=n * n_episodes).reshape(n, n_episodes)
    lengths = np.bincount(flat, minlength=n * n_episodes).reshape(n, n_episodes)
    return returns, lengths


def episode_ends_from_rewards(rewards: np.ndarray, horizon: int, rewards_to_end: int) -> np.ndarray:
    """``[n_runs, T]`` done flags of recorded histories whose episodes end on their ``rewards_to_end``-th reward.

    A dataset keeps no done flags; in Dark Room Hard (``rewards_to_end=1``: the goal) and
    Key-to-Door (2: key, then door) they follow from the rewards and the time limit ``horizon``.
    """
    rewards = np.asarray(rewards)
    if rewards.ndim != 2 or horizon < 1 or rewards_to_end < 1:
        raise ValueError("need [n_runs, T] rewards, horizon >= 1 and rewards_to_end >= 1")
    dones = np.zeros(rewards.shape, dtype=bool)
    length = np.zeros(len(rewards), dtype=np.int64)
    collected = np.zeros(len(rewards), dtype=np.int64)
    for t in range(rewards.shape[1]):
        length += 1
        collected += rewards[:, t] > 0
        dones[:, t] = (length >= horizon) | (collected >= rewards_to_end)
        length[dones[:, t]], collected[dones[:, t]] = 0, 0
    return dones


def steps_to_reach(curve: np.ndarray, threshold: float, steps_per_point) -> float:
    """Environment steps until ``curve`` (one point per episode) first reaches ``threshold``.

    Counts the steps of every episode up to and including the first one at or above the
    threshold; ``inf`` if it never gets there. ``steps_per_point`` is the length of every
    episode, or an array with the (mean) length of each.
    """
    hits = np.nonzero(np.asarray(curve) >= threshold)[0]
    if not len(hits):
        return float("inf")
    lengths = np.broadcast_to(np.asarray(steps_per_point, dtype=float), np.shape(curve))
    return float(lengths[: hits[0] + 1].sum())


@dataclass
class GridEvaluation:
    """Returns of one method on a set of grid tasks (goals, or key-door pairs), over several runs.

    ``returns[r, g, e]`` is the return of run ``r`` (a training seed x evaluation seed, or an
    independent run of a source algorithm) on task ``g`` in episode ``e``.
    """

    returns: np.ndarray
    """``[n_runs, n_tasks, n_episodes]`` episode returns."""
    optimal: np.ndarray
    """``[n_tasks]`` best possible return per episode on each task."""
    observations: np.ndarray
    """``[n_runs, n_tasks, n_steps]`` the cells visited (for pictures of paths)."""
    groups: np.ndarray
    """``[n_runs]`` group (e.g. training seed) of each run; the plots' band is the spread over groups."""
    lengths: np.ndarray | None = None
    """``[n_runs, n_tasks, n_episodes]`` steps per episode, where episodes can end early."""

    @property
    def fraction_of_optimal(self) -> np.ndarray:
        """``[n_runs, n_episodes]`` return as a fraction of the optimal, averaged over tasks."""
        return (self.returns / self.optimal[None, :, None]).mean(axis=1)

    def _by_group(self, per_run: np.ndarray) -> np.ndarray:
        return mean_by_group(per_run, self.groups)

    def per_unit(self, per_run: np.ndarray) -> np.ndarray:
        """Per-run values averaged within each group; a method with one group (a baseline's
        independent runs) keeps its runs, so its spread is over runs."""
        return self._by_group(per_run) if len(np.unique(self.groups)) > 1 else np.asarray(per_run)

    def curves_by_group(self) -> np.ndarray:
        """``[n_groups, n_episodes]`` fraction of optimal, averaged within each group."""
        return self._by_group(self.fraction_of_optimal)

    def rate(self, at_least: float) -> np.ndarray:
        """``[n_units, n_episodes]`` share of tasks whose episode return is at least ``at_least``
        (units: :meth:`per_unit`).

        With ``at_least=1`` in Dark Room Hard: the success rate; in Key-to-Door, 1 is the key
        found and 2 the door opened after it.
        """
        return self.per_unit((self.returns >= at_least).mean(axis=1))

    def mean_lengths(self) -> np.ndarray:
        """``[n_episodes]`` mean steps per episode over runs and tasks."""
        if self.lengths is None:
            raise ValueError("this evaluation has fixed-length episodes and kept no lengths")
        return self.lengths.mean(axis=(0, 1))

    def first_success(self, at_least: float = 1.0) -> np.ndarray:
        """``[n_units]`` mean (over tasks) 1-based episode of the first return >= ``at_least``.

        Runs that never get there count as ``n_episodes + 1``.
        """
        first = first_success_episodes(self.returns, at_least)  # [n_runs, n_tasks], inf: never
        return self.per_unit(np.where(np.isfinite(first), first, self.returns.shape[2] + 1).mean(axis=1))

    def ever_succeeded(self, at_least: float = 1.0) -> np.ndarray:
        """``[n_units]`` share of tasks on which some episode's return reached ``at_least``."""
        return self.per_unit((self.returns >= at_least).any(axis=2).mean(axis=1))

    def success_after(self, *, previous_succeeded: bool, at_least: float = 1.0) -> np.ndarray:
        """``[n_units]`` share of episodes with a return >= ``at_least`` among those whose previous
        episode on the same task did (``previous_succeeded=True``: how well a find is kept) or did
        not (``False``: how often a success comes after a miss).

        Pooled over each run's tasks and episodes. A run with no such episode is left out of its
        unit's mean; a unit whose runs have none is ``nan``.
        """
        hit = self.returns >= at_least
        before, now = hit[:, :, :-1], hit[:, :, 1:]
        chosen = before if previous_succeeded else ~before
        return self._share_per_unit((now & chosen).sum(axis=(1, 2)), chosen.sum(axis=(1, 2)))

    def _share_per_unit(self, hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """``[n_units]`` mean over each unit's runs of ``hits / counts`` (``[n_runs]`` each); a run
        with no count is left out, and a unit whose runs all have none is ``nan``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            per_run = np.where(counts > 0, hits / counts, np.nan)
        with warnings.catch_warnings():  # the mean of a unit whose runs are all nan is nan, as said above
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            return self.per_unit(per_run)

    def moves_toward_known_cell(self, cells: np.ndarray, size: int, window: int) -> np.ndarray:
        """``[n_units]`` share of moves that bring the agent closer to its task's cell (``cells[g]``,
        e.g. Key-to-Door's key) while a paid visit to that cell is in view: the agent moved onto
        it in an earlier episode, at most ``window - 1`` steps before (so a model attending over
        its last ``window`` steps has that step in its attention window), and has not reached it
        yet in this episode.

        Meant for a cell that pays on the first visit of an episode and does not end it (the
        key). A visit pays only when a move lands on the cell: an episode that *starts* on it
        is not a paid visit, and a paid move that ends an episode (its time limit) is missed,
        which only leaves moves out. Moves made from the cell itself, and moves that end an
        episode (the next cell is a new start), are not counted. Distances are Manhattan
        distances in a ``size`` x ``size`` room. The share is over moves, so a long wandering
        episode weighs more than a short walk back. A run with no such move is left out of its
        unit's mean; a unit whose runs have none is ``nan``.
        """
        if self.lengths is None:
            raise ValueError("moves_toward_known_cell needs the episode lengths of the evaluation")
        if window < 1:
            raise ValueError(f"window must be >= 1 step, got {window}")
        cells = np.asarray(cells)
        if cells.shape != (self.returns.shape[1],):
            raise ValueError(f"need one cell per task ({self.returns.shape[1]}), got shape {cells.shape}")
        R, G, T = self.observations.shape
        distance = np.stack([distance_to_nearest(self.observations[:, g], [cells[g]], size) for g in range(G)], axis=1)  # [R, G, T]
        stops = np.cumsum(self.lengths, axis=2)  # [R, G, E] one past each episode's last step
        last_step = np.zeros((R, G, T), dtype=bool)  # True at the step that ends an episode
        np.put_along_axis(last_step, stops - 1, True, axis=2)
        ran = np.arange(T)[None, None, :] < stops[:, :, -1:]  # steps a chunk did not run are padding
        reached = np.zeros((R, G), dtype=bool)  # the cell was reached in the current episode
        seen_at = np.full((R, G), -(T + window))  # step of the last rewarded visit
        counted, closer = np.zeros(R), np.zeros(R)
        for t in range(T - 1):
            first = np.ones((R, G), dtype=bool) if t == 0 else last_step[:, :, t - 1]  # a new episode starts at t
            reached &= ~first
            on_cell = distance[:, :, t] == 0
            arrives = on_cell & ~reached & ~first  # moved onto it: a paid visit
            reached |= arrives
            seen_at = np.where(arrives, t, seen_at)
            known = ~reached & ~on_cell & (t - seen_at < window) & ~last_step[:, :, t] & ran[:, :, t + 1]
            counted += known.sum(axis=1)
            closer += (known & (distance[:, :, t + 1] < distance[:, :, t])).sum(axis=1)
        return self._share_per_unit(closer, counted)

    @staticmethod
    def mean_std(per_group: np.ndarray) -> tuple[float, float]:
        """(mean, std over groups) of ``[n_groups]`` values."""
        per_group = np.asarray(per_group, dtype=float)
        return float(per_group.mean()), float(per_group.std(ddof=1)) if len(per_group) > 1 else 0.0

    def last_episodes(self, k: int = 10) -> tuple[float, float]:
        """Mean fraction of optimal over the last ``k`` episodes: (mean, std over groups)."""
        return self.mean_std(self.curves_by_group()[:, -k:].mean(axis=1))


def evaluate_in_rooms(policies, make_env, n_tasks: int, optimal: np.ndarray, n_episodes: int, horizon: int,
                      n_eval_seeds: int, seed: int) -> GridEvaluation:
    """Run each policy on every task of a grid room, ``n_eval_seeds`` times; each member of a policy is one group.

    ``make_env(k)`` builds the room with its ``n_tasks`` tasks repeated ``k`` times. A policy
    is a baseline (one group) or an AD model, possibly with one member per training seed
    (one group per member). All tasks, evaluation seeds and members of one policy run in one
    batched rollout, until every environment has finished ``n_episodes`` episodes (at most
    ``horizon`` steps each).
    """
    returns, lengths, observations, groups = [], [], [], []
    n_groups = 0
    for p, policy in enumerate(policies):
        n_members = getattr(policy, "n_members", 1)
        n_runs = n_members * n_eval_seeds
        env = make_env(n_runs)
        if env.n_envs != n_runs * n_tasks:
            raise ValueError(f"make_env({n_runs}) built {env.n_envs} environments, expected {n_runs * n_tasks}")
        traj = rollout(env, policy, n_episodes * horizon, seed=seed + 1000 * p, until_episodes=n_episodes)
        r, n = episodes_from_dones(traj.rewards, traj.dones, n_episodes)
        returns.append(r.reshape(n_runs, n_tasks, n_episodes))
        lengths.append(n.reshape(n_runs, n_tasks, n_episodes))
        obs = np.zeros((n_runs * n_tasks, n_episodes * horizon), dtype=np.int16)
        obs[:, : traj.observations.shape[1]] = traj.observations
        observations.append(obs.reshape(n_runs, n_tasks, -1))
        groups += [n_groups + m for m in range(n_members) for _ in range(n_eval_seeds)]
        n_groups += n_members
    return GridEvaluation(np.concatenate(returns), np.asarray(optimal, dtype=float), np.concatenate(observations),
                          np.array(groups), np.concatenate(lengths))


def evaluate_on_goals(policies, goal_cells, n_episodes: int, n_eval_seeds: int, seed: int, size: int = 9, horizon: int = 20,
                      hard: bool = False) -> GridEvaluation:
    """:func:`evaluate_in_rooms` in Dark Room (``hard=True``: Dark Room Hard) on the given goal cells.

    Evaluation seeds differ only in the policy's random draws (Dark Room itself is deterministic).
    """
    goals = np.stack(np.divmod(np.asarray(goal_cells), size), axis=1)
    return evaluate_in_rooms(
        policies, lambda k: DarkRoomEnv(np.tile(goals, (k, 1)), size, horizon, hard=hard), len(goals),
        darkroom_optimal_return(goals, size, horizon, hard=hard), n_episodes, horizon, n_eval_seeds, seed,
    )


def evaluate_on_key_doors(policies, pairs, n_episodes: int, n_eval_seeds: int, seed: int, size: int = 9, horizon: int = 50) -> GridEvaluation:
    """:func:`evaluate_in_rooms` in Dark Key-to-Door on ``[n, 2]`` (key cell, door cell) pairs (optimal return 2).

    Random start cells come from ``seed`` (the room draws them from one stream in the order
    episodes end), so a rollout is reproducible.
    """
    pairs = np.asarray(pairs)
    keys, doors = (np.stack(np.divmod(pairs[:, i], size), axis=1) for i in (0, 1))
    return evaluate_in_rooms(
        policies, lambda k: KeyToDoorEnv(np.tile(keys, (k, 1)), np.tile(doors, (k, 1)), size, horizon, seed=seed),
        len(pairs), np.full(len(pairs), 2.0), n_episodes, horizon, n_eval_seeds, seed,
    )


# --- One grid evaluation, goal by goal and episode by episode (chapter 2) -------------------


def task_fraction_of_optimal(evaluation: GridEvaluation, last: int = 10) -> np.ndarray:
    """``[n_units, n_tasks]`` mean return over the last ``last`` episodes as a fraction of each
    task's optimum, averaged over the runs of each unit (:meth:`GridEvaluation.per_unit`: a
    training seed, or a baseline's independent run)."""
    n_episodes = evaluation.returns.shape[2]
    if not 1 <= last <= n_episodes:
        raise ValueError(f"last must be in [1, {n_episodes}], got {last}")
    per_run = evaluation.returns[:, :, -last:].mean(axis=2) / evaluation.optimal[None, :]
    return evaluation.per_unit(per_run)


def first_success_episodes(returns: np.ndarray, at_least: float = 1.0) -> np.ndarray:
    """1-based episode of the first return >= ``at_least`` along the last axis (episodes);
    ``inf`` where no episode gets there. ``[..., n_episodes]`` -> ``[...]`` floats."""
    hit = np.asarray(returns) >= at_least
    if hit.ndim < 1 or hit.shape[-1] < 1:
        raise ValueError(f"need returns [..., n_episodes] with at least one episode, got shape {hit.shape}")
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1) + 1.0, np.inf)


def rewarded_in_window(returns: np.ndarray, window: int, at_least: float = 1.0) -> np.ndarray:
    """``[..., n_episodes]`` how many of the ``window`` episodes just before each episode were
    rewarded (return >= ``at_least``): what a ``window``-episode context holds when the episode
    starts. Episode 1 has an empty context (0)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    hit = (np.asarray(returns) >= at_least).astype(np.int64)
    n = hit.shape[-1]
    seen = np.concatenate([np.zeros(hit.shape[:-1] + (1,), dtype=np.int64), np.cumsum(hit, axis=-1)], axis=-1)
    e = np.arange(n)  # 0-based episode; its context holds episodes e - window .. e - 1
    return seen[..., e] - seen[..., np.maximum(e - window, 0)]


def found_then_lost(returns: np.ndarray, window: int, at_least: float = 1.0) -> dict | None:
    """Did one run (``returns [n_episodes]`` on one task) find the goal and then lose it?

    Lost means: an episode after the first success starts with no rewarded episode among
    the ``window`` before it, i.e. the last rewarded episode has left a ``window``-episode
    context. Returns None if the goal was never found or never lost, else a dict of 1-based
    episodes: ``found`` (first success), ``lost`` (first episode with no reward left in the
    context), ``rewarded_before`` (rewarded episodes before ``lost``), ``found_again``
    (first rewarded episode from ``lost`` on, or None).
    """
    returns = np.asarray(returns)
    if returns.ndim != 1:
        raise ValueError(f"need the returns of one run on one task, [n_episodes], got shape {returns.shape}")
    hit = returns >= at_least
    if not hit.any():
        return None
    found = int(hit.argmax())
    empty = np.flatnonzero(rewarded_in_window(returns, window, at_least)[found + 1:] == 0)
    if not len(empty):
        return None
    lost = found + 1 + int(empty[0])
    again = np.flatnonzero(hit[lost:])
    return {"found": found + 1, "lost": lost + 1, "rewarded_before": int(hit[:lost].sum()),
            "found_again": int(lost + again[0] + 1) if len(again) else None}


def pick_found_then_lost(returns: np.ndarray, window: int, at_least: float = 1.0,
                         min_search: int = 3) -> tuple[int, int, dict] | None:
    """The clearest found-then-lost case among ``returns [n_runs, n_tasks, n_episodes]``.

    Prefers, in this order: a goal first found in episode ``min_search`` or later, so that
    the search before the first find can be seen; a run that came back to the goal (at least
    two rewarded episodes) before losing it; one whose goal then stays lost for at least ``window``
    episodes (or to the end of the run), rather than being found again at once; the
    earliest loss; the lowest run and task index. Returns ``(run, task,
    found_then_lost(...))``, or None if no run ever lost a goal it had found.
    """
    returns = np.asarray(returns)
    if returns.ndim != 3:
        raise ValueError(f"need returns [n_runs, n_tasks, n_episodes], got shape {returns.shape}")
    best, best_key = None, None
    for run, task in np.ndindex(returns.shape[:2]):
        case = found_then_lost(returns[run, task], window, at_least)
        if case is None:
            continue
        again = case["found_again"]
        stays_lost = again is None or again - case["lost"] >= window
        key = (case["found"] < min_search, case["rewarded_before"] < 2, not stays_lost, case["lost"], run, task)
        if best_key is None or key < best_key:
            best, best_key = (int(run), int(task), case), key
    return best


def context_reward_rates(returns: np.ndarray, window: int, at_least: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """How often an episode is rewarded, by what its ``window``-episode context holds.

    For ``returns [n_runs, n_tasks, n_episodes]``, two ``[n_runs]`` shares (pooled over
    tasks): of the episodes that start with at least one rewarded episode in the context,
    and of those that start with none although the goal was found before (a lost goal).
    NaN where a run has no such episode.
    """
    returns = np.asarray(returns)
    if returns.ndim != 3:
        raise ValueError(f"need returns [n_runs, n_tasks, n_episodes], got shape {returns.shape}")
    hit = returns >= at_least
    in_context = rewarded_in_window(returns, window, at_least) > 0
    found_before = np.cumsum(hit, axis=2) - hit > 0  # a rewarded episode earlier in the run

    def share(where):
        n = where.sum(axis=(1, 2))
        return np.divide((hit & where).sum(axis=(1, 2)), n, out=np.full(len(n), np.nan), where=n > 0)

    return share(in_context), share(~in_context & found_before)


def step_through_episodes(n_episodes: int, focus: tuple[int, int] | None = None, first: int = 5, every: int = 5,
                          max_frames: int = 40) -> list[int]:
    """1-based episodes to show in an episode-by-episode step-through of one run.

    Every episode of the first ``first`` and of ``focus`` (first, last, inclusive, clipped to
    the run), every ``every``-th episode elsewhere, and the last episode; at most
    ``max_frames``. Where that is too many, the sparse episodes are thinned (a wider stride),
    and if the dense ones alone are too many, they are cut at the end.
    """
    if n_episodes < 1 or first < 0 or every < 1 or max_frames < 2:
        raise ValueError("need n_episodes >= 1, first >= 0, every >= 1 and max_frames >= 2")
    dense = set(range(1, min(first, n_episodes) + 1))
    if focus is not None:
        lo, hi = max(1, int(focus[0])), min(n_episodes, int(focus[1]))
        dense |= set(range(lo, hi + 1))
    dense = sorted(dense)[: max_frames - 1]
    stride = every
    while True:
        frames = sorted(set(dense) | set(range(stride, n_episodes + 1, stride)) | {n_episodes})
        if len(frames) <= max_frames:
            return frames
        stride += every


# --- Probes of the critique (chapter 6) ---------------------------------------------------


def cross_episode_novelty(observations: np.ndarray, horizon: int, window: int, before: np.ndarray) -> np.ndarray:
    """``[n]`` mean share of the cells an agent visits in an episode that it had not visited in
    the ``window`` steps before the episode began, over episodes 2 .. ``before[i] - 1`` of run i
    (e.g. the episodes before its first reward), NaN where there are none.

    ``observations``: ``[n, T]`` cells of fixed-length episodes (``horizon`` steps), as in
    Dark Room, or Dark Room Hard before the first success (episodes end early only on success).
    A systematic searcher scores near 1; a random walk that keeps to the cells around the start, low.
    """
    observations = np.asarray(observations)
    n, T = observations.shape
    n_cells = int(observations.max()) + 1
    out = np.full(n, np.nan)
    for i in range(n):
        last = min(int(before[i]) - 1, T // horizon) if np.isfinite(before[i]) else T // horizon
        shares = []
        for e in range(1, last):
            start = e * horizon
            seen = np.zeros(n_cells, dtype=bool)
            seen[observations[i, max(0, start - window):start]] = True
            cells = np.unique(observations[i, start:start + horizon])
            shares.append(float((~seen[cells]).mean()))
        if shares:
            out[i] = np.mean(shares)
    return out


def agreement_with_targets(observations: np.ndarray, actions: np.ndarray, probs: np.ndarray | None, targets: np.ndarray, size: int) -> dict:
    """How often an agent took a shortest-path step toward ``targets`` (``[n, T]`` cells, -1: none),
    over the steps with a target that it was not already on.

    Returns per-run arrays ``[n]``: ``agree`` (share of actions that were such a step),
    ``mass`` (probability the policy put on such steps, if ``probs [n, T, A]`` is given),
    ``chance`` (the share a uniformly random action would get) and ``steps`` (how many steps counted).
    """
    observations, actions, targets = (np.asarray(x) for x in (observations, actions, targets))
    counted = (targets >= 0) & (observations != targets)
    useful = useful_moves(observations.ravel(), np.where(targets >= 0, targets, observations).ravel(), size).reshape(*observations.shape, -1)
    took = np.take_along_axis(useful, actions[..., None], axis=2)[..., 0]
    steps = counted.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = {
            "agree": (took & counted).sum(axis=1) / steps,
            "chance": (useful.sum(axis=2) / useful.shape[2] * counted).sum(axis=1) / steps,
            "steps": steps,
        }
        if probs is not None:
            result["mass"] = ((probs * useful).sum(axis=2) * counted).sum(axis=1) / steps
    return result


def mean_by_group(values, groups) -> np.ndarray:
    """``[n_groups, ...]`` the mean of ``values [n, ...]`` within each group (``groups [n]``,
    e.g. the training seed of each run, in sorted order), NaNs left out."""
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if len(values) != len(groups):
        raise ValueError(f"{len(values)} values but {len(groups)} group labels")
    return np.stack([np.nanmean(values[groups == g], axis=0) for g in np.unique(groups)])


def mean_and_spread(values) -> tuple[float, float]:
    """(mean, sample std) of per-seed or per-run values, NaNs left out (std 0 for a single value)."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0
