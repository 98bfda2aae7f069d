import zipfile

import numpy as np
import torch
import pytest

from adlib.data import BanditDataConfig, LearningHistories, bandit_histories, generate_bandit_histories


def labelled_histories(n=6, T=12, n_actions=4):
    """Histories whose rewards equal the row index: any window mixing rows would show it."""
    rng = np.random.default_rng(0)
    rewards = np.repeat(np.arange(n, dtype=np.float32)[:, None], T, axis=1)
    actions = rng.integers(0, n_actions, size=(n, T))
    return LearningHistories(np.zeros((n, T), dtype=int), actions, rewards, n_actions, 1, {"config": {"test": 1}})


def test_windows_never_cross_histories_and_align(rng):
    h = labelled_histories()
    obs, prev_a, prev_r, targets = h.sample_windows(500, 5, rng)
    assert obs.shape == prev_a.shape == prev_r.shape == targets.shape == (500, 5)
    # Every target in a window comes from one history: find it from the (row-labelled) rewards.
    for b in range(500):
        starts = [(row, s) for row in range(h.n_histories) for s in range(h.n_steps - 4)
                  if np.array_equal(h.actions[row, s:s + 5], targets[b].numpy())]
        assert starts, "window is not a contiguous piece of one history"
    # Previous action/reward at position t are the target/reward at t-1 inside the window.
    np.testing.assert_array_equal(prev_a[:, 1:].numpy(), targets[:, :-1].numpy())
    row_of = prev_r[:, 1:].numpy()
    assert (row_of == row_of[:, :1]).all(), "rewards inside a window come from several histories"


def test_window_at_history_start_uses_start_token():
    h = labelled_histories(n=3, T=5)
    obs, prev_a, prev_r, targets = h.sample_windows(200, 5, np.random.default_rng(0))  # window == history
    assert (prev_a[:, 0] == h.n_actions).all() and (prev_r[:, 0] == 0).all()


def test_window_longer_than_history_raises(rng):
    with pytest.raises(ValueError, match="longer than the histories"):
        labelled_histories(T=5).sample_windows(2, 6, rng)


def test_save_load_roundtrip_is_atomic(tmp_path):
    h = labelled_histories()
    path = h.save(tmp_path / "d.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # no temporary file left behind
    g = LearningHistories.load(path)
    np.testing.assert_array_equal(g.actions, h.actions)
    np.testing.assert_array_equal(g.rewards, h.rewards)
    assert g.meta["config"] == {"test": 1} and g.fingerprint == h.fingerprint


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    h = labelled_histories()
    monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        h.save(tmp_path / "d.npz")
    assert list(tmp_path.iterdir()) == []


def test_corrupted_and_missing_files_raise_clearly(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="bad.npz.*corrupted"):
        LearningHistories.load(bad)
    with pytest.raises(FileNotFoundError, match="no dataset file"):
        LearningHistories.load(tmp_path / "missing.npz")
    truncated = tmp_path / "trunc.npz"
    with zipfile.ZipFile(truncated, "w") as z:
        z.writestr("actions.npy", b"")
    with pytest.raises(ValueError, match="trunc.npz"):
        LearningHistories.load(truncated)


def test_dataset_from_another_config_is_rejected(tmp_path):
    cfg = BanditDataConfig(n_histories=20, n_steps=10)
    path = generate_bandit_histories(cfg).save(tmp_path / "d.npz")
    LearningHistories.load(path, expected_config=cfg)
    with pytest.raises(ValueError, match="another config"):
        LearningHistories.load(path, expected_config=BanditDataConfig(n_histories=20, n_steps=10, seed=1))


def test_bandit_histories_cached_by_config(isolated_cache):
    cfg = BanditDataConfig(source="ucb1", n_histories=30, n_steps=15)
    first = bandit_histories(cfg)
    files = list((isolated_cache / "datasets").iterdir())
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    second = bandit_histories(cfg)
    assert files[0].stat().st_mtime_ns == mtime  # loaded, not regenerated
    np.testing.assert_array_equal(first.actions, second.actions)
    bandit_histories(BanditDataConfig(source="ucb1", n_histories=30, n_steps=15, seed=5))
    assert len(list((isolated_cache / "datasets").iterdir())) == 2


def test_generated_histories_respect_task_constraints():
    cfg = BanditDataConfig(source="oracle", n_histories=200, n_steps=5, excluded_best_arms=(0,))
    h = generate_bandit_histories(cfg)
    assert (h.actions != 0).all()  # the oracle pulls the best arm, never arm 0


def test_subsample_episodes():
    h = labelled_histories(n=2, T=12)
    s = h.subsample_episodes(every=2, episode_len=3)  # keep episodes 0 and 2 of 4
    np.testing.assert_array_equal(s.actions, h.actions[:, [0, 1, 2, 6, 7, 8]])
    with pytest.raises(ValueError, match="whole number"):
        h.subsample_episodes(every=2, episode_len=5)


def test_subsample_uneven_episodes_keeps_every_kth_episode_and_cuts_to_the_shortest():
    steps = np.tile(np.arange(12), (2, 1))  # each step observes its own index, so a kept step names itself
    h = LearningHistories(steps, steps % 4, np.repeat([[0.0], [1.0]], 12, axis=1), 4, 12, {"config": {"test": 1}})
    dones = np.zeros((2, 12), dtype=bool)
    dones[0, [1, 4, 6, 11]] = True  # row 0: episodes [0-1] [2-4] [5-6] [7-11]: keeps 0, 1, 5, 6
    dones[1, [2, 3, 7, 11]] = True  # row 1: episodes [0-2] [3] [4-7] [8-11]: keeps 0, 1, 2, 4, 5, 6, 7
    s = h.subsample_uneven_episodes(2, dones)  # cut to row 0's 4 steps
    np.testing.assert_array_equal(s.observations, [[0, 1, 5, 6], [0, 1, 2, 4]])
    np.testing.assert_array_equal(s.actions, s.observations % 4)
    np.testing.assert_array_equal(s.rewards, [[0.0] * 4, [1.0] * 4])  # rows stay rows
    assert s.meta["subsample_every"] == 2 and s.meta["cut_to"] == 4
    same_shape_unsubsampled = LearningHistories(s.observations, s.actions, s.rewards, 4, 12, h.meta)
    assert s.fingerprint != same_shape_unsubsampled.fingerprint  # the fingerprint knows one episode in 2 was kept
    np.testing.assert_array_equal(h.subsample_uneven_episodes(1, dones).observations, steps)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        h.subsample_uneven_episodes(0, dones)
    with pytest.raises(ValueError, match="dones must be a bool array of shape"):
        h.subsample_uneven_episodes(2, dones[:, :5])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(actions=np.zeros((2, 3)), rewards=np.zeros((2, 4))), "n_histories, n_steps"),
        (dict(actions=np.full((2, 3), 9)), "actions must lie"),
        (dict(rewards=np.full((2, 3), np.inf)), "finite"),
    ],
)
def test_invalid_histories_raise(kwargs, match):
    base = dict(observations=np.zeros((2, 3), dtype=int), actions=np.zeros((2, 3), dtype=int), rewards=np.zeros((2, 3)))
    base.update(kwargs)
    if base["actions"].shape != base["observations"].shape:
        base["observations"] = np.zeros(base["actions"].shape, dtype=int)
    with pytest.raises(ValueError, match=match):
        LearningHistories(**base, n_actions=4, n_observations=1)


def test_invalid_data_config_raises():
    with pytest.raises(ValueError, match="unknown bandit source"):
        BanditDataConfig(source="ppo")
    with pytest.raises(ValueError, match=">= 1"):
        BanditDataConfig(n_histories=0)


def test_bandit_histories_record_best_arm_and_select_keeps_it():
    h = generate_bandit_histories(BanditDataConfig(source="oracle", n_histories=30, n_steps=4))
    np.testing.assert_array_equal(h.actions[:, 0], h.meta["best_arm"])  # the oracle pulls the best arm
    s = h.select(np.array([3, 7]))
    assert s.meta["best_arm"] == [h.meta["best_arm"][3], h.meta["best_arm"][7]]


def test_odd_even_histories_record_the_favoured_split():
    cfg = BanditDataConfig(source="thompson", kind="bernoulli", n_histories=4_000, n_steps=3, favoured_arms=(1, 3, 5, 7, 9))
    h = bandit_histories(cfg, use_cache=False)
    odd_best = (np.asarray(h.meta["best_arm"]) % 2 == 1).mean()
    assert abs(odd_best - 0.95) < 4 * np.sqrt(0.95 * 0.05 / 4_000)
    assert set(np.unique(h.rewards)) <= {0.0, 1.0}


def test_bandit_config_with_one_arm_raises_at_construction():
    from adlib.data import BanditDataConfig

    with pytest.raises(ValueError, match="n_arms must be an integer >= 2"):
        BanditDataConfig(n_arms=1)


def test_recording_histories_imports_neither_the_model_nor_the_rollout_cache():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from adlib import data; "
            "data.generate_bandit_histories(data.BanditDataConfig(n_histories=4, n_steps=5, seed=0)); data.generate_darkroom_histories(data.DarkRoomDataConfig(goals=(3, 40), n_episodes=2)); "
            "print(sorted(m for m in ('adlib.model', 'adlib.rollout_cache', 'adlib.in_context') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_windows_at_given_starts_equal_the_sampled_ones():
    h = labelled_histories()
    sampled = h.sample_windows(50, 5, np.random.default_rng(3))
    draw = np.random.default_rng(3)
    rows, starts = draw.integers(0, h.n_histories, size=50), draw.integers(0, h.n_steps - 4, size=50)
    for a, b in zip(sampled, h.windows(rows, starts, 5)):
        assert torch.equal(a, b)


def test_windows_that_do_not_fit_raise():
    h = labelled_histories(T=8)
    with pytest.raises(ValueError, match="do not fit"):
        h.windows([0], [4], 5)
    with pytest.raises(ValueError, match="one length"):
        h.windows([0, 1], [0], 5)
