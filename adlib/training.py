"""Training AD: a plain loop, checkpoints, resume, and a cache keyed by config hash.

The loop is deliberately ordinary (AdamW, linear warm-up then cosine decay, gradient
clipping, cross-entropy on every position of every window): the interesting part of AD is
the data, not the optimiser. The runs a chapter needs (its seeds, or its datasets) train
together as the members of one model (:func:`train_together`), each exactly as it would
train alone; that pays where per-operation overhead dominates (measure with
``benchmarks/benchmark.py``), and the members then act together in one batch.

Artefacts live in ``<cache>/runs/<hash>/``, one folder per run, where the hash covers the
model config, the training config, the dataset's fingerprint and the checkpoint format: a
second build with the same configs loads the finished runs instead of training again; runs
killed half-way resume from their last saved step.
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
from .runtime import default_device, quiet, seed_everything, timed


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
    together with it (see :func:`train_together`)."""
    trained_together: int = 1
    """How many runs were trained with it as one ensemble."""


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
    if payload.get("model_config") != to_jsonable(model_config):
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


def train_together(
    model_config: ADConfig,
    members: list[tuple[TrainConfig, LearningHistories]],
    use_cache: bool = True,
    progress: bool | None = None,
    device=None,
) -> list[TrainedRun]:
    """Train several runs of one architecture at once (or load the finished ones from the cache).

    ``members`` lists ``(train_config, data)`` pairs, e.g. one per training seed, or one per
    dataset; the train configs may differ only in their seed. Every run is cached on its own,
    so a later call that asks for any subset of them loads it. The runs not in the cache are
    trained as one ensemble (:class:`~adlib.model.ADTransformer` members): each member starts
    from the weights, draws the windows and follows the updates it would as a run of its own
    (equal up to float rounding, tested), in fewer, larger operations. With dropout, whose
    masks come from torch's one global stream, a run trained with others would depend on
    them, so dropout runs train one after another instead.

    ``progress``: a progress bar over training steps; by default shown unless
    :func:`~adlib.runtime.quiet`.
    """
    if not members:
        raise ValueError("train_together needs at least one (train_config, data) pair")
    first = members[0][0]
    for train_config, data in members:
        _check_member(model_config, data)
        if replace(train_config, seed=first.seed) != first:
            raise ValueError("runs trained together may differ only in TrainConfig.seed")
    run_dirs = [run_directory(model_config, c, d) for c, d in members]
    if len(set(run_dirs)) < len(run_dirs):
        raise ValueError("the same run (config, seed and data) is listed twice")
    device = device or default_device()
    progress = not quiet() if progress is None else progress
    runs: list[TrainedRun | None] = [None] * len(members)
    todo = []
    with timed("training"):
        for i, ((train_config, _), run_dir) in enumerate(zip(members, run_dirs)):
            if use_cache and (run_dir / "final.pt").exists():
                runs[i] = _load_run(run_dir, model_config, train_config, device)
            else:
                todo.append(i)
        dropout = model_config.dropout > 0 or model_config.attn_dropout > 0
        for group in ([[i] for i in todo] if dropout else [todo] if todo else []):
            trained = _train_ensemble(model_config, [members[i] for i in group], [run_dirs[i] for i in group], use_cache, progress, device)
            for i, run in zip(group, trained):
                runs[i] = run
    return runs


def _train_ensemble(model_config, members, run_dirs: list[Path], use_cache: bool, progress: bool, device) -> list[TrainedRun]:
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

    metas = [{"model_config": to_jsonable(model_config), "train_config": to_jsonable(c), "data": d.fingerprint} for c, d in members]
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
        runs.append(TrainedRun(member, checkpoints, per_member_losses[e], run_dir if use_cache else None, False, tokens_per_second, E))
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
    return train_together(model_config, [(replace(train_config, seed=int(s)), data) for s in seeds], **kwargs)


def stacked(runs: list[TrainedRun]) -> ADTransformer:
    """The final models of ``runs`` as one model with a member each (to evaluate them in one batch)."""
    return ADTransformer.stack([r.model for r in runs]).eval()
