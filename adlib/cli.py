"""Command line: ``adlib run`` executes notebooks in batch, ``adlib baselines`` prints bandit baselines,
``adlib trial`` trains and tests one variant of a chapter-5 model, ``adlib weights`` trains the shipped
weights (``make weights``).

Examples::

    adlib run --scale small                       # every notebook, small scale, into _build/executed
    adlib run notebooks/01_bandit.ipynb -p seed 3 # one notebook with a parameter override
    adlib baselines --n-bandits 32000 --steps 100
    adlib trial hard --histories 8 --steps 6000   # chapter 5's 8-history, 6,000-step row (twice its setting)
    adlib trial key-to-door --context-len 250 --batch-size 32
    adlib trial hard --every-episode 2            # every second episode of source runs twice as long
    adlib weights --chapter 05_harder_dark_rooms  # train that chapter's missing or stale shipped weights
    adlib weights --check                         # list the runs whose shipped weights are missing or stale
    adlib execute-book --workers 2                # run the book's notebooks two at a time into the build's cache (make book)
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
    from .bandit_metrics import evaluate_bandit_policy
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


def run_trial(args) -> int:
    """Train one AD model of chapter 5 with some settings changed and test it on validation tasks.

    Every setting not given on the command line is the chapter's at ``--scale``, except the
    number of evaluation seeds (``--eval-seeds``, 2 by default; the chapter uses 3). The model
    is trained afresh and not cached, with training seed ``--seed`` (the data and evaluation
    seeds stay the chapter's), and acts with sampled actions.

    ``--tasks validation`` (the default) scores it on tasks kept apart from both the training
    and the held-out tasks, where settings may be chosen: in Dark Room Hard 40 goals taken out of
    the 249 that are not held out (the chapter trains on the other 209), in Key-to-Door 40 pairs
    outside both sets. ``--tasks held-out`` scores it on the chapter's held-out
    tasks, which must not be used to choose settings. ``--record FILE`` appends one JSON line
    with the command, the code version, the machine, the training time, the final loss and the result.
    """
    import dataclasses

    import json
    import platform

    from . import data, grid_evaluation, in_context, run_store, runtime
    from .artifacts import to_jsonable
    from .experiments import grid_budget, harder_rooms_experiment

    X = harder_rooms_experiment(args.scale)
    hard = args.room == "hard"
    source = X.hard_source if hard else X.key_door_source
    if args.tasks == "held-out":
        tasks = np.array(X.hard_test_goals if hard else X.key_door_test_pairs)
    else:  # the chapter trains on neither (in Dark Room Hard, 40 goals taken out of the training goals)
        tasks = np.array(X.hard_validation_goals if hard else X.key_door_validation_pairs)
    if args.histories is not None:
        source = dataclasses.replace(source, **{"histories_per_goal" if hard else "histories_per_pair": args.histories})
    if args.every_episode > 1:  # source runs that many times as long, so the kept data has about as many steps
        source = dataclasses.replace(source, **({"n_episodes": source.n_episodes * args.every_episode} if hard
                                                else {"n_steps": source.n_steps * args.every_episode}))
    model_changes = {}
    if args.context_len is not None:
        model_changes["context_len"] = args.context_len
    if args.layers is not None:
        model_changes["n_layers"] = args.layers
    if args.coordinates is not None:
        model_changes["coordinate_embedding"] = args.coordinates
    model = dataclasses.replace(X.hard_model if hard else X.key_door_model, **model_changes)
    base = X.hard_budget if hard else X.key_door_budget
    steps = args.steps or base.steps
    train = dataclasses.replace(grid_budget(steps, base.lr, args.batch_size or base.batch_size), seed=args.seed)
    histories = data.darkroom_histories(source) if hard else data.key_to_door_histories(source)
    if args.every_episode > 1:
        dones = grid_evaluation.episode_ends_from_rewards(histories.rewards, source.horizon, rewards_to_end=1 if hard else 2)
        histories = histories.subsample_uneven_episodes(args.every_episode, dones)
    start = time.perf_counter()
    run = run_store.train(model, train, histories, use_cache=False, shipped=False)
    trained = time.perf_counter() - start
    policy = [in_context.InContextPolicy(run.model)]
    if hard:
        ev = grid_evaluation.evaluate_on_goals(policy, tuple(tasks.tolist()), X.eval_episodes, args.eval_seeds, seed=500,
                                          size=X.hard_size, horizon=X.hard_horizon, hard=True)
        per_episode, unit = ev.rate(1).mean(axis=0), "success rate"
    else:
        ev = grid_evaluation.evaluate_on_key_doors(policy, tasks, X.eval_episodes, args.eval_seeds,
                                              seed=500, size=X.key_door_size, horizon=X.key_door_horizon)
        per_episode, unit = ev.returns.mean(axis=(0, 1)), "return (of 2)"
    kept = f" (1 episode in {args.every_episode} kept, cut to {histories.n_steps} steps)" if args.every_episode > 1 else ""
    print(f"{args.room}: {histories.n_histories} histories{kept}, context {model.context_len}, {model.n_layers} layers, "
          f"{'coordinates embedded, ' if model.coordinate_embedding else ''}"
          f"{steps} steps of {train.batch_size} windows, training seed {args.seed}: {trained:.0f} s "
          f"({run.tokens_per_second:,.0f} tokens/s), final loss {run.losses[-20:].mean():.3f}")
    k = X.window_episodes
    print(f"{len(ev.optimal)} {args.tasks} tasks, {X.eval_episodes} episodes, sampled actions, {args.eval_seeds} evaluation "
          f"seed(s): {unit} {per_episode[:k].mean():.3f} over the first {k} episodes, {per_episode[-k:].mean():.3f} over "
          f"the last {k}")
    if not hard:
        print(f"last {k} episodes: key found {ev.rate(1).mean(axis=0)[-k:].mean():.2f}, "
              f"door after it {ev.rate(2).mean(axis=0)[-k:].mean():.2f}")
    if args.record:
        record = {
            "command": "adlib trial " + " ".join(args.argv), "room": args.room, "tasks": args.tasks, "scale": args.scale,
            "code": runtime.code_version(), "cpu": runtime.cpu_name(), "cores": runtime.cpu_cores(),
            "device": str(runtime.default_device()), "python": platform.python_version(),
            "model": to_jsonable(model, for_hash=True), "train": to_jsonable(train), "histories": histories.n_histories,
            "training_seconds": round(trained, 1), "final_loss": round(float(run.losses[-20:].mean()), 4),
            "eval_seeds": args.eval_seeds, "unit": unit,
            "first": round(float(per_episode[:k].mean()), 4), "last": round(float(per_episode[-k:].mean()), 4),
            "window_episodes": k,
        }
        if not hard:
            record["door_after_key_last"] = round(float(ev.rate(2).mean(axis=0)[-k:].mean()), 4)
        with open(args.record, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    return 0


def weights(args) -> int:
    """Train the shipped weights that are missing or stale (``make weights``), or only check them."""
    from .run_store import check_shipped, make_weights

    chapters = args.chapter or None
    if args.check:
        problems = check_shipped(chapters)
        for line in problems:
            print(line)
        print(f"adlib weights --check: {len(problems)} run(s) missing or stale")
        return 1 if problems else 0
    result = make_weights(chapters, retrain=args.retrain)
    print(f"make weights: trained {len(result['trained'])}, {len(result['current'])} already current, removed "
          f"{len(result['removed'])} no longer asked for, in {result['seconds']:,.0f} s")
    return 0


def _int_at_least(text: str, minimum: int) -> int:
    value = int(text)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (argparse names the option when it is not)."""
    return _int_at_least(text, 1)


def arm_count(text: str) -> int:
    """An argparse type: a number of bandit arms, at least 2 (one arm leaves nothing to choose)."""
    return _int_at_least(text, 2)


def execute_book(args) -> int:
    """Execute every notebook of the book, several at a time, into ``_build/.jupyter_cache``, from which
    ``jupyter-book build`` with ``ADLIB_BOOK_PREEXECUTED`` set takes their outputs (see adlib.book_execution)."""
    from .book_execution import execute_book as run

    started = time.perf_counter()
    run(args.workers, Path(args.cache_dir))
    print(f"adlib execute-book: {time.perf_counter() - started:.0f} s")
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
    base.add_argument("--n-bandits", type=positive_int, default=32_000)
    base.add_argument("--arms", type=arm_count, default=10)
    base.add_argument("--steps", type=positive_int, default=100)
    base.add_argument("--seed", type=int, default=0)
    base.set_defaults(func=print_baselines)
    trial = sub.add_parser("trial", help="train and test one variant of a chapter-5 model",
                           description=run_trial.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    trial.add_argument("room", choices=("hard", "key-to-door"), help="Dark Room Hard or Dark Key-to-Door")
    chapter = "default: the chapter's, which the trial prints"  # not read here: that would import torch for every command
    trial.add_argument("--steps", type=positive_int, help=f"optimiser steps ({chapter}); the warm-up stays 1/15 of them")
    trial.add_argument("--context-len", type=positive_int, help=f"steps of context the model reads ({chapter})")
    trial.add_argument("--batch-size", type=positive_int, help=f"windows per optimiser step ({chapter})")
    trial.add_argument("--layers", type=positive_int, help=f"transformer layers ({chapter})")
    trial.add_argument("--coordinates", action=argparse.BooleanOptionalAction, default=None,
                       help=f"also embed each cell's row and column as numbers, or not (ADConfig.coordinate_embedding; {chapter})")
    trial.add_argument("--histories", type=positive_int,
                       help=f"learning histories per training goal (hard) or per (key, door) pair (key-to-door) ({chapter})")
    trial.add_argument("--every-episode", type=positive_int, default=1, metavar="K",
                       help="run the source K times as long and train on every K-th episode of each history, cut to "
                            "the shortest (default: %(default)s, every episode)")
    trial.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    trial.add_argument("--scale", choices=("small", "full"), default="full",
                       help="the chapter's data and budget: full (default; 2-20 minutes on 2 cores) or small (a "
                            "30-step smoke test whose numbers mean nothing)")
    trial.add_argument("--eval-seeds", type=positive_int, default=2, help="evaluation seeds (default: %(default)s)")
    trial.add_argument("--tasks", choices=("validation", "held-out"), default="validation",
                       help="score on validation tasks, kept apart from training and held-out tasks, where settings may be "
                            "chosen (default), or on the chapter's held-out tasks")
    trial.add_argument("--record", metavar="FILE", help="append the trial's settings and result to FILE as one JSON line")
    trial.set_defaults(func=run_trial)
    w = sub.add_parser("weights", help="train the book's shipped weights that are missing or stale (make weights)",
                       description=weights.__doc__)
    w.add_argument("--chapter", action="append", default=[], help="only this chapter's runs (e.g. 05_harder_dark_rooms; repeatable)")
    w.add_argument("--retrain", action="store_true", help="retrain every run, current or not")
    w.add_argument("--check", action="store_true", help="train nothing: list the runs whose weights are missing or stale")
    w.set_defaults(func=weights)
    ex = sub.add_parser("execute-book", help="execute the book's notebooks side by side into jupyter-book's cache (make book)",
                        description=execute_book.__doc__)
    ex.add_argument("--workers", type=positive_int, default=None, help="notebooks at a time (default: one per core)")
    ex.add_argument("--cache-dir", default=str(REPO_ROOT / "_build" / ".jupyter_cache"),
                    help="the jupyter-cache to fill, emptied first (default: %(default)s, where jupyter-book looks)")
    ex.set_defaults(func=execute_book)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
