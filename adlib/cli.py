"""Command line: ``adlib run`` executes notebooks in batch, ``adlib baselines`` prints bandit baselines.

Examples::

    adlib run --scale small                       # every notebook, small scale, into _build/executed
    adlib run notebooks/01_bandit.ipynb -p seed 3 # one notebook with a parameter override
    adlib baselines --n-bandits 32000 --steps 100
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .artifacts import REPO_ROOT


def run_notebooks(args) -> int:
    import papermill

    notebooks = [Path(p) for p in args.notebooks] or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"scale": args.scale, "results_dir": str(Path(args.results_dir).resolve())}
    for name, value in args.parameter:
        try:
            params[name] = int(value)
        except ValueError:
            params[name] = value
    for nb in notebooks:
        if not nb.exists():
            print(f"no such notebook: {nb}", file=sys.stderr)
            return 2
        start = time.perf_counter()
        papermill.execute_notebook(str(nb), str(out_dir / nb.name), parameters=params, kernel_name="python3", cwd=str(nb.parent.resolve()))
        print(f"{nb.name}: {time.perf_counter() - start:.1f}s -> {out_dir / nb.name}")
    return 0


def print_baselines(args) -> int:
    from .envs import sample_gaussian_bandits
    from .evaluation import evaluate_bandit_policy
    from .sources import UCB1, EpsilonGreedy, OptimisticGreedy, RandomPolicy, ThompsonSampling

    tasks = sample_gaussian_bandits(args.n_bandits, args.arms, np.random.default_rng(args.seed))
    policies = [OptimisticGreedy(args.arms, 15.0, 0.1), EpsilonGreedy(args.arms, 0.1), UCB1(args.arms), ThompsonSampling(args.arms), RandomPolicy(args.arms)]
    print(f"{args.n_bandits:,} Gaussian {args.arms}-armed bandits, {args.steps} steps, seed {args.seed}")
    print(f"{'method':20s} {'% best @11':>10s} {'% best @end':>11s} {'regret':>8s}")
    for policy in policies:
        m = evaluate_bandit_policy(policy, tasks, args.steps, seed=args.seed)
        p = m.pct_best_arm
        print(f"{policy.name:20s} {p[min(10, args.steps - 1)]:10.1f} {p[-1]:11.1f} {m.cumulative_regret[-1]:8.1f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="adlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill")
    run.add_argument("notebooks", nargs="*", help="notebook paths (default: all, in order)")
    run.add_argument("--scale", choices=("small", "full"), default="full")
    run.add_argument("--results-dir", default=str(REPO_ROOT / "results"))
    run.add_argument("--output-dir", default=str(REPO_ROOT / "_build" / "executed"))
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    run.set_defaults(func=run_notebooks)
    base = sub.add_parser("baselines", help="print classic bandit baselines")
    base.add_argument("--n-bandits", type=int, default=32_000)
    base.add_argument("--arms", type=int, default=10)
    base.add_argument("--steps", type=int, default=100)
    base.add_argument("--seed", type=int, default=0)
    base.set_defaults(func=print_baselines)
    args = parser.parse_args(argv)
    if getattr(args, "arms", 2) < 2 or getattr(args, "steps", 1) < 1 or getattr(args, "n_bandits", 1) < 1:
        parser.error("--arms must be >= 2, --steps and --n-bandits >= 1")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
