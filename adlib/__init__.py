"""adlib: a small library for reproducing Algorithm Distillation (Laskin et al. 2022) on a CPU.

One module per concept:

- :mod:`adlib.envs`        batched environments (bandits, Dark Room, Dark Key-to-Door)
- :mod:`adlib.pixels`      the pixel room (chapter 7): Miniworld views, the camera, its source, expert and data
- :mod:`adlib.gymnasium_envs` the grid rooms behind the Gymnasium API (``adlib/DarkRoom-9x9-v0``, ...)
- :mod:`adlib.sources`     batched source RL algorithms (and experts) whose histories AD distils
- :mod:`adlib.data`        learning-history datasets and training windows
- :mod:`adlib.model`       the causal transformer with a sliding-window KV cache
- :mod:`adlib.training`    the training loop (AdamW, schedule, clipping, checkpoints, resume)
- :mod:`adlib.train_workers` sharing training runs out among worker processes on a CPU
- :mod:`adlib.run_store`   where a trained run comes from: the local cache, the shipped weights (verified), or training
- :mod:`adlib.rollouts`    batched rollouts of any policy (sources, baselines, AD) in batched environments
- :mod:`adlib.rollout_cache` rollouts kept in the artefact cache under a hash of all that determines them
- :mod:`adlib.in_context`  the in-context AD policy (frozen weights, learning through its context)
- :mod:`adlib.bandit_metrics` best-arm rate and regret over groups of bandit tasks
- :mod:`adlib.grid_evaluation` episode returns in the grid rooms, over training and evaluation seeds
- :mod:`adlib.behaviour`   measures of behaviour over episodes (first success, found then lost, the critique's probes)
- :mod:`adlib.stats`       mean and spread over seeds, and the rule that calls two estimates above, below or level
- :mod:`adlib.agents`      scripted reference agents of the critique (copy the rewarded cell, search then return)
- :mod:`adlib.interventions` edits to a context or a room for the critique's probes
- :mod:`adlib.probes`      the critique's probes (chapter 6): search, a made-up reward, a moving goal, hidden tokens
- :mod:`adlib.results`     reading the chapters' records for the summary and reproducibility pages
- :mod:`adlib.verdicts`    the claims the book scores, one function per claim
- :mod:`adlib.report`      formatters, tables and glue: how numbers reach the pages' Markdown
- :mod:`adlib.trials`      the records of settings tried on validation tasks, and the rule that picks one
- :mod:`adlib.plotting`    the book's plotting style, training-loss and bandit figures, step-throughs
- :mod:`adlib.room_figures` the grid rooms' figures: fraction of optimal per episode, paths, goal by goal, step-through frames
- :mod:`adlib.experiments` each chapter's settings by scale, shared by chapters that reuse artefacts
- :mod:`adlib.artifacts`   config hashing and atomic file writes
- :mod:`adlib.runtime`     seeding, device choice, version information, timing
- :mod:`adlib.cli`         the ``adlib`` command (``adlib weights``, ``adlib trial``, ...)
"""

__version__ = "0.1.0"
