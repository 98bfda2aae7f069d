"""The AD transformer: a small GPT over across-episode learning histories.

Tokens. One token per environment step t, built from what the agent knows when it must act:
the current observation o_t, the previous action a_{t-1} and the previous reward r_{t-1}
(embedding sum). The model predicts a_t from the token at t. One token per step (instead of
separate observation/action/reward tokens) keeps sequences 3x shorter, which is what makes
long across-episode contexts affordable on a CPU; it is the layout of the best public AD
reimplementations. The first step of a history has no previous action: it uses an extra
"start" action index ``n_actions`` and reward 0.

Positions. Rotary position embeddings (RoPE) make attention depend only on the *distance*
between two steps, never on absolute position, so the model can act for longer than any
history it was trained on without meeting an unseen position.

Context. Every layer attends over the last ``context_len`` steps (a sliding window, as in
Mistral). During training a window is exactly ``context_len`` long, so this is the plain
causal mask. At inference the window slides, and the KV cache is a ring buffer of
``context_len`` slots per layer: the cached keys are still valid after the slide because
RoPE baked in their positions and attention only looks at distances. The cached step is
therefore *exactly* the full forward over the whole history with the banded mask (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ADConfig:
    """Architecture of the AD transformer. Every field reaches the model (tested)."""

    n_actions: int
    """Size of the discrete action space (number of bandit arms)."""
    n_observations: int = 1
    """Number of distinct observations (1 for bandits: nothing to observe)."""
    context_len: int = 100
    """Steps each position attends over; also the training window length."""
    d_model: int = 64
    """Width of the residual stream."""
    n_layers: int = 4
    """Number of transformer blocks."""
    n_heads: int = 4
    """Attention heads per block; must divide ``d_model``, head width must be even (RoPE)."""
    d_ff: int = 256
    """Hidden width of each block's MLP."""
    dropout: float = 0.1
    """Dropout on embeddings and residual branches (training only)."""
    attn_dropout: float = 0.1
    """Dropout on attention weights (training only)."""
    rope_base: float = 10_000.0
    """Base of the rotary frequencies."""
    grid_size: int = 0
    """0: observations are plain indices, one embedding each. g > 0: an observation is the
    cell ``row * g + col`` of a g x g grid and is embedded as row embedding + column embedding,
    i.e. the agent knows its (x, y) coordinates, as in the paper's Dark Room."""

    def __post_init__(self) -> None:
        for name in ("n_actions", "n_observations", "context_len", "d_model", "n_layers", "n_heads", "d_ff"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ADConfig.{name} must be a positive integer, got {value!r}")
        if self.n_actions < 2:
            raise ValueError(f"ADConfig.n_actions must be >= 2, got {self.n_actions}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"ADConfig.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if (self.d_model // self.n_heads) % 2 != 0:
            raise ValueError(f"head width d_model/n_heads = {self.d_model // self.n_heads} must be even for RoPE")
        for name in ("dropout", "attn_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"ADConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        if not isinstance(self.grid_size, int) or self.grid_size < 0:
            raise ValueError(f"ADConfig.grid_size must be a non-negative integer, got {self.grid_size!r}")
        if self.grid_size and self.grid_size**2 != self.n_observations:
            raise ValueError(f"ADConfig.grid_size {self.grid_size} needs n_observations = {self.grid_size**2}, got {self.n_observations}")
        if self.rope_base <= 1:
            raise ValueError(f"ADConfig.rope_base must be > 1, got {self.rope_base}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


def rotate(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    """Apply rotary embeddings to ``x [B, H, T, hd]`` at integer ``positions [T]``."""
    half = x.shape[-1] // 2
    freqs = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)  # [hd/2]
    angles = positions.to(torch.float32)[:, None] * freqs[None, :]  # [T, hd/2]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def sliding_window_mask(seq_len: int, window: int, device) -> torch.Tensor | None:
    """Boolean ``[T, T]`` mask: query i may attend to key j iff i - window < j <= i.

    Returns None when the plain causal mask is enough (T <= window).
    """
    if seq_len <= window:
        return None
    i = torch.arange(seq_len, device=device)[:, None]
    j = torch.arange(seq_len, device=device)[None, :]
    return (j <= i) & (j > i - window)


class KVCache:
    """Ring buffer of keys and values, ``context_len`` slots per layer, for a batch of rollouts."""

    def __init__(self, config: ADConfig, batch_size: int, device, dtype=torch.float32):
        shape = (config.n_layers, batch_size, config.n_heads, config.context_len, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.n_seen = 0  # tokens written so far; the next token's absolute position
        self.context_len = config.context_len


class SelfAttention(nn.Module):
    def __init__(self, config: ADConfig):
        super().__init__()
        self.config = config
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.resid_dropout = nn.Dropout(config.dropout)

    def _split_heads(self, x: torch.Tensor, positions: torch.Tensor):
        B, T, _ = x.shape
        c = self.config
        q, k, v = self.qkv(x).split(c.d_model, dim=2)
        q, k, v = (t.view(B, T, c.n_heads, c.head_dim).transpose(1, 2) for t in (q, k, v))  # [B, H, T, hd]
        return rotate(q, positions, c.rope_base), rotate(k, positions, c.rope_base), v

    def _merge_heads(self, y: torch.Tensor) -> torch.Tensor:
        B, H, T, hd = y.shape
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, T, H * hd)))

    def forward(self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = self._split_heads(x, positions)
        p = self.config.attn_dropout if self.training else 0.0
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self._merge_heads(y)

    def step(self, x: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
        """One new token per rollout, ``x [B, 1, d]``, attending over the cached window."""
        pos = cache.n_seen
        q, k, v = self._split_heads(x, torch.tensor([pos], device=x.device))
        slot = pos % cache.context_len
        cache.k[layer, :, :, slot] = k[:, :, 0]
        cache.v[layer, :, :, slot] = v[:, :, 0]
        filled = min(pos + 1, cache.context_len)
        keys, values = cache.k[layer, :, :, :filled], cache.v[layer, :, :, :filled]  # [B, H, filled, hd]
        # Slot order does not matter: softmax attention is a sum over keys, and RoPE already
        # encoded each key's position. Plain matmuls beat SDPA for a single query on CPU.
        scores = (q @ keys.transpose(-1, -2)) * (1.0 / math.sqrt(self.config.head_dim))  # [B, H, 1, filled]
        return self._merge_heads(torch.softmax(scores, dim=-1) @ values)


class Block(nn.Module):
    def __init__(self, config: ADConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.d_model)
        self.attn = SelfAttention(config)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff),
            nn.GELU(),
            nn.Linear(config.d_ff, config.d_model),
            nn.Dropout(config.dropout),
        )

    def forward(self, x, positions, mask):
        x = x + self.attn(self.ln1(x), positions, mask)
        return x + self.mlp(self.ln2(x))

    def step(self, x, cache: KVCache, layer: int):
        x = x + self.attn.step(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class ADTransformer(nn.Module):
    """Causal transformer mapping (o_t, a_{t-1}, r_{t-1}) tokens to logits over a_t."""

    def __init__(self, config: ADConfig):
        super().__init__()
        self.config = config
        if config.grid_size:
            self.row_embedding = nn.Embedding(config.grid_size, config.d_model)
            self.col_embedding = nn.Embedding(config.grid_size, config.d_model)
        else:
            self.obs_embedding = nn.Embedding(config.n_observations, config.d_model)
        self.action_embedding = nn.Embedding(config.n_actions + 1, config.d_model)  # +1: "start"
        self.reward_embedding = nn.Linear(1, config.d_model)
        self.embed_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layers)])
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.n_actions)
        self.apply(self._init_weights)
        # GPT-2: scale residual projections so the residual stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def start_action(self) -> int:
        """The previous-action index used at the first step of a history."""
        return self.config.n_actions

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embed(self, obs: torch.Tensor, prev_actions: torch.Tensor, prev_rewards: torch.Tensor) -> torch.Tensor:
        """``obs, prev_actions, prev_rewards`` of shape ``[B, T]`` -> tokens ``[B, T, d]``."""
        c = self.config
        if obs.shape != prev_actions.shape or obs.shape != prev_rewards.shape:
            raise ValueError(
                f"obs, prev_actions and prev_rewards must share one shape, got "
                f"{tuple(obs.shape)}, {tuple(prev_actions.shape)}, {tuple(prev_rewards.shape)}"
            )
        if obs.numel() and (obs.min() < 0 or obs.max() >= c.n_observations):
            raise ValueError(f"observations must lie in [0, {c.n_observations}), got max {int(obs.max())}")
        if prev_actions.numel() and (prev_actions.min() < 0 or prev_actions.max() > c.n_actions):
            raise ValueError(f"previous actions must lie in [0, {c.n_actions}] ({c.n_actions} = start)")
        if c.grid_size:
            obs_embedding = self.row_embedding(obs // c.grid_size) + self.col_embedding(obs % c.grid_size)
        else:
            obs_embedding = self.obs_embedding(obs)
        x = (
            obs_embedding
            + self.action_embedding(prev_actions)
            + self.reward_embedding(prev_rewards.to(self.head.weight.dtype).unsqueeze(-1))
        )
        return self.embed_dropout(x)

    def forward(self, obs: torch.Tensor, prev_actions: torch.Tensor, prev_rewards: torch.Tensor) -> torch.Tensor:
        """Full forward over ``[B, T]`` steps -> logits ``[B, T, n_actions]``.

        For T > context_len each layer uses the sliding-window mask; this is the reference
        that :meth:`step` reproduces exactly.
        """
        if obs.dim() != 2:
            raise ValueError(f"expected [batch, time] inputs, got shape {tuple(obs.shape)}")
        x = self.embed(obs, prev_actions, prev_rewards)  # [B, T, d]
        T = x.shape[1]
        positions = torch.arange(T, device=x.device)
        mask = sliding_window_mask(T, self.config.context_len, x.device)
        for block in self.blocks:
            x = block(x, positions, mask)
        return self.head(self.ln_f(x))  # [B, T, n_actions]

    def new_cache(self, batch_size: int) -> KVCache:
        p = self.head.weight
        return KVCache(self.config, batch_size, device=p.device, dtype=p.dtype)

    def step(self, cache: KVCache, obs: torch.Tensor, prev_actions: torch.Tensor, prev_rewards: torch.Tensor) -> torch.Tensor:
        """Incremental inference: one step for each of ``B`` rollouts, ``[B]`` inputs -> ``[B, n_actions]``."""
        if obs.dim() != 1 or obs.shape[0] != cache.k.shape[1]:
            raise ValueError(f"step expects [{cache.k.shape[1]}] inputs (one per cached rollout), got {tuple(obs.shape)}")
        x = self.embed(obs[:, None], prev_actions[:, None], prev_rewards[:, None])  # [B, 1, d]
        for layer, block in enumerate(self.blocks):
            x = block.step(x, cache, layer)
        cache.n_seen += 1
        return self.head(self.ln_f(x))[:, 0]
