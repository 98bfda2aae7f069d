"""The in-context AD policy: a frozen model acting in a batch of environments, learning only
through its context (:class:`InContextPolicy`), prompted versions of it, and traces of its
action distribution."""

from __future__ import annotations

import numpy as np
import torch

from .model import ADTransformer
from .rollout_cache import cached_run
from .rollouts import Trajectories, rollout_loop


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
        camera: for a frame model (chapter 7), what turns the environment's states into the frames
            the model sees (:class:`adlib.pixels.Camera`; its noise is drawn from the policy's stream).
    """

    in_context = True  # its steps count as in-context steps (throughput on the reproducibility page)

    def __init__(self, model: ADTransformer, greedy: bool = False, use_kv_cache: bool = True, name: str = "AD", camera=None):
        if bool(model.config.frame_size) != (camera is not None):
            raise ValueError("a frame model (ADConfig.frame_size) needs a camera, and only a frame model takes one")
        self.camera = camera
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
        if self.camera is not None:  # the model sees a noisy frame of each state, never the state
            obs_t = self.camera(obs, self.rng).to(self.device)
        else:
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
        traj = rollout_loop(env, recorder, n_steps, seed, None, None, None)
        return {**traj.__dict__, "probs": np.stack(recorder.probs, axis=1)}

    arrays = cached_run(env, policy, n_steps, ("trace", n_steps, seed), run)
    probs = arrays.pop("probs")
    return Trajectories(**arrays), probs


def evaluate_on_bandits(models: list, tasks, n_steps: int, seed: int, chunk_size: int | None = None, greedy: bool = False,
                        name: str = "AD"):
    """The training seeds' models on ``tasks``, as one model with a member per seed acting in one
    batch: model g plays the g-th of ``len(models)`` groups of bandits (actions sampled unless
    ``greedy``). Returns :class:`~adlib.bandit_metrics.GroupedBanditMetrics`."""
    from .bandit_metrics import evaluate_bandit_groups

    policy = InContextPolicy(ADTransformer.stack(models), greedy=greedy, name=name)
    return evaluate_bandit_groups(policy, tasks, len(models), n_steps, seed=seed, chunk_size=chunk_size)
