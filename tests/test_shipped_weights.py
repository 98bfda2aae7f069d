"""The weights shipped in weights/ are the ones this code trains.

Every run the full-scale chapters ask for must have a shipped file whose configs and training
data (a content digest: a changed source algorithm shows) match what the code asks for now;
one run per chapter replays its first optimiser steps from the recorded seed and must land on
the manifest's recorded losses. A failure names the run and the command that retrains it.
"""

import dataclasses

import numpy as np
import pytest

from adlib.experiments import CHAPTERS
from adlib.run_store import REPLAY_STEPS, ShippedWeights, book_run_data, check_shipped, replay_losses, run_id, weights_dir

REPLAY_TOLERANCE = 1e-4
"""Largest difference allowed between a replayed and a recorded loss over the first 50 steps.
Measured on the 2-core AMD EPYC that trained the weights: Key-to-Door models trained in a worker
process (one thread) and replayed in the test process (two threads) differ by at most 3.6e-7 (float
rounding and the float32 of the stored losses); with another seed they differ by 4.8e-2 or more,
with the same histories in another order by 2.2e-2 or more. The tolerance is about 300 times the
rounding, and "differs" below means more than 10 times the tolerance."""

REPLAYED = 10
"""Steps replayed to match the record (of the REPLAY_STEPS recorded), and 5 to show that another seed or
data order differs: enough to catch changed code, and a paper-size run replays in seconds."""

MAX_SHIPPED_BYTES = 160 * 2**20
"""About 135 MB in all: chapter 6b's eight paper-size runs (1.1M parameters, about 13.6 MB each with their checkpoints) are most of it."""


@pytest.fixture(scope="module")
def book():
    """Every full-scale run with its training data (generated once, about 35 s on 2 cores)."""
    return book_run_data()


def test_every_full_scale_run_has_current_shipped_weights(book):
    problems = check_shipped()
    assert not problems, "shipped weights missing or stale:\n" + "\n".join(problems)


def test_the_shipped_weights_are_small_and_hold_only_runs_the_book_asks_for(book):
    store = ShippedWeights()
    asked = {run_id(s.model, s.train, d) for s, d in book}
    assert set(store.manifest["runs"]) == asked
    files = [p for p in weights_dir().rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= MAX_SHIPPED_BYTES
    listed = {weights_dir() / e["file"] for e in store.manifest["runs"].values()} | {weights_dir() / "manifest.json"}
    assert set(files) == listed, "files in weights/ that the manifest does not list (or the reverse)"


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if c != "06_critique"])  # chapter 6 trains nothing
def test_replaying_the_first_steps_reproduces_the_recorded_losses(book, chapter):
    store = ShippedWeights()
    spec, data = next((s, d) for s, d in book if s.chapter == chapter)
    rid = run_id(spec.model, spec.train, data)
    recorded = np.array(store.entry(rid)["loss"]["first_steps"])
    assert len(recorded) == REPLAY_STEPS
    replay = replay_losses(rid, spec.model, spec.train, data, steps=REPLAYED)
    gap = np.abs(replay - recorded[:REPLAYED]).max()
    assert gap < REPLAY_TOLERANCE, (f"{chapter}: {spec.name}: replayed losses differ from the recorded ones by up to {gap:.2e}: "
                                    f"the code no longer trains what was shipped; retrain with `make weights CHAPTER={chapter}`")
    other_seed = replay_losses(rid, spec.model, dataclasses.replace(spec.train, seed=spec.train.seed + 100), data, steps=5)
    assert np.abs(other_seed - recorded[:5]).max() > 10 * REPLAY_TOLERANCE
    other_data = data.select(np.arange(data.n_histories)[::-1])  # the same histories in another order: other windows
    assert np.abs(replay_losses(rid, spec.model, spec.train, other_data, steps=5) - recorded[:5]).max() > 10 * REPLAY_TOLERANCE
