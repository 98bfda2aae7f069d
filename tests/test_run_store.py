"""The run store: cache, then shipped weights (verified), then training; make weights; replays."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from adlib import experiments, runtime, sources
from adlib.data import BanditDataConfig, generate_bandit_histories
from adlib.model import ADConfig
from adlib.run_store import (
    REPLAY_STEPS, ShippedWeights, ShippedWeightsError, check_shipped, make_weights, replay_losses, run_id, train, train_runs,
)
from adlib.training import TrainConfig

MODEL = ADConfig(n_actions=4, context_len=10, d_model=16, n_layers=1, n_heads=2, d_ff=16, dropout=0.0, attn_dropout=0.0)
CFG = TrainConfig(steps=12, batch_size=8, warmup_steps=2, checkpoint_steps=(6, 12))


def oracle_data(n_histories=200):
    return generate_bandit_histories(BanditDataConfig(source="oracle", n_histories=n_histories, n_steps=10, n_arms=4))


@pytest.fixture
def store(tmp_path):
    """A weights store holding one run, trained here: seed 0 of CFG on the oracle's data."""
    store = ShippedWeights(tmp_path / "weights")
    data = oracle_data()
    run = train(MODEL, CFG, data, use_cache=False, progress=False)
    store.add("01_bandit", "test run, seed 0", MODEL, CFG, data, run, keep_checkpoints=True)
    return ShippedWeights(store.root)  # read back from disk, as a build would


def same_weights(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_loading_order_is_cache_then_shipped_then_training_and_the_record_says_which(store, isolated_cache):
    data = oracle_data()
    fresh = train(MODEL, CFG, data, use_cache=False, progress=False)
    seed1 = dataclasses.replace(CFG, seed=1)
    started = runtime.start_chapter()
    first = train_runs([(MODEL, CFG, data), (MODEL, seed1, data)], progress=False, shipped=store)
    assert [r.origin for r in first] == ["shipped", "trained"]
    assert same_weights(first[0].model, fresh.model) and set(first[0].checkpoints) == {6, 12}
    np.testing.assert_allclose(first[0].losses, fresh.losses, rtol=1e-6)  # stored as float32
    record = runtime.run_record("test", "small", {}, started)
    assert record["run_origins"] == {run_id(MODEL, CFG, data): "shipped", run_id(MODEL, seed1, data): "trained"}
    again = train_runs([(MODEL, CFG, data), (MODEL, seed1, data)], progress=False, shipped=store)
    assert [r.origin for r in again] == ["shipped", "cache"] and all(r.from_cache for r in again)
    assert not (isolated_cache / "runs" / run_id(MODEL, CFG, data)).exists()  # shipped runs are not copied into the cache


def test_shipped_weights_are_never_rewritten_by_a_build(store):
    files = {p: p.read_bytes() for p in store.root.rglob("*") if p.is_file()}
    runs = train_runs([(MODEL, CFG, oracle_data()), (MODEL, dataclasses.replace(CFG, seed=1), oracle_data())], progress=False,
                      shipped=store)
    assert [r.origin for r in runs] == ["shipped", "trained"]  # the trained run goes to the cache, not to the store
    assert {p: p.read_bytes() for p in store.root.rglob("*") if p.is_file()} == files


def test_a_cached_run_trained_on_other_data_trains_again(isolated_cache):
    data = oracle_data()
    assert train(MODEL, CFG, data, progress=False, shipped=False).origin == "trained"
    assert train(MODEL, CFG, oracle_data(), progress=False, shipped=False).origin == "cache"
    changed = oracle_data()
    changed.rewards[0, 0] += 1.0  # what a changed source algorithm does under the same config
    assert train(MODEL, CFG, changed, progress=False, shipped=False).origin == "trained"


def test_a_checkpoint_that_was_not_shipped_is_named(tmp_path):
    store = ShippedWeights(tmp_path / "weights")
    data = oracle_data()
    store.add("01_bandit", "no checkpoints, seed 0", MODEL, CFG, data, train(MODEL, CFG, data, use_cache=False, progress=False),
              keep_checkpoints=False)
    run = train_runs([(MODEL, CFG, data)], progress=False, shipped=ShippedWeights(store.root))[0]
    assert run.origin == "shipped" and dict(run.checkpoints) == {}
    with pytest.raises(KeyError, match="checkpoint at step 6 .* is not shipped.*keep_checkpoints"):
        run.checkpoints[6]


def test_shipped_weights_can_be_switched_off(store, monkeypatch):
    monkeypatch.setenv("ADLIB_WEIGHTS_DIR", str(store.root))
    assert train(MODEL, CFG, oracle_data(), progress=False).origin == "shipped"
    monkeypatch.setenv("ADLIB_SHIPPED_WEIGHTS", "0")
    assert train(MODEL, CFG, oracle_data(), progress=False).origin == "trained"
    monkeypatch.setenv("ADLIB_SHIPPED_WEIGHTS", "no")
    with pytest.raises(ValueError, match="ADLIB_SHIPPED_WEIGHTS must be 0 or 1"):
        train(MODEL, CFG, oracle_data(), progress=False)


def _corrupt(path, how):
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 3])
    elif how == "one byte changed":
        path.write_bytes(raw[:-40] + bytes([raw[-40] ^ 0xFF]) + raw[-39:])
    else:
        path.unlink()


@pytest.mark.parametrize("how, says", [("truncated", "SHA-256 differs"), ("one byte changed", "SHA-256 differs"), ("missing", "is missing")])
def test_a_damaged_shipped_file_is_an_error_naming_it_and_the_way_out_never_a_retraining(store, isolated_cache, how, says):
    [entry] = store.manifest["runs"].values()
    path = store.root / entry["file"]
    _corrupt(path, how)
    with pytest.raises(ShippedWeightsError, match=rf"(?s){path.name}.*{says}.*git checkout -- .*make weights CHAPTER=01_bandit"):
        train_runs([(MODEL, CFG, oracle_data())], progress=False, shipped=store)
    assert not (isolated_cache / "runs").exists()  # nothing was trained


def test_a_file_that_matches_its_sha256_but_is_no_weights_file_is_an_error(store):
    [entry] = store.manifest["runs"].values()
    path = store.root / entry["file"]
    path.write_bytes(b"not a torch file")
    manifest = json.loads((store.root / "manifest.json").read_text())
    next(iter(manifest["runs"].values()))["sha256"] = __import__("hashlib").sha256(b"not a torch file").hexdigest()
    (store.root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShippedWeightsError, match=rf"{path.name} cannot be read as run"):
        train_runs([(MODEL, CFG, oracle_data())], progress=False, shipped=ShippedWeights(store.root))


def test_shipped_weights_for_other_data_or_configs_are_refused(store):
    other_data = oracle_data(n_histories=201)  # another dataset under the same config would have another digest
    rid = run_id(MODEL, CFG, oracle_data())
    assert store.mismatches(rid, MODEL, CFG, oracle_data()) == []
    data = oracle_data()
    data.rewards[0, 0] += 1.0  # the same config, other contents: what a changed source algorithm does
    assert run_id(MODEL, CFG, data) == rid
    with pytest.raises(ShippedWeightsError, match=r"(?s)the training data differ.*make weights CHAPTER=01_bandit.*ADLIB_SHIPPED_WEIGHTS=0"):
        train_runs([(MODEL, CFG, data)], progress=False, shipped=store)
    assert store.mismatches(rid, dataclasses.replace(MODEL, d_ff=32), CFG, oracle_data()) == ["the model config differs"]
    assert store.mismatches(rid, MODEL, dataclasses.replace(CFG, lr=2e-3), oracle_data()) == ["the training config differs"]
    assert store.mismatches(run_id(MODEL, CFG, other_data), MODEL, CFG, other_data) == ["no shipped weights"]


def test_a_broken_manifest_is_named():
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp())
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(ShippedWeightsError, match=r"manifest\.json is not valid JSON.*git checkout"):
        ShippedWeights(root).manifest
    (root / "manifest.json").write_text('{"format": 99, "runs": {}}')
    with pytest.raises(ShippedWeightsError, match="not a weights manifest of format 1"):
        ShippedWeights(root).manifest


def test_the_manifest_records_configs_data_provenance_and_the_loss_curve(store):
    [entry] = store.manifest["runs"].values()
    assert entry["chapter"] == "01_bandit" and entry["file"] == "01_bandit/test-run-seed-0.pt"
    assert entry["data"]["digest"] == oracle_data().content_digest() and entry["kept_checkpoints"] == [6, 12]
    assert entry["trained"]["device"] == "cpu" and entry["trained"]["wall_seconds"] >= 0 and entry["trained"]["code"]
    assert len(entry["loss"]["first_steps"]) == min(REPLAY_STEPS, CFG.steps) and entry["loss"]["final"] > 0
    assert entry["bytes"] == (store.root / entry["file"]).stat().st_size


def test_make_weights_trains_what_is_missing_or_stale_and_the_check_trips_on_model_training_and_source_changes(
        tmp_path, isolated_cache, monkeypatch):
    """The check the book's tests run on the real store, here at small scale on a store of its own."""
    store = ShippedWeights(tmp_path / "weights")
    chapter = ["02_darkroom"]
    assert len(check_shipped(chapter, store, "small")) == 4  # none shipped yet
    result = make_weights(chapter, scale="small", store=store, log=lambda *_: None)
    assert len(result["trained"]) == 4 and check_shipped(chapter, store, "small") == []
    files = {p: p.stat().st_mtime_ns for p in store.root.rglob("*.pt")}
    assert make_weights(chapter, scale="small", store=store, log=lambda *_: None)["trained"] == []
    assert {p: p.stat().st_mtime_ns for p in store.root.rglob("*.pt")} == files  # current runs are not rewritten

    original = experiments.darkroom_experiment

    def changed(**change):
        def experiment(scale, seed=0):
            X = original(scale, seed)
            return dataclasses.replace(X, **{k: dataclasses.replace(getattr(X, k), **v) for k, v in change.items()})
        return experiment

    for change in ({"model": {"d_ff": 64}}, {"train": {"lr": 2e-3}}):
        monkeypatch.setattr(experiments, "darkroom_experiment", changed(**change))
        problems = check_shipped(chapter, store, "small")
        assert len(problems) == 4 and all("no shipped weights" in p and "make weights CHAPTER=02_darkroom" in p for p in problems)
    monkeypatch.setattr(experiments, "darkroom_experiment", original)
    assert check_shipped(chapter, store, "small") == []

    act = sources.QLearning.act
    monkeypatch.setattr(sources.QLearning, "act", lambda self, obs: np.minimum(act(self, obs), 3))  # never "stay"
    shutil.rmtree(isolated_cache / "datasets")  # the dataset cache is keyed by the code's files, not by a patch
    problems = check_shipped(chapter, store, "small")
    assert len(problems) == 4 and all("the training data differ" in p for p in problems), problems


def test_replay_of_the_first_steps_matches_the_recorded_losses_only_for_the_same_seed_and_data(tmp_path, monkeypatch):
    """Trained in worker processes (one thread each), replayed here: equal up to float rounding."""
    import adlib.train_workers

    monkeypatch.setattr(adlib.train_workers, "PARALLEL_MIN_TOKENS", 0)
    monkeypatch.setenv("ADLIB_TRAIN_WORKERS", "2")
    cfg = TrainConfig(steps=60, batch_size=16, lr=3e-3, warmup_steps=4)
    store = ShippedWeights(tmp_path / "weights")
    data = oracle_data()
    runs = [(MODEL, cfg, data), (MODEL, dataclasses.replace(cfg, seed=1), data)]
    trained = train_runs(runs, use_cache=False, shipped=False, progress=False)
    assert trained[0].trained_together == 2
    store.add("01_bandit", "seed 0", MODEL, cfg, data, trained[0], keep_checkpoints=False)
    recorded = np.array(store.entry(run_id(MODEL, cfg, data))["loss"]["first_steps"])
    assert len(recorded) == REPLAY_STEPS
    replay = replay_losses(run_id(MODEL, cfg, data), MODEL, cfg, data)
    assert np.abs(replay - recorded).max() < 1e-4
    other_seed = replay_losses("x", MODEL, dataclasses.replace(cfg, seed=1), data)
    assert np.abs(other_seed - recorded).max() > 1e-2
    other_data = replay_losses("x", MODEL, cfg, generate_bandit_histories(BanditDataConfig(source="thompson", n_histories=200,
                                                                                             n_steps=10, n_arms=4)))
    assert np.abs(other_data - recorded).max() > 1e-2
