"""The training loop: AdamW, warm-up then cosine decay, gradient clipping, checkpoints, resume.

The loop is deliberately ordinary (cross-entropy on every position of every window): the
interesting part of AD is the data, not the optimiser. Runs that differ only in their seed
can train as the members of one model (:func:`train_ensemble`), each starting from the
weights, drawing the windows and following the updates it would alone. Where a trained run
comes from (the local cache, the weights shipped with the book, or this loop) is
:mod:`adlib.run_store`'s business; sharing runs out among processes is
:mod:`adlib.train_workers`'.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .artifacts import atomic_path, cache_dir, config_hash, to_jsonable
from .data import LearningHistories
from .model import ADConfig, ADTransformer, training_step_flops
from .runtime import seed_everything, timed


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


ORIGINS = ("trained", "cache", "shipped")
"""Where a run's weights came from: trained in this call, the local cache, or the weights shipped with the book."""


def loss_by_episode(model, histories, episode_len: int, context_episodes: int, n_histories: int = 64, seed: int = 0) -> np.ndarray:
    """``[n_episodes]``: the model's mean cross-entropy (nats) on each episode of ``histories``, each predicted with
    up to ``context_episodes - 1`` episodes before it in context (fewer at a history's start), over ``n_histories``
    histories drawn with ``seed``. Where along a learning history the model fits its data, and where it does not."""
    if histories.n_steps % episode_len:
        raise ValueError(f"history length {histories.n_steps} is not a whole number of {episode_len}-step episodes")
    if context_episodes * episode_len > model.config.context_len:
        raise ValueError(f"{context_episodes} episodes of {episode_len} steps do not fit the model's context of "
                         f"{model.config.context_len}")
    rng = np.random.default_rng(seed)
    rows = rng.choice(histories.n_histories, size=min(n_histories, histories.n_histories), replace=False)
    device = next(model.parameters()).device
    losses = []
    model.eval()
    with torch.no_grad():
        for episode in range(histories.n_steps // episode_len):
            first = max(0, episode - context_episodes + 1)
            obs, prev_a, prev_r, targets = histories.windows(rows, np.full(len(rows), first * episode_len),
                                                             (episode + 1 - first) * episode_len, rng, device)
            logits = model(obs, prev_a, prev_r)[:, -episode_len:]  # [B, episode_len, A]: the last episode's steps
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[:, -episode_len:].reshape(-1)).item())
    return np.array(losses)


def loss_change(losses, parts: int = 5) -> float:
    """How much the training loss still fell at the end of a run: the mean over its last
    ``1/parts`` of steps relative to the mean over the ``1/parts`` before (-0.01: 1% lower)."""
    losses = np.asarray(losses, dtype=float)
    n = len(losses) // parts
    if n < 1 or not np.isfinite(losses[-2 * n:]).all():
        raise ValueError(f"need at least {parts} finite losses per part of the run, got {len(losses)} losses")
    return float(losses[-n:].mean() / losses[-2 * n:-n].mean() - 1)


@dataclass
class TrainedRun:
    """A finished training run: the final model, kept checkpoints, and the loss curve."""

    model: ADTransformer
    checkpoints: dict = field(default_factory=dict)
    """``{step: ADTransformer}`` for each of ``TrainConfig.checkpoint_steps`` that was kept (shipped
    runs keep only the checkpoints a chapter reads)."""
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Training loss at every step."""
    run_dir: Path | None = None
    origin: str = "trained"
    """One of :data:`ORIGINS`."""
    tokens_per_second: float = float("nan")
    """Training throughput when it was trained: tokens per second summed over the runs trained
    at the same time (see :func:`adlib.run_store.train_runs`)."""
    trained_together: int = 1
    """How many runs were trained at the same time as it (itself included): as one ensemble,
    or side by side in worker processes."""
    tokens_trained: int = 0
    """Tokens it trained on in the call that trained it (0 when loaded; less than planned after a resume)."""
    wall_seconds: float = float("nan")
    """Seconds the loop that trained it ran (shared with the runs trained together with it)."""
    device: str = ""
    """Where it was trained ("cpu", "cuda", ...)."""

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"TrainedRun.origin must be one of {ORIGINS}, got {self.origin!r}")

    @property
    def from_cache(self) -> bool:
        """Loaded (from the local cache or the shipped weights) rather than trained in this call."""
        return self.origin != "trained"


# Bump when the saved weights change layout, so that no older cache entry is ever loaded.
CHECKPOINT_FORMAT = 2  # 2: weights carry a leading member axis (adlib.model "Members")


def save_atomic(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def model_from_state(state: dict, model_config: ADConfig, device) -> ADTransformer:
    model = ADTransformer(model_config).to(device)
    model.load_state_dict(state)
    return model.eval()


def load_checkpoint(path: Path, model_config: ADConfig, device) -> tuple[ADTransformer, dict]:
    """The model saved in the cache file ``path`` (checked against ``model_config``) and the whole saved payload."""
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
    return model_from_state(payload["model"], model_config, device), payload


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


def check_member(model_config: ADConfig, data: LearningHistories) -> None:
    if data.n_actions != model_config.n_actions:
        raise ValueError(f"dataset has {data.n_actions} actions, model config {model_config.n_actions}")
    if model_config.frame_size and not hasattr(data, "camera"):
        raise ValueError("a frame model (ADConfig.frame_size) trains on histories with a camera (adlib.pixels.PixelHistories.wrap)")
    if not model_config.frame_size and data.n_observations > model_config.n_observations:
        raise ValueError(f"dataset has {data.n_observations} observations, model config only {model_config.n_observations}")
    if model_config.context_len > data.n_steps:
        raise ValueError(f"context_len {model_config.context_len} exceeds history length {data.n_steps}")


def training_flops_per_token(model_config: ADConfig) -> float:
    """Training FLOPs per token of a window (:func:`~adlib.model.training_step_flops` is linear in the batch)."""
    return training_step_flops(model_config, 1) / model_config.context_len


def ensembles(runs, todo: list[int]) -> list[list[int]]:
    """``todo`` cut into groups that can train as one ensemble: one architecture, train configs
    equal but for the seed, and no dropout (dropout runs train alone)."""
    groups: dict = {}
    for i in todo:
        model_config, train_config, _ = runs[i]
        dropout = model_config.dropout > 0 or model_config.attn_dropout > 0
        key = (config_hash(model_config, replace(train_config, seed=0)), i if dropout else None)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def train_ensemble(model_config: ADConfig, members, run_dirs: list[Path], use_cache: bool, progress: bool, device, on_step=None,
                   stop_after: int | None = None) -> list[TrainedRun]:
    """Train ``members`` (``(train_config, data)`` pairs differing only in seed) as one ensemble.

    ``run_dirs``: each member's folder in the cache, where its final weights (and kept
    checkpoints) are written when ``use_cache``; a resumable snapshot of the set is kept
    every ``save_every`` steps. ``on_step(steps_done)``, if given, is called every 25 steps
    and at the end (worker progress). ``stop_after``: stop after that many steps, on the
    schedule of the whole run (to replay the start of a recorded run); nothing is saved.
    """
    config = members[0][0]  # the shared settings (seeds aside)
    E, A = len(members), model_config.n_actions
    end = config.steps if stop_after is None else stop_after
    if not 1 <= end <= config.steps:
        raise ValueError(f"stop_after must lie in [1, {config.steps}], got {stop_after}")
    if stop_after is not None:
        use_cache = False  # a replay resumes nothing and writes nothing
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

    metas = [{"model_config": to_jsonable(model_config, for_hash=True), "train_config": to_jsonable(c), "data": d.fingerprint,
              "data_digest": d.content_digest() if use_cache else None} for c, d in members]
    kept: dict[int, list[ADTransformer]] = {}  # step -> each member's weights, at the checkpoints reached in this call
    model.train()
    tokens = 0
    t0 = time.perf_counter()
    desc = "train" if E == 1 else f"train {E} together"
    bar = tqdm(range(start, end), initial=start, total=end, disable=not progress, desc=desc)
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
            if on_step is not None and (done % 25 == 0 or done == end):
                on_step(done)
            if done % 50 == 0:
                recent = np.mean(losses[-50:], axis=0)
                bar.set_postfix(loss="/".join(f"{x:.3f}" for x in recent), tok_s=f"{tokens / (time.perf_counter() - t0):,.0f}")
            if done in config.checkpoint_steps:
                kept[done] = [model.member(e).eval() for e in range(E)]
                if use_cache:
                    for e, run_dir in enumerate(run_dirs):
                        save_atomic(run_dir / f"step_{done}.pt", {**metas[e], "model": kept[done][e].state_dict(), "step": done})
            if use_cache and done % config.save_every == 0 and done < config.steps:
                save_atomic(resume_path, {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "numpy_rngs": [r.bit_generator.state for r in rngs],
                    "torch_rng": torch.get_rng_state(), "losses": losses, "step": done,
                })
        work["training_tokens"] = tokens
        work["training_flops"] = tokens * training_flops_per_token(model_config)
    bar.close()
    wall_seconds = time.perf_counter() - t0
    tokens_per_second = tokens / max(wall_seconds, 1e-9)
    model.eval()
    per_member_losses = np.asarray(losses, dtype=np.float64).reshape(-1, E).T  # [E, steps]

    runs = []
    for e, ((c, _), run_dir) in enumerate(zip(members, run_dirs)):
        member = model.member(e).eval()
        if use_cache:
            save_atomic(run_dir / "final.pt", {
                **metas[e], "model": member.state_dict(), "losses": per_member_losses[e].tolist(),
                "tokens_per_second": tokens_per_second, "trained_together": E, "wall_seconds": wall_seconds,
                "device": torch.device(device).type,
            })
        # Checkpoints passed before a resume exist only on disk.
        checkpoints = {
            s: kept[s][e] if s in kept else load_checkpoint(run_dir / f"step_{s}.pt", model_config, device)[0]
            for s in c.checkpoint_steps if s <= end
        }
        runs.append(TrainedRun(member, checkpoints, per_member_losses[e], run_dir if use_cache else None, "trained", tokens_per_second,
                               E, tokens // E, wall_seconds, torch.device(device).type))
    if use_cache and resume_path.exists():
        resume_path.unlink()
        resume_path.parent.rmdir()
    return runs


