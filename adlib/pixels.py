"""Pixels (chapter 7): a water-maze stand-in rendered by Miniworld.

The paper's third claim is that AD learns in context from pixels (DMLab Watermaze: a
first-person view, a hidden platform, distal cues on the walls). Here the room is a square
Miniworld room with distal cues (four coloured pillars in the corners, three different pictures
on each wall), and the agent stands on a ``size x size`` grid of positions facing one of four
headings. Actions: 0 turn left, 1 turn right, 2 step forward (into a wall: stay). One task =
one hidden goal cell (the platform); every step that ends on it pays 1. Episodes last
``horizon`` steps and start at a random cell other than the goal, facing a random heading.

The environment's *state* is the view index ``(row * size + col) * 4 + heading``: what the
tabular source learns over and what a dataset records. The agent never receives it: a
:class:`Camera` turns it into a noisy first-person RGB frame (the view rendered once by
Miniworld, looked up, then scaled by a random brightness and given per-pixel Gaussian noise,
so no two observations are exactly alike), and that frame is all AD's encoder reads.

Grid convention: row grows with Miniworld's z, column with x; heading 0 faces +x (east),
1 faces -z (north), 2 -x (west), 3 +z (south); turning left adds 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .artifacts import atomic_path, cache_dir, config_hash, modules_fingerprint, to_jsonable
from .data import LearningHistories, _cached_histories
from .envs import GridWorld
from .model import FRAME_SIZES
from .rollouts import rollout
from .sources import QLearning, argmax_random_ties

N_ACTIONS = 3
HEADING_STEPS = np.array([[0, 1], [-1, 0], [0, -1], [1, 0]])  # (d_row, d_col) of a forward step per heading

LAYOUTS = {
    "cues": "four coloured pillars in the corners and three different pictures on each wall",
    "bare": "no cues: plain walls, so views at different places look alike (a control)",
}
"""Room layouts by name, with what a view shows."""

PICTURES = ("logo_mila", "door_doom", "grass", "lava", "water", "marble", "wood", "brick_wall", "cardboard", "slime",
            "metal_grill", "rock")
"""Miniworld's textures hung on the walls as distal cues, three a wall (west, east, north, south)."""

GL_HELP = ("Miniworld renders with OpenGL and, with no display, needs EGL and Mesa's software renderer: on Debian/Ubuntu "
           "`apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1` (`make install` does this where it can).")


@dataclass(frozen=True)
class PixelRoom:
    """The room: layout, grid, frames and how noisy they are."""

    layout: str = "cues"
    """A key of :data:`LAYOUTS`."""
    size: int = 5
    """Positions per side of the grid (cells 1 m apart)."""
    frame_size: int = 32
    """Side of the square RGB frame, pixels (at most 32)."""
    horizon: int = 20
    """Steps per episode."""
    noise: float = 0.05
    """Standard deviation of the per-pixel Gaussian noise, as a fraction of full brightness."""
    brightness: float = 0.15
    """Each frame's brightness is scaled by a factor drawn uniformly from [1 - b, 1 + b]."""

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown room layout {self.layout!r}; the layouts are {', '.join(LAYOUTS)}")
        if not isinstance(self.size, (int, np.integer)) or not 2 <= self.size <= 9:
            raise ValueError(f"PixelRoom.size must be an integer in [2, 9] (positions per side), got {self.size!r}")
        if self.frame_size not in FRAME_SIZES:
            raise ValueError(f"PixelRoom.frame_size must be one of {FRAME_SIZES} pixels, got {self.frame_size!r}")
        if not isinstance(self.horizon, (int, np.integer)) or self.horizon < 1:
            raise ValueError(f"PixelRoom.horizon must be a positive integer, got {self.horizon!r}")
        if not 0 <= self.noise < 1 or not 0 <= self.brightness < 1:
            raise ValueError(f"PixelRoom.noise and brightness must lie in [0, 1), got {self.noise}, {self.brightness}")

    @property
    def n_cells(self) -> int:
        return self.size * self.size

    @property
    def n_states(self) -> int:
        """Views: cells x 4 headings."""
        return self.n_cells * 4

    def check_cells(self, cells, what: str = "goal cells") -> np.ndarray:
        """``cells`` (indices ``row * size + col``) as an int array; a cell outside the room raises."""
        cells = np.asarray(cells)
        if cells.size == 0 or cells.dtype.kind not in "iu":
            raise ValueError(f"{what} must be a non-empty array of whole cell indices (row * size + col), got {cells.tolist()}")
        if cells.min() < 0 or cells.max() >= self.n_cells:
            raise ValueError(f"{what} must lie inside the {self.size}x{self.size} room, i.e. in [0, {self.n_cells}); "
                             f"got {cells.min()}..{cells.max()}")
        return cells.astype(np.int64)


def transitions(room: PixelRoom) -> np.ndarray:
    """``[n_states, 3]``: the state each action leads to (the room is deterministic)."""
    states = np.arange(room.n_states)
    cells, heading = np.divmod(states, 4)
    rows, cols = np.divmod(cells, room.size)
    ahead = np.clip(np.stack([rows, cols], 1) + HEADING_STEPS[heading], 0, room.size - 1)
    forward = (ahead[:, 0] * room.size + ahead[:, 1]) * 4 + heading
    return np.stack([cells * 4 + (heading + 1) % 4, cells * 4 + (heading - 1) % 4, forward], axis=1)


def steps_to_goal(room: PixelRoom, goals) -> np.ndarray:
    """``[n_goals, n_states]`` fewest actions from each state to stand on each goal cell."""
    goals = room.check_cells(goals)
    nxt = transitions(room)
    dist = np.full((len(goals), room.n_states), np.inf)
    dist[np.arange(room.n_states)[None, :] // 4 == goals[:, None]] = 0
    while True:  # relax until no distance shrinks (at most n_states rounds)
        new = np.minimum(dist, 1 + dist[:, nxt].min(axis=2))
        if np.array_equal(new, dist):
            return dist.astype(np.int64)
        dist = new


def optimal_return(room: PixelRoom, goal_steps) -> np.ndarray:
    """Best return of an episode whose start is ``goal_steps`` >= 1 actions from the goal: arrive, then stay (turn in place)."""
    return np.clip(room.horizon - np.asarray(goal_steps) + 1, 0, room.horizon).astype(float)


def _miniworld_room(room: PixelRoom):
    """A Miniworld environment drawing ``room`` (imported here: only rendering needs OpenGL)."""
    try:
        import pyglet

        pyglet.options["headless"] = True  # EGL, no display; must be set before Miniworld is imported
        from miniworld.entity import Box, ImageFrame
        from miniworld.miniworld import MiniWorldEnv
    except ImportError as e:
        raise ImportError(f"rendering the pixel room needs the `miniworld` package (`pip install miniworld`): {e}") from None

    width = room.size + 1.0  # cells at 1..size, walls at 0 and size + 1

    class CueRoom(MiniWorldEnv):
        def _gen_world(self):
            self.add_rect_room(0, width, 0, width, wall_tex="white", floor_tex="asphalt", no_ceiling=True)
            if room.layout == "cues":
                corners = [(0.3, 0.3), (width - 0.3, 0.3), (0.3, width - 0.3), (width - 0.3, width - 0.3)]
                for (x, z), colour in zip(corners, ("red", "green", "blue", "yellow")):
                    self.place_entity(Box(color=colour, size=[0.6, 1.6, 0.6]), pos=[x, 0, z], dir=0)
                along = [width * k / 4 for k in (1, 2, 3)]  # three pictures per wall, none alike, so no two places look the same
                walls = ([([0.02, 1.3, a], 0.0) for a in along] + [([width - 0.02, 1.3, a], math.pi) for a in along]
                         + [([a, 1.3, 0.02], -math.pi / 2) for a in along] + [([a, 1.3, width - 0.02], math.pi / 2) for a in along])
                for (pos, facing), picture in zip(walls, PICTURES):
                    self.entities.append(ImageFrame(pos=pos, dir=facing, tex_name=picture, width=min(1.2, width / 4 - 0.2)))
            self.place_agent(pos=[1.0, 0, 1.0], dir=0.0)

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Miniworld prints its frame buffers' multisampling fallback
            return CueRoom(obs_width=room.frame_size, obs_height=room.frame_size)
    except Exception as e:  # pyglet raises its own errors when no OpenGL/EGL library is found
        raise RuntimeError(f"Miniworld could not open a headless OpenGL context ({type(e).__name__}: {e}). {GL_HELP}") from None


def check_opengl() -> None:
    """Render one tiny frame headless, or raise with what to install (``make install`` calls it)."""
    env = _miniworld_room(PixelRoom(size=2, frame_size=16))
    env.reset(seed=0)
    if env.render_obs().shape != (16, 16, 3):
        raise RuntimeError(f"Miniworld rendered a frame of the wrong shape. {GL_HELP}")
    env.close()


def render_views(room: PixelRoom, use_cache: bool = True) -> np.ndarray:
    """``[n_states, frame, frame, 3]`` uint8: the noiseless view from every state, rendered once by
    Miniworld and kept in the artefact cache (keyed by the room's layout, grid and frame size and this module's code)."""
    key = config_hash({"layout": room.layout, "size": room.size, "frame_size": room.frame_size, "code": modules_fingerprint("pixels")})
    path = cache_dir() / "views" / f"{key}.npy"
    if use_cache and path.exists():
        views = np.load(path)
        if views.shape == (room.n_states, room.frame_size, room.frame_size, 3) and views.dtype == np.uint8:
            return views
    env = _miniworld_room(room)
    env.reset(seed=0)
    views = np.zeros((room.n_states, room.frame_size, room.frame_size, 3), dtype=np.uint8)
    for state in range(room.n_states):
        cell, heading = divmod(state, 4)
        row, col = divmod(cell, room.size)
        env.agent.pos = np.array([col + 1.0, 0.0, row + 1.0])
        env.agent.dir = heading * math.pi / 2
        views[state] = env.render_obs()
    env.close()
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, views)
    return views


def views_digest(views: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(views).tobytes()).hexdigest()[:16]


class Camera:
    """Turns states into what the agent sees: ``[n] -> [n, 3, frame, frame]`` float32 frames in [0, 1].

    A frame is the state's view, its brightness scaled by a factor drawn uniformly from
    [1 - brightness, 1 + brightness], plus Gaussian pixel noise. The noise images come from a
    fixed bank of :attr:`BANK` drawn once (from ``seed``), each used with a random sign: drawing
    fresh Gaussian images costs more than a training step, and with the continuous brightness
    factor no two frames are alike all the same.
    """

    BANK = 2048

    def __init__(self, room: PixelRoom, views: np.ndarray | None = None, seed: int = 0):
        self.room, self.seed = room, seed
        views = render_views(room) if views is None else views
        self._views_uint8 = views
        if views.shape != (room.n_states, room.frame_size, room.frame_size, 3):
            raise ValueError(f"views must be [{room.n_states}, {room.frame_size}, {room.frame_size}, 3], got {views.shape}")
        self.digest = views_digest(views)
        self.views = torch.as_tensor(views).permute(0, 3, 1, 2).float().div(255).contiguous()  # [S, 3, f, f]
        bank = torch.randn((self.BANK, *self.views.shape[1:]), generator=torch.Generator().manual_seed(seed)) * room.noise
        self.noise_bank = torch.cat([bank, -bank])  # [2 * BANK, 3, f, f]
        self.kept: list[torch.Tensor] | None = None  # see keep()

    def keep(self) -> "Camera":
        """From now on keep every batch of frames :meth:`__call__` hands out (in ``kept``): exactly what an agent saw."""
        self.kept = []
        return self

    def __getstate__(self) -> dict:  # pickled (e.g. to a training worker) as the room and its views, rebuilt there
        return {"room": self.room, "views": self._views_uint8, "seed": self.seed}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["room"], state["views"], state["seed"])

    def frames(self, states, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noisy frames for integer ``states`` of any shape ``[...]`` -> ``[..., 3, f, f]``."""
        states = torch.as_tensor(np.asarray(states), dtype=torch.long)
        if states.numel() and (states.min() < 0 or states.max() >= self.room.n_states):
            raise ValueError(f"states must lie in [0, {self.room.n_states}), got {int(states.min())}..{int(states.max())}")
        gain = 1 + self.room.brightness * (2 * torch.rand(*states.shape, 1, 1, 1, generator=generator) - 1)
        pick = torch.randint(0, len(self.noise_bank), states.shape, generator=generator)
        return self.noise_bank[pick].addcmul_(self.views[states], gain).clamp_(0, 1)

    def __call__(self, states, rng: np.random.Generator) -> torch.Tensor:
        """Frames with noise drawn from a generator seeded by ``rng`` (reproducible runs)."""
        frames = self.frames(states, torch.Generator().manual_seed(int(rng.integers(2**62))))
        if self.kept is not None:
            self.kept.append(frames.clone())
        return frames


class PixelRoomEnv(GridWorld):
    """Batched pixel room: ``n`` environments, one goal cell each, stepped together.

    ``reset`` and ``step`` return each environment's state (view index), as the other rooms
    return their cell; episodes end after ``horizon`` steps (the grid worlds' clock) and the
    environment restarts by itself at a random cell other than its goal, facing a random heading
    (starts drawn from ``seed``).
    """

    n_actions = N_ACTIONS

    def __init__(self, goals, room: PixelRoom = PixelRoom(), seed: int = 0):
        super().__init__(room.size, room.horizon)
        self.room, self.seed = room, int(seed)
        self.goals = room.check_cells(np.atleast_1d(goals))
        self.next_state = transitions(room)
        self.distance = steps_to_goal(room, self.goals)  # [n, n_states]
        self.reset()

    @property
    def n_envs(self) -> int:
        return len(self.goals)

    @property
    def n_observations(self) -> int:
        return self.room.n_states

    def observations(self) -> np.ndarray:
        """``[n]`` current state (view index) of every environment."""
        return self.states.copy()

    def subset(self, index) -> "PixelRoomEnv":
        return PixelRoomEnv(self.goals[index], self.room, self.seed)

    def _starts(self, envs: np.ndarray) -> np.ndarray:
        offset = self.rng.integers(1, self.room.n_cells, size=len(envs))  # any cell but the goal
        cells = (self.goals[envs] + offset) % self.room.n_cells
        return cells * 4 + self.rng.integers(0, 4, size=len(envs))

    def reset(self) -> np.ndarray:
        self.rng = np.random.default_rng(self.seed)
        self.states = self._starts(np.arange(self.n_envs))
        self._start_clock()
        return self.observations()

    def step(self, actions) -> tuple[np.ndarray, np.ndarray]:
        actions = self._check_actions(actions)
        if actions.size and (actions.min() < 0 or actions.max() >= N_ACTIONS):
            raise ValueError(f"actions must be [{self.n_envs}] integers in [0, {N_ACTIONS}), got {actions.tolist()[:8]}")
        self.states = self.next_state[self.states, actions]
        rewards = (self.states // 4 == self.goals).astype(np.float32)
        ended = np.nonzero(self._tick(np.zeros(self.n_envs, dtype=bool)))[0]
        if len(ended):  # automatic reset: a fresh random start
            self.states[ended] = self._starts(ended)
        return self.observations(), rewards


def episode_optima(env: PixelRoomEnv, observations: np.ndarray) -> np.ndarray:
    """``[n, n_episodes]`` each recorded episode's best return, from the state it started in."""
    starts = np.asarray(observations)[:, :: env.horizon]
    return optimal_return(env.room, np.take_along_axis(env.distance, starts, axis=1))


def shortest_path_shares(room: PixelRoom, goals) -> np.ndarray:
    """``[n_goals, n_states, 3]``: each action's probability under a shortest-path walk to each goal cell, ties
    shared equally (on the goal: the actions that stay on it, i.e. the turns, and a step into a wall)."""
    d = steps_to_goal(room, goals)[:, transitions(room)]  # [goals, n_states, 3] distance after each action
    best = d == d.min(axis=2, keepdims=True)
    return best / best.sum(axis=2, keepdims=True)


class PixelExpert:
    """The shortest-path expert (ED's data): an action that brings the goal one step closer, ties at random;
    on the goal it turns in place."""

    name = "expert"

    def __init__(self, goals, room: PixelRoom):
        self.share = shortest_path_shares(room, goals)  # [n_envs, n_states, 3]

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        if n_envs != len(self.share):
            raise ValueError(f"the expert knows {len(self.share)} goals, not {n_envs}")
        self.rng = rng

    def act(self, obs: np.ndarray) -> np.ndarray:
        return argmax_random_ties(self.share[np.arange(len(obs)), obs], self.rng)

    def observe(self, actions, rewards, **transition) -> None:
        pass

    def policy_entropy(self, obs: np.ndarray) -> np.ndarray:
        """``[n_envs]`` entropy (nats) of the expert's choice at ``obs``: log of the number of tied best actions."""
        return np.log((self.share[np.arange(len(obs)), obs] > 0).sum(axis=1))


class PosteriorSampling:
    """Posterior sampling for where the platform is (Thompson sampling, as chapter 1's bandit source, over cells).

    The learner knows the room's map (how its moves change cell and heading: privileged, like the
    Q-learner's state) and that exactly one cell pays, every cell alike beforehand. It does not know
    which. Its posterior is therefore uniform over the cells it has not yet stood on without reward,
    until a reward shows the platform. It draws a target cell from that posterior and walks a
    shortest path to it (ties at random); when a step ends on the target without reward, the draw is
    ruled out and it draws again; once a reward comes, the target is that cell for good (on it, it
    turns in place). Apart from its own draws, everything it acts on (the cells it has stood on,
    where a reward came) is in its own history, so a context that holds that history holds what the
    source knows, less which target it drew (:meth:`policy_entropy` accounts for that).
    """

    name = "posterior sampling"

    def __init__(self, room: PixelRoom):
        self.room = room
        self.best_share = shortest_path_shares(room, np.arange(room.n_cells))  # [cells, n_states, 3] walk to each cell

    def reset(self, n_envs: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.possible = np.ones((n_envs, self.room.n_cells), dtype=bool)  # cells the platform may still be on
        self.target = np.full(n_envs, -1, dtype=np.int64)  # -1: draw one before acting
        # What an observer of the history can know of the target (hidden: it is the source's own draw): [n, cells]
        self.belief = np.full((n_envs, self.room.n_cells), 1.0 / self.room.n_cells)  # the first draw, over every cell

    def _needs_draw(self) -> np.ndarray:
        rows = np.arange(len(self.target))
        return (self.target < 0) | ~self.possible[rows, np.maximum(self.target, 0)]

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.int64)
        draw = np.nonzero(self._needs_draw())[0]
        if len(draw):
            weights = self.possible[draw].cumsum(axis=1)  # uniform over possible cells
            pick = self.rng.random(len(draw)) * weights[:, -1]
            self.target[draw] = (weights <= pick[:, None]).sum(axis=1)
        self.state = obs
        return argmax_random_ties(self.best_share[self.target, obs], self.rng)

    def observe(self, actions, rewards, next_obs=None, **transition) -> None:
        if next_obs is None:
            raise ValueError("posterior sampling needs the next observation of every transition")
        cells = np.asarray(next_obs, dtype=np.int64) // 4
        rows = np.arange(len(cells))
        paid = np.asarray(rewards) > 0
        self.possible[rows[~paid], cells[~paid]] = False  # stood there, no reward: not the platform
        self.possible[paid] = False
        self.possible[rows[paid], cells[paid]] = True  # the platform, found
        self.target[paid] = cells[paid]
        # The observer's filter: the action taken weighs each target by how likely it made that action; a target
        # ruled out is drawn again, uniformly over the cells still possible; a reward shows the platform.
        belief = self.belief * self.best_share[:, self.state, np.asarray(actions, dtype=np.int64)].T  # [n, cells]
        belief /= belief.sum(axis=1, keepdims=True)
        lost = (belief * ~self.possible).sum(axis=1, keepdims=True)
        self.belief = belief * self.possible + lost * self.possible / self.possible.sum(axis=1, keepdims=True)

    def policy_entropy(self, obs: np.ndarray) -> np.ndarray:
        """``[n_envs]`` entropy (nats) of the source's next action at ``obs`` given everything its history shows.
        The target it drew is hidden from the history, so the shortest-path choice toward each target is averaged
        over what the history says of the target (``belief``, an exact filter); once the platform is found, only
        the ties between equally short ways remain. No model reading the history can predict the action better on
        average. Draws nothing."""
        p = self.action_probabilities(obs)
        return -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1) + 0.0  # an impossible action adds 0 log 1

    def action_probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``[n_envs, 3]``: the probability of each next action at ``obs`` given the history (as :meth:`policy_entropy`)."""
        return np.einsum("nc,cna->na", self.belief, self.best_share[:, np.asarray(obs, dtype=np.int64)])


class _EntropyLog:
    """A source that also logs, before each action, the entropy of that action given the history (its ``policy_entropy``)."""

    def __init__(self, source):
        self.source, self.entropy = source, []

    def __getattr__(self, name):
        return getattr(self.source, name)

    def act(self, obs):
        self.entropy.append(self.source.policy_entropy(obs))
        return self.source.act(obs)


def source_entropy(config: "PixelDataConfig") -> np.ndarray:
    """``[n_histories, n_steps]``: for every action in ``config``'s dataset, the entropy (nats) of that action given
    everything the history before it shows: for the expert and Q-learning, the distribution the source drew it from;
    for posterior sampling, that averaged over the targets the history leaves possible. A model imitating the source
    from the history can reach, on average, no lower loss. The dataset is made again, with the same seeds; the
    actions are checked to be the recorded ones."""
    goals = config.goal_per_history()
    env = PixelRoomEnv(goals, config.room, seed=config.seed)
    logged = _EntropyLog(pixel_source(config, goals))
    traj = rollout(env, logged, config.n_episodes * config.room.horizon, seed=config.seed + 1, cache=False)
    if not np.array_equal(traj.actions, pixel_histories(config).actions):
        raise RuntimeError("the source made again did not repeat the recorded actions: clear the cache (make clean)")
    return np.stack(logged.entropy, axis=1)


def pixel_split(room: PixelRoom, n_test: int, seed: int = 2022) -> tuple[np.ndarray, np.ndarray]:
    """Fixed, seeded split of the goal cells: ``(train, test)``; no training history uses a test cell."""
    if not 1 <= n_test < room.n_cells:
        raise ValueError(f"n_test must lie in [1, {room.n_cells}), got {n_test}")
    order = np.random.default_rng(seed).permutation(room.n_cells)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


SOURCES = {
    "q_learning": "tabular Q-learning over the cell and heading, epsilon-greedy (:class:`~adlib.sources.QLearning`)",
    "posterior_sampling": "posterior sampling over the platform's cell, with the room's map (:class:`PosteriorSampling`)",
    "expert": "shortest paths to the known goal (:class:`PixelExpert`)",
}
"""The pixel room's sources by name, with what each is."""


@dataclass(frozen=True)
class PixelDataConfig:
    """Everything that determines a pixel-room dataset. The source learns over the privileged
    state (cell and heading); the dataset records states, from which frames are drawn afresh."""

    goals: tuple
    """Goal cells (``row * size + col``) to record histories on."""
    room: PixelRoom = PixelRoom()
    source: str = "q_learning"
    """A key of :data:`SOURCES`: ``q_learning`` or ``posterior_sampling`` (learning histories, for AD) or ``expert``
    (shortest paths, for ED)."""
    histories_per_goal: int = 8
    """Histories recorded on each goal (each with its own starts and draws)."""
    n_episodes: int = 100
    """Episodes per history."""
    learning_rate: float = 1.0
    """Q-learning's step size (the room is deterministic, so 1 is exact)."""
    discount: float = 0.9
    """Q-learning's discount factor."""
    epsilon_start: float = 1.0
    """Q-learning's exploration rate in the first episode; it falls linearly to ``epsilon_end``."""
    epsilon_end: float = 0.0
    """Q-learning's exploration rate once it has fallen."""
    epsilon_decay_episodes: int = 100
    """Episodes over which Q-learning's exploration falls to ``epsilon_end``."""
    initial_value: float = field(default=0.0, metadata={"hash_omit_if": 0.0})
    """Q-learning's starting value; above 0 it is optimistic: untried actions look best, so the learner explores
    systematically (chapter 2's source uses 2)."""
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "goals", tuple(int(g) for g in self.room.check_cells(np.asarray(self.goals))))
        if self.source not in SOURCES:
            raise ValueError(f"unknown pixel-room source {self.source!r}; the sources are {', '.join(SOURCES)}")
        if self.histories_per_goal < 1 or self.n_episodes < 1:
            raise ValueError("histories_per_goal and n_episodes must be >= 1")

    def goal_per_history(self) -> np.ndarray:
        return np.repeat(np.array(self.goals), self.histories_per_goal)


def pixel_source(config: PixelDataConfig, goals: np.ndarray | None = None):
    """The source a :class:`PixelDataConfig` names (the expert needs every environment's goal)."""
    if config.source == "expert":
        return PixelExpert(config.goal_per_history() if goals is None else goals, config.room)
    if config.source == "posterior_sampling":
        return PosteriorSampling(config.room)
    return QLearning(config.room.n_states, N_ACTIONS, learning_rate=config.learning_rate, discount=config.discount,
                     epsilon_start=config.epsilon_start, epsilon_end=config.epsilon_end,
                     epsilon_decay_episodes=config.epsilon_decay_episodes, initial_value=config.initial_value,
                     episode_replay=True, max_episode_len=config.room.horizon)


class PixelHistories(LearningHistories):
    """Learning histories whose training windows are frames: each recorded state is drawn
    through the :class:`Camera`, with fresh noise every time a window is sampled."""

    camera: Camera

    @classmethod
    def wrap(cls, histories: LearningHistories, camera: Camera) -> "PixelHistories":
        """``histories`` (e.g. subsampled) drawn through ``camera``; the views' digest joins the fingerprint,
        so weights trained on other renderings are stale."""
        meta = dict(histories.meta, views=camera.digest)
        if "config" in meta:
            meta["config"] = dict(meta["config"], views=camera.digest)
        wrapped = cls(histories.observations, histories.actions, histories.rewards, histories.n_actions, histories.n_observations, meta)
        wrapped.camera = camera
        return wrapped

    def select(self, index) -> "PixelHistories":
        """A subset of the histories (rows), seen through the same camera."""
        return PixelHistories.wrap(super().select(index), self.camera)

    def subsample_episodes(self, every: int, episode_len: int) -> "PixelHistories":
        """Every ``every``-th episode, seen through the same camera."""
        return PixelHistories.wrap(super().subsample_episodes(every, episode_len), self.camera)

    def windows(self, rows, starts, window_len: int, rng: np.random.Generator | None = None, device="cpu"):
        """As :meth:`LearningHistories.windows`, but ``obs`` is ``[batch, window, 3, f, f]`` frames, drawn with ``rng``."""
        if rng is None:
            raise ValueError("pixel windows need an rng: the camera draws each frame's noise with it")
        states, prev_actions, prev_rewards, targets = super().windows(rows, starts, window_len, None, "cpu")
        frames = self.camera(states.numpy(), rng)
        return tuple(x.to(device) for x in (frames, prev_actions, prev_rewards, targets))


def generate_pixel_histories(config: PixelDataConfig) -> LearningHistories:
    goals = config.goal_per_history()
    env = PixelRoomEnv(goals, config.room, seed=config.seed)
    traj = rollout(env, pixel_source(config, goals), config.n_episodes * config.room.horizon, seed=config.seed + 1, cache=False)
    meta = {"config": to_jsonable(config, for_hash=True), "goal": goals.tolist(), "episode_len": config.room.horizon}
    return LearningHistories(traj.observations, traj.actions, traj.rewards, N_ACTIONS, config.room.n_states, meta)


def pixel_histories(config: PixelDataConfig, use_cache: bool = True) -> LearningHistories:
    """The recorded states, actions and rewards for ``config`` (artefact cache); :meth:`PixelHistories.wrap` adds the camera."""
    return _cached_histories(config, "pixel-room", generate_pixel_histories, use_cache, extra_modules=("pixels",))


def evaluate_in_pixel_room(policies, goals, room: PixelRoom, n_episodes: int, n_eval_seeds: int, seed: int):
    """:func:`adlib.grid_evaluation.evaluate_in_rooms` in the pixel room on the given goal cells.

    Starts are random, so each episode has its own optimum: the returned evaluation's
    ``returns`` are already fractions of each episode's optimum (and ``optimal`` is 1). The
    evaluation seeds differ in their random starts and the policy's random draws; every policy
    meets the same starts (common random numbers).
    """
    from dataclasses import replace

    from .grid_evaluation import evaluate_in_rooms

    goals = room.check_cells(np.asarray(goals))
    make_env = lambda k: PixelRoomEnv(np.tile(goals, k), room, seed=seed)  # noqa: E731
    result = evaluate_in_rooms(policies, make_env, len(goals), np.ones(len(goals)), n_episodes, room.horizon, n_eval_seeds, seed)
    R, G, _ = result.observations.shape
    distance = steps_to_goal(room, goals)  # [G, n_states]
    starts = result.observations[:, :, :: room.horizon].astype(np.int64)  # [R, G, E]
    optima = optimal_return(room, distance[np.arange(G)[None, :, None], starts])
    return replace(result, returns=result.returns / optima)


ATTEMPTS = "07_pixels.jsonl"
"""Chapter 7's earlier attempts, one JSON line each, in ``trials/`` (read with :func:`adlib.trials.read_trials`)."""


def exploration_words(histories: dict) -> str:
    """How a source config (or an attempt's ``histories`` record) explores, in words: "ε 1 → 0 over 100 episodes",
    with ", optimistic Q (2)" where its Q-values start above 0, or how posterior sampling does."""
    if histories.get("source") == "posterior_sampling":
        return "posterior sampling over the platform's cell (no random actions)"
    start, end = histories.get("epsilon_start", 1.0), histories.get("epsilon_end", 0.0)
    words = ("no random actions" if start == end == 0 else f"ε {start:g} → {end:g} over {histories['epsilon_decay_episodes']} episodes"
             if start != end else f"ε {start:g}")
    return words + (f", optimistic Q ({histories['initial_value']:g})" if histories.get("initial_value", 0.0) else "")


def attempt_verdicts(records: list[dict]) -> str:
    """The attempts' verdicts as a sentence: one verdict when all agree, else each attempt's."""
    said = [r["verdict"]["said"] for r in records]
    if len(set(said)) == 1:
        return f"Every attempt's verdict was the same: “{said[0]}”."
    return "The verdicts: " + "; ".join(f"attempt {i}, “{v}”" for i, v in enumerate(said, start=1)) + "."


def attempts_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: chapter 7's attempts, each a record as ``trials/07_pixels.jsonl`` keeps
    them (this build's with ``"this build": True``), in order."""
    from .report import pm
    from .stats import as_tuple

    header = ["attempt", "room", "goals: training / held out", "histories per goal × episodes", "source's exploration",
              "optimiser steps", "AD, held out", "ED, held out", "AD, training goals (sampled / greedy)"]
    rows = []
    for number, r in enumerate(records, start=1):
        held, seen, h = r["held_out_last_10"], r["training_goals_last_10"], r["histories"]
        rows.append([f"{number}{' (this build)' if r.get('this build') else ''}", r["room"],
                     f"{r['tasks']['train_goals']} / {r['tasks']['held_out_goals']}",
                     f"{h['histories_per_goal']} × {h['n_episodes']}", exploration_words(h), f"{r['train']['steps']:,}",
                     pm(as_tuple(held["ad"])), pm(as_tuple(held["ed"])), f"{seen['ad_sampled']:.2f} / {seen['ad_greedy']:.2f}"])
    return header, rows
