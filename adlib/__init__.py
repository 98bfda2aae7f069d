"""adlib: a small library for reproducing Algorithm Distillation (Laskin et al. 2022) on a CPU.

One module per concept:

- :mod:`adlib.envs`        batched environments (multi-armed bandits)
- :mod:`adlib.sources`     batched source RL algorithms whose learning histories AD distils
- :mod:`adlib.data`        learning-history datasets and training windows
- :mod:`adlib.model`       the causal transformer with a sliding-window KV cache
- :mod:`adlib.training`    the training loop, checkpoints, artefact cache
- :mod:`adlib.evaluation`  batched in-context rollouts and metrics
- :mod:`adlib.plotting`    the book's plotting style
- :mod:`adlib.artifacts`   config hashing and atomic file writes
- :mod:`adlib.runtime`     seeding, device choice, version information
"""

__version__ = "0.1.0"
