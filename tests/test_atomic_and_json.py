"""The shared atomic writer and JSON conversion used by every file the project writes."""

from __future__ import annotations

import doctest
import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

from accel import _atomic
from accel._atomic import atomic_open, write_atomic
from accel._report import dump_json, jsonable


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    write_atomic(target, "old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_writer_leaves_old_file_and_no_temporary(tmp_path, exc):
    target = tmp_path / "f.bin"
    write_atomic(target, b"complete")
    with pytest.raises(type(exc)), atomic_open(target, suffix=".part") as fh:
        fh.write(b"partial")
        raise exc
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_jsonable_arrays_scalars_and_non_finite():
    value = {
        "a": np.arange(3, dtype=np.int64),
        "b": jnp.asarray([1.5, 2.5]),
        "c": np.float32(0.25),
        "d": (np.inf, -np.inf, float("nan"), 1.0),
        "e": np.array([[1.0, np.nan]]),
        3: "int key",
    }
    out = jsonable(value)
    assert out == {
        "a": [0, 1, 2],
        "b": [1.5, 2.5],
        "c": 0.25,
        "d": [None, None, None, 1.0],
        "e": [[1.0, None]],
        "3": "int key",
    }
    text = dump_json(value)
    assert json.loads(text) == out
    assert not any(math.isnan(v) for v in out["b"])


def test_docstring_example_runs():
    assert doctest.testmod(_atomic).failed == 0
