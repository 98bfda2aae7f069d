"""The AD transformer: a small GPT over across-episode learning histories.

Tokens. One token per environment step t, built from what the agent knows when it must act:
the current observation o_t, the previous action a_{t-1} and the previous reward r_{t-1}
(embedding sum; optionally the reward also through an embedding of the previous action,
``ADConfig.reward_by_action``). The model predicts a_t from the token at t. One token per step (instead of
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

Members. One ``ADTransformer`` can hold several independent models (e.g. a chapter's training
seeds) that train and act together in one batch; see the comment above ``MemberLinear``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


FRAME_SIZES = (16, 24, 32)
"""Frame sides (pixels) :class:`FrameEncoder` takes."""


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
    reward_by_action: bool = False
    """Also embed the previous reward *per previous action*: ``r * e[a]``, one learned vector
    ``e[a]`` per action, added to the token. With False the reward has one direction shared by
    all actions, and a token's (action, reward) pair is a sum, which attention cannot average
    per action; with True, attending uniformly over the past sums each arm's rewards directly.
    (The "start" action's vector is never used: the first step's reward is 0.)"""
    grid_size: int = 0
    """0: observations are plain indices, one embedding each. g > 0: an observation is the
    cell ``row * g + col`` of a g x g grid and is embedded as row embedding + column embedding,
    i.e. the agent knows its (x, y) coordinates, as in the paper's Dark Room."""
    coordinate_embedding: bool = field(default=False, metadata={"hash_omit_if": False})
    """Grid models only: also add the cell's row and column *as numbers* (scaled to [-1, 1])
    times two learned vectors. Learned row and column embeddings say which row a cell is in but
    not that row 3 lies between rows 2 and 4; with the numbers, "which way is a remembered cell
    from here" is a difference the model can form linearly, which walking back to a cell from a
    random start needs. (Left out of cache hashes when off, so models cached before it existed
    stay valid.)"""
    frame_size: int = field(default=0, metadata={"hash_omit_if": 0})
    """0: observations are indices (above). f > 0: an observation is an RGB frame ``[3, f, f]`` with
    values in [0, 1] (chapter 7's first-person views), turned into the step's token by a small
    convolutional encoder (:class:`FrameEncoder`); ``n_observations`` is then unused. f must be
    16, 24 or 32: the encoder's strides 4 and 2 need a multiple of 8. (Left out of cache hashes when 0.)"""

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
        if not isinstance(self.reward_by_action, bool):
            raise ValueError(f"ADConfig.reward_by_action must be True or False, got {self.reward_by_action!r}")
        if not isinstance(self.coordinate_embedding, bool):
            raise ValueError(f"ADConfig.coordinate_embedding must be True or False, got {self.coordinate_embedding!r}")
        if self.coordinate_embedding and self.grid_size < 2:
            raise ValueError(f"ADConfig.coordinate_embedding needs a grid (grid_size >= 2), got grid_size={self.grid_size}")
        if self.grid_size and self.grid_size**2 != self.n_observations:
            raise ValueError(f"ADConfig.grid_size {self.grid_size} needs n_observations = {self.grid_size**2}, got {self.n_observations}")
        if not isinstance(self.frame_size, int) or (self.frame_size and self.frame_size not in FRAME_SIZES):
            raise ValueError(f"ADConfig.frame_size must be 0 (no frames) or one of {FRAME_SIZES} pixels (the frame encoder's "
                             f"strides 4 and 2 need a multiple of 8, at most 32), got {self.frame_size!r}")
        if self.frame_size and self.grid_size:
            raise ValueError("ADConfig.frame_size and grid_size exclude each other: an observation is a frame or a cell, not both")
        if self.rope_base <= 1:
            raise ValueError(f"ADConfig.rope_base must be > 1, got {self.rope_base}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


FIELD_WORDS = {"n_actions": "actions", "n_observations": "observations", "context_len": "context (steps)", "d_model": "width",
               "n_layers": "layers", "n_heads": "heads", "d_ff": "feed-forward width", "grid_size": "grid size of the (x, y) embedding (0: none)",
               "reward_by_action": "reward embedded per previous action", "coordinate_embedding": "coordinates embedded as numbers",
               "frame_size": "frame side in pixels (0: no frames)"}
"""How a page names each :class:`ADConfig` field."""


def config_changes(old: ADConfig, new: ADConfig) -> list[str]:
    """The fields of ``new`` that differ from ``old``, in words: ``["actions 10 → 5", ...]``."""
    shown = lambda v: ("on" if v else "off") if isinstance(v, bool) else v  # noqa: E731
    return [f"{FIELD_WORDS.get(f.name, f.name)} {shown(getattr(old, f.name))} → {shown(getattr(new, f.name))}"
            for f in dataclasses.fields(ADConfig) if getattr(old, f.name) != getattr(new, f.name)]


def describe(config: ADConfig) -> str:
    """A model's size in words: "4 layers, width 64, 4 heads, feed-forward 2048, dropout 0.1, attention dropout 0.5"."""
    dropout = f", dropout {config.dropout:g}, attention dropout {config.attn_dropout:g}" if config.dropout or config.attn_dropout else ", no dropout"
    return f"{config.n_layers} layers, width {config.d_model}, {config.n_heads} heads, feed-forward {config.d_ff}{dropout}"


def training_step_flops(config: ADConfig, batch_size: int) -> int:
    """Floating-point operations (FLOPs) of the matrix products in one training step's forward
    and backward pass over ``batch_size`` windows of ``config.context_len`` steps.

    Counted as torch's ``FlopCounterMode`` counts them with the plain ("math") attention kernel
    (tested), the usual model-FLOPs convention: 2 per multiply-add, attention over the whole
    T x T square (a causal kernel may skip the masked half: about an eighth of the total for the
    book's grid models). Element-wise work (layer norms, GELU, softmax, rotary embeddings) and
    the optimiser are left out: they cost time but no products.
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    c = config
    tokens = batch_size * c.context_len
    block_weights = 3 * c.d_model**2 + c.d_model**2 + 2 * c.d_model * c.d_ff  # qkv, proj, MLP in and out
    # Input features that carry no gradient (the reward, the two coordinates) need no input gradient backward.
    no_grad_in_features = 1 + (2 if c.coordinate_embedding else 0)
    # Weights each token multiplies by (the embedding tables are lookups, not products).
    weights = c.n_layers * block_weights + c.d_model * c.n_actions + no_grad_in_features * c.d_model
    forward = 2 * tokens * weights
    backward = 2 * forward - 2 * tokens * no_grad_in_features * c.d_model  # gradients of the weights and of the inputs
    attention_forward = c.n_layers * 2 * 2 * batch_size * c.n_heads * c.context_len**2 * c.head_dim  # q k^T and p v
    encoder = 0
    if c.frame_size:  # conv1 needs no input gradient (the frames), conv2 and the linear map do
        conv1, conv2, linear = (2 * tokens * m for m in FrameEncoder.multiply_adds(c.frame_size, c.d_model))
        encoder = 2 * conv1 + 3 * conv2 + 3 * linear
    return int(forward + backward + 3 * attention_forward + encoder)  # backward of attention: twice its forward


def rope_tables(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary ``cos, sin`` tables ``[T, head_dim / 2]`` for integer ``positions [T]``.

    Computed once per forward pass and shared by every layer, and by queries and keys.
    """
    half = head_dim // 2
    freqs = base ** (-torch.arange(half, device=positions.device, dtype=torch.float32) / half)  # [hd/2]
    angles = positions.to(torch.float32)[:, None] * freqs[None, :]  # [T, hd/2]
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Apply rotary embeddings (:func:`rope_tables`) to ``x [B, T, ..., hd]`` (time on axis 1).

    Queries and keys are rotated together, before the heads are split off, as one
    ``[B, T, 2, H, hd]`` tensor: half the element-wise operations of rotating each on its own,
    which on a CPU is about a tenth of a training step for the book's models.
    """
    cos, sin = (t.to(x.dtype).view(t.shape[0], *[1] * (x.dim() - 3), t.shape[1]) for t in rope)  # [T, 1.., hd/2]
    half = x.shape[-1] // 2
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


# Members. A model holds E >= 1 independent sets of weights ("members", e.g. the training
# seeds of a chapter), each parameter with a leading member axis. A batch of N = E * B rows is
# member-major: rows [e*B, (e+1)*B) belong to member e. Members never mix: every operation is
# either per row or per member (batched matmuls). Why: for models this small, a step over a
# small batch costs mostly per-operation overhead, and E members in one set of operations pay
# it once instead of E times. That is the case of in-context rollouts over a few dozen
# environments (1.8x measured on a 2-core CPU). A training batch of 64 windows on that CPU
# is bound by arithmetic and memory instead and gains nothing (0.93-0.99x); on hardware where
# overhead dominates it gains more. benchmarks/benchmark.py measures both.


class MemberLinear(nn.Module):
    """``E`` independent linear maps: ``[N, ..., d_in] -> [N, ..., d_out]``, N = E * B rows."""

    def __init__(self, n_members: int, d_in: int, d_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_members, d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(n_members, 1, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        E, d_in, d_out = self.weight.shape
        y = torch.baddbmm(self.bias, x.reshape(E, -1, d_in), self.weight)  # [E, B * ..., d_out]
        return y.view(*x.shape[:-1], d_out)


class MemberLayerNorm(nn.Module):
    """LayerNorm with one gain and bias per member."""

    def __init__(self, n_members: int, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_members, 1, d))
        self.bias = nn.Parameter(torch.zeros(n_members, 1, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        E, _, d = self.weight.shape
        if E == 1:  # one fused kernel instead of three
            return F.layer_norm(x, (d,), self.weight[0, 0], self.bias[0, 0])
        y = torch.addcmul(self.bias, F.layer_norm(x, (d,)).reshape(E, -1, d), self.weight)
        return y.view(x.shape)


class MemberEmbedding(nn.Module):
    """``E`` independent embedding tables: integer ``[N, ...]`` -> ``[N, ..., d]``."""

    def __init__(self, n_members: int, n_entries: int, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_members, n_entries, d))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        E, V, d = self.weight.shape
        offsets = torch.arange(E, device=index.device)[:, None] * V  # member e reads rows [e*V, (e+1)*V)
        flat = (index.reshape(E, -1) + offsets).view(index.shape)
        return F.embedding(flat, self.weight.view(E * V, d))


class FrameEncoder(nn.Module):
    """``E`` independent small CNNs: frames ``[N, ..., 3, f, f]`` -> tokens ``[N, ..., d]``.

    conv 4x4 stride 4 (16 channels) -> GELU -> conv 3x3 stride 2 (32 channels) -> GELU -> linear.
    A 32x32 frame becomes 8x8x16, then 4x4x32 = 512 features, then one token.
    """

    C1, C2 = 16, 32

    def __init__(self, n_members: int, frame_size: int, d: int):
        super().__init__()
        E, side = n_members, frame_size // 8
        self.frame_size = frame_size
        self.conv1 = nn.Parameter(torch.randn(E, self.C1, 3, 4, 4) / math.sqrt(3 * 16))
        self.bias1 = nn.Parameter(torch.zeros(E, self.C1))
        self.conv2 = nn.Parameter(torch.randn(E, self.C2, self.C1, 3, 3) / math.sqrt(self.C1 * 9))
        self.bias2 = nn.Parameter(torch.zeros(E, self.C2))
        self.out = MemberLinear(E, self.C2 * side * side, d)

    @classmethod
    def multiply_adds(cls, frame_size: int, d: int) -> tuple[int, int, int]:
        """Multiply-adds per frame of the two convolutions and the linear map."""
        a, b = (frame_size // 4) ** 2, (frame_size // 8) ** 2
        return a * cls.C1 * 3 * 16, b * cls.C2 * cls.C1 * 9, b * cls.C2 * d

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        f, E = self.frame_size, self.conv1.shape[0]
        if frames.shape[-3:] != (3, f, f):
            raise ValueError(f"frames must end in (3, {f}, {f}) (RGB, {f}x{f} pixels), got shape {tuple(frames.shape)}")
        lead = frames.shape[:-3]
        x = frames.reshape(E, -1, 3, f, f)
        features = torch.stack([
            F.gelu(F.conv2d(F.gelu(F.conv2d(x[e], self.conv1[e], self.bias1[e], stride=4)), self.conv2[e], self.bias2[e], stride=2, padding=1))
            for e in range(E)
        ])  # [E, M, C2, f/8, f/8]
        return self.out(features.reshape(*lead, -1))


class SelfAttention(nn.Module):
    def __init__(self, config: ADConfig, n_members: int):
        super().__init__()
        self.config = config
        self.qkv = MemberLinear(n_members, config.d_model, 3 * config.d_model)
        self.proj = MemberLinear(n_members, config.d_model, config.d_model)
        self.resid_dropout = nn.Dropout(config.dropout)

    def _split_heads(self, x: torch.Tensor, rope):
        B, T, _ = x.shape
        c = self.config
        qkv = self.qkv(x).view(B, T, 3, c.n_heads, c.head_dim)
        q, k = rotate(qkv[:, :, :2], rope).unbind(2)  # [B, T, H, hd] each
        return q.transpose(1, 2), k.transpose(1, 2), qkv[:, :, 2].transpose(1, 2)  # [B, H, T, hd]

    def _merge_heads(self, y: torch.Tensor) -> torch.Tensor:
        B, H, T, hd = y.shape
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, T, H * hd)))

    def forward(self, x: torch.Tensor, rope, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = self._split_heads(x, rope)
        p = self.config.attn_dropout if self.training else 0.0
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self._merge_heads(y)

    def step(self, x: torch.Tensor, rope, cache: KVCache, layer: int) -> torch.Tensor:
        """One new token per rollout, ``x [B, 1, d]``, attending over the cached window."""
        pos = cache.n_seen
        q, k, v = self._split_heads(x, rope)
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
    def __init__(self, config: ADConfig, n_members: int):
        super().__init__()
        E = n_members
        self.ln1 = MemberLayerNorm(E, config.d_model)
        self.attn = SelfAttention(config, E)
        self.ln2 = MemberLayerNorm(E, config.d_model)
        self.mlp = nn.Sequential(
            MemberLinear(E, config.d_model, config.d_ff),
            nn.GELU(),
            MemberLinear(E, config.d_ff, config.d_model),
            nn.Dropout(config.dropout),
        )

    def forward(self, x, rope, mask):
        x = x + self.attn(self.ln1(x), rope, mask)
        return x + self.mlp(self.ln2(x))

    def step(self, x, rope, cache: KVCache, layer: int):
        x = x + self.attn.step(self.ln1(x), rope, cache, layer)
        return x + self.mlp(self.ln2(x))


class ADTransformer(nn.Module):
    """Causal transformer mapping (o_t, a_{t-1}, r_{t-1}) tokens to logits over a_t.

    ``n_members`` > 1 holds that many independent models in one (see "Members" above): inputs
    then have ``N = n_members * B`` rows, member-major. :meth:`stack` builds one from separately
    initialised models and :meth:`member` takes one out again.
    """

    def __init__(self, config: ADConfig, n_members: int = 1):
        super().__init__()
        if not isinstance(n_members, (int, np.integer)) or n_members < 1:
            raise ValueError(f"n_members must be a positive integer, got {n_members!r}")
        self.config = config
        E, d = n_members, config.d_model
        if config.frame_size:
            self.frame_encoder = FrameEncoder(E, config.frame_size, d)
        elif config.grid_size:
            self.row_embedding = MemberEmbedding(E, config.grid_size, d)
            self.col_embedding = MemberEmbedding(E, config.grid_size, d)
            if config.coordinate_embedding:
                self.coordinate_embedding = MemberLinear(E, 2, d)
        else:
            self.obs_embedding = MemberEmbedding(E, config.n_observations, d)
        self.action_embedding = MemberEmbedding(E, config.n_actions + 1, d)  # +1: "start"
        self.reward_embedding = MemberLinear(E, 1, d)
        if config.reward_by_action:
            self.reward_by_action_embedding = MemberEmbedding(E, config.n_actions + 1, d)
        self.embed_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config, E) for _ in range(config.n_layers)])
        self.ln_f = MemberLayerNorm(E, d)
        self.head = MemberLinear(E, d, config.n_actions)
        for module in self.modules():
            if isinstance(module, (MemberLinear, MemberEmbedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        # GPT-2: scale residual projections so the residual stream's variance does not grow with depth.
        for block in self.blocks:
            for p in (block.attn.proj.weight, block.mlp[2].weight):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    @property
    def n_members(self) -> int:
        return self.head.weight.shape[0]

    @classmethod
    def stack(cls, models: list["ADTransformer"]) -> "ADTransformer":
        """One model whose members are ``models`` (same config), in order."""
        if not models:
            raise ValueError("stack needs at least one model")
        config = models[0].config
        if any(m.config != config for m in models):
            raise ValueError("can only stack models of one ADConfig")
        with torch.random.fork_rng(devices=[]):  # the shell's throwaway initialisation leaves torch's random stream as it was
            stacked = cls(config, sum(m.n_members for m in models)).to(models[0].head.weight.device)
        states = [m.state_dict() for m in models]
        stacked.load_state_dict({k: torch.cat([s[k] for s in states]) for k in states[0]})
        return stacked.train(models[0].training)

    def member(self, e: int) -> "ADTransformer":
        """A copy of member ``e`` as a one-member model."""
        if not 0 <= e < self.n_members:
            raise IndexError(f"member {e} of a {self.n_members}-member model")
        with torch.random.fork_rng(devices=[]):
            single = type(self)(self.config).to(self.head.weight.device)
        single.load_state_dict({k: v[e:e + 1].clone() for k, v in self.state_dict().items()})
        return single.train(self.training)

    @property
    def start_action(self) -> int:
        """The previous-action index used at the first step of a history."""
        return self.config.n_actions

    def n_parameters(self) -> int:
        """Parameters of one member."""
        return sum(p.numel() for p in self.parameters()) // self.n_members

    def embed(self, obs: torch.Tensor, prev_actions: torch.Tensor, prev_rewards: torch.Tensor) -> torch.Tensor:
        """``obs, prev_actions, prev_rewards`` of shape ``[N, T]`` -> tokens ``[N, T, d]``
        (frame models: ``obs`` is ``[N, T, 3, f, f]``)."""
        c = self.config
        if self.obs_shape(obs) != prev_actions.shape or prev_actions.shape != prev_rewards.shape:
            raise ValueError(
                f"obs, prev_actions and prev_rewards must share one shape of [batch, time] steps, got "
                f"{tuple(obs.shape)}, {tuple(prev_actions.shape)}, {tuple(prev_rewards.shape)}"
            )
        if obs.shape[0] % self.n_members:
            raise ValueError(f"{obs.shape[0]} rows cannot be split evenly among {self.n_members} members")
        if prev_actions.numel() and (prev_actions.min() < 0 or prev_actions.max() > c.n_actions):
            raise ValueError(f"previous actions must lie in [0, {c.n_actions}] ({c.n_actions} = start)")
        if c.frame_size:
            if obs.dim() != 5 or not obs.is_floating_point():
                raise ValueError(f"a frame model takes float frames [batch, time, 3, {c.frame_size}, {c.frame_size}], "
                                 f"got {obs.dtype} {tuple(obs.shape)}")
            obs_embedding = self.frame_encoder(obs.to(self.head.weight.dtype))
        elif obs.dim() != 2 or obs.is_floating_point():
            raise ValueError(f"observations must be integer indices [batch, time], got {obs.dtype} {tuple(obs.shape)}"
                             + ("; frames need a model with ADConfig.frame_size" if obs.dim() == 5 else ""))
        elif obs.numel() and (obs.min() < 0 or obs.max() >= c.n_observations):
            raise ValueError(f"observations must lie in [0, {c.n_observations}), got max {int(obs.max())}")
        elif c.grid_size:
            rows, cols = obs // c.grid_size, obs % c.grid_size
            obs_embedding = self.row_embedding(rows) + self.col_embedding(cols)
            if c.coordinate_embedding:
                half = (c.grid_size - 1) / 2
                coords = torch.stack([rows, cols], dim=-1).to(self.head.weight.dtype) / half - 1.0  # [N, T, 2] in [-1, 1]
                obs_embedding = obs_embedding + self.coordinate_embedding(coords)
        else:
            obs_embedding = self.obs_embedding(obs)
        rewards = prev_rewards.to(self.head.weight.dtype).unsqueeze(-1)  # [N, T, 1]
        x = obs_embedding + self.action_embedding(prev_actions) + self.reward_embedding(rewards)
        if c.reward_by_action:
            x = x + rewards * self.reward_by_action_embedding(prev_actions)
        return self.embed_dropout(x)

    def obs_shape(self, obs: torch.Tensor) -> torch.Size:
        """The ``[N, T]`` (or ``[N]``) steps that ``obs`` holds: frames carry 3 more axes."""
        return obs.shape[:-3] if self.config.frame_size else obs.shape

    def forward(self, obs: torch.Tensor, prev_actions: torch.Tensor, prev_rewards: torch.Tensor,
                hidden_keys: torch.Tensor | None = None) -> torch.Tensor:
        """Full forward over ``[N, T]`` steps -> logits ``[N, T, n_actions]``.

        For T > context_len each layer uses the sliding-window mask; this is the reference
        that :meth:`step` reproduces exactly.

        ``hidden_keys``: optional bool ``[N, T]``, True for tokens no other token may attend to,
        in any layer (an intervention, chapter 6): what the model does without them in view.
        Each token still attends to itself, so a hidden token's own output stays defined;
        it reaches no other token.
        """
        if len(self.obs_shape(obs)) != 2:
            hint = "; frames need a model with ADConfig.frame_size" if obs.dim() == 5 and not self.config.frame_size else ""
            raise ValueError(f"expected [batch, time] inputs, got shape {tuple(obs.shape)}{hint}")
        x = self.embed(obs, prev_actions, prev_rewards)  # [N, T, d]
        N, T = self.obs_shape(obs)
        rope = rope_tables(torch.arange(T, device=x.device), self.config.head_dim, self.config.rope_base)
        mask = sliding_window_mask(T, self.config.context_len, x.device)
        if hidden_keys is not None:
            if hidden_keys.shape != (N, T) or hidden_keys.dtype != torch.bool:
                raise ValueError(f"hidden_keys must be a bool tensor of the inputs' shape {(N, T)}, "
                                 f"got {hidden_keys.dtype} {tuple(hidden_keys.shape)}")
            window = torch.ones(T, T, dtype=torch.bool, device=x.device).tril() if mask is None else mask  # [T, T]
            itself = torch.eye(T, dtype=torch.bool, device=x.device)
            mask = (window & ~hidden_keys[:, None, :] | itself)[:, None]  # [N, 1, T, T]: query i may attend key j
        for block in self.blocks:
            x = block(x, rope, mask)
        return self.head(self.ln_f(x))  # [N, T, n_actions]

    def new_cache(self, batch_size: int) -> KVCache:
        p = self.head.weight
        return KVCache(self.config, batch_size, device=p.device, dtype=p.dtype)

    def step(self, cache: KVCache, obs: torch.Tensor, prev_actions: torch.Tensor, prev_rewards: torch.Tensor) -> torch.Tensor:
        """Incremental inference: one step for each of ``N`` rollouts, ``[N]`` inputs -> ``[N, n_actions]``."""
        if len(self.obs_shape(obs)) != 1 or obs.shape[0] != cache.k.shape[1]:
            raise ValueError(f"step expects [{cache.k.shape[1]}] inputs (one per cached rollout), got {tuple(obs.shape)}")
        x = self.embed(obs[:, None], prev_actions[:, None], prev_rewards[:, None])  # [N, 1, d]
        rope = rope_tables(torch.tensor([cache.n_seen], device=x.device), self.config.head_dim, self.config.rope_base)
        for layer, block in enumerate(self.blocks):
            x = block.step(x, rope, cache, layer)
        cache.n_seen += 1
        return self.head(self.ln_f(x))[:, 0]
