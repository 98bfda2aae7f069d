"""Batched rollouts of any policy in a batch of environments.

:func:`rollout` runs one policy in a batch of environments and records everything; the
same function records source learning histories (in :mod:`adlib.data`) and evaluates AD,
so the two cannot drift apart. Give two policies environments built from the same tasks
and seed and they share common random numbers (see :mod:`adlib.envs`). A rollout whose
policy can be fingerprinted is kept in the artefact cache (:mod:`adlib.rollout_cache`);
recording histories does not use it, so it imports neither that cache nor the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .artifacts import package_fingerprint
from .runtime import quiet, timed

package_fingerprint()  # read the package's sources now, as this process imports them (the rollout cache's key)


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
    environment state after the run included (:func:`adlib.rollout_cache.cached_run`). ``cache=False`` skips that
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
    compute = lambda: rollout_loop(env, policy, n_steps, seed, chunk_size, progress, until_episodes).__dict__  # noqa: E731
    if not cache:
        return Trajectories(**compute())
    from .rollout_cache import cached_run  # only here: recording histories needs neither the cache nor torch

    return Trajectories(**cached_run(env, policy, n_steps, ("rollout", n_steps, seed, chunk_size, until_episodes), compute))


def rollout_loop(env, policy, n_steps: int, seed: int, chunk_size: int | None, progress: bool | None, until_episodes: int | None) -> Trajectories:
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



def take_runs(traj: Trajectories, index: np.ndarray) -> Trajectories:
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
