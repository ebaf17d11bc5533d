"""DPA's performance helpers: ``profile_augmentation_generation``,
``benchmark_augmentation_performance``, ``create_performance_profiler`` and
``get_performance_recommendations``.

Example:
    >>> from accel.dpa import generate_augmentation_chain, profile_augmentation_generation
    >>> profiled = profile_augmentation_generation(generate_augmentation_chain)
    >>> len(profiled(10)), profiled.get_profile_results()[0].operation_name
    (10, 'generate_augmentation_chain')
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from ._batched import convert_stream_to_batches
from ._chain import generate_augmentation_chain, stream_augmentation_chain
from ._config import AugmentationConfig
from ._streaming import get_current_memory_usage
from .benchmark import PerformanceProfiler, benchmark_function

__all__ = [
    "benchmark_augmentation_performance",
    "create_performance_profiler",
    "get_performance_recommendations",
    "profile_augmentation_generation",
]


def profile_augmentation_generation(
    func: Callable[..., Any] | None = None,
    *,
    enable_memory_tracking: bool = True,
    operation_name: str | None = None,
) -> Callable[..., Any]:
    """Decorator (with or without arguments) profiling every call of ``func``; the results
    are in ``wrapper.get_profile_results()``, the profiler in ``wrapper._profiler``."""

    def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
        profiler = PerformanceProfiler(enable_memory_tracking=enable_memory_tracking)
        name = operation_name or f.__name__
        results: list[Any] = []

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            profiler.start_profiling(name)
            try:
                return f(*args, **kwargs)
            finally:
                results.append(profiler.end_profiling(name))

        wrapper._profile_results = results  # type: ignore[attr-defined]
        wrapper.get_profile_results = lambda: results  # type: ignore[attr-defined]
        wrapper._profiler = profiler  # type: ignore[attr-defined]
        return wrapper

    return decorator if func is None else decorator(func)


def _summary(result: Any, num_samples: int) -> dict[str, float]:
    return {
        "avg_time_seconds": result.avg_time_seconds,
        "avg_time_ms": result.avg_time_ms,
        "throughput_samples_per_second": num_samples / result.avg_time_seconds,
    }


def benchmark_augmentation_performance(
    num_samples: int,
    config: AugmentationConfig | None = None,
    iterations: int = 10,
    warmup_iterations: int = 2,
    include_streaming: bool = True,
    include_batch_processing: bool = True,
    verbose: bool = False,
) -> dict[str, Any]:
    """Times of ``generate_augmentation_chain``, the per-sample stream and two batch
    strategies (``benchmark_function``: one warm-up, then ``iterations`` runs), with
    ``system_info``. ``warmup_iterations`` is accepted and, as in DPA, unused."""

    config = AugmentationConfig() if config is None else config
    if verbose:
        print("Benchmarking parameter generation...")
    gen = benchmark_function(lambda: generate_augmentation_chain(num_samples, config=config), iterations=iterations)
    results: dict[str, Any] = {"generation": {**_summary(gen, num_samples), "min_time_ms": gen.min_time_ms,
                                              "max_time_ms": gen.max_time_ms, "std_dev_ms": gen.std_dev_seconds * 1000}}
    if include_streaming:
        if verbose:
            print("Benchmarking streaming operations...")
        stream = benchmark_function(lambda: list(stream_augmentation_chain(num_samples, config=config)), iterations=iterations)
        overhead = (stream.avg_time_seconds - gen.avg_time_seconds) / gen.avg_time_seconds * 100
        results["streaming"] = {**_summary(stream, num_samples), "overhead_vs_generation_percent": overhead}
    if include_batch_processing:
        if verbose:
            print("Benchmarking batch processing strategies...")
        strategies = {}
        for name in ("sequential", "memory_optimized"):
            def run(name: str = name) -> list[Any]:
                return list(convert_stream_to_batches(stream_augmentation_chain(num_samples, config=config), batch_strategy=name))

            r = benchmark_function(run, iterations=max(1, iterations // 2))
            strategies[name] = {"avg_time_seconds": r.avg_time_seconds,
                                "throughput_samples_per_second": num_samples / r.avg_time_seconds}
            if verbose:
                print(f"  {name}: {strategies[name]['throughput_samples_per_second']:.1f} samples/sec")
        best = max(strategies, key=lambda k: strategies[k]["throughput_samples_per_second"])
        results["batch_processing"] = {"strategies": strategies, "best_strategy": best,
                                       "best_throughput": strategies[best]["throughput_samples_per_second"]}
    results["system_info"] = {"num_samples": num_samples, "iterations": iterations, "config": dataclasses.asdict(config)}
    memory = get_current_memory_usage()
    if memory:
        results["system_info"]["memory_usage_mb"] = memory.get("rss", 0) / (1024 * 1024)
    if verbose:
        print("Benchmarking completed!")
        print(f"Generation: {results['generation']['throughput_samples_per_second']:.1f} samples/sec")
        if "streaming" in results:
            print(f"Streaming: {results['streaming']['throughput_samples_per_second']:.1f} samples/sec")
        if "batch_processing" in results:
            bp = results["batch_processing"]
            print(f"Best batch strategy: {bp['best_strategy']} ({bp['best_throughput']:.1f} samples/sec)")
    return results


def create_performance_profiler(enable_memory_tracking: bool = True, auto_report: bool = False) -> PerformanceProfiler:
    """A new ``accel.dpa.benchmark.PerformanceProfiler`` (``auto_report`` is accepted and, as in
    DPA, unused)."""
    return PerformanceProfiler(enable_memory_tracking=enable_memory_tracking)


def get_performance_recommendations(
    benchmark_results: dict[str, Any],
    target_throughput: float | None = None,
    memory_limit_mb: int | None = None,
) -> list[str]:
    """DPA's advice from ``benchmark_augmentation_performance`` results."""
    if "generation" not in benchmark_results:
        return ["Run benchmark_augmentation_performance() to get baseline metrics"]
    out = []
    gen = benchmark_results["generation"]["throughput_samples_per_second"]
    if target_throughput and gen < target_throughput:
        out.append(f"Current throughput ({gen:.1f} samples/sec) is below target "
                   f"({target_throughput:.1f} samples/sec) by {target_throughput - gen:.1f} samples/sec")
        batch = benchmark_results.get("batch_processing")
        if batch and batch["best_throughput"] > gen:
            gain = (batch["best_throughput"] - gen) / gen * 100
            out.append(f"Use {batch['best_strategy']} batch processing for {gain:.1f}% performance improvement")
        out.append("Consider using streaming with chunking for large datasets")
        out.append("Profile individual augmentation operations to identify bottlenecks")
    info = benchmark_results.get("system_info", {})
    if memory_limit_mb and info.get("memory_usage_mb", 0) > memory_limit_mb:
        out.append(f"Current memory usage ({info['memory_usage_mb']:.1f}MB) exceeds limit ({memory_limit_mb}MB)")
        out.append("Use stream_augmentation_chain_with_memory_limit() for memory-constrained processing")
        out.append("Consider memory-optimized batch processing strategy")
    if "streaming" in benchmark_results:
        overhead = benchmark_results["streaming"].get("overhead_vs_generation_percent", 0)
        if overhead > 10:
            out.append(f"Streaming has {overhead:.1f}% overhead - consider batch processing for better performance")
        elif overhead < 5:
            out.append("Streaming has low overhead - good for memory-efficient processing")
    if info.get("config", {}).get("augmentation_depth", 10) > 15:
        out.append("Consider reducing augmentation_depth for faster parameter generation")
    return out or ["Performance looks good! No specific optimizations needed."]
