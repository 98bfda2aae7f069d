"""Scripted reference agents for the Dark Room family: the critique's heuristic, written out.

Chapter 6 asks whether AD has learned a reinforcement-learning algorithm or the heuristic
"go back to the rewarded cell" (Marks' critique). A hypothesis makes predictions only once it
is an agent, so both are written out here, batched over environments, with the book's agent
API (``reset``, ``act``, ``observe``):

* :class:`CopyAgent` is the heuristic itself, **H_copy**. It remembers exactly the steps AD's
  context holds (``window`` = the model's ``context_len``), so it forgets a rewarded episode
  when AD would. If a reward is in that window it walks a shortest path to the cell of the
  most recent one and stays there, whatever happens there afterwards; otherwise it moves at
  random (``explore="random"``, the critique's "move around pseudorandomly") or towards the
  nearest cell it has not visited within the window (``explore="novel"``).
* :class:`SearchThenReturn` is a strong learner for these rooms, a stand-in for a good RL
  algorithm: unlimited memory, systematic search (nearest never-visited cell first), a walk
  back to where the reward was, and it *doubts*: a rewarded cell visited later without reward
  is no longer the goal. It updates on negative evidence, which the heuristic never does.

Both read only what AD reads: the cell they are in, and the rewards they got. The cell where a
reward came is the cell after the move (``next_obs``, which :func:`adlib.rollouts.rollout`
passes before an episode's automatic reset).
"""

from __future__ import annotations

import numpy as np

from .envs import cells_after_moves
from .sources import RandomPolicy, step_toward

EXPLORE_MODES = ("random", "novel")


class CopyAgent:
    """H_copy: walk back to the most recently rewarded cell in the window, else explore.

    Args:
        size: side of the square room (cells are ``row * size + col``).
        window: how many past steps it remembers (AD's ``context_len``); ``None``: all of them.
        explore: ``"random"`` (uniform over the 5 actions, as :class:`~adlib.sources.RandomPolicy`)
            or ``"novel"`` (towards the nearest cell not visited within the window).
        doubt: forget a rewarded cell once it is visited again without reward (the
            heuristic never does; :class:`SearchThenReturn` does).
    """

    n_actions = 5

    def __init__(self, size: int, window: int | None, explore: str = "random", doubt: bool = False, name: str | None = None):
        if not isinstance(size, (int, np.integer)) or size < 2:
            raise ValueError(f"room size must be an integer >= 2, got {size!r}")
        if window is not None and (not isinstance(window, (int, np.integer)) or window < 1):
            raise ValueError(f"window must be a positive number of steps or None (unlimited), got {window!r}")
        if explore not in EXPLORE_MODES:
            raise ValueError(f"explore must be one of {EXPLORE_MODES}, got {explore!r}")
        self.size, self.window, self.explore, self.doubt = int(size), window, explore, bool(doubt)
        self.name = name or f"copy agent ({explore})"
        cells = np.arange(self.size * self.size)
        rows, cols = np.divmod(cells, self.size)
        self.distance = np.abs(rows[:, None] - rows[None, :]) + np.abs(cols[:, None] - cols[None, :])  # [C, C]

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.t = 0  # steps observed so far
        n_cells = self.size * self.size
        # Time of the last visit to / last reward on each cell; -1: never (within memory or not).
        self.last_seen = np.full((n_envs, n_cells), -1, dtype=np.int64)
        self.last_rewarded = np.full((n_envs, n_cells), -1, dtype=np.int64)

    def _remembered(self, times: np.ndarray) -> np.ndarray:
        """Which recorded times are still in memory: the last ``window`` steps' outcomes."""
        if self.window is None:
            return times >= 0
        return (times >= 0) & (times > self.t - self.window)

    def target(self) -> np.ndarray:
        """``[n]`` the cell it walks back to, or -1 where no (believed) rewarded cell is remembered."""
        rewarded = self._remembered(self.last_rewarded)
        if self.doubt:  # the last visit must have paid
            rewarded &= self.last_rewarded >= self.last_seen
        newest = np.where(rewarded, self.last_rewarded, -1)
        return np.where(rewarded.any(axis=1), newest.argmax(axis=1), -1)

    def _explore_target(self, obs: np.ndarray) -> np.ndarray:
        """The nearest cell not visited within memory (random among the nearest); if every
        cell was, the one visited longest ago."""
        unseen = ~self._remembered(self.last_seen)
        oldest = self.last_seen == self.last_seen.min(axis=1, keepdims=True)
        candidates = np.where(unseen.any(axis=1, keepdims=True), unseen, oldest)
        cost = np.where(candidates, self.distance[obs] + self.rng.random(candidates.shape) * 0.5, np.inf)
        return cost.argmin(axis=1)

    def see(self, obs: np.ndarray) -> np.ndarray:
        """Note the cells the agents stand on now (``[n]``) as visited at this step."""
        obs = np.asarray(obs, dtype=np.int64)
        self.last_seen[np.arange(len(obs)), obs] = self.t
        return obs

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = self.see(obs)
        target = self.target()
        known = target >= 0
        if self.explore == "novel":
            goal = np.where(known, target, self._explore_target(obs))
            return step_toward(obs, goal, self.size, self.rng)
        wander = self.rng.integers(0, self.n_actions, len(obs))
        return np.where(known, step_toward(obs, np.where(known, target, obs), self.size, self.rng), wander)

    def observe(self, actions, rewards, next_obs=None, **transition) -> None:
        if next_obs is None:
            raise ValueError(f"{type(self).__name__} needs the cell after each move (next_obs)")
        self.t += 1
        rows = np.arange(len(next_obs))
        cells = np.asarray(next_obs, dtype=np.int64)
        self.last_seen[rows, cells] = self.t
        paid = np.asarray(rewards) > 0
        self.last_rewarded[rows[paid], cells[paid]] = self.t


class SearchThenReturn(CopyAgent):
    """A strong reference learner: systematic search with unlimited memory, then back to the
    reward, and a rewarded cell that stops paying is dropped (see the module docstring)."""

    def __init__(self, size: int, name: str = "search-then-return"):
        super().__init__(size, window=None, explore="novel", doubt=True, name=name)


class WinStayLoseShift:
    """The bandit's version of the heuristic: pull the same arm again after a positive reward,
    otherwise switch to another arm at random. It thresholds rewards at zero; it never compares arms."""

    name = "win-stay/lose-shift"

    def __init__(self, n_arms: int):
        if not isinstance(n_arms, (int, np.integer)) or n_arms < 2:
            raise ValueError(f"a bandit needs at least 2 arms, got {n_arms!r}")
        self.n_actions = int(n_arms)

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.arm = rng.integers(0, self.n_actions, n_envs)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.arm.copy()

    def observe(self, actions, rewards, **transition) -> None:
        lose = np.asarray(rewards) <= 0
        other = (np.asarray(actions) + self.rng.integers(1, self.n_actions, len(lose))) % self.n_actions
        self.arm = np.where(lose, other, actions)


def shadow_targets(observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray, size: int, window: int | None) -> np.ndarray:
    """``[n, T]`` where a :class:`CopyAgent` with this ``window`` would head at each step of a
    recorded Dark Room rollout (-1: no reward in its window), had it lived that rollout.

    It reads the same cells and rewards the recorded agent (e.g. AD) saw, so ``target[i, t]`` is
    H_copy's destination at the moment the recorded agent chose ``actions[i, t]``.
    """
    observations, actions, rewards = (np.asarray(x) for x in (observations, actions, rewards))
    if not observations.shape == actions.shape == rewards.shape or observations.ndim != 2:
        raise ValueError("observations, actions and rewards must be [n, T] arrays of one shape")
    after = cells_after_moves(observations, actions, size)
    shadow = CopyAgent(size, window)
    shadow.reset(len(observations), np.random.default_rng(0))
    targets = np.empty(observations.shape, dtype=np.int64)
    for t in range(observations.shape[1]):
        shadow.see(observations[:, t])
        targets[:, t] = shadow.target()
        shadow.observe(actions[:, t], rewards[:, t], next_obs=after[:, t])
    return targets


class PromptedAgent:
    """A scripted grid agent that first lives through a prompt, as AD reads one
    (:class:`~adlib.in_context.PromptedPolicy`), then acts.

    ``prompt``: ``(observations, actions, rewards)``, each ``[n_envs, T]``; the cells after each
    move are recomputed from the moves. ``agent``: a scripted agent or a learner such as the
    source (:class:`~adlib.sources.QLearning`), which then learns from the prompt as from its own
    first episodes: give ``horizon`` so that it sees each prompt episode end.
    """

    def __init__(self, agent, prompt, size: int, horizon: int | None = None):
        self.agent, self.size, self.horizon = agent, size, horizon
        self.prompt = tuple(np.asarray(x) for x in prompt)
        if horizon is not None and self.prompt[0].shape[1] % horizon:
            raise ValueError(f"a prompt of {self.prompt[0].shape[1]} steps is not whole episodes of {horizon} steps")
        self.n_actions, self.name = agent.n_actions, f"{agent.name} (prompted)"

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        obs, actions, rewards = self.prompt
        if obs.shape[0] != n_envs:
            raise ValueError(f"the prompt has {obs.shape[0]} rows for {n_envs} environments")
        self.agent.reset(n_envs, rng)
        after = cells_after_moves(obs, actions, self.size)
        for t in range(obs.shape[1]):
            self.agent.act(obs[:, t])
            done = np.full(n_envs, self.horizon is not None and (t + 1) % self.horizon == 0)
            self.agent.observe(actions[:, t], rewards[:, t], next_obs=after[:, t], done=done)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.act(obs)

    def observe(self, actions, rewards, **transition) -> None:
        self.agent.observe(actions, rewards, **transition)


SCRIPTED = ("copy agent (random)", "copy agent (novel)", "search-then-return", "random")
"""The scripted reference agents: H_copy's two copy agents, H_RL's search-then-return and a floor."""


def scripted(size: int, window: int) -> dict:
    """The :data:`SCRIPTED` agents for a ``size`` room and a ``window``-step memory, by name."""
    return {"copy agent (random)": CopyAgent(size, window, "random"), "copy agent (novel)": CopyAgent(size, window, "novel"),
            "search-then-return": SearchThenReturn(size), "random": RandomPolicy(5)}
