"""The README's claims that a test can check (issue 26 item 6): the recompile rules of a second
fit and the shape and meaning of ``history_``'s fields. Each test also finds its claim in
the README, so the text and the test change together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _compiles import COMPILES

from accel import JAXOptimizer, ParallelTrainer

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.filterwarnings("ignore::accel.linear.ConvergenceWarning")
def test_tol_none_and_a_number_are_two_programs_other_values_one():
    assert "(`tol=None` and a number are two programs: the first fit with `tol` set compiles once)" in _squash(README)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(37, 5)).astype(np.float32)  # a shape no other test compiles
    y = X @ np.arange(1.0, 6.0, dtype=np.float32)
    kw = {"epochs": 4, "batch_size": 8}
    JAXOptimizer("rmsprop", **kw).fit(X, y)
    before = COMPILES.count
    JAXOptimizer("rmsprop", learning_rate=0.03, random_state=5, **kw).fit(X, y)
    assert COMPILES.count == before  # another learning rate and seed: the same program
    JAXOptimizer("rmsprop", tol=1e-3, **kw).fit(X, y)
    assert COMPILES.count == before + 1  # the tol rule compiled in: the second program
    for tol in (1e-5, 1e-2):
        JAXOptimizer("rmsprop", tol=tol, **kw).fit(X, y)
    JAXOptimizer("rmsprop", tol=None, **kw).fit(X, y)
    assert COMPILES.count == before + 1  # each of the two programs was compiled once


def test_history_fields_per_epoch_as_the_readme_says():
    assert (
        "`data_wait_time` and `compute_time`, one entry per epoch: the mean seconds per step of the "
        "epoch (they add up to `step_time`"
    ) in _squash(README)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = X @ np.ones(3, np.float32)
    epochs, batch = 3, 16
    trainer = ParallelTrainer(n_devices=2, epochs=epochs, batch_size=batch).fit(X, y)
    h = trainer.history_
    assert h["loss"].shape == h["grad_norm"].shape == (epochs + 1,)  # at init and after each epoch
    for key in ("skipped_steps", "step_time", "samples_per_s", "data_wait_time", "compute_time"):
        assert h[key].shape == (epochs,), key
    steps = len(X) // batch
    np.testing.assert_allclose(h["data_wait_time"] + h["compute_time"], h["step_time"], rtol=1e-12)
    np.testing.assert_allclose(h["samples_per_s"], len(X) / (h["step_time"] * steps), rtol=1e-9)
    assert np.all(h["data_wait_time"] == 0.0)  # resident data: no input pipeline to wait for
