import dataclasses

import numpy as np
import pytest
import torch

from adlib.data import BanditDataConfig, LearningHistories, generate_bandit_histories
from adlib.model import ADConfig, ADTransformer
from adlib.run_store import stacked, train, train_seeds, train_together
from adlib.training import TrainConfig, clip_grad_norm_per_member, learning_rate, loss_change

MODEL = ADConfig(n_actions=4, context_len=10, d_model=16, n_layers=1, n_heads=2, d_ff=16, dropout=0.0, attn_dropout=0.0)


def oracle_data():
    """Histories of the oracle: the best arm is learnable only from rewards in context... here
    the oracle always pulls it, so after one step the model can copy the previous action."""
    return generate_bandit_histories(BanditDataConfig(source="oracle", n_histories=200, n_steps=10, n_arms=4))


def test_learning_rate_schedule():
    c = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert learning_rate(0, c) == pytest.approx(1e-4)
    assert learning_rate(9, c) == pytest.approx(1e-3)
    assert learning_rate(10, c) == pytest.approx(1e-3)
    assert learning_rate(100, c) == pytest.approx(1e-4)
    lrs = [learning_rate(s, c) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # cosine decay is monotone


def test_training_learns_to_copy_the_oracle():
    run = train(MODEL, TrainConfig(steps=150, batch_size=32, lr=3e-3, warmup_steps=10), oracle_data(), use_cache=False, progress=False)
    assert run.losses[:10].mean() > 1.2  # ~ln 4 at the start
    assert run.losses[-10:].mean() < 0.4
    data = oracle_data()
    obs, a, r, y = data.sample_windows(64, 10, np.random.default_rng(0))
    with torch.no_grad():
        pred = run.model(obs, a, r).argmax(-1)
    assert (pred[:, 1:] == y[:, 1:]).float().mean() > 0.95  # copies the previous (best) arm


def test_second_call_loads_from_cache_with_same_weights(isolated_cache):
    cfg = TrainConfig(steps=12, batch_size=8, warmup_steps=2, checkpoint_steps=(4,))
    first = train(MODEL, cfg, oracle_data(), progress=False)
    second = train(MODEL, cfg, oracle_data(), progress=False)
    assert not first.from_cache and second.from_cache
    for p, q in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(p, q)
    assert set(second.checkpoints) == {4}
    np.testing.assert_array_equal(first.losses, second.losses)
    other = train(MODEL, dataclasses.replace(cfg, seed=1), oracle_data(), progress=False)
    assert not other.from_cache and other.run_dir != first.run_dir


def test_interrupted_run_resumes_to_identical_result(isolated_cache, monkeypatch):
    cfg = TrainConfig(steps=30, batch_size=8, warmup_steps=2, save_every=10)
    data = oracle_data()
    reference = train(MODEL, cfg, data, use_cache=False, progress=False)

    calls = {"n": 0}
    original = LearningHistories.sample_windows

    def crash_after_13(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 13:
            raise KeyboardInterrupt("simulated crash")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LearningHistories, "sample_windows", crash_after_13)
    with pytest.raises(KeyboardInterrupt):
        train(MODEL, cfg, data, progress=False)
    leftovers = sorted(p.relative_to(isolated_cache / "runs") for p in (isolated_cache / "runs").rglob("*") if p.is_file())
    assert len(leftovers) == 1 and leftovers[0].name == "resume.pt"  # no final.pt half-written
    monkeypatch.setattr(LearningHistories, "sample_windows", original)
    resumed = train(MODEL, cfg, data, progress=False)
    np.testing.assert_allclose(resumed.losses, reference.losses, rtol=1e-6)
    for p, q in zip(reference.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(p, q)
    assert not list((isolated_cache / "runs").rglob("resume.pt"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "steps"),
        (dict(lr=-1.0), "lr"),
        (dict(warmup_steps=50, steps=50), "warmup_steps"),
        (dict(checkpoint_steps=(0,)), "checkpoint_steps"),
        (dict(grad_clip=0.0), "grad_clip"),
    ],
)
def test_invalid_train_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_model_and_data_mismatch_raises():
    data = oracle_data()
    with pytest.raises(ValueError, match="actions"):
        train(dataclasses.replace(MODEL, n_actions=5), TrainConfig(steps=2, warmup_steps=0), data, use_cache=False)
    with pytest.raises(ValueError, match="context_len"):
        train(dataclasses.replace(MODEL, context_len=11), TrainConfig(steps=2, warmup_steps=0), data, use_cache=False)


def test_checkpoint_for_another_config_is_rejected(isolated_cache):
    cfg = TrainConfig(steps=4, batch_size=4, warmup_steps=1)
    run = train(MODEL, cfg, oracle_data(), progress=False)
    from adlib.training import load_checkpoint as _load_model

    with pytest.raises(ValueError, match="another model config"):
        _load_model(run.run_dir / "final.pt", dataclasses.replace(MODEL, d_ff=32), "cpu")


def test_checkpoints_from_before_a_new_model_option_still_load(isolated_cache):
    """ADConfig.coordinate_embedding came after models were cached: off, it is left out of the run's hash
    and of the checkpoint's recorded config, so those models load; on, it is another model."""
    grid = dataclasses.replace(MODEL, n_observations=4, grid_size=2)
    cfg = TrainConfig(steps=4, batch_size=4, warmup_steps=1)
    run = train(grid, cfg, oracle_data(), progress=False)
    from adlib.run_store import run_directory
    from adlib.training import load_checkpoint as _load_model

    _, payload = _load_model(run.run_dir / "final.pt", grid, "cpu")
    assert "coordinate_embedding" not in payload["model_config"]
    assert train(grid, cfg, oracle_data(), progress=False).from_cache
    coords = dataclasses.replace(grid, coordinate_embedding=True)
    assert run_directory(coords, cfg, oracle_data()) != run.run_dir
    with pytest.raises(ValueError, match="another model config"):
        _load_model(run.run_dir / "final.pt", coords, "cpu")


def test_runs_trained_together_equal_runs_trained_alone():
    """The ensemble is a speed-up only: each member ends where its own run would."""
    cfg = TrainConfig(steps=25, batch_size=8, lr=3e-3, warmup_steps=3, checkpoint_steps=(10,))
    data = oracle_data()
    other_data = generate_bandit_histories(BanditDataConfig(source="random", n_histories=50, n_steps=10, n_arms=4))
    members = [(cfg, data), (dataclasses.replace(cfg, seed=1), data), (dataclasses.replace(cfg, seed=2), other_data)]
    together = train_together(MODEL, members, use_cache=False, progress=False)
    for (c, d), run in zip(members, together):
        alone = train(MODEL, c, d, use_cache=False, progress=False)
        assert run.trained_together == 3 and alone.trained_together == 1
        np.testing.assert_allclose(run.losses, alone.losses, rtol=1e-4, atol=1e-5)
        for p, q in zip(run.model.parameters(), alone.model.parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
        for p, q in zip(run.checkpoints[10].parameters(), alone.checkpoints[10].parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
    assert not np.allclose(together[0].losses, together[1].losses)  # seeds differ
    assert stacked(together).n_members == 3


def test_train_seeds_loads_cached_seeds_and_trains_only_the_rest(isolated_cache):
    cfg = TrainConfig(steps=6, batch_size=4, warmup_steps=1)
    data = oracle_data()
    first = train_seeds(MODEL, cfg, data, [0, 1], progress=False)
    assert [r.from_cache for r in first] == [False, False] and first[0].trained_together == 2
    second = train_seeds(MODEL, cfg, data, [1, 2], progress=False)
    assert [r.from_cache for r in second] == [True, False]
    for p, q in zip(first[1].model.parameters(), second[0].model.parameters()):
        assert torch.equal(p, q)


def test_runs_trained_together_must_share_their_settings():
    data = oracle_data()
    cfg = TrainConfig(steps=4, batch_size=4, warmup_steps=1)
    with pytest.raises(ValueError, match="differ only in TrainConfig.seed"):
        train_together(MODEL, [(cfg, data), (dataclasses.replace(cfg, lr=1e-2), data)], use_cache=False)
    with pytest.raises(ValueError, match="at least one"):
        train_together(MODEL, [], use_cache=False)


def test_per_member_clipping_matches_torch_clipping_of_each_model():
    torch.manual_seed(0)
    singles = [ADTransformer(MODEL) for _ in range(2)]
    ensemble = ADTransformer.stack(singles)
    data = oracle_data()
    obs, a, r, y = data.sample_windows(6, 10, np.random.default_rng(0))
    for m, sl in zip(singles, (slice(0, 3), slice(3, 6))):
        (100 * torch.nn.functional.cross_entropy(m(obs[sl], a[sl], r[sl]).reshape(-1, 4), y[sl].reshape(-1))).backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
    logits = ensemble(obs, a, r)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 4), y.reshape(-1), reduction="none").view(2, -1).mean(1)
    (100 * loss).sum().backward()
    norms = clip_grad_norm_per_member(ensemble, 0.5)
    assert (norms > 0.5).all()  # the test exercises real clipping
    for e, m in enumerate(singles):
        member_grads = [p.grad[e:e + 1] for p in ensemble.parameters()]
        for g, p in zip(member_grads, m.parameters()):
            torch.testing.assert_close(g, p.grad, atol=1e-6, rtol=1e-5)


def test_truncated_checkpoint_names_the_file_and_the_way_out(isolated_cache):
    cfg = TrainConfig(steps=4, batch_size=4, warmup_steps=1)
    run = train(MODEL, cfg, oracle_data(), progress=False)
    final = run.run_dir / "final.pt"
    final.write_bytes(final.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"final\.pt is truncated or corrupted.*delete it"):
        train(MODEL, cfg, oracle_data(), progress=False)


def test_stacking_leaves_torch_random_stream_alone_and_dropout_runs_train_alone():
    """Members must not depend on who they trained with: building the ensemble draws nothing
    from torch's stream, and runs with dropout (masks from that one stream) train one by one."""
    torch.manual_seed(5)
    models = [ADTransformer(MODEL) for _ in range(2)]
    state = torch.get_rng_state()
    ADTransformer.stack(models).member(1)
    assert torch.equal(state, torch.get_rng_state())
    dropout_model = dataclasses.replace(MODEL, dropout=0.2)
    cfg = TrainConfig(steps=6, batch_size=4, warmup_steps=1)
    runs = train_seeds(dropout_model, cfg, oracle_data(), [0, 1], use_cache=False, progress=False)
    alone = train(dropout_model, dataclasses.replace(cfg, seed=1), oracle_data(), use_cache=False, progress=False)
    assert [r.trained_together for r in runs] == [1, 1]
    for p, q in zip(runs[1].model.parameters(), alone.model.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="listed twice"):
        train_seeds(MODEL, cfg, oracle_data(), [0, 0], use_cache=False)
    with pytest.raises(ValueError, match="at least one model"):
        ADTransformer.stack([])


def test_missing_checkpoint_is_named(isolated_cache):
    cfg = TrainConfig(steps=4, batch_size=4, warmup_steps=1, checkpoint_steps=(2,))
    run = train(MODEL, cfg, oracle_data(), progress=False)
    (run.run_dir / "step_2.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"step_2\.pt is missing"):
        train(MODEL, cfg, oracle_data(), progress=False)


def _parallel(monkeypatch, workers: str) -> None:
    """Make train_runs use ``workers`` worker processes even for the tests' tiny runs."""
    import adlib.train_workers

    monkeypatch.setattr(adlib.train_workers, "PARALLEL_MIN_TOKENS", 0)
    monkeypatch.setenv("ADLIB_TRAIN_WORKERS", workers)


def test_runs_trained_in_worker_processes_equal_runs_trained_here(monkeypatch):
    """Workers are a speed-up only: each run, of either architecture, ends where it does in this process,
    is cached on its own with the throughput of the batch, and loads back as trained."""
    from adlib.run_store import train_runs
    from adlib.train_workers import in_workers

    cfg = TrainConfig(steps=20, batch_size=8, lr=3e-3, warmup_steps=2, checkpoint_steps=(10,))
    wide = dataclasses.replace(MODEL, d_ff=32)
    runs = [(MODEL, cfg, oracle_data()), (MODEL, dataclasses.replace(cfg, seed=1), oracle_data()), (wide, cfg, oracle_data())]
    _parallel(monkeypatch, "2")
    assert in_workers(runs, "cpu") == 2 and in_workers(runs, "meta") == 1
    trained = train_runs(runs, progress=False, device="cpu")
    monkeypatch.setenv("ADLIB_TRAIN_WORKERS", "1")
    assert in_workers(runs, "cpu") == 1
    for run, (m, c, d) in zip(trained, runs):
        here = train(m, c, d, use_cache=False, progress=False, device="cpu")
        assert not run.from_cache and run.trained_together == 2 and run.tokens_per_second > 0
        assert run.tokens_trained == here.tokens_trained == c.steps * c.batch_size * m.context_len
        np.testing.assert_allclose(run.losses, here.losses, rtol=1e-4, atol=1e-5)
        for p, q in zip(run.model.parameters(), here.model.parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
        for p, q in zip(run.checkpoints[10].parameters(), here.checkpoints[10].parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
    again = train_runs(runs, progress=False, device="cpu")
    assert all(r.from_cache and r.trained_together == 2 and r.tokens_trained == 0 for r in again)
    for p, q in zip(again[2].model.parameters(), trained[2].model.parameters()):
        assert torch.equal(p, q)
    assert not np.allclose(trained[0].losses, trained[1].losses)  # seeds differ


def test_a_failing_worker_run_raises_with_the_run_and_the_cause(monkeypatch, isolated_cache):
    from adlib.run_store import run_directory, train_runs

    cfg = TrainConfig(steps=4, batch_size=4, warmup_steps=1, checkpoint_steps=(2,))
    runs = [(MODEL, cfg, oracle_data()), (MODEL, dataclasses.replace(cfg, seed=1), oracle_data())]
    blocked = run_directory(*runs[1])
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the run's folder should be")
    _parallel(monkeypatch, "2")
    with pytest.raises(RuntimeError, match=f"(?s){blocked.name} failed in a worker process.*(NotADirectoryError|FileExistsError)"):
        train_runs(runs, progress=False, device="cpu")


def test_bad_worker_count_is_refused(monkeypatch):
    from adlib.runtime import training_workers

    for bad in ("0", "two", "-1", ""):
        monkeypatch.setenv("ADLIB_TRAIN_WORKERS", bad)
        with pytest.raises(ValueError, match="ADLIB_TRAIN_WORKERS"):
            training_workers()
    monkeypatch.setenv("ADLIB_TRAIN_WORKERS", "3")
    assert training_workers() == 3


def test_train_groups_returns_each_groups_runs_as_trained_alone():
    from adlib.run_store import seed_runs, train_groups

    cfg = TrainConfig(steps=6, batch_size=4, warmup_steps=1)
    groups = train_groups({"a": seed_runs(MODEL, cfg, oracle_data(), [0, 1]), "b": seed_runs(MODEL, cfg, oracle_data(), [2])},
                          progress=False)
    assert [len(groups["a"]), len(groups["b"])] == [2, 1]
    for run, seed in zip(groups["a"] + groups["b"], [0, 1, 2]):
        alone = train(MODEL, dataclasses.replace(cfg, seed=seed), oracle_data(), use_cache=False, progress=False)
        for p, q in zip(run.model.parameters(), alone.model.parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)


def test_train_configs_with_lists_still_train_together():
    cfg = TrainConfig(steps=4, batch_size=4, warmup_steps=1, checkpoint_steps=[2, 4], betas=[0.9, 0.99])
    runs = train_seeds(MODEL, cfg, oracle_data(), [0, 1], use_cache=False, progress=False, device="cpu")
    assert [r.trained_together for r in runs] == [2, 2] and set(runs[0].checkpoints) == {2, 4}


def test_the_ledger_books_training_flops_for_trained_and_loaded_runs(isolated_cache):
    """A chapter records every run it used with the FLOPs training it takes (a cold build's
    compute), loaded or not; the FLOPs of the steps actually trained count as work done."""
    from adlib import runtime
    from adlib.model import training_step_flops

    cfg = TrainConfig(steps=6, batch_size=4, warmup_steps=1)
    runtime.start_chapter()
    first = train_seeds(MODEL, cfg, oracle_data(), [0, 1], progress=False)
    per_run = 6 * training_step_flops(MODEL, 4)
    split = runtime.time_split()
    assert split["training_flops"] == 2 * per_run and split["training_flops_per_second"] > 0
    started = runtime.start_chapter()
    train_seeds(MODEL, cfg, oracle_data(), [0, 1], progress=False)
    record = runtime.run_record("test", "small", {}, started)
    assert record["training_runs"] == {r.run_dir.name: per_run for r in first}
    assert record["time_split"]["training_flops"] == 0 and record["time_split"]["training_flops_per_second"] is None


def test_matmul_rate_is_measured():
    from adlib.runtime import matmul_flops_per_second

    assert 1e8 < matmul_flops_per_second(size=128, seconds=0.05) < 1e14


def test_loss_change_compares_the_last_fifth_with_the_fifth_before():
    assert loss_change([2.0] * 60 + [1.0] * 20 + [0.9] * 20) == pytest.approx(-0.1)
    assert loss_change(np.ones(1500)) == 0.0
    with pytest.raises(ValueError, match="finite losses"):
        loss_change([1.0, 2.0, 3.0])
