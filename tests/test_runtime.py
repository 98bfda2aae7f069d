import time

import pytest

from adlib.runtime import environment_info, run_record, seed_everything


def test_seed_everything_is_reproducible():
    import torch

    a = (seed_everything(3).random(), torch.rand(1).item())
    b = (seed_everything(3).random(), torch.rand(1).item())
    assert a == b
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


def test_run_record_has_what_the_reproducibility_page_reads():
    started = time.perf_counter() - 2.0
    r = run_record("01_bandit", "small", {"base": 0}, started)
    assert set(r) >= {"notebook", "scale", "runtime_seconds", "seeds", "versions", "finished_at"}
    assert r["runtime_seconds"] >= 2.0 and r["versions"]["torch"] == environment_info()["torch"]


def test_time_ledger_books_the_outermost_phase_and_measures_throughput():
    from adlib.runtime import start_chapter, time_split, timed

    start_chapter()
    with timed("data"):
        time.sleep(0.05)
        with timed("evaluation") as work:  # a rollout inside data generation is data time
            time.sleep(0.02)
            work["in_context_steps"] = 100
    with timed("training") as work:
        time.sleep(0.05)
        work["training_tokens"] = 1000
    split = time_split()
    assert split["seconds"]["data"] >= 0.07 and split["seconds"]["evaluation"] == 0.0
    assert 0.05 <= split["seconds"]["training"] < 0.5  # sleep may overshoot on a busy machine
    assert split["training_tokens"] == 1000 and 2_000 < split["training_tokens_per_second"] <= 20_000
    assert split["in_context_steps"] == 100 and split["in_context_steps_per_second"] > 1000
    with pytest.raises(ValueError, match="phase"):
        with timed("plotting"):
            pass
    start_chapter()
    assert time_split()["training_tokens_per_second"] is None


def test_stopwatch_times_a_block_and_says_so(capsys, monkeypatch):
    import time as time_module

    from adlib import runtime

    monkeypatch.setenv("ADLIB_QUIET", "0")
    with runtime.stopwatch("a nap") as clock:
        time_module.sleep(0.05)
    assert 0.04 < clock["seconds"] < 1.0
    assert capsys.readouterr().out.startswith("a nap: 0.")
