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
