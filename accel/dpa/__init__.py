"""DPA v0.2's public API, module for module, on ``accel.augment``'s bit-exact DPA kernel.

Code written for DPA (github.com/AdrianParedez/dpa) runs with its imports changed:
``src.dpa`` -> ``accel.dpa``, ``src.distributed`` -> ``accel.dpa.distributed``,
``src.batch`` -> ``accel.dpa.batch``, ``src.benchmark`` -> ``accel.dpa.benchmark``. Signatures
(positional order, defaults), return types, exceptions and JSON files are DPA's, and every
parameter value and hash equals DPA's bit for bit: the SHA-256 / Fibonacci / MT19937 chain
runs in one vectorised JAX kernel (``accel.augment.dpa_draws``) instead of a Python loop.
Deliberate differences (each a DPA bug) are listed in ``docs/dpa_compatibility.md``.

A façade: what DPA shares with ``accel.augment`` is implemented there once and adapted here
to DPA's signatures: the kernel (``accel.augment.dpa_draws``; SHA-256, MT19937 and the draws
live together in that one kernel), the presets, the statistics, the range
split, the batching (``accel.dpa.batch.BatchProcessor`` subclasses
``accel.augment.BatchProcessor``), the timings (``accel.augment.BenchmarkRunner.benchmark``),
``measure_time`` and ``measure_memory``. What remains here is DPA's own API (its dataclasses,
exceptions, messages, JSON layout, streaming helpers); each module says why it is not
``accel.augment``'s.

New code should use ``accel.augment``: counter-based keys with a seed and an epoch, columnar
``AugmentationBatch`` results, 64-bit ids, process memory budgets (README, "Migrating from
DPA").

``accel.dpa`` needs psutil (``pip install 'accel[dpa]'``), as DPA does.

Example:
    >>> from accel.dpa import gen_augmentation_params, get_preset
    >>> p = gen_augmentation_params(42, get_preset("moderate"))
    >>> sorted(p)
    ['brightness', 'contrast', 'hash', 'noise', 'rotation', 'scale']
    >>> import hashlib, random
    >>> h = hashlib.sha256(b"42").hexdigest()
    >>> a, b = 0, 1
    >>> for _ in range(10):
    ...     h = hashlib.sha256((h + str(a)).encode()).hexdigest()
    ...     a, b = b, a + b
    >>> r = random.Random(int(h, 16) % 2**32)
    >>> p["hash"] == h and p["rotation"] == r.uniform(-30, 30)
    True
"""

try:
    import psutil  # noqa: F401  (DPA's dependency: memory and CPU readings)
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("accel.dpa needs psutil, as DPA does: pip install 'accel[dpa]'") from exc

from ._batched import (
    convert_stream_to_batches,
    estimate_optimal_batch_size,
    get_batch_metrics,
    get_batch_processing_metrics,
    get_memory_usage_estimate,
    process_augmentation_batches,
    stream_augmentation_chain_batched,
    stream_augmentation_chain_with_memory_limit,
    stream_augmentation_range_batched,
)
from ._chain import (
    generate_augmentation_chain,
    stream_augmentation_chain,
    stream_augmentation_range,
)
from ._config import PRESETS, AugmentationConfig, fib, get_preset
from ._io import (
    load_augmentation_chain,
    load_augmentation_stream,
    recover_partial_write,
    resume_streaming_save,
    save_augmentation_chain,
    save_augmentation_stream,
)
from ._params import gen_augmentation_params, gen_augmentation_seed
from ._perf import (
    benchmark_augmentation_performance,
    create_performance_profiler,
    get_performance_recommendations,
    profile_augmentation_generation,
)
from ._stats import compute_statistics, compute_streaming_statistics
from ._streaming import (
    GeneratorExhaustionError,
    PartialWriteError,
    ResourceCleanupError,
    StreamingContext,
    StreamingError,
    StreamingIOError,
    StreamingMetadata,
    StreamingProgress,
    create_simple_progress_callback,
    create_streaming_metadata,
    create_streaming_progress,
    estimate_memory_usage,
    format_memory_size,
    format_progress_info,
    generator_to_list,
    get_current_memory_usage,
    list_to_generator,
    safe_cleanup_generator,
    safe_close_file,
    update_streaming_progress,
    with_streaming_context,
)
from .batch import BatchConfig, BatchMetrics, BatchProcessor, BatchStrategy
from .benchmark import (
    BenchmarkRunner,
    PerformanceProfiler,
    benchmark_function,
    measure_memory,
    measure_time,
)
from .distributed import (
    DistributedRangeSplitter,
    RankAwareSeedGenerator,
    gen_distributed_augmentation_params,
    stream_distributed_augmentation_chain,
)

__version__ = "0.2.1"  # the DPA release whose API this package reproduces

__all__ = [
    "PRESETS",
    "AugmentationConfig",
    "BatchConfig",
    "BatchMetrics",
    "BatchProcessor",
    "BatchStrategy",
    "BenchmarkRunner",
    "DistributedRangeSplitter",
    "GeneratorExhaustionError",
    "PartialWriteError",
    "PerformanceProfiler",
    "RankAwareSeedGenerator",
    "ResourceCleanupError",
    "StreamingContext",
    "StreamingError",
    "StreamingIOError",
    "StreamingMetadata",
    "StreamingProgress",
    "benchmark_augmentation_performance",
    "benchmark_function",
    "compute_statistics",
    "compute_streaming_statistics",
    "convert_stream_to_batches",
    "create_performance_profiler",
    "create_simple_progress_callback",
    "create_streaming_metadata",
    "create_streaming_progress",
    "estimate_memory_usage",
    "estimate_optimal_batch_size",
    "fib",
    "format_memory_size",
    "format_progress_info",
    "gen_augmentation_params",
    "gen_augmentation_seed",
    "gen_distributed_augmentation_params",
    "generate_augmentation_chain",
    "generator_to_list",
    "get_batch_metrics",
    "get_batch_processing_metrics",
    "get_current_memory_usage",
    "get_memory_usage_estimate",
    "get_performance_recommendations",
    "get_preset",
    "list_to_generator",
    "load_augmentation_chain",
    "load_augmentation_stream",
    "measure_memory",
    "measure_time",
    "process_augmentation_batches",
    "profile_augmentation_generation",
    "recover_partial_write",
    "resume_streaming_save",
    "safe_cleanup_generator",
    "safe_close_file",
    "save_augmentation_chain",
    "save_augmentation_stream",
    "stream_augmentation_chain",
    "stream_augmentation_chain_batched",
    "stream_augmentation_chain_with_memory_limit",
    "stream_augmentation_range",
    "stream_augmentation_range_batched",
    "stream_distributed_augmentation_chain",
    "update_streaming_progress",
    "with_streaming_context",
]
