"""Deterministic augmentation parameters per sample id: DPA's API on JAX kernels.

Parameters of a sample depend only on ``(seed, epoch, sample_id, config, algorithm)``: not
on batch composition, order, chunk size, device, rank or world size. Ids are 64-bit.

Example:
    >>> from accel.augment import gen_augmentation_batch, get_preset
    >>> batch = gen_augmentation_batch([0, 1, 2], get_preset("mild"), seed=3, epoch=1)
    >>> sorted(batch) == sorted(["rotation", "brightness", "noise", "scale", "contrast"])
    True
"""

from accel import _compilation_cache

from ._batch import AugmentationBatch
from ._batching import BatchConfig, BatchProcessor, BatchStrategy, process_memory_budget
from ._config import PARAM_NAMES, PRESETS, AugmentationConfig, get_preset
from ._dpa_kernels import dpa_draw, dpa_draws
from ._generate import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    augmentation_params,
    gen_augmentation_batch,
)
from ._io import (
    generate_augmentation_chain,
    load_augmentation_chain,
    load_augmentation_stream,
    save_augmentation_chain,
)
from ._measure import (
    BenchmarkConfig,
    BenchmarkRunner,
    PerformanceMetrics,
    measure_memory,
    measure_time,
)
from ._ops import (
    add_noise,
    adjust_brightness,
    adjust_contrast,
    apply_augmentations,
    noise_keys,
    rotate_and_scale,
)
from ._ranks import (
    SPLIT_MODES,
    DistributedRangeSplitter,
    RankRange,
    gen_distributed_augmentation_params,
    stream_distributed_augmentation_chain,
)
from ._sample import gen_augmentation_params
from ._stats import RunningStats, compute_statistics
from ._stream import stream_augmentation_chain, stream_augmentation_range
from ._training import TrainingAugmentation

_compilation_cache.install()  # the kernels' programs persist across processes

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "PARAM_NAMES",
    "PRESETS",
    "SPLIT_MODES",
    "AugmentationBatch",
    "AugmentationConfig",
    "BatchConfig",
    "BatchProcessor",
    "BatchStrategy",
    "BenchmarkConfig",
    "BenchmarkRunner",
    "DistributedRangeSplitter",
    "PerformanceMetrics",
    "RankRange",
    "RunningStats",
    "TrainingAugmentation",
    "add_noise",
    "adjust_brightness",
    "adjust_contrast",
    "apply_augmentations",
    "augmentation_params",
    "compute_statistics",
    "dpa_draw",
    "dpa_draws",
    "gen_augmentation_batch",
    "gen_augmentation_params",
    "gen_distributed_augmentation_params",
    "generate_augmentation_chain",
    "get_preset",
    "load_augmentation_chain",
    "load_augmentation_stream",
    "measure_memory",
    "measure_time",
    "noise_keys",
    "process_memory_budget",
    "rotate_and_scale",
    "save_augmentation_chain",
    "stream_augmentation_chain",
    "stream_augmentation_range",
    "stream_distributed_augmentation_chain",
]
