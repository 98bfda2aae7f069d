"""Throughput benchmark (run with ``make bench``; not a test: timings vary by machine).

Prints:
  1. environment + source steps per second (batched over bandits);
  2. training tokens per second for the chapter-1 model;
  3. in-context rollout steps per second with and without the KV cache, at 100 and 200
     steps of context, and the speed-up per step at the end of the context;
  4. the cached step's cost early and late in a 100-episode Dark Room run (it should not grow).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from adlib.data import BanditDataConfig, generate_bandit_histories
from adlib.envs import sample_gaussian_bandits
from adlib.evaluation import InContextPolicy, rollout
from adlib.model import ADConfig, ADTransformer
from adlib.runtime import environment_info
from adlib.sources import OptimisticGreedy, ThompsonSampling
from adlib.training import TrainConfig, train

CHAPTER1_MODEL = dict(n_actions=10, d_model=32, n_layers=2, n_heads=2, d_ff=128, dropout=0.0, attn_dropout=0.0)


def bench_sources(n_bandits: int) -> None:
    tasks = sample_gaussian_bandits(n_bandits, 10, np.random.default_rng(0))
    for policy in (OptimisticGreedy(10), ThompsonSampling(10)):
        start = time.perf_counter()
        rollout(tasks.env(100, seed=0), policy, 100, seed=0)
        dt = time.perf_counter() - start
        print(f"  {policy.name:18s} {n_bandits * 100 / dt:>12,.0f} env+source steps/s  ({n_bandits:,} bandits x 100 steps)")


def bench_training(steps: int) -> None:
    data = generate_bandit_histories(BanditDataConfig(n_histories=2_000, n_steps=100))
    config = ADConfig(context_len=100, **CHAPTER1_MODEL)
    run = train(config, TrainConfig(steps=steps, batch_size=64, warmup_steps=1), data, use_cache=False, progress=False)
    print(f"  {run.tokens_per_second:>12,.0f} training tokens/s  (batch 64 x 100 tokens, {steps} steps)")


def time_rollout(model, n_envs: int, n_steps: int, use_kv_cache: bool) -> tuple[float, float]:
    """Steps/s over the whole rollout, and steps/s over its last 10 steps (full context)."""
    tasks = sample_gaussian_bandits(n_envs, 10, np.random.default_rng(1))
    env = tasks.env(n_steps, seed=0)
    policy = InContextPolicy(model, use_kv_cache=use_kv_cache)
    policy.reset(n_envs, np.random.default_rng(0))
    obs = env.reset()
    stamps = []
    start = time.perf_counter()
    for _ in range(n_steps):
        actions = policy.act(obs)
        obs, rewards = env.step(actions)
        policy.observe(actions, rewards)
        stamps.append(time.perf_counter())
    total = n_envs * n_steps / (stamps[-1] - start)
    tail = n_envs * 10 / (stamps[-1] - stamps[-11])
    return total, tail


def bench_rollouts(n_envs: int) -> None:
    for context in (100, 200):
        torch.manual_seed(0)
        model = ADTransformer(ADConfig(context_len=context, **CHAPTER1_MODEL)).eval()
        cached, cached_tail = time_rollout(model, n_envs, context, use_kv_cache=True)
        full, full_tail = time_rollout(model, n_envs, context, use_kv_cache=False)
        print(f"  context {context}: KV cache {cached:>10,.0f} steps/s | full re-run {full:>8,.0f} steps/s | "
              f"speed-up {cached / full:5.1f}x over the rollout, {cached_tail / full_tail:5.1f}x per step at {context} steps of context")


def bench_long_context() -> None:
    """Dark Room, 4-episode context: the cached step must cost the same in episode 100 as in episode 5."""
    from adlib.envs import DarkRoomEnv, darkroom_goals

    torch.manual_seed(0)
    model = ADTransformer(ADConfig(n_actions=5, n_observations=81, grid_size=9, context_len=80, d_model=64, n_layers=2,
                                   n_heads=4, d_ff=128, dropout=0.0, attn_dropout=0.0)).eval()
    env = DarkRoomEnv(np.repeat(darkroom_goals(9)[:16], 5, axis=0))
    policy = InContextPolicy(model)
    policy.reset(env.n_envs, np.random.default_rng(0))
    obs = env.reset()
    per_episode = []
    for _ in range(100):
        start = time.perf_counter()
        for _ in range(20):
            actions = policy.act(obs)
            obs, rewards = env.step(actions)
            policy.observe(actions, rewards)
        per_episode.append((time.perf_counter() - start) / 20)
    early, late = np.median(per_episode[4:10]), np.median(per_episode[-10:])
    print(f"  Dark Room, 80 rollouts, context 80: {early * 1e3:.2f} ms/step in episodes 5-10, "
          f"{late * 1e3:.2f} ms/step in episodes 91-100 (ratio {late / early:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bandits", type=int, default=32_000)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--rollout-envs", type=int, default=256)
    args = parser.parse_args()
    info = environment_info()
    print(f"adlib benchmark: torch {info['torch']}, {info['torch_threads']} threads, device {info['device']}")
    print("1. sources"), bench_sources(args.bandits)
    print("2. training"), bench_training(args.train_steps)
    print("3. in-context rollouts"), bench_rollouts(args.rollout_envs)
    print("4. step cost over a long in-context run"), bench_long_context()


if __name__ == "__main__":
    main()
