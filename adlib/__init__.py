"""adlib: a small library for reproducing Algorithm Distillation (Laskin et al. 2022) on a CPU.

One module per concept:

- :mod:`adlib.envs`        batched environments (bandits, Dark Room, Dark Key-to-Door) and their
                           Gymnasium versions (``adlib/DarkRoom-9x9-v0``, ...)
- :mod:`adlib.sources`     batched source RL algorithms (and experts) whose histories AD distils
- :mod:`adlib.data`        learning-history datasets and training windows
- :mod:`adlib.model`       the causal transformer with a sliding-window KV cache
- :mod:`adlib.training`    the training loop (AdamW, schedule, clipping, checkpoints, resume)
- :mod:`adlib.train_workers` sharing training runs out among worker processes on a CPU
- :mod:`adlib.run_store`   where a trained run comes from: the local cache, the shipped weights (verified), or training
- :mod:`adlib.evaluation`  batched in-context rollouts and metrics
- :mod:`adlib.plotting`    the book's plotting style
- :mod:`adlib.experiments` each chapter's settings by scale, shared by chapters that reuse artefacts
- :mod:`adlib.artifacts`   config hashing and atomic file writes
- :mod:`adlib.runtime`     seeding, device choice, version information
"""

__version__ = "0.1.0"
