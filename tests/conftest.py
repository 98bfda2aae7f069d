import numpy as np
import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty artefact cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ADLIB_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
