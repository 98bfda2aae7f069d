"""Throughput benchmark (run with ``make bench``; not a test: timings vary by machine).

Prints, each measured side by side in this one run:
  1. environment + source steps per second (batched over bandits);
  2. training a chapter's seeds: the plain loop (one model after another) against the seeds
     trained as one model with a member per seed, and against the book's path (on a CPU with
     several cores, one worker process per core), in tokens per second summed over seeds, for
     the chapter-1 and chapter-2 models (their configs come from adlib.experiments); and the
     plain loop's FLOPs per second (adlib.model.training_step_flops) against this machine's
     float32 matrix-product rate, the ceiling of float32 training that does those products;
  3. in-context rollouts of those seeds: one model after another against all seeds in one
     batch, in in-context steps per second;
  4. KV cache against re-running the whole context at every step;
  5. the cached step's cost early and late in a 100-episode Dark Room run (it should not grow).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from contextlib import contextmanager

import numpy as np
import torch

from adlib.data import BanditDataConfig, LearningHistories, generate_bandit_histories
from adlib.envs import DarkRoomEnv, darkroom_goals, sample_gaussian_bandits
from adlib.experiments import bandit_experiment, darkroom_experiment
from adlib.in_context import InContextPolicy
from adlib.model import ADTransformer
from adlib.rollouts import rollout
from adlib.runtime import default_device, environment_info, matmul_flops_per_second
from adlib.sources import OptimisticGreedy, ThompsonSampling
from adlib.run_store import seed_runs, train, train_seeds
from adlib.train_workers import in_workers
from adlib.training import TrainConfig, training_flops_per_token


def bench_sources(n_bandits: int) -> None:
    tasks = sample_gaussian_bandits(n_bandits, 10, np.random.default_rng(0))
    for policy in (OptimisticGreedy(10), ThompsonSampling(10)):
        start = time.perf_counter()
        rollout(tasks.env(100, seed=0), policy, 100, seed=0, cache=False)
        dt = time.perf_counter() - start
        print(f"  {policy.name:18s} {n_bandits * 100 / dt:>12,.0f} env+source steps/s  ({n_bandits:,} bandits x 100 steps)")


def chapter_models():
    """Per chapter: name, model config, batch size, seeds, a dataset to train on, a function making
    n environments, environments per seed in a rollout, and steps per rollout."""
    ch1, ch2 = bandit_experiment("full"), darkroom_experiment("full")
    bandit_data = generate_bandit_histories(BanditDataConfig(source="thompson", n_histories=2_000, n_steps=ch1.model.context_len))
    rng = np.random.default_rng(0)  # random Dark Room steps: the cost of a training step does not depend on them
    shape = (2_000, ch2.model.context_len)
    dark_data = LearningHistories(rng.integers(0, 81, shape), rng.integers(0, 5, shape), rng.random(shape) < 0.1, 5, 81)
    bandit_env = lambda n: sample_gaussian_bandits(n, 10, np.random.default_rng(1)).env(ch1.horizon, seed=0)  # noqa: E731
    dark_env = lambda n: DarkRoomEnv(np.tile(darkroom_goals(9)[:16], (n // 16, 1)))  # noqa: E731
    return [
        ("chapter 1", ch1.model, ch1.train.batch_size, ch1.train_seeds, bandit_data, bandit_env, ch1.chunk // len(ch1.train_seeds), ch1.horizon),
        ("chapter 2", ch2.model, ch2.train.batch_size, ch2.train_seeds, dark_data, dark_env, 16 * ch2.n_eval_seeds, 100 * ch2.horizon),
    ]


@contextmanager
def train_workers(value: str):
    """``ADLIB_TRAIN_WORKERS`` set to ``value`` inside the block, as it was after it."""
    saved = os.environ.get("ADLIB_TRAIN_WORKERS")
    os.environ["ADLIB_TRAIN_WORKERS"] = value
    try:
        yield
    finally:
        if saved is None:
            del os.environ["ADLIB_TRAIN_WORKERS"]
        else:
            os.environ["ADLIB_TRAIN_WORKERS"] = saved


def bench_training(models, steps: int) -> None:
    """Plain loop, the seeds as one ensemble in this process, and the seeds in worker processes
    (the book's path on a multi-core CPU; its time includes starting the workers)."""
    peak = matmul_flops_per_second()
    print(f"  this machine's float32 matrix-product rate: {peak / 1e9:,.0f} GFLOP/s on {torch.get_num_threads()} threads")
    for name, config, batch, seeds, data, *_ in models:
        tc = TrainConfig(steps=steps, batch_size=batch, warmup_steps=1)
        tokens = len(seeds) * steps * batch * config.context_len
        # Warm the in-process paths up first (thread pools, allocator), so neither pays it in the timing.
        train_seeds(config, TrainConfig(steps=5, batch_size=batch, warmup_steps=1), data, seeds, use_cache=False, progress=False)
        train(config, TrainConfig(steps=5, batch_size=batch, warmup_steps=1), data, use_cache=False, progress=False)
        start = time.perf_counter()
        for s in seeds:
            train(config, TrainConfig(steps=steps, batch_size=batch, warmup_steps=1, seed=s), data, use_cache=False, progress=False)
        plain = tokens / (time.perf_counter() - start)
        with train_workers("1"):  # the ensemble path, in this process
            start = time.perf_counter()
            train_seeds(config, tc, data, seeds, use_cache=False, progress=False)
            ensemble = tokens / (time.perf_counter() - start)
        workers = in_workers(seed_runs(config, tc, data, seeds), default_device())
        start = time.perf_counter()
        train_seeds(config, tc, data, seeds, use_cache=False, progress=False)
        chosen = tokens / (time.perf_counter() - start)
        print(f"  {name} ({ADTransformer(config).n_parameters():,} parameters, batch {batch} x {config.context_len} tokens, "
              f"{len(seeds)} seeds, {steps} steps): plain {plain:>8,.0f} tokens/s | one ensemble {ensemble:>8,.0f} ({ensemble / plain:.2f}x) | "
              f"book's path, {workers} worker processes {chosen:>8,.0f} ({chosen / plain:.2f}x)")
        plain_flops = plain * training_flops_per_token(config)
        print(f"    plain loop: {plain_flops / 1e9:,.0f} GFLOP/s, {plain_flops / peak:.0%} of the matrix-product rate")


def bench_ensemble_rollouts(models, n_steps_cap: int) -> None:
    for name, config, _, seeds, _, make_env, envs_per_seed, n_steps in models:
        n_steps = min(n_steps, n_steps_cap)
        models = []
        for s in seeds:
            torch.manual_seed(s)
            models.append(ADTransformer(config).eval())
        steps = len(seeds) * envs_per_seed * n_steps
        start = time.perf_counter()
        for m in models:
            rollout(make_env(envs_per_seed), InContextPolicy(m), n_steps, seed=0, cache=False)
        plain = steps / (time.perf_counter() - start)
        start = time.perf_counter()
        rollout(make_env(len(seeds) * envs_per_seed), InContextPolicy(ADTransformer.stack(models)), n_steps, seed=0, cache=False)
        together = steps / (time.perf_counter() - start)
        print(f"  {name} ({len(seeds)} seeds x {envs_per_seed} environments, {n_steps} steps): plain {plain:>9,.0f} steps/s | "
              f"together {together:>9,.0f} steps/s | speed-up {together / plain:.2f}x")


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
        model = ADTransformer(dataclasses.replace(bandit_experiment("full").model, context_len=context)).eval()
        cached, cached_tail = time_rollout(model, n_envs, context, use_kv_cache=True)
        full, full_tail = time_rollout(model, n_envs, context, use_kv_cache=False)
        print(f"  context {context}: KV cache {cached:>10,.0f} steps/s | full re-run {full:>8,.0f} steps/s | "
              f"speed-up {cached / full:5.1f}x over the rollout, {cached_tail / full_tail:5.1f}x per step at {context} steps of context")


def bench_long_context() -> None:
    """Dark Room, chapter 2's model: the cached step must cost the same in episode 100 as in episode 5."""
    torch.manual_seed(0)
    model = ADTransformer(darkroom_experiment("full").model).eval()
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
    print(f"  Dark Room, 80 rollouts, context {model.config.context_len}: {early * 1e3:.2f} ms/step in episodes 5-10, "
          f"{late * 1e3:.2f} ms/step in episodes 91-100 (ratio {late / early:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bandits", type=int, default=32_000)
    # 600: chapter 1's own budget per seed. Shorter runs time mostly the start of the worker
    # processes: at 300 steps the book's path came out at 0.88x and 0.92x the plain loop, at 600
    # at 1.03x and 1.00x (2 cores; two one-thread runs side by side do 1.3x once started).
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--rollout-steps", type=int, default=400, help="cap on the steps of each in-context rollout")
    parser.add_argument("--rollout-envs", type=int, default=256)
    args = parser.parse_args()
    info = environment_info()
    print(f"adlib benchmark: torch {info['torch']}, {info['torch_threads']} threads, device {info['device']}")
    print("1. sources"), bench_sources(args.bandits)
    models = chapter_models()
    print("2. training a chapter's seeds"), bench_training(models, args.train_steps)
    print("3. in-context rollouts of a chapter's seeds"), bench_ensemble_rollouts(models, args.rollout_steps)
    print("4. KV cache against re-running the context"), bench_rollouts(args.rollout_envs)
    print("5. step cost over a long in-context run"), bench_long_context()


if __name__ == "__main__":
    main()
