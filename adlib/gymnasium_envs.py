"""The grid rooms of :mod:`adlib.envs` behind the Gymnasium API, one task per environment:
``adlib/DarkRoom-9x9-v0``, ``adlib/DarkRoomHard-17x17-v0`` and ``adlib/DarkKeyToDoor-9x9-v0``.

They share the batched rooms' rules (one batched room of one task inside), so a Gymnasium
run and a one-environment batched rollout coincide step for step.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from .envs import DarkRoomEnv, KeyToDoorEnv


class SingleGridGym(gymnasium.Env):
    """One task of a batched grid world (``self._batched``, set at reset) behind the Gymnasium API."""

    metadata = {"render_modes": []}
    name = "grid world"

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid {self.name} action {action!r}")
        env = self._batched
        _, reward = env.step(np.array([action]))
        terminated = bool(env.terminated[0])
        truncated = bool(env.done[0]) and not terminated
        return int(env.final_observations[0]), float(reward[0]), terminated, truncated, {}

class DarkRoomGym(SingleGridGym):
    """Single-goal Dark Room with the Gymnasium API, sharing :func:`darkroom_move`.

    The goal is ``goal`` (row, col) if given, ``options={"goal": (row, col)}`` at reset,
    or drawn uniformly at each reset otherwise.
    """

    name = "Dark Room"

    def __init__(self, size: int = 9, horizon: int = 20, hard: bool = False, goal=None):
        self._batched = DarkRoomEnv(np.array([goal if goal is not None else (0, 0)]), size, horizon, hard)
        self.fixed_goal = None if goal is None else np.asarray(goal)
        self.observation_space = spaces.Discrete(size * size)
        self.action_space = spaces.Discrete(DarkRoomEnv.n_actions)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        size = self._batched.size
        if options and "goal" in options:
            goal = np.asarray(options["goal"])
        elif self.fixed_goal is not None:
            goal = self.fixed_goal
        else:
            goal = self.np_random.integers(0, size, size=2)
        self._batched = DarkRoomEnv(goal[None], size, self._batched.horizon, self._batched.hard)
        return int(self._batched.observations()[0]), {"goal": tuple(int(g) for g in goal)}

class KeyToDoorGym(SingleGridGym):
    """Single-task Dark Key-to-Door with the Gymnasium API, sharing :class:`KeyToDoorEnv`'s rules.

    ``key`` and ``door`` are (row, col) cells; given as ``options={"key": ..., "door": ...}``
    at reset, fixed at construction, or drawn uniformly at each reset otherwise.
    """

    name = "Key-to-Door"

    def __init__(self, size: int = 9, horizon: int = 50, key=None, door=None):
        self.size, self.horizon = size, horizon
        self.fixed = None if key is None or door is None else (np.asarray(key), np.asarray(door))
        self.observation_space = spaces.Discrete(size * size)
        self.action_space = spaces.Discrete(KeyToDoorEnv.n_actions)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and "key" in options and "door" in options:
            key, door = np.asarray(options["key"]), np.asarray(options["door"])
        elif self.fixed is not None:
            key, door = self.fixed
        else:
            key, door = self.np_random.integers(0, self.size, size=(2, 2))
        start_seed = int(self.np_random.integers(2**31))
        self._batched = KeyToDoorEnv(key[None], door[None], self.size, self.horizon, seed=start_seed)
        return int(self._batched.observations()[0]), {"key": tuple(map(int, key)), "door": tuple(map(int, door))}


def register_gymnasium_envs() -> type:
    """Register ``adlib/DarkRoom-9x9-v0``, ``adlib/DarkRoomHard-17x17-v0`` and ``adlib/DarkKeyToDoor-9x9-v0``
    (once per process); returns the Dark Room class."""
    for env_id, entry_point, kwargs in (
        ("adlib/DarkRoom-9x9-v0", DarkRoomGym, dict(size=9, horizon=20, hard=False)),
        ("adlib/DarkRoomHard-17x17-v0", DarkRoomGym, dict(size=17, horizon=20, hard=True)),
        ("adlib/DarkKeyToDoor-9x9-v0", KeyToDoorGym, dict(size=9, horizon=50)),
    ):
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, kwargs=kwargs)
    return DarkRoomGym
