"""The data digest of a checkpoint's fingerprint: every byte of every leaf, arrays and sources.

A resumed run must train on the data its checkpoint was written on. The digest covers every
row of every leaf (``X`` and ``y``, training and validation data), in order, whether the data
are arrays in memory, memory-mapped files or another source.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import regression
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from accel import ParallelTrainer
from accel.data import ArraySource, NpyShards
from accel.parallel import _resume as resume_state

N, D = 300, 3  # more rows than the 256 the digest used to sample
KW = {
    "batch_size": 60,
    "optimizer_type": "sgd",
    "learning_rate": 0.05,
    "random_state": 1,
    "n_devices": 1,
    "epochs": 1,
}
REFUSED = r"different run or on other data.*data: checkpoint"


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    coef = np.array([1.0, -2.0, 0.5], np.float32)
    return regression(N, D, seed=seed, coef=coef, intercept=0.3, dtype=np.float32)


def _unsampled_row() -> int:
    """A row the old 256-row sample skipped (its changes resumed silently)."""
    sampled = set(np.linspace(0, N - 1, 256).astype(np.int64).tolist())
    return min(set(range(N)) - sampled)


def _resume(tmp_path, X, y, **fit_kw):
    trainer = ParallelTrainer(**dict(KW, epochs=2), checkpoint_dir=str(tmp_path))
    return trainer.fit(X, y, resume=True, **fit_kw)


@pytest.mark.parametrize(
    "change",
    ["y_one_row", "X_one_row", "y_swap_two_rows", "y_replaced"],
)
def test_resume_refuses_changed_arrays(tmp_path, change):
    X, y = _data()
    ParallelTrainer(**KW, checkpoint_dir=str(tmp_path)).fit(X, y)
    X2, y2 = X.copy(), y.copy()
    r = _unsampled_row()
    if change == "y_one_row":
        y2[r] += 1.0
    elif change == "X_one_row":
        X2[r, 1] = np.nextafter(X2[r, 1], np.float32(np.inf))  # one ulp
    elif change == "y_swap_two_rows":
        y2[[r, r + 1]] = y2[[r + 1, r]]
    else:  # the same X with another target
        y2 = _data(seed=1)[1]
    with pytest.raises(ValueError, match=REFUSED):
        _resume(tmp_path, X2, y2)
    resumed = _resume(tmp_path, X, y)  # the same data resumes
    assert resumed.n_epochs_ == 2


def test_resume_refuses_a_changed_file(tmp_path):
    X, y = _data()
    paths = {k: tmp_path / f"{k}.npy" for k in ("X", "y")}
    np.save(paths["X"], X)
    np.save(paths["y"], y)
    ckpt = tmp_path / "ckpt"
    source = NpyShards({k: str(p) for k, p in paths.items()})
    ParallelTrainer(**KW, checkpoint_dir=str(ckpt)).fit(source)
    y[_unsampled_row()] += 1.0
    np.save(paths["y"], y)
    with pytest.raises(ValueError, match=REFUSED):
        _resume(ckpt, NpyShards({k: str(p) for k, p in paths.items()}), None)


def test_resume_refuses_changed_validation_targets(tmp_path):
    X, y = _data()
    Xv, yv = _data(seed=2)
    ParallelTrainer(**KW, checkpoint_dir=str(tmp_path)).fit(X, y, validation_data=(Xv, yv))
    yv2 = yv.copy()
    yv2[_unsampled_row()] -= 1.0
    with pytest.raises(ValueError, match=r"different run or on other data.*validation: checkpoint"):
        _resume(tmp_path, X, y, validation_data=(Xv, yv2))


def test_no_digest_without_checkpoints(monkeypatch):
    """The digest reads every row: a run that writes no checkpoint does not pay for it."""

    def fail(data):
        raise AssertionError("digest computed without checkpoint_dir")

    monkeypatch.setattr(resume_state, "any_digest", fail)
    X, y = _data()
    assert ParallelTrainer(**KW).fit(X, y).n_epochs_ == 1


columns = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.float32, (n, 2), elements=st.floats(-10, 10, width=32)),
        hnp.arrays(np.int32, (n,), elements=st.integers(-5, 5)),
    )
)


@settings(max_examples=40, deadline=None)
@given(cols=columns, block_bytes=st.sampled_from([1, 12, 24, 100, 1 << 20]), data=st.data())
def test_digest_covers_every_byte_in_order(cols, block_bytes, data):
    """Arrays and a source over the same arrays have one digest, whatever the block size
    (several blocks when it is small); changing any one value, or swapping two different
    rows, changes it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(resume_state, "_DIGEST_BLOCK_BYTES", block_bytes)
        _check_digest(cols, data)


def _check_digest(cols, data):
    X, y = cols
    arrays = {"X": X, "y": y}
    digest = resume_state.data_digest(arrays)
    assert resume_state.source_digest(ArraySource(arrays)) == digest
    assert resume_state.any_digest(ArraySource(arrays)) == digest
    n = len(y)
    i = data.draw(st.integers(0, n - 1))
    y2 = y.copy()
    y2[i] += 1
    assert resume_state.data_digest({"X": X, "y": y2}) != digest
    X2 = X.copy()
    X2[i, data.draw(st.integers(0, 1))] += np.float32(0.5)
    assert resume_state.data_digest({"X": X2, "y": y}) != digest
    j = data.draw(st.integers(0, n - 1))
    if not (np.array_equal(X[i], X[j]) and y[i] == y[j]):
        perm = np.arange(n)
        perm[[i, j]] = perm[[j, i]]
        assert resume_state.data_digest({"X": X[perm], "y": y[perm]}) != digest


def test_digest_does_not_depend_on_the_number_of_threads(monkeypatch):
    X, y = _data()
    monkeypatch.setattr(resume_state, "_DIGEST_BLOCK_BYTES", 64)  # 4 rows a block, 75 blocks
    many = resume_state.data_digest({"X": X, "y": y})
    monkeypatch.setattr(resume_state.os, "cpu_count", lambda: 1)
    assert resume_state.data_digest({"X": X, "y": y}) == many
    # a non-contiguous view hashes as its contiguous copy
    wide = np.concatenate([X, X], axis=1)[:, :D]
    assert resume_state.data_digest({"X": wide, "y": y}) == many


def test_digest_of_structure_shapes_and_leaves_without_rows():
    X, y = _data()
    base = resume_state.data_digest({"X": X, "y": y})
    assert resume_state.data_digest({"X": X, "t": y}) != base  # another name
    assert resume_state.data_digest({"X": X, "y": y.astype(np.float64)}) != base  # another dtype
    assert resume_state.data_digest({"X": X.reshape(N, D, 1), "y": y}) != base  # another shape
    scalar = resume_state.data_digest({"X": X, "y": y, "s": np.float32(1.0)})
    assert resume_state.data_digest({"X": X, "y": y, "s": np.float32(2.0)}) != scalar
