"""Every accel.augment module documents itself with an example, and the benchmark script's smoke run."""

from __future__ import annotations

import doctest
import importlib

import pytest

# The augmentation modules whose docstrings must hold an example (all modules' examples run
# in tests/test_doctests.py).
MODULES = [
    "accel.augment",
    "accel.augment._config",
    "accel.augment._batch",
    "accel.augment._generate",
    "accel.augment._sample",
    "accel._keys",
    "accel.augment._stream",
    "accel.augment._distributed",
    "accel.augment._batching",
    "accel.augment._io",
    "accel.augment._stats",
    "accel.augment._measure",
]


@pytest.mark.parametrize("name", MODULES)
def test_augment_modules_have_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    assert any(t.examples for t in finder.find(module)), f"{name} has no runnable example"


@pytest.mark.slow
def test_bench_augment_quick_run():
    from benchmarks import bench_augment

    out = bench_augment.main(["--quick"])
    names = [r["name"] for r in out["results"]]
    assert names[0].startswith("dpa_reference") and any("threefry2x32" in n for n in names)
    assert all(r["samples_per_s"] > 0 for r in out["results"])
