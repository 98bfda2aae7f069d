"""Rollouts kept in the artefact cache: a hit gives exactly what a fresh run gives, and
anything that could change the run (weights, seed, environment state, code) misses."""

import warnings

import numpy as np
import pytest
import torch

from adlib import in_context, rollout_cache, rollouts, runtime
from adlib.envs import KeyToDoorEnv, sample_gaussian_bandits
from adlib.in_context import InContextPolicy, PromptedPolicy, in_context_trace
from adlib.rollouts import rollout
from adlib.model import ADConfig, ADTransformer
from adlib.sources import RandomPolicy, ThompsonSampling


@pytest.fixture(autouse=True)
def cache_every_rollout(monkeypatch):
    monkeypatch.setattr(rollout_cache, "CACHE_MIN_STEPS", 0)
    monkeypatch.setenv("ADLIB_ROLLOUT_CACHE", "1")


@pytest.fixture
def runs(monkeypatch):
    """Counts the rollouts that really ran."""
    count = {"n": 0}
    real = rollouts.rollout_loop

    def counting(*args, **kwargs):
        count["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(rollouts, "rollout_loop", counting)
    monkeypatch.setattr(in_context, "rollout_loop", counting)
    return count


def _model(seed=0, n_actions=10, n_observations=1):
    torch.manual_seed(seed)
    config = ADConfig(n_actions=n_actions, n_observations=n_observations, context_len=8, d_model=16, n_layers=1, n_heads=2, d_ff=16,
                      dropout=0.0, attn_dropout=0.0)
    return ADTransformer(config).eval()


def _files(cache):
    return sorted((cache / "rollouts").glob("*/*.npz"))


def _same(a, b):
    for name in ("observations", "actions", "rewards", "dones"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)


def test_a_hit_returns_what_a_fresh_run_returns_and_books_the_steps_as_loaded(runs, monkeypatch, isolated_cache):
    tasks = sample_gaussian_bandits(40, 10, np.random.default_rng(0))
    model = _model()
    runtime.start_chapter()
    first = rollout(tasks.env(30, seed=1), InContextPolicy(model), 30, seed=5)
    assert runs["n"] == 1 and len(_files(isolated_cache)) == 1
    again = rollout(tasks.env(30, seed=1), InContextPolicy(model), 30, seed=5)
    assert runs["n"] == 1  # loaded, not run
    _same(first, again)
    split = runtime.time_split()
    assert split["in_context_steps"] == 40 * 30 and split["in_context_steps_from_cache"] == 40 * 30
    monkeypatch.setenv("ADLIB_ROLLOUT_CACHE", "0")
    fresh = rollout(tasks.env(30, seed=1), InContextPolicy(model), 30, seed=5)
    assert runs["n"] == 2
    _same(first, fresh)


@pytest.mark.parametrize("change", ["weights", "greedy", "seed", "reward tape", "steps", "prompt", "code"])
def test_anything_that_changes_the_run_misses(change, runs, monkeypatch):
    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))
    model = _model()
    prompt = [np.zeros((20, 3), dtype=np.int64), np.ones((20, 3), dtype=np.int64), np.full((20, 3), 0.5, dtype=np.float32)]

    def run(model=model, greedy=False, seed=5, tape=1, steps=12, prompt=prompt):
        return rollout(tasks.env(steps, seed=tape), PromptedPolicy(InContextPolicy(model, greedy=greedy), *prompt), steps, seed=seed)

    run()
    assert runs["n"] == 1
    if change == "weights":
        other = _model()
        with torch.no_grad():
            next(other.parameters()).view(-1)[0] += 1e-3
        run(model=other)
    elif change == "greedy":
        run(greedy=True)
    elif change == "seed":
        run(seed=6)
    elif change == "reward tape":
        run(tape=2)
    elif change == "steps":
        run(steps=11)
    elif change == "prompt":
        changed = [p.copy() for p in prompt]
        changed[2][3, 1] = 1.0
        run(prompt=changed)
    else:
        monkeypatch.setattr(rollout_cache, "package_fingerprint", lambda: "other code")
        run()
    assert runs["n"] == 2
    run()  # the same call again hits, whatever it was keyed by
    assert runs["n"] == 2


def test_a_hit_leaves_the_environment_as_the_run_would(runs):
    """Key-to-Door draws start cells from its own stream as episodes end: after a loaded
    rollout the stream must stand where the run left it."""
    keys, doors = np.zeros((30, 2), dtype=np.int64), np.full((30, 2), 2)
    states = []
    for _ in range(2):
        env = KeyToDoorEnv(keys, doors, 5, 10, seed=4)
        traj = rollout(env, RandomPolicy(5), 60, seed=1, until_episodes=3)
        states.append((traj, env.rng.random(3), env.t.copy(), env.positions.copy()))
    assert runs["n"] == 1
    _same(states[0][0], states[1][0])
    for a, b in zip(states[0][1:], states[1][1:]):
        np.testing.assert_array_equal(a, b)


def test_baselines_are_cached_by_their_state_and_unknown_policies_are_not(runs, isolated_cache):
    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))
    a = rollout(tasks.env(15, seed=1), ThompsonSampling(10), 15, seed=2)
    b = rollout(tasks.env(15, seed=1), ThompsonSampling(10), 15, seed=2)
    assert runs["n"] == 1
    _same(a, b)

    class Mine(RandomPolicy):  # defined outside adlib: its state cannot be vouched for
        pass

    rollout(tasks.env(15, seed=1), Mine(10), 15, seed=2)
    rollout(tasks.env(15, seed=1), Mine(10), 15, seed=2)
    rollout(tasks.env(15, seed=1), ThompsonSampling(10), 15, seed=2, cache=False)
    assert runs["n"] == 4 and len(_files(isolated_cache)) == 1


def test_small_rollouts_are_not_cached(monkeypatch, isolated_cache):
    monkeypatch.setattr(rollout_cache, "CACHE_MIN_STEPS", 1000)
    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))
    rollout(tasks.env(15, seed=1), ThompsonSampling(10), 15, seed=2)
    assert not _files(isolated_cache)


def test_in_context_trace_is_cached_with_its_probabilities(runs):
    tasks = sample_gaussian_bandits(6, 10, np.random.default_rng(0))
    model = _model()
    traj, probs = in_context_trace(InContextPolicy(model), tasks.env(12, seed=1), 12, seed=7)
    traj2, probs2 = in_context_trace(InContextPolicy(model), tasks.env(12, seed=1), 12, seed=7)
    assert runs["n"] == 1
    _same(traj, traj2)
    assert probs2.dtype == np.float32
    np.testing.assert_array_equal(probs, probs2)
    plain = rollout(tasks.env(12, seed=1), InContextPolicy(model), 12, seed=7)  # a trace is not a rollout's entry
    assert runs["n"] == 2
    _same(plain, traj)


def test_an_unreadable_file_is_named_run_again_and_replaced(runs, isolated_cache):
    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))
    first = rollout(tasks.env(15, seed=1), InContextPolicy(_model()), 15, seed=2)
    (path,) = _files(isolated_cache)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match=f"cached rollout {path}.*running the rollout again"):
        again = rollout(tasks.env(15, seed=1), InContextPolicy(_model()), 15, seed=2)
    assert runs["n"] == 2
    _same(first, again)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rollout(tasks.env(15, seed=1), InContextPolicy(_model()), 15, seed=2)  # the file was replaced
    assert runs["n"] == 2


def test_the_switch_names_a_bad_value(monkeypatch):
    monkeypatch.setenv("ADLIB_ROLLOUT_CACHE", "yes")
    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="ADLIB_ROLLOUT_CACHE must be 0 or 1"):
        rollout(tasks.env(15, seed=1), RandomPolicy(10), 15, seed=2)


def _env_bytes(env):
    import pickle

    return {name: pickle.dumps(value) for name, value in vars(env).items()}


def test_rollouts_in_a_row_on_one_moving_room_match_fresh_runs(runs, monkeypatch):
    """Chapter 6 rolls several policies out in one room; with the cache each rollout and the
    room after it must be exactly what fresh runs give."""
    from adlib.envs import MovingGoalDarkRoom

    goals, new_goals = np.array([[1, 1], [2, 3]] * 10), np.array([[4, 4], [0, 4]] * 10)

    def session():
        room = MovingGoalDarkRoom(goals, new_goals, move_after=2, size=5, horizon=6)
        trajs = [rollout(room, RandomPolicy(5), 30, seed=1), rollout(room, InContextPolicy(_model(n_actions=5, n_observations=25)), 24, seed=2)]
        return trajs, _env_bytes(room)

    fresh_trajs, fresh_room = session()
    assert runs["n"] == 2
    cached_trajs, cached_room = session()
    assert runs["n"] == 2
    for a, b in zip(fresh_trajs, cached_trajs):
        _same(a, b)
    assert cached_room == fresh_room
    monkeypatch.setenv("ADLIB_ROLLOUT_CACHE", "0")
    uncached_trajs, uncached_room = session()
    for a, b in zip(fresh_trajs, uncached_trajs):
        _same(a, b)
    assert uncached_room == fresh_room


def test_only_adlibs_own_classes_used_as_they_are_are_cached(runs, isolated_cache):
    from adlib.envs import BanditEnv

    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))

    class MyEnv(BanditEnv):  # its code is not adlib's, so a change to it would go unseen
        pass

    class Hotter(InContextPolicy):  # a subclass may act differently from the class it extends
        pass

    model = _model()
    rollout(MyEnv(tasks, 15, seed=1), RandomPolicy(10), 15, seed=2)
    rollout(tasks.env(15, seed=1), Hotter(model), 15, seed=2)
    training_mode = InContextPolicy(model)
    model.train()
    rollout(tasks.env(15, seed=1), training_mode, 15, seed=2)
    model.eval()
    hook = model.blocks[0].register_forward_hook(lambda module, args, out: out * 2)
    rollout(tasks.env(15, seed=1), InContextPolicy(model), 15, seed=2)
    hook.remove()
    assert runs["n"] == 4 and not _files(isolated_cache)
    rollout(tasks.env(15, seed=1), InContextPolicy(model), 15, seed=2)
    assert runs["n"] == 5 and len(_files(isolated_cache)) == 1


def test_model_fingerprint_reads_exact_weights_and_dtypes():
    model = _model()
    same = _model()
    assert rollout_cache.model_fingerprint(model) == rollout_cache.model_fingerprint(same)
    assert rollout_cache.model_fingerprint(model) != rollout_cache.model_fingerprint(_model().double())  # same values, other dtype
    with torch.no_grad():
        next(same.parameters()).view(-1)[0] += 1e-7  # below what a cast to float16 would keep
    assert rollout_cache.model_fingerprint(model) != rollout_cache.model_fingerprint(same)


def test_storing_a_rollout_drops_those_of_other_code_versions(runs, monkeypatch, isolated_cache):
    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))
    rollout(tasks.env(15, seed=1), RandomPolicy(10), 15, seed=2)
    rollout(tasks.env(15, seed=1), RandomPolicy(10), 15, seed=3)
    (old_folder,) = {f.parent for f in _files(isolated_cache)}
    assert len(_files(isolated_cache)) == 2
    monkeypatch.setattr(rollout_cache, "package_fingerprint", lambda: "edited code")
    rollout(tasks.env(15, seed=1), RandomPolicy(10), 15, seed=2)
    assert runs["n"] == 3 and old_folder.exists()  # recently used: a kernel started before the edit may still read it
    monkeypatch.setattr(rollout_cache, "_kept_folders", set())  # a later process
    monkeypatch.setattr(rollout_cache, "STALE_AFTER_SECONDS", -1)
    rollout(tasks.env(15, seed=1), RandomPolicy(10), 15, seed=4)
    assert not old_folder.exists()
    assert {f.parent.name for f in _files(isolated_cache)} == {"edited code"}


def test_a_notebook_object_deep_inside_an_agent_or_environment_is_not_cached(runs, isolated_cache):
    """The key covers adlib's code, not a notebook's: an object of another module anywhere in a
    policy's or environment's state rules the rollout out of the cache."""
    from adlib.agents import CopyAgent
    from adlib.envs import DarkRoomEnv

    class Mine:
        pass

    goals = np.array([[1, 1]] * 4)
    room = DarkRoomEnv(goals, 3, 5)
    agent = CopyAgent(3, 10, "random")
    agent.note = Mine()
    rollout(room, agent, 10, seed=0)
    room.note = Mine()
    rollout(room, RandomPolicy(5), 10, seed=0)
    del room.note
    rollout(room, RandomPolicy(5), 10, seed=0)
    assert runs["n"] == 3 and len(_files(isolated_cache)) == 1


def test_a_model_with_a_submodule_in_training_mode_is_not_cached(runs, isolated_cache):
    tasks = sample_gaussian_bandits(20, 10, np.random.default_rng(0))
    model = _model()
    policy = InContextPolicy(model)  # puts the whole model in eval mode
    model.blocks[0].train()  # then one block back in training mode (dropout would draw from torch's stream)
    rollout(tasks.env(15, seed=1), policy, 15, seed=2)
    assert runs["n"] == 1 and not _files(isolated_cache)
