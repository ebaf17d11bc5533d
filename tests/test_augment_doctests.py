"""Modules that document themselves with a runnable example (accel.augment, accel.dpa,
accel.profile, accel.bench, optimizers), and the augmentation benchmark script's smoke run.

Every module's examples RUN in tests/test_doctests.py; here the listed modules must hold at
least one (an example removed by mistake shows up)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "accel.augment",
    "accel.augment._config",
    "accel.augment._batch",
    "accel.augment._generate",
    "accel.augment._sample",
    "accel._keys",
    "accel.augment._stream",
    "accel.augment._ranks",
    "accel.augment._batching",
    "accel.augment._io",
    "accel.augment._stats",
    "accel.augment._measure",
    "accel.augment._dpa_kernels",
    "accel.augment._dpa_kernels._draws",
    "accel.augment._dpa_kernels._host",
    "accel.augment._dpa_kernels._sha256",
    "accel.augment._dpa_kernels._mt19937",
    # accel.dpa: DPA's API over the augment kernel
    "accel.dpa",
    "accel.dpa._args",
    "accel.dpa._config",
    "accel.dpa._params",
    "accel.dpa._streaming",
    "accel.dpa._stats",
    "accel.dpa._stream",
    "accel.dpa._io",
    "accel.dpa._batched",
    "accel.dpa._perf",
    "accel.dpa._comparison",
    "accel.dpa.batch",
    "accel.dpa.benchmark",
    "accel.dpa.distributed",
    # profilers, benchmarks and the NumPy optimizers' step
    "accel.profile._readings",
    "accel.profile._sections",
    "accel.profile._optimizer_profiler",
    "accel.profile._gpu_monitor",
    "accel.profile._memory",
    "accel.bench._compare",
    "accel.bench._optimizer",
    "optimizers._base",
]


@pytest.mark.parametrize("name", MODULES)
def test_modules_have_examples(name):
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
