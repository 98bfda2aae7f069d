"""Training AD: a plain loop, checkpoints, resume, and a cache keyed by config hash.

The loop is deliberately ordinary (AdamW, linear warm-up then cosine decay, gradient
clipping, cross-entropy on every position of every window): the interesting part of AD is
the data, not the optimiser.

Artefacts live in ``<cache>/runs/<hash>/`` where the hash covers the model config, the
training config and the dataset's fingerprint: a second build with the same configs loads
the finished run instead of training again; a run killed half-way resumes from its last
saved step.
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
from .model import ADConfig, ADTransformer
from .runtime import default_device, seed_everything


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
    """Training throughput of the run that produced it (measured when it was trained)."""


def run_directory(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories) -> Path:
    return cache_dir() / "runs" / config_hash(model_config, train_config, data.fingerprint)


def _save(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _model_from_state(state: dict, model_config: ADConfig, device) -> ADTransformer:
    model = ADTransformer(model_config).to(device)
    model.load_state_dict(state)
    return model.eval()


def _load_model(path: Path, model_config: ADConfig, device) -> tuple[ADTransformer, dict]:
    """The model saved in ``path`` (checked against ``model_config``) and the whole saved payload."""
    payload = torch.load(path, map_location=device, weights_only=False)
    if payload.get("model_config") != to_jsonable(model_config):
        raise ValueError(f"checkpoint {path} was saved for another model config")
    return _model_from_state(payload["model"], model_config, device), payload


def train(
    model_config: ADConfig,
    train_config: TrainConfig,
    data: LearningHistories,
    use_cache: bool = True,
    progress: bool = True,
    device=None,
) -> TrainedRun:
    """Train an AD model on ``data`` (or load the finished run from the cache)."""
    if data.n_actions != model_config.n_actions:
        raise ValueError(f"dataset has {data.n_actions} actions, model config {model_config.n_actions}")
    if data.n_observations > model_config.n_observations:
        raise ValueError(f"dataset has {data.n_observations} observations, model config only {model_config.n_observations}")
    if model_config.context_len > data.n_steps:
        raise ValueError(f"context_len {model_config.context_len} exceeds history length {data.n_steps}")
    device = device or default_device()
    run_dir = run_directory(model_config, train_config, data)
    final_path = run_dir / "final.pt"
    if use_cache and final_path.exists():
        model, payload = _load_model(final_path, model_config, device)
        return TrainedRun(
            model=model,
            checkpoints={s: _load_model(run_dir / f"step_{s}.pt", model_config, device)[0] for s in train_config.checkpoint_steps},
            losses=np.asarray(payload["losses"]),
            run_dir=run_dir,
            from_cache=True,
            tokens_per_second=payload.get("tokens_per_second", float("nan")),
        )

    seed_everything(train_config.seed)
    rng = np.random.default_rng(train_config.seed)
    model = ADTransformer(model_config).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=train_config.lr, betas=tuple(train_config.betas), weight_decay=train_config.weight_decay
    )
    losses: list[float] = []
    start = 0
    resume_path = run_dir / "resume.pt"
    if use_cache and resume_path.exists():
        snap = torch.load(resume_path, map_location=device, weights_only=False)
        model.load_state_dict(snap["model"])
        optimizer.load_state_dict(snap["optimizer"])
        rng.bit_generator.state = snap["numpy_rng"]
        torch.set_rng_state(snap["torch_rng"])
        losses, start = list(snap["losses"]), snap["step"]

    meta = {"model_config": to_jsonable(model_config), "train_config": to_jsonable(train_config), "data": data.fingerprint}
    kept: dict[int, dict] = {}  # step -> weights of the checkpoints reached in this call
    model.train()
    tokens = 0
    t0 = time.perf_counter()
    bar = tqdm(range(start, train_config.steps), initial=start, total=train_config.steps, disable=not progress, desc="train")
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, train_config)
        obs, prev_a, prev_r, targets = data.sample_windows(train_config.batch_size, model_config.context_len, rng, device)
        logits = model(obs, prev_a, prev_r)
        loss = F.cross_entropy(logits.reshape(-1, model_config.n_actions), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        tokens += targets.numel()
        done = step + 1
        if done % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", tok_s=f"{tokens / (time.perf_counter() - t0):,.0f}")
        if done in train_config.checkpoint_steps:
            kept[done] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if use_cache:
                _save(run_dir / f"step_{done}.pt", {**meta, "model": kept[done], "step": done})
        if use_cache and done % train_config.save_every == 0 and done < train_config.steps:
            _save(resume_path, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "losses": losses, "step": done,
            })
    bar.close()
    tokens_per_second = tokens / max(time.perf_counter() - t0, 1e-9)
    model.eval()

    if use_cache:
        _save(final_path, {**meta, "model": model.state_dict(), "losses": losses, "tokens_per_second": tokens_per_second})
        if resume_path.exists():
            resume_path.unlink()
    # Checkpoints passed before a resume exist only on disk.
    checkpoints = {
        s: _model_from_state(kept[s], model_config, device) if s in kept else _load_model(run_dir / f"step_{s}.pt", model_config, device)[0]
        for s in train_config.checkpoint_steps
    }
    return TrainedRun(model, checkpoints, np.asarray(losses), run_dir if use_cache else None, False, tokens_per_second)


def train_seeds(model_config: ADConfig, train_config: TrainConfig, data: LearningHistories, seeds, **kwargs) -> list[TrainedRun]:
    """Train one run per seed (same configs otherwise), each cached on its own."""
    return [train(model_config, replace(train_config, seed=int(s)), data, **kwargs) for s in seeds]
