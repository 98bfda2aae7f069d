import dataclasses

import numpy as np
import pytest
import torch

from adlib.data import BanditDataConfig, LearningHistories, generate_bandit_histories
from adlib.model import ADConfig
from adlib.training import TrainConfig, learning_rate, train

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
    run_dirs = list((isolated_cache / "runs").iterdir())
    assert [p.name for p in run_dirs[0].iterdir()] == ["resume.pt"]  # no final.pt half-written
    monkeypatch.setattr(LearningHistories, "sample_windows", original)
    resumed = train(MODEL, cfg, data, progress=False)
    np.testing.assert_allclose(resumed.losses, reference.losses, rtol=1e-6)
    for p, q in zip(reference.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(p, q)
    assert not (run_dirs[0] / "resume.pt").exists()


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
    from adlib.training import _load_model

    with pytest.raises(ValueError, match="another model config"):
        _load_model(run.run_dir / "final.pt", dataclasses.replace(MODEL, d_ff=32), "cpu")
