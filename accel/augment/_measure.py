"""DPA-compatible measurement helpers: ``measure_time``, ``measure_memory``, ``BenchmarkRunner``.

Timings wait for the device (``block_until_ready``) and the first (compiling) call is a
separate warm-up, reported as ``compile_seconds``; throughput is ``n / median(time)``.
Memory is this process's resident set (``/proc/self/statm``) and its peak
(``ru_maxrss``), not the machine's; CPU use is this process's CPU time during the timed
calls as a percent of all cores (``accel.profile.cpu_percent``). ``measure_memory=False`` /
``measure_cpu=False`` skip those readings (reported as 0.0).

Example:
    >>> from accel.augment import BenchmarkConfig, BenchmarkRunner
    >>> m = BenchmarkRunner(BenchmarkConfig(iterations=2, warmup_iterations=1)).benchmark_generation(1000)
    >>> m.throughput_samples_per_second > 0
    True
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from .._checks import check_bool
from ..profile import cpu_percent
from ._config import AugmentationConfig
from ._generate import check_algorithm, check_int, gen_augmentation_batch

__all__ = ["BenchmarkConfig", "BenchmarkRunner", "PerformanceMetrics", "measure_memory", "measure_time"]

_MB = 1 << 20


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # non-Linux: peak RSS is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def measure_time() -> Iterator[dict[str, float]]:
    """Fill a dict with ``elapsed_seconds``, ``cpu_seconds``, ``start_time``, ``end_time`` on exit.

    Example:
        >>> with measure_time() as t:
        ...     _ = sum(range(1000))
        >>> t["elapsed_seconds"] >= 0
        True
    """
    out: dict[str, float] = {"start_time": time.time()}
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield out
    finally:
        out["elapsed_seconds"] = time.perf_counter() - wall
        out["cpu_seconds"] = time.process_time() - cpu
        out["end_time"] = time.time()


@contextlib.contextmanager
def measure_memory() -> Iterator[dict[str, float]]:
    """Fill a dict with ``initial_rss_mb``, ``final_rss_mb``, ``delta_rss_mb`` (= ``delta_mb``)
    and ``peak_rss_mb`` of this process on exit."""
    out: dict[str, float] = {"initial_rss_mb": _rss_bytes() / _MB}
    try:
        yield out
    finally:
        out["final_rss_mb"] = _rss_bytes() / _MB
        out["delta_rss_mb"] = out["delta_mb"] = out["final_rss_mb"] - out["initial_rss_mb"]
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    iterations: int = 10
    warmup_iterations: int = 2
    measure_memory: bool = True
    algorithm: str | None = None
    measure_cpu: bool = True

    def __post_init__(self) -> None:
        check_int(self.iterations, "iterations", minimum=1)
        check_int(self.warmup_iterations, "warmup_iterations", minimum=1)
        check_algorithm(self.algorithm)
        check_bool(self.measure_memory, "measure_memory")
        check_bool(self.measure_cpu, "measure_cpu")


@dataclasses.dataclass(frozen=True)
class PerformanceMetrics:
    throughput_samples_per_second: float
    avg_latency_ms: float
    median_seconds: float
    compile_seconds: float
    memory_usage_mb: float
    peak_rss_mb: float
    total_time_seconds: float
    times_seconds: tuple[float, ...]
    cpu_usage_percent: float = 0.0


class BenchmarkRunner:
    """Time ``gen_augmentation_batch`` (DPA's ``BenchmarkRunner`` interface), or any call
    (:meth:`benchmark`; ``accel.dpa.benchmark`` times DPA's benchmarks with it)."""

    def __init__(self, config: BenchmarkConfig | None = None) -> None:
        if config is not None and not isinstance(config, BenchmarkConfig):
            raise TypeError(f"config must be a BenchmarkConfig or None, got {type(config).__name__}")
        self.config = config or BenchmarkConfig()

    def benchmark_generation(self, num_samples: int, config: AugmentationConfig | None = None) -> PerformanceMetrics:
        """Samples per second of ``gen_augmentation_batch(arange(num_samples))`` (median)."""
        n = check_int(num_samples, "num_samples", minimum=1)
        ids = np.arange(n, dtype=np.uint64)
        algo = self.config.algorithm
        return self.benchmark(lambda: gen_augmentation_batch(ids, config, algorithm=algo), n)

    def benchmark(
        self, run: Callable[[], Any], num_samples: int, *, setup: Callable[[], Any] | None = None
    ) -> PerformanceMetrics:
        """Time ``run()``, a call that produces ``num_samples`` samples, as
        ``benchmark_generation`` times generation.

        The first call is the (compiling) warm-up, ``warmup_iterations - 1`` more follow, then
        ``iterations`` timed calls; each call's result is waited for
        (``jax.block_until_ready``). ``setup()``, if given, runs before every call, outside
        the timings (e.g. to empty a cache). Memory and CPU are read over the timed calls.

        Example:
            >>> runner = BenchmarkRunner(BenchmarkConfig(iterations=3, warmup_iterations=1))
            >>> m = runner.benchmark(lambda: sum(range(1000)), 1000)
            >>> len(m.times_seconds), m.throughput_samples_per_second > 0
            (3, True)
        """
        if not callable(run):
            raise TypeError(f"run must be a callable taking no arguments, got {run!r}")
        if setup is not None and not callable(setup):
            raise TypeError(f"setup must be None or a callable taking no arguments, got {setup!r}")
        n = check_int(num_samples, "num_samples", minimum=0)

        def call() -> None:
            if setup is not None:
                setup()
            jax.block_until_ready(run())

        with measure_time() as compile_t:
            call()
        for _ in range(self.config.warmup_iterations - 1):
            call()
        times = []
        with contextlib.ExitStack() as stack:
            mem = stack.enter_context(measure_memory()) if self.config.measure_memory else None
            total = stack.enter_context(measure_time())
            for _ in range(self.config.iterations):
                if setup is not None:
                    setup()
                t0 = time.perf_counter()
                jax.block_until_ready(run())
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        cpu = cpu_percent(total["cpu_seconds"], total["elapsed_seconds"]) if self.config.measure_cpu else 0.0
        return PerformanceMetrics(
            throughput_samples_per_second=n / med if med > 0 else 0.0,
            avg_latency_ms=1e3 * med / n if n else 0.0,
            median_seconds=med,
            compile_seconds=compile_t["elapsed_seconds"],
            memory_usage_mb=mem["delta_mb"] if mem is not None else 0.0,
            peak_rss_mb=mem["peak_rss_mb"] if mem is not None else 0.0,
            total_time_seconds=total["elapsed_seconds"],
            times_seconds=tuple(times),
            cpu_usage_percent=cpu,
        )
