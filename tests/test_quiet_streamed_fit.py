"""A streamed fit says nothing the user did not ask for: no third-party warning (issue 26).

grain logged ``prefetch_buffer_size=2 is smaller than num_threads=4`` through absl logging
(a Python ``logging`` record of the ``absl`` logger, not a ``warnings`` warning) when its
``ReadOptions`` asked for more threads than steps read ahead. The input pipeline now reads
ahead on its own reused threads (``accel.data._ahead``), never asking for more threads than
blocks read ahead; these fits check that nothing is logged or warned either way. A step of
large rows makes a block of one step, read ahead two at a time; ``BLOCK_BYTES = 1`` makes
every step "large" without allocating one."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from _helpers import linear32

from accel import JAXOptimizer, ParallelTrainer
from accel.data import _pipeline

grain = pytest.importorskip("grain")


def _grain_source(n=160, d=4):
    X, y = linear32(n, d)
    return grain.MapDataset.source([{"X": X[i], "y": y[i]} for i in range(n)])


def _quiet_fit(est, source, caplog, capfd):
    caplog.clear()
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(source)
    assert [str(w.message) for w in caught] == []
    loud = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == []
    err = capfd.readouterr().err
    assert "prefetch_buffer_size" not in err and "warning" not in err.lower()
    return est


@pytest.mark.parametrize(
    "make",
    [
        lambda: JAXOptimizer(learning_rate=0.05, epochs=2, batch_size=32, random_state=0),
        lambda: ParallelTrainer(n_devices=2, learning_rate=0.05, epochs=2, batch_size=32,
                                random_state=0),
    ],
    ids=["jax_optimizer", "parallel_trainer"],
)
def test_a_streamed_fit_of_large_rows_from_a_grain_source_warns_nothing(make, monkeypatch, caplog,
                                                                        capfd):
    monkeypatch.setattr(_pipeline, "BLOCK_BYTES", 1)  # one step per block: prefetch 2
    est = _quiet_fit(make(), _grain_source(), caplog, capfd)
    assert np.all(np.isfinite(est.coef_)) and len(est.history_["loss"]) == 3


def test_the_loader_never_starts_more_threads_than_blocks_read_ahead():
    """A block is read at once by one thread, and ``prefetch`` steps are read ahead in whole
    blocks: more threads than blocks ahead would idle (0 ahead: read when asked)."""
    from accel._plan import Layout
    from accel.data import ArraySource

    data = ArraySource({"X": np.zeros((64, 2), np.float32), "y": np.zeros(64, np.float32)})
    lay = Layout(n_rows=64, n_shards=1, group_devices=1, batch_size=8, accum=1)
    for block, prefetch, threads, expected in [(1, None, 4, 2), (4, None, 4, 2), (2, 3, 8, 2),
                                               (1, 5, 8, 5), (1, 0, 4, 4)]:
        loader = _pipeline.StepLoader(data, lay, seed=0, devices=[0], block=block,
                                      prefetch=prefetch, threads=threads)
        assert loader.threads == expected
        ahead = -(-loader.prefetch // block)  # blocks read ahead
        assert loader.prefetch == 0 or ahead >= loader.threads
