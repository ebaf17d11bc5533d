"""accel: JAX/XLA accelerated optimizers, data-parallel training, deterministic augmentation
and honest backend benchmarks.

Public API (explicit re-exports; everything else is private)::

    accel.augment        deterministic augmentation parameters (subpackage): gen_augmentation_batch,
                         streams, distributed splitting, batching, files, statistics
    JAXOptimizer         linear model trained by optax in one compiled XLA loop
    ParallelTrainer      data-parallel training over devices and hosts (accel.parallel)
    SpeedBenchmark, compare_backends, benchmark_optimizer
                         honest NumPy / JAX / CuPy timings (``accel compare`` on the CLI)
    OptimizerProfiler, MemoryTracker, GPUMonitor
                         wall time, host/device memory and GPU power of a training region
    PerformanceProfiler  nested named sections of a JAX step (synchronised), device memory per
                         step, traces for TensorBoard/Perfetto
    accel.dpa            DPA's API (drop-in, bit-exact values) over accel.augment
    clear_caches         drop every compiled training program (the one cache, at most 64)

``accel.internals`` is not API: the one door into the private modules for the repository's own
packages (``optimizers``, ``benchmarks``, ``examples``); users import from ``accel`` and its
subpackages.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("accel")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

# Each public name is imported from its module on first use (PEP 562), so ``import accel``
# and the command line (``accel compare --help``) start without importing JAX, optax or
# scikit-learn; ``from accel import JAXOptimizer`` imports what that class needs.
_LAZY = {
    "GPUMonitor": "accel.profile",
    "JAXOptimizer": "accel.linear",
    "MemoryTracker": "accel.profile",
    "OptimizerProfiler": "accel.profile",
    "ParallelTrainer": "accel.parallel",
    "PerformanceProfiler": "accel.profile",
    "SpeedBenchmark": "accel.bench",
    "benchmark_optimizer": "accel.bench",
    "clear_caches": "accel._cache",
    "compare_backends": "accel.bench",
}

if TYPE_CHECKING:  # what static tools see: the same names, imported eagerly
    from accel._cache import clear_caches
    from accel.bench import SpeedBenchmark, benchmark_optimizer, compare_backends
    from accel.linear import JAXOptimizer
    from accel.parallel import ParallelTrainer
    from accel.profile import GPUMonitor, MemoryTracker, OptimizerProfiler, PerformanceProfiler

__all__ = [
    "GPUMonitor",
    "JAXOptimizer",
    "MemoryTracker",
    "OptimizerProfiler",
    "ParallelTrainer",
    "PerformanceProfiler",
    "SpeedBenchmark",
    "__version__",
    "benchmark_optimizer",
    "clear_caches",
    "compare_backends",
]


# Subpackages, also imported on first use: ``import accel; accel.augment.gen_augmentation_batch``
_SUBPACKAGES = ("augment", "bench", "data", "distributed", "dpa", "linear", "parallel", "profile")


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"accel.{name}")
    # frameworm's names (DistributedTrainer, OptimizedDataLoader) raise an ImportError that
    # names the equivalent here; anything else is the usual AttributeError.
    from accel._migration import missing_name

    raise missing_name(__name__, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})  # subpackages appear once imported
