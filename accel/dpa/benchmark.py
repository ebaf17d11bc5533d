"""DPA's ``src.benchmark``: timing and memory measurement, a profiler and ``BenchmarkRunner``.

DPA's classes, fields, defaults and exceptions over ``accel.augment``'s measurements:

* every timing (``benchmark_function`` and the runner's benchmarks) is
  ``accel.augment.BenchmarkRunner.benchmark``: an untimed first (compiling) call, warm-ups,
  then timed calls whose JAX results are waited for (``jax.block_until_ready``); this module
  turns its per-call times into DPA's statistics (means, not medians). ``measure_time`` is
  ``accel.augment.measure_time``; ``measure_memory`` is ``accel.augment.measure_memory``
  plus DPA's psutil readings (virtual size, system memory);
* CPU use is this process's CPU time during the timed calls, as a percent of all cores. DPA
  sampled ``psutil.cpu_percent`` for 0.1 s before and after each call (the machine's load
  while the function was *not* running) and so also slept 0.2 s per iteration;
* warm-up runs are the measured operation itself and their errors are raised, not hidden;
  there is always at least one (the compiling call), also for ``warmup_iterations=0``;
* ``BenchmarkRunner.benchmark_generation`` times DPA's per-sample loop
  (``gen_augmentation_params`` for every id, looked up in ``accel.dpa`` at call time) from a
  cold per-sample cache each iteration;
* ``measure_cpu=False`` and ``measure_memory=False`` skip those measurements (reported 0.0).

DPA-specific, with the reason: the config, metrics and result dataclasses (DPA's fields,
defaults, checks and exceptions; ``accel.augment``'s are frozen and report medians and
compile times), the comparison reports (``BenchmarkRunner.compare_configurations``,
``ComparisonReport``, ``BenchmarkRunner.generate_performance_report``) and
``PerformanceProfiler``: DPA's profiler times flat named operations started and ended by
name, which may overlap, each with its RSS change (read through ``psutil``, which DPA's
tests replace) and its own ``ProfileResult``; ``accel.profile.PerformanceProfiler`` times a
stack of nested sections, synchronises every device at their boundaries and keeps first
calls apart, so overlapping operations cannot be expressed in it.

Length: this module is DPA's ``src/benchmark.py`` module for module (its import path is part
of the drop-in contract), so DPA's whole benchmark API lives here: the config, metrics and
result classes, the measuring context managers, the profiler and the runner.

Example:
    >>> from accel.dpa.benchmark import BenchmarkConfig, BenchmarkRunner, measure_time
    >>> runner = BenchmarkRunner(BenchmarkConfig(iterations=2, warmup_iterations=1))
    >>> m = runner.benchmark_generation(100)
    >>> m.throughput_samples_per_second > 0 and 0 <= m.cpu_usage_percent <= 100
    True
    >>> with measure_time() as t:
    ...     _ = sum(range(100))
    >>> t["elapsed_seconds"] >= 0
    True
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import jax
import psutil

from accel import augment

from ._comparison import (
    ComparisonReport,
    compare_metrics,
    format_benchmark_result,
    get_system_info,
    performance_report,
    recommendations,
    safe_percentage_change,
)
from .batch import safe_division

__all__ = [
    "BenchmarkConfig",
    "BenchmarkError",
    "BenchmarkResult",
    "BenchmarkRunner",
    "ComparisonReport",
    "InvalidBenchmarkConfigError",
    "MeasurementError",
    "PerformanceMetrics",
    "PerformanceProfiler",
    "ProfileResult",
    "ProfilingError",
    "benchmark_function",
    "format_benchmark_result",
    "get_system_info",
    "measure_memory",
    "measure_time",
    "safe_division",
    "safe_percentage_change",
]

P = ParamSpec("P")
T = TypeVar("T")
_MB = 1024 * 1024
measure_time = augment.measure_time


class BenchmarkError(Exception):
    """Base class of the benchmarking errors."""


class ProfilingError(BenchmarkError):
    """Misuse of the profiler (an operation started twice, or ended without a start)."""


class InvalidBenchmarkConfigError(BenchmarkError):
    """An invalid ``BenchmarkConfig``."""


class MeasurementError(BenchmarkError):
    """A measured function or benchmark failed."""


def _non_negative(obj: Any, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ValueError(f"{name} must be non-negative, got {getattr(obj, name)}")


@dataclass
class PerformanceMetrics:
    """Throughput, latency, memory and CPU of one benchmark."""

    throughput_samples_per_second: float
    avg_latency_ms: float
    memory_usage_mb: float
    cpu_usage_percent: float
    total_time_seconds: float

    def __post_init__(self) -> None:
        _non_negative(self, "throughput_samples_per_second", "avg_latency_ms", "memory_usage_mb")
        if not 0 <= self.cpu_usage_percent <= 100:
            raise ValueError(f"cpu_usage_percent must be between 0 and 100, got {self.cpu_usage_percent}")
        _non_negative(self, "total_time_seconds")


@dataclass
class ProfileResult:
    """One profiled operation: total time, calls, time per call, RSS change."""

    operation_name: str
    total_time_seconds: float
    call_count: int
    avg_time_per_call_ms: float
    memory_delta_mb: float

    def __post_init__(self) -> None:
        _non_negative(self, "total_time_seconds", "call_count", "avg_time_per_call_ms")


@dataclass
class BenchmarkConfig:
    """Iterations, warm-ups and what to measure (DPA's fields and defaults)."""

    iterations: int = 100
    warmup_iterations: int = 10
    measure_memory: bool = True
    measure_cpu: bool = True
    output_format: str = "json"

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations <= 0:
            raise InvalidBenchmarkConfigError(f"iterations must be positive (an integer >= 1), got {self.iterations!r}")
        if isinstance(self.warmup_iterations, bool) or not isinstance(self.warmup_iterations, int) or self.warmup_iterations < 0:
            raise InvalidBenchmarkConfigError(
                f"warmup_iterations must be non-negative (an integer >= 0), got {self.warmup_iterations!r}"
            )
        if self.output_format not in ("json", "csv", "text"):
            raise InvalidBenchmarkConfigError(f"output_format must be 'json', 'csv', or 'text', got {self.output_format!r}")


@dataclass
class BenchmarkResult:
    """Statistics of repeated calls of one function (seconds; ``*_ms`` properties)."""

    function_name: str
    iterations: int
    total_time_seconds: float
    avg_time_seconds: float
    min_time_seconds: float
    max_time_seconds: float
    std_dev_seconds: float
    throughput_ops_per_second: float
    memory_usage_mb: float = 0.0
    cpu_usage_percent: float = 0.0

    @property
    def avg_time_ms(self) -> float:
        return self.avg_time_seconds * 1000

    @property
    def min_time_ms(self) -> float:
        return self.min_time_seconds * 1000

    @property
    def max_time_ms(self) -> float:
        return self.max_time_seconds * 1000


@contextlib.contextmanager
def measure_memory() -> Iterator[dict[str, float]]:
    """This process's RSS and VMS and the system's available/used memory (MB) at entry and
    exit, with their deltas (``delta_mb`` is the RSS change)."""
    process = psutil.Process()
    with augment.measure_memory() as out:
        system = psutil.virtual_memory()
        out.update(initial_vms_mb=process.memory_info().vms / _MB,
                   initial_system_available_mb=system.available / _MB, initial_system_used_mb=system.used / _MB)
        try:
            yield out
        finally:
            system = psutil.virtual_memory()
            out.update(final_vms_mb=process.memory_info().vms / _MB,
                       final_system_available_mb=system.available / _MB, final_system_used_mb=system.used / _MB)
    out["delta_vms_mb"] = out["final_vms_mb"] - out["initial_vms_mb"]
    out["delta_system_mb"] = out["final_system_used_mb"] - out["initial_system_used_mb"]


def _timer(iterations: int, warmup_iterations: int = 1, memory: bool = True, cpu: bool = True) -> augment.BenchmarkRunner:
    """``accel.augment``'s runner, which does the timing for every benchmark here: a first
    (compiling) call and ``warmup_iterations - 1`` more untimed, then ``iterations`` timed
    calls, each waited for; memory and CPU over the timed calls."""
    return augment.BenchmarkRunner(augment.BenchmarkConfig(
        iterations=iterations, warmup_iterations=max(1, warmup_iterations),
        measure_memory=bool(memory), measure_cpu=bool(cpu)))  # fmt: skip


def benchmark_function(func: Callable[..., T], iterations: int = 100) -> BenchmarkResult:
    """Time ``func()`` ``iterations`` times after one warm-up call (statistics in seconds)."""
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations <= 0:
        raise ValueError(f"iterations must be positive (an integer >= 1), got {iterations!r}")
    calls = 0

    def call() -> Any:
        nonlocal calls
        try:
            return func()
        except Exception as e:
            which = "warm-up call" if calls == 0 else f"iteration {calls - 1}"
            raise MeasurementError(f"Function failed during benchmarking {which}: {e}") from e
        finally:
            calls += 1

    m = _timer(iterations).benchmark(call, 1)
    times = m.times_seconds
    total = sum(times)
    return BenchmarkResult(
        function_name=getattr(func, "__name__", str(func)),
        iterations=iterations,
        total_time_seconds=total,
        avg_time_seconds=statistics.mean(times),
        min_time_seconds=min(times),
        max_time_seconds=max(times),
        std_dev_seconds=statistics.stdev(times) if len(times) > 1 else 0.0,
        throughput_ops_per_second=safe_division(iterations, total),
        memory_usage_mb=m.memory_usage_mb / iterations,
        cpu_usage_percent=m.cpu_usage_percent,
    )


class PerformanceProfiler:
    """Named operations timed between ``start_profiling`` and ``end_profiling`` (or with
    ``profile_context`` / ``profile_function``), with the RSS change of each.

    Operations may overlap. If psutil cannot read this process's memory, a
    ``RuntimeWarning`` says so and ``memory_delta_mb`` is 0.0.
    """

    def __init__(self, enable_memory_tracking: bool = True):
        self.enable_memory_tracking = enable_memory_tracking
        self._active_operations: dict[str, dict[str, Any]] = {}
        self._completed_operations: dict[str, list[ProfileResult]] = defaultdict(list)
        self._operation_counts: dict[str, int] = defaultdict(int)

    def _rss_mb(self) -> float | None:
        try:
            return psutil.Process().memory_info().rss / _MB
        except Exception as e:  # reported, not hidden: the delta is then 0.0
            warnings.warn(f"memory tracking unavailable ({e}); memory_delta_mb is reported as 0.0",
                          RuntimeWarning, stacklevel=3)
            return None

    def start_profiling(self, operation_name: str) -> None:
        if operation_name in self._active_operations:
            raise ProfilingError(f"Operation '{operation_name}' is already being profiled")
        start: dict[str, Any] = {"start_time": time.perf_counter(), "start_process_time": time.process_time()}
        if self.enable_memory_tracking and (rss := self._rss_mb()) is not None:
            start["start_memory_mb"] = rss
        self._active_operations[operation_name] = start

    def end_profiling(self, operation_name: str) -> ProfileResult:
        """The result of this call; ``call_count`` is how many times the operation has ended."""
        if operation_name not in self._active_operations:
            raise ProfilingError(f"Operation '{operation_name}' is not being profiled")
        start = self._active_operations.pop(operation_name)
        elapsed = time.perf_counter() - start["start_time"]
        delta = 0.0
        if "start_memory_mb" in start and (rss := self._rss_mb()) is not None:
            delta = rss - start["start_memory_mb"]
        self._operation_counts[operation_name] += 1
        result = ProfileResult(operation_name, elapsed, self._operation_counts[operation_name], elapsed * 1000, delta)
        self._completed_operations[operation_name].append(result)
        return result

    def profile_function(self, func: Callable[P, T]) -> Callable[P, T]:
        """Decorator: every call is an operation named ``module.function`` (results are
        waited for with ``jax.block_until_ready``)."""
        name = f"{func.__module__}.{func.__name__}" if getattr(func, "__module__", None) else func.__name__

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            self.start_profiling(name)
            try:
                return jax.block_until_ready(func(*args, **kwargs))
            finally:
                self.end_profiling(name)

        return wrapper

    def get_profile_summary(self) -> dict[str, ProfileResult]:
        """Per operation: total time, number of calls, mean time per call, mean RSS change."""
        summary = {}
        for name, results in self._completed_operations.items():
            if results:
                total = sum(r.total_time_seconds for r in results)
                summary[name] = ProfileResult(name, total, len(results), total / len(results) * 1000,
                                              statistics.mean(r.memory_delta_mb for r in results))
        return summary

    def reset(self) -> None:
        self._active_operations.clear()
        self._completed_operations.clear()
        self._operation_counts.clear()

    @contextlib.contextmanager
    def profile_context(self, operation_name: str) -> Iterator[None]:
        self.start_profiling(operation_name)
        try:
            yield
        finally:
            self.end_profiling(operation_name)


class BenchmarkRunner:
    """Benchmarks of generation, streaming and batch processing, and their comparison."""

    def __init__(self, config: BenchmarkConfig):
        self.config = config
        self.profiler = PerformanceProfiler(enable_memory_tracking=config.measure_memory)
        self._results_history: list[dict[str, Any]] = []

    def _metrics(self, run: Callable[[], Any], num_samples: int) -> PerformanceMetrics:
        """DPA's metrics of ``run`` (``num_samples`` samples per call): mean latency and
        throughput over the timed calls, mean RSS change per call (clipped at 0), CPU."""
        cfg = self.config
        m = _timer(cfg.iterations, cfg.warmup_iterations, cfg.measure_memory, cfg.measure_cpu).benchmark(run, num_samples)
        total = sum(m.times_seconds)
        return PerformanceMetrics(
            throughput_samples_per_second=safe_division(num_samples * cfg.iterations, total),
            avg_latency_ms=safe_division(statistics.mean(m.times_seconds), num_samples) * 1000,
            memory_usage_mb=max(0.0, m.memory_usage_mb / cfg.iterations),
            cpu_usage_percent=m.cpu_usage_percent,
            total_time_seconds=total,
        )

    def benchmark_generation(self, num_samples: int, config: Any = None) -> PerformanceMetrics:
        """DPA's per-sample loop: ``gen_augmentation_params(i, config)`` for ``i < num_samples``.

        Memory is the mean RSS change of an iteration, clipped at 0 (DPA's metrics refuse
        negative values; the RSS can shrink when freed memory is returned).
        """
        try:
            from accel import dpa

            if config is None:
                config = dpa.AugmentationConfig()

            def run() -> None:
                for sample_id in range(num_samples):
                    dpa.gen_augmentation_params(sample_id, config)

            return self._metrics(run, num_samples)
        except Exception as e:
            raise MeasurementError(f"Failed to benchmark parameter generation: {e}") from e

    def benchmark_streaming(self, num_samples: int, chunk_size: int = 1000) -> PerformanceMetrics:
        """Consuming ``stream_augmentation_chain(num_samples, chunk_size=chunk_size)``."""
        try:
            from accel import dpa

            config = dpa.AugmentationConfig()
            return self._metrics(lambda: sum(1 for _ in dpa.stream_augmentation_chain(num_samples, config, chunk_size=chunk_size)), num_samples)
        except Exception as e:
            raise MeasurementError(f"Failed to benchmark streaming operations: {e}") from e

    def benchmark_batch_processing(self, num_samples: int, batch_config: Any = None) -> PerformanceMetrics:
        """Batching ``stream_augmentation_chain(num_samples)`` with ``BatchProcessor``
        (default: SEQUENTIAL, 100 per batch)."""
        try:
            from accel import dpa
            from accel.dpa.batch import BatchConfig, BatchProcessor, BatchStrategy

            if batch_config is None:
                batch_config = BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=100, max_memory_mb=500)
            config = dpa.AugmentationConfig()

            def run() -> int:
                processor = BatchProcessor(batch_config.strategy, batch_config)
                return sum(1 for _ in processor.process_stream(dpa.stream_augmentation_chain(num_samples, config)))

            return self._metrics(run, num_samples)
        except Exception as e:
            raise MeasurementError(f"Failed to benchmark batch processing: {e}") from e

    def compare_configurations(self, configs: list[dict]) -> ComparisonReport:
        """Benchmark each configuration (``{'name', 'type', 'num_samples', ...}``, type
        ``'generation'``, ``'streaming'`` or ``'batch_processing'``) against the first."""
        if not configs:
            raise ValueError("At least one configuration must be provided")
        try:
            for i, cfg in enumerate(configs):
                for key in ("name", "type", "num_samples"):
                    if key not in cfg:
                        raise ValueError(f"Configuration {i} is missing required key '{key}'")
            results: dict[str, PerformanceMetrics] = {}
            for cfg in configs:
                kind, n = cfg.get("type", "generation"), cfg.get("num_samples", 1000)
                if kind == "generation":
                    metrics = self.benchmark_generation(n, cfg.get("aug_config"))
                elif kind == "streaming":
                    metrics = self.benchmark_streaming(n, cfg.get("chunk_size", 1000))
                elif kind == "batch_processing":
                    metrics = self.benchmark_batch_processing(n, cfg.get("batch_config"))
                else:
                    raise ValueError(f"Unknown configuration type: {kind}")
                results[cfg["name"]] = metrics
                self._results_history.append({"config_name": cfg["name"], "config": cfg, "metrics": metrics,
                                              "timestamp": time.time()})
            baseline = configs[0]["name"]
            comparison, improvements = compare_metrics(results, baseline)
            return ComparisonReport(baseline, [c["name"] for c in configs[1:]], comparison, improvements,
                                    self._generate_recommendations(results, comparison, improvements))
        except Exception as e:
            raise MeasurementError(f"Failed to compare configurations: {e}") from e

    def _generate_recommendations(self, results: dict[str, PerformanceMetrics], metrics_comparison: dict[str, dict],
                                  performance_improvements: dict[str, float]) -> list[str]:
        return recommendations(results, metrics_comparison, performance_improvements)

    def generate_performance_report(self, comparison_report: ComparisonReport, format_type: str = "text") -> str:
        """The comparison as ``'text'``, ``'markdown'`` or ``'json'`` (DPA's layouts)."""
        return performance_report(comparison_report, format_type, self.config)

    def get_results_history(self) -> list[dict[str, Any]]:
        return list(self._results_history)

    def clear_results_history(self) -> None:
        self._results_history.clear()

