"""Honest speed comparisons: NumPy / JAX / CuPy on the same operation, and timed fits.

- ``compare_backends``: one operation on each backend, same dtype, inputs placed before the
  clock, JAX compiled ahead of time (compile time apart), every call synchronised;
- ``benchmark_optimizer`` / ``SpeedBenchmark``: timed ``fit`` of any estimator;
- ``accel compare`` (``CompareRequest``, ``run_compare``): the command line over the built-in
  operations (``OPERATIONS``, ``run_operation``).
"""

# Layout: private modules _backends (how each backend places, runs and synchronises),
# _compare, _optimizer, _operations, _cli; also _clock (the one host clock every timer
# reads), _display (spread judgement, notebook tables), _results (BackendResult, Comparison).

from accel.bench._cli import CompareRequest
from accel.bench._cli import run as run_compare
from accel.bench._compare import compare_backends
from accel.bench._display import NOISY_RELATIVE_STD, relative_spread
from accel.bench._operations import OPERATIONS, run_operation
from accel.bench._optimizer import OptimizerBenchmark, SpeedBenchmark, benchmark_optimizer
from accel.bench._results import BackendResult, Comparison

__all__ = [
    "NOISY_RELATIVE_STD",
    "OPERATIONS",
    "BackendResult",
    "CompareRequest",
    "Comparison",
    "OptimizerBenchmark",
    "SpeedBenchmark",
    "benchmark_optimizer",
    "compare_backends",
    "relative_spread",
    "run_compare",
    "run_operation",
]
