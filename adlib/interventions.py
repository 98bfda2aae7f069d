"""Interventions on a trained AD model (chapter 6): made-up contexts, hidden tokens, probes.

* :func:`scripted_episodes` makes the episodes a prompt is built from: a shortest walk to a
  chosen cell, rewarded as the room would pay there, or with its rewards set to zero.
* :func:`contexts` cuts the model's inputs for decisions at chosen steps out of recorded
  rollouts, the window AD saw; :func:`episode_tokens` says which of those tokens carry an
  episode's rewards, so they can be hidden (``ADTransformer.forward(hidden_keys=...)``) or
  swapped for another goal's episode.
* :func:`residual_streams` and :func:`ridge_probe` read what each layer holds.
"""

from __future__ import annotations

import numpy as np
import torch

from .envs import DarkRoomEnv
from .rollouts import rollout
from .model import ADTransformer
from .sources import DarkRoomExpert


def mirror_cells(cells, size: int) -> np.ndarray:
    """Each cell reflected through the room's centre: a decoy as far from the start as the
    goal, on the other side. The centre itself (its own mirror) maps to the corner cell 0."""
    rows, cols = np.divmod(np.asarray(cells, dtype=np.int64), size)
    mirrored = (size - 1 - rows) * size + (size - 1 - cols)
    return np.where(mirrored == np.asarray(cells), 0, mirrored)


def scripted_episodes(cells, size: int = 9, horizon: int = 20, rewarded: bool = True, seed: int = 0):
    """One Dark Room episode per cell, walked by the expert: a shortest path from the start to
    the cell, then staying. ``rewarded``: the rewards the room pays when that cell is the goal
    (1 on every step spent on it); otherwise all zero. Returns ``(observations, actions,
    rewards)``, each ``[n, horizon]``, in the format of :meth:`InContextPolicy.prompt`.
    """
    goals = np.stack(np.divmod(np.asarray(cells, dtype=np.int64), size), axis=1)
    traj = rollout(DarkRoomEnv(goals, size, horizon), DarkRoomExpert(goals, size), horizon, seed=seed, progress=False)
    rewards = traj.rewards if rewarded else np.zeros_like(traj.rewards)
    return traj.observations, traj.actions, rewards


def contexts(observations, actions, rewards, at, context_len: int, start_action: int):
    """The model's inputs for a decision at step ``at[i]`` of rollout ``i``: the window of
    ``context_len`` tokens ending at that step, token j = (o_j, a_{j-1}, r_{j-1}).

    ``observations, actions, rewards``: ``[n, T]`` recorded rollouts; ``at``: ``[n]`` steps with
    ``at >= context_len - 1``. Returns three ``[n, context_len]`` arrays.
    """
    at = np.asarray(at, dtype=np.int64)
    if at.min() < context_len - 1 or at.max() >= observations.shape[1]:
        raise ValueError(f"decision steps must lie in [{context_len - 1}, {observations.shape[1]}), got {at.min()}..{at.max()}")
    steps = at[:, None] - np.arange(context_len - 1, -1, -1)[None, :]  # [n, L] the tokens' steps
    rows = np.arange(len(at))[:, None]
    prev = steps - 1
    prev_actions = np.where(prev >= 0, actions[rows, np.maximum(prev, 0)], start_action)
    prev_rewards = np.where(prev >= 0, rewards[rows, np.maximum(prev, 0)], 0.0)
    return observations[rows, steps], prev_actions, prev_rewards


def episode_tokens(at, context_len: int, horizon: int, episode) -> np.ndarray:
    """``[n, context_len]`` bool: which tokens of :func:`contexts`' windows carry the rewards of
    episode ``episode[i]`` (steps ``e*horizon .. e*horizon + horizon - 1``, whose rewards the
    *next* tokens carry). The decision's own token is never included."""
    at = np.asarray(at, dtype=np.int64)
    steps = at[:, None] - np.arange(context_len - 1, -1, -1)[None, :]
    first = np.asarray(episode, dtype=np.int64)[:, None] * horizon + 1
    return (steps >= first) & (steps < first + horizon) & (steps < at[:, None])


def _as_inputs(model: ADTransformer, obs, prev_actions, prev_rewards) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NumPy windows as the model's input tensors, on its device."""
    device = next(model.parameters()).device
    return (torch.as_tensor(np.asarray(obs), dtype=torch.long, device=device),
            torch.as_tensor(np.asarray(prev_actions), dtype=torch.long, device=device),
            torch.as_tensor(np.asarray(prev_rewards), dtype=torch.float32, device=device))


@torch.no_grad()
def action_probabilities(model: ADTransformer, obs, prev_actions, prev_rewards, hidden=None) -> np.ndarray:
    """``[n, n_actions]`` the model's next-action distribution at the last token of each window."""
    inputs = _as_inputs(model, obs, prev_actions, prev_rewards)
    hidden_keys = None if hidden is None else torch.as_tensor(np.asarray(hidden), dtype=torch.bool, device=inputs[0].device)
    logits = model.eval()(*inputs, hidden_keys=hidden_keys)[:, -1]
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()


@torch.no_grad()
def residual_streams(model: ADTransformer, obs, prev_actions, prev_rewards) -> list[np.ndarray]:
    """The residual stream at the last token of each window: after the embedding and after each
    block, ``n_layers + 1`` arrays of ``[n, d_model]``."""
    streams = []
    hooks = [model.blocks[0].register_forward_pre_hook(lambda module, args: streams.append(args[0][:, -1].float().cpu().numpy()))]
    hooks += [block.register_forward_hook(lambda module, args, out: streams.append(out[:, -1].float().cpu().numpy())) for block in model.blocks]
    try:
        model.eval()(*_as_inputs(model, obs, prev_actions, prev_rewards))
    finally:
        for hook in hooks:
            hook.remove()
    return streams


def ridge_probe(x_train, y_train, x_test, y_test, ridge: float = 1.0) -> float:
    """Fit a linear read-out ``y ~ x`` (ridge regression, inputs standardised on the training
    set) and return its R² on the test set (1: perfect, 0: no better than the training mean)."""
    x_train, x_test = np.asarray(x_train, dtype=np.float64), np.asarray(x_test, dtype=np.float64)
    y_train, y_test = np.asarray(y_train, dtype=np.float64), np.asarray(y_test, dtype=np.float64)
    if x_train.ndim != 2 or x_test.ndim != 2 or x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"probe inputs must be [n, d] with one d, got {x_train.shape} and {x_test.shape}")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError("each probe input needs one target")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    a, b = (x_train - mean) / std, (x_test - mean) / std
    a = np.hstack([a, np.ones((len(a), 1))])
    b = np.hstack([b, np.ones((len(b), 1))])
    penalty = ridge * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    w = np.linalg.solve(a.T @ a + penalty, a.T @ y_train)
    residual = ((b @ w - y_test) ** 2).sum()
    total = ((y_test - y_train.mean()) ** 2).sum()
    return float(1.0 - residual / total) if total > 0 else float("nan")
