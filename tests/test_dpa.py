"""accel.dpa: DPA's API (signatures, values bit for bit, files, errors) and its deliberate fixes.

Values are checked against tests/_dpa_oracle.py (DPA's algorithm in hashlib + random). Every
kernel call here stays within the kernel's 64-id batch (one compilation shared with
test_augment_dpa.py) except the long-stream test.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import threading

import numpy as np
import pytest
from _dpa_oracle import oracle, oracle_hash, oracle_params
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import augment, dpa
from accel.dpa.batch import (
    BatchConfig,
    BatchProcessor,
    BatchStrategy,
    InvalidBatchConfigError,
    MemoryInfo,
    MemoryLimitExceededError,
)
from accel.dpa.benchmark import (
    BenchmarkConfig,
    BenchmarkRunner,
    InvalidBenchmarkConfigError,
    MeasurementError,
    PerformanceProfiler,
    benchmark_function,
)
from accel.dpa.distributed import (
    DistributedRangeSplitter,
    RankAwareSeedGenerator,
    gen_distributed_augmentation_params,
    stream_distributed_augmentation_chain,
)

MODERATE = [(-30, 30), (0.8, 1.2), (0, 0.1), (0.8, 1.2), (0.7, 1.3)]

# DPA v0.2.1's public signatures (inspect.signature of github.com/AdrianParedez/dpa@558e4c3):
# accel.dpa keeps these names, order and defaults; it may only append keyword-able parameters.
DPA_SIGNATURES = [
    ("accel.dpa", "AugmentationConfig", "rotation_range=(-30, 30), brightness_range=(0.8, 1.2), noise_range=(0, 0.1), scale_range=(0.8, 1.2), contrast_range=(0.7, 1.3), augmentation_depth=10"),
    ("accel.dpa", "StreamingMetadata", "total_samples=None, config=None, start_id=0, chunk_size=None, buffer_size=1000"),
    ("accel.dpa", "StreamingProgress", "samples_processed=0, current_sample_id=0, estimated_total=None, start_time=0.0"),
    ("accel.dpa", "fib", "n"),
    ("accel.dpa", "gen_augmentation_seed", "seed_id, augmentation_depth=10"),
    ("accel.dpa", "gen_augmentation_params", "seed_id, config=None, rank=None"),
    ("accel.dpa", "compute_statistics", "params_list"),
    ("accel.dpa", "save_augmentation_chain", "params_list, filepath, config=None, include_stats=True"),
    ("accel.dpa", "load_augmentation_chain", "filepath"),
    ("accel.dpa", "get_preset", "preset_name"),
    ("accel.dpa", "stream_augmentation_chain", "num_samples, config=None, start_id=0, chunk_size=None, batch_config=None, rank=None, world_size=None, verbose=False, progress_callback=None"),
    ("accel.dpa", "stream_augmentation_range", "start_id, end_id, config=None, chunk_size=None, batch_config=None, rank=None, world_size=None"),
    ("accel.dpa", "compute_streaming_statistics", "param_generator"),
    ("accel.dpa", "save_augmentation_stream", "param_generator, filepath, config=None, include_stats=True, buffer_size=1000, verbose=False, progress_callback=None"),
    ("accel.dpa", "load_augmentation_stream", "filepath, chunk_size=1000, verbose=False, progress_callback=None"),
    ("accel.dpa", "generator_to_list", "param_generator, max_items=None"),
    ("accel.dpa", "list_to_generator", "params_list"),
    ("accel.dpa", "create_streaming_metadata", "total_samples=None, config=None, start_id=0, chunk_size=None, buffer_size=1000"),
    ("accel.dpa", "create_streaming_progress", "estimated_total=None, start_id=0"),
    ("accel.dpa", "update_streaming_progress", "progress, samples_processed, current_sample_id"),
    ("accel.dpa", "estimate_memory_usage", "num_samples, include_statistics=True, bytes_per_param=200"),
    ("accel.dpa", "get_current_memory_usage", ""),
    ("accel.dpa", "format_memory_size", "bytes_size"),
    ("accel.dpa", "format_progress_info", "progress"),
    ("accel.dpa", "create_simple_progress_callback", "verbose=True"),
    ("accel.dpa", "safe_close_file", "file_handle, filepath=''"),
    ("accel.dpa", "safe_cleanup_generator", "generator"),
    ("accel.dpa", "recover_partial_write", "filepath, expected_samples=None, verbose=False"),
    ("accel.dpa", "resume_streaming_save", "param_generator, filepath, resume_from_sample=0, config=None, include_stats=True, buffer_size=1000, verbose=False"),
    ("accel.dpa", "StreamingContext", "verbose=False"),
    ("accel.dpa", "with_streaming_context", "operation, args, verbose=False, kwargs"),
    ("accel.dpa", "stream_augmentation_chain_batched", "num_samples, batch_config=None, config=None, start_id=0, verbose=False, progress_callback=None"),
    ("accel.dpa", "stream_augmentation_range_batched", "start_id, end_id, batch_config=None, config=None"),
    ("accel.dpa", "process_augmentation_batches", "param_generator, batch_config=None, processor_func=None, verbose=False"),
    ("accel.dpa", "get_batch_metrics", "param_generator, batch_config=None"),
    ("accel.dpa", "stream_augmentation_chain_with_memory_limit", "num_samples, max_memory_mb=1000, config=None, start_id=0, verbose=False, progress_callback=None"),
    ("accel.dpa", "estimate_optimal_batch_size", "sample_size_bytes=200, max_memory_mb=1000, safety_margin=0.1"),
    ("accel.dpa", "get_memory_usage_estimate", "num_samples, include_statistics=True, bytes_per_param=200"),
    ("accel.dpa", "generate_augmentation_chain", "num_samples, config=None, verbose=False, save_path=None"),
    ("accel.dpa", "convert_stream_to_batches", "param_generator, batch_strategy='sequential', batch_size=32, max_memory_mb=1000"),
    ("accel.dpa", "get_batch_processing_metrics", "num_samples, config=None, batch_strategies=None, verbose=False"),
    ("accel.dpa", "profile_augmentation_generation", "func=None, enable_memory_tracking=True, operation_name=None"),
    ("accel.dpa", "benchmark_augmentation_performance", "num_samples, config=None, iterations=10, warmup_iterations=2, include_streaming=True, include_batch_processing=True, verbose=False"),
    ("accel.dpa", "create_performance_profiler", "enable_memory_tracking=True, auto_report=False"),
    ("accel.dpa", "get_performance_recommendations", "benchmark_results, target_throughput=None, memory_limit_mb=None"),
    ("accel.dpa.distributed", "RankRange", "start_id, end_id, rank, total_samples"),
    ("accel.dpa.distributed", "RankAwareSeedGenerator", "base_seed=0, world_size=1"),
    ("accel.dpa.distributed", "DistributedRangeSplitter", "total_samples, world_size"),
    ("accel.dpa.distributed", "stream_distributed_augmentation_chain", "num_samples, rank, world_size, config=None, base_seed=0, chunk_size=None, verbose=False, inclusive_range=True"),
    ("accel.dpa.distributed", "stream_distributed_augmentation_range", "start_id, end_id, rank, world_size, config=None, base_seed=0, chunk_size=None, verbose=False"),
    ("accel.dpa.distributed", "gen_distributed_augmentation_params", "sample_id, rank, config=None, base_seed=0, world_size=1"),
    ("accel.dpa.batch", "safe_division", "numerator, denominator, fallback=0.0"),
    ("accel.dpa.batch", "BatchConfig", "strategy, batch_size=None, max_memory_mb=1000, min_batch_size=1, adaptive_sizing=True"),
    ("accel.dpa.batch", "BatchMetrics", "total_batches, avg_batch_size, memory_usage_mb, processing_time_seconds, throughput_samples_per_second"),
    ("accel.dpa.batch", "MemoryInfo", "available_mb, used_mb, total_mb, percent_used"),
    ("accel.dpa.batch", "MemoryAwareBatcher", "max_memory_mb=1000, min_batch_size=1, adjustment_factor=0.8"),
    ("accel.dpa.batch", "BatchProcessor", "strategy, config"),
    ("accel.dpa.batch", "get_memory_usage", ""),
    ("accel.dpa.batch", "memory_monitor", "max_memory_mb"),
    ("accel.dpa.benchmark", "safe_division", "numerator, denominator, fallback=0.0"),
    ("accel.dpa.benchmark", "safe_percentage_change", "new_value, old_value"),
    ("accel.dpa.benchmark", "PerformanceMetrics", "throughput_samples_per_second, avg_latency_ms, memory_usage_mb, cpu_usage_percent, total_time_seconds"),
    ("accel.dpa.benchmark", "ProfileResult", "operation_name, total_time_seconds, call_count, avg_time_per_call_ms, memory_delta_mb"),
    ("accel.dpa.benchmark", "BenchmarkConfig", "iterations=100, warmup_iterations=10, measure_memory=True, measure_cpu=True, output_format='json'"),
    ("accel.dpa.benchmark", "BenchmarkResult", "function_name, iterations, total_time_seconds, avg_time_seconds, min_time_seconds, max_time_seconds, std_dev_seconds, throughput_ops_per_second, memory_usage_mb=0.0, cpu_usage_percent=0.0"),
    ("accel.dpa.benchmark", "ComparisonReport", "baseline_config, comparison_configs, metrics_comparison, performance_improvements, recommendations=<factory>"),
    ("accel.dpa.benchmark", "measure_time", ""),
    ("accel.dpa.benchmark", "measure_memory", ""),
    ("accel.dpa.benchmark", "benchmark_function", "func, iterations=100"),
    ("accel.dpa.benchmark", "PerformanceProfiler", "enable_memory_tracking=True"),
    ("accel.dpa.benchmark", "BenchmarkRunner", "config"),
    ("accel.dpa.benchmark", "get_system_info", ""),
    ("accel.dpa.benchmark", "format_benchmark_result", "result, format_type='text'"),
]


def _signature(obj) -> list[str]:
    return [p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in inspect.signature(obj).parameters.values()]


@pytest.mark.parametrize(("module", "name", "expected"), DPA_SIGNATURES, ids=[f"{m}.{n}" for m, n, _ in DPA_SIGNATURES])
def test_public_signature_is_dpas(module, name, expected):
    obj = getattr(importlib.import_module(module), name)
    ours = ", ".join(_signature(obj))
    assert ours.startswith(expected), f"{module}.{name}{inspect.signature(obj)}"
    appended = [part for part in ours[len(expected):].split(", ") if part]
    assert all("=" in part for part in appended), f"appended parameters need defaults: {appended}"


# --------------------------------------------------------------------------- values


CONFIGS = [
    (None, MODERATE, 10),
    (dpa.get_preset("aggressive"), [(-45, 45), (0.7, 1.3), (0, 0.15), (0.7, 1.3), (0.6, 1.4)], 10),
    (dpa.AugmentationConfig(rotation_range=(-7.5, 2.25), noise_range=(0.001, 0.002), augmentation_depth=3),
     [(-7.5, 2.25), (0.8, 1.2), (0.001, 0.002), (0.8, 1.2), (0.7, 1.3)], 3),
]
IDS = [0, 1, 9, 10, 99, 12345, 2**31, 2**32 + 7, 2**63, 2**64 - 1]


@pytest.mark.parametrize(("config", "ranges", "depth"), CONFIGS)
def test_gen_augmentation_params_equal_dpa_bit_for_bit(config, ranges, depth):
    for sample_id in IDS:
        assert dpa.gen_augmentation_params(sample_id, config) == oracle_params(sample_id, ranges, depth)
        assert dpa.gen_augmentation_seed(sample_id, depth) == oracle_hash(sample_id, depth)


def test_presets_are_dpas_with_dpas_number_types():
    dpa_presets = {  # DPA v0.2.1's PRESETS, as json.dumps writes their asdict()
        "mild": [[-15, 15], [0.9, 1.1], [0, 0.05], [0.9, 1.1], [0.85, 1.15]],
        "moderate": [[-30, 30], [0.8, 1.2], [0, 0.1], [0.8, 1.2], [0.7, 1.3]],
        "aggressive": [[-45, 45], [0.7, 1.3], [0, 0.15], [0.7, 1.3], [0.6, 1.4]],
    }
    import dataclasses

    for name, ranges in dpa_presets.items():
        fields = dataclasses.asdict(dpa.get_preset(name))
        assert json.dumps(list(fields.values())) == json.dumps([*ranges, 10])
    assert list(dpa.PRESETS) == ["mild", "moderate", "aggressive"]


def test_dpa_draws_hash_is_the_chain_digest():
    ids = np.array([0, 5, 2**64 - 1], dtype=np.uint64)
    u, hashes = augment.dpa_draws(ids, depth=4, prefix="7:3:")
    assert hashes == [oracle_hash(int(i), 4, "7:3:") for i in ids]
    np.testing.assert_array_equal(u, [oracle(int(i), 4, "7:3:") for i in ids])


@pytest.mark.parametrize(("base_seed", "rank", "world_size"), [(0, 0, 1), (0, 3, 4), (12345, 1, 2), (2**64, 7, 8)])
def test_distributed_params_equal_dpa(base_seed, rank, world_size):
    prefix = f"{base_seed}:{rank}:"
    for sample_id in (0, 41, 2**40):
        got = gen_distributed_augmentation_params(sample_id, rank, None, base_seed, world_size)
        assert got == {**oracle_params(sample_id, MODERATE, 10, prefix), "rank": rank}
        gen = RankAwareSeedGenerator(base_seed, world_size)
        assert gen.generate_seed(sample_id, rank) == oracle_hash(sample_id, 10, prefix)


def test_positional_order_is_dpas():
    # DPA: stream_augmentation_chain(num_samples, config, start_id, chunk_size, ...)
    assert [p["hash"] for p in dpa.stream_augmentation_chain(3, None, 5)] == [oracle_hash(i, 10) for i in (5, 6, 7)]
    chunks = list(dpa.stream_augmentation_chain(5, None, 2, 2))
    assert [len(c) for c in chunks] == [2, 2, 1] and chunks[0][0] == dpa.gen_augmentation_params(2)
    # DPA: gen_distributed_augmentation_params(sample_id, rank, config, base_seed, world_size)
    assert gen_distributed_augmentation_params(1, 0, None, 9)["hash"] == oracle_hash(1, 10, "9:0:")


def test_streams_equal_single_calls_and_never_end_when_asked():
    expected = [oracle_params(i, MODERATE) for i in range(3, 13)]
    assert list(dpa.stream_augmentation_chain(10, start_id=3)) == expected
    assert list(dpa.stream_augmentation_range(3, 13)) == expected
    assert [p for c in dpa.stream_augmentation_chain(10, None, 3, 4) for p in c] == expected
    endless = dpa.stream_augmentation_chain(float("inf"), start_id=2**64 - 2)
    assert [p["hash"] for p in itertools.islice(endless, 5)] == [oracle_hash(2**64 - 2, 10), oracle_hash(2**64 - 1, 10)]


def test_distributed_stream_covers_the_ranks_share_with_rank_keys():
    shares = [list(stream_distributed_augmentation_chain(10, r, 3, base_seed=4)) for r in range(3)]
    assert [len(s) for s in shares] == [4, 3, 3]
    assert shares[1][0] == {**oracle_params(4, MODERATE, 10, "4:1:"), "rank": 1}
    assert DistributedRangeSplitter(10, 3).get_all_ranges() == [(0, 4), (4, 7), (7, 10)]
    assert DistributedRangeSplitter(2, 4).get_all_ranges() == [(0, 1), (1, 2), (0, 0), (0, 0)]


def test_single_ids_never_reach_the_device_kernel(monkeypatch):
    # DPA's per-sample API runs on the host (hashlib, random.Random): no dispatch, no compile
    from accel.augment._dpa_kernels import _draws

    def no_kernel(*args, **kwargs):
        raise AssertionError("a single id reached the device kernel")

    monkeypatch.setattr(_draws, "_kernel", no_kernel)
    for sample_id in (3, 2**64 - 1, 70, 3):  # any order, repeats included
        assert dpa.gen_augmentation_params(sample_id) == oracle_params(sample_id, MODERATE)
    assert dpa.gen_augmentation_seed(5, 3) == oracle_hash(5, 3)
    assert gen_distributed_augmentation_params(5, 1, world_size=2)["hash"] == oracle_hash(5, 10, "0:1:")
    assert RankAwareSeedGenerator(4, 2).generate_seed(9, 1, 2) == oracle_hash(9, 2, "4:1:")
    with pytest.raises(AssertionError, match="reached the device kernel"):
        augment.dpa_draws([3])  # many ids do use it


def test_a_config_changed_after_use_is_checked_and_used_again():
    # DPA's config is mutable; the last config's checked ranges are reused only while it
    # holds the same immutable values
    config = dpa.AugmentationConfig()
    assert dpa.gen_augmentation_params(1, config) == oracle_params(1, MODERATE)
    config.rotation_range = (0, 1)
    assert dpa.gen_augmentation_params(1, config) == oracle_params(1, [(0, 1), *MODERATE[1:]])
    config.augmentation_depth = 3
    assert dpa.gen_augmentation_params(1, config) == oracle_params(1, [(0, 1), *MODERATE[1:]], 3)
    config.rotation_range = (1, 0)
    with pytest.raises(ValueError, match="rotation_range: lower bound must be < upper bound"):
        dpa.gen_augmentation_params(1, config)
    config.rotation_range = [0, 2]  # a list can change in place: never reused unchecked
    assert dpa.gen_augmentation_params(1, config)["rotation"] == oracle_params(1, [(0, 2), *MODERATE[1:]], 3)["rotation"]
    config.rotation_range[0] = float("nan")
    with pytest.raises(ValueError, match="rotation_range must be finite"):
        dpa.gen_augmentation_params(1, config)
    config.rotation_range = (0, 2)
    config.augmentation_depth = 0
    with pytest.raises(ValueError, match="augmentation_depth must be >= 1"):
        dpa.gen_augmentation_params(1, config)


@given(st.integers(0, 2**64 - 1), st.integers(1, 40), st.sampled_from(["", "0:1:", "123:45:"]))
@settings(max_examples=60, deadline=None)
def test_dpa_draw_equals_the_oracle(sample_id, depth, prefix):
    assert augment.dpa_draw(sample_id, depth=depth, prefix=prefix) == (
        oracle_hash(sample_id, depth, prefix), oracle(sample_id, depth, prefix)
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sample_id": -1}, ValueError, r"sample_id must be an integer in \[0, 2\*\*64\)"),
        ({"sample_id": 2**64}, ValueError, r"sample_id must be an integer in \[0, 2\*\*64\)"),
        ({"sample_id": 1.0}, TypeError, "sample_id must be an integer"),
        ({"sample_id": True}, TypeError, "sample_id must be an integer"),
        ({"sample_id": 1, "depth": 0}, ValueError, "depth must be an integer >= 1"),
        ({"sample_id": 1, "depth": 1001}, ValueError, "depth must be an integer >= 1 and <= 1000"),
        ({"sample_id": 1, "prefix": b"0:1:"}, TypeError, "prefix must be a str"),
    ],
)
def test_dpa_draw_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        augment.dpa_draw(**kwargs)


def test_single_ids_are_thread_safe():
    results: dict[int, list[str]] = {}

    def work(offset: int) -> None:
        results[offset] = [dpa.gen_augmentation_seed(offset + i) for i in range(100)]

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for offset, hashes in results.items():
        assert hashes == [oracle_hash(offset + i, 10) for i in range(100)]


def test_global_random_state_is_not_touched():
    import random

    random.seed(123)
    before = random.getstate()
    dpa.gen_augmentation_params(77)
    assert random.getstate() == before  # DPA reseeds the global generator (a bug)


# --------------------------------------------------------------------------- errors

ERRORS = [
    (dpa.gen_augmentation_params, (-1,), {}, ValueError, "seed_id must be non-negative"),
    (dpa.gen_augmentation_params, (2**64,), {}, ValueError, "seed_id must be below 2\\*\\*64"),
    (dpa.gen_augmentation_params, ("3",), {}, TypeError, "seed_id must be an integer"),
    (dpa.gen_augmentation_params, (0, object()), {}, TypeError, "config must be an AugmentationConfig"),
    (dpa.gen_augmentation_params, (0, None, 1), {}, ValueError, "rank \\(1\\) must be < world_size \\(1\\)"),
    (dpa.gen_augmentation_seed, (0, 0), {}, ValueError, "augmentation_depth must be >= 1"),
    (dpa.AugmentationConfig, (), {"rotation_range": (30, 10)}, ValueError, "rotation_range: lower bound must be < upper bound"),
    (dpa.AugmentationConfig, (), {"noise_range": (0, float("nan"))}, ValueError, "noise_range must be finite"),
    (dpa.AugmentationConfig, (), {"scale_range": 1.0}, TypeError, "scale_range must be a pair"),
    (dpa.AugmentationConfig, (), {"augmentation_depth": 0}, ValueError, "augmentation_depth must be >= 1"),
    (dpa.get_preset, ("wild",), {}, ValueError, "Unknown preset 'wild'"),
    (dpa.fib, (-1,), {}, ValueError, "n must be non-negative"),
    (dpa.stream_augmentation_chain, (-1,), {}, ValueError, "num_samples must be non-negative"),
    (dpa.stream_augmentation_chain, (5,), {"start_id": -1}, ValueError, "start_id must be non-negative"),
    (dpa.stream_augmentation_chain, (5,), {"chunk_size": 0}, ValueError, "chunk_size must be positive"),
    (dpa.stream_augmentation_chain, (5,), {"rank": 0}, ValueError, "Both rank and world_size"),
    (dpa.stream_augmentation_chain, (5,), {"chunk_size": 2, "batch_config": BatchConfig(BatchStrategy.SEQUENTIAL)},
     ValueError, "mutually exclusive"),
    (dpa.stream_augmentation_chain, (5,), {"start_id": 2**64 - 2}, ValueError, "below 2\\*\\*64"),
    (dpa.stream_augmentation_range, (5, 3), {}, ValueError, "end_id must be >= start_id"),
    (stream_distributed_augmentation_chain, (10, 2, 2), {}, ValueError, "rank \\(2\\) must be < world_size \\(2\\)"),
    (stream_distributed_augmentation_chain, (10, 0, 0), {}, ValueError, "world_size must be >= 1"),
    (DistributedRangeSplitter(5, 2).get_rank_for_sample, (5,), {}, ValueError, "sample_id \\(5\\) must be < total_samples \\(5\\)"),
    (dpa.generator_to_list, (iter([]), -1), {}, ValueError, "max_items must be non-negative"),
    (dpa.save_augmentation_stream, (iter([]), "x.json"), {"buffer_size": 0}, ValueError, "buffer_size must be positive"),
    (dpa.load_augmentation_chain, ("/nonexistent/aug.json",), {}, FileNotFoundError, "Augmentation file not found"),
    (dpa.load_augmentation_stream, ("/nonexistent/aug.json",), {}, FileNotFoundError, "Augmentation file not found"),
    (BatchConfig, (BatchStrategy.SEQUENTIAL, 0), {}, InvalidBatchConfigError, "batch_size \\(0\\) must be positive"),
    (BatchConfig, (BatchStrategy.SEQUENTIAL, 2), {"min_batch_size": 5}, InvalidBatchConfigError, "cannot be less than min_batch_size"),
    (BatchProcessor, ("sequential", BatchConfig(BatchStrategy.SEQUENTIAL)), {}, InvalidBatchConfigError, "strategy must be a BatchStrategy enum"),
    (BenchmarkConfig, (), {"iterations": 0}, InvalidBenchmarkConfigError, "iterations must be positive"),
    (BenchmarkConfig, (), {"output_format": "xml"}, InvalidBenchmarkConfigError, "output_format must be"),
    (BenchmarkRunner(BenchmarkConfig(1, 0)).compare_configurations, ([],), {}, ValueError, "At least one configuration"),
    (BenchmarkRunner(BenchmarkConfig(1, 0)).compare_configurations, ([{"name": "a", "type": "x", "num_samples": 1}],), {},
     MeasurementError, "Unknown configuration type: x"),
]


@pytest.mark.parametrize(("fn", "args", "kwargs", "error", "match"), ERRORS, ids=[f"{e[0].__qualname__}-{i}" for i, e in enumerate(ERRORS)])
def test_bad_input_raises_dpas_error_when_called(fn, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(*args, **kwargs)  # generators included: checked at the call, not at the first next()


# --------------------------------------------------------------------------- files


def _dpa_file(records, config, stats, streaming=False):
    meta = {"num_samples": len(records), "config": config}
    if streaming:
        meta["streaming"] = True
    out = {"metadata": meta, "augmentations": records}
    if stats:
        out["statistics"] = dpa.compute_statistics(records)
    return json.dumps(out, indent=2)


def test_chain_file_is_dpas_json_byte_for_byte(tmp_path, capsys):
    config = dpa.AugmentationConfig(rotation_range=(-45, 45))
    records = dpa.generate_augmentation_chain(5, config)
    path = tmp_path / "sub" / "chain.json"
    dpa.save_augmentation_chain(records, str(path), config)
    expected_config = {**{f"{n}_range": list(r) for n, r in zip(
        ("rotation", "brightness", "noise", "scale", "contrast"),
        [(-45, 45), (0.8, 1.2), (0, 0.1), (0.8, 1.2), (0.7, 1.3)], strict=True)}, "augmentation_depth": 10}
    assert path.read_text() == _dpa_file(records, expected_config, stats=True)
    assert '"rotation_range": [\n        -45,' in path.read_text()  # ints stay ints, as in DPA
    assert dpa.load_augmentation_chain(str(path)) == records
    assert capsys.readouterr().out == f"Saved 5 augmentations to {path}\nLoaded 5 augmentations from {path}\n"


# DPA v0.2.1's key orders (src/dpa.py and src/distributed.py at 558e4c3): the order its dict
# literals are written in, hence the order of the keys in its JSON files.
DPA_RECORD_KEYS = ["rotation", "brightness", "noise", "scale", "contrast", "hash"]  # gen_augmentation_params
DPA_RANKED_KEYS = [*DPA_RECORD_KEYS, "rank"]  # gen_distributed_augmentation_params
DPA_STATS_KEYS = ["rotation", "brightness", "noise", "scale", "contrast"]  # compute_(streaming_)statistics
DPA_STAT_KEYS = ["mean", "stdev", "min", "max", "count"]
DPA_MEMORY_KEYS = ["parameters", "statistics", "json_serialization", "total"]  # estimate_memory_usage
DPA_CONFIG_KEYS = [
    "rotation_range",
    "brightness_range",
    "noise_range",
    "scale_range",
    "contrast_range",
    "augmentation_depth",
]  # asdict(AugmentationConfig)


def _records_of_every_source():
    yield "gen_augmentation_params", [dpa.gen_augmentation_params(3)], DPA_RECORD_KEYS
    yield "generate_augmentation_chain", dpa.generate_augmentation_chain(3), DPA_RECORD_KEYS
    yield "stream_augmentation_chain", list(dpa.stream_augmentation_chain(3)), DPA_RECORD_KEYS
    yield (
        "stream chunks",
        [r for c in dpa.stream_augmentation_chain(5, chunk_size=2) for r in c],
        DPA_RECORD_KEYS,
    )
    yield "stream_augmentation_range", list(dpa.stream_augmentation_range(2, 5)), DPA_RECORD_KEYS
    yield (
        "batched",
        [r for b in dpa.stream_augmentation_chain_batched(3) for r in b],
        DPA_RECORD_KEYS,
    )
    yield "rank", [dpa.gen_augmentation_params(3, rank=0)], DPA_RANKED_KEYS
    yield (
        "gen_distributed",
        [gen_distributed_augmentation_params(3, 1, None, 0, 2)],
        DPA_RANKED_KEYS,
    )
    yield (
        "stream ranks",
        list(dpa.stream_augmentation_chain(4, rank=1, world_size=2)),
        DPA_RANKED_KEYS,
    )
    yield (
        "stream_distributed",
        list(stream_distributed_augmentation_chain(4, 1, 2)),
        DPA_RANKED_KEYS,
    )


@pytest.mark.parametrize(
    ("source", "records", "keys"),
    list(_records_of_every_source()),
    ids=[s for s, _, _ in _records_of_every_source()],
)
def test_records_have_dpas_key_order(source, records, keys):
    assert records and all(list(r) == keys for r in records)


def test_statistics_and_memory_estimates_have_dpas_key_order():
    records = dpa.generate_augmentation_chain(4)
    for stats in (
        dpa.compute_statistics(records),
        dpa.compute_streaming_statistics(iter(records)),
        dpa.compute_streaming_statistics(iter([])),
    ):
        assert list(stats) == DPA_STATS_KEYS
        assert all(list(s) == DPA_STAT_KEYS for s in stats.values())
    for flag in (True, False):
        estimate = dpa.estimate_memory_usage(10, include_statistics=flag)
        assert list(estimate) == DPA_MEMORY_KEYS
        assert estimate == {
            "parameters": 2000,
            "statistics": 1024 * flag,
            "json_serialization": 2400,
            "total": 4400 + 1024 * flag,
        }
    formatted = dpa.get_memory_usage_estimate(10)
    assert list(formatted) == [k for key in DPA_MEMORY_KEYS for k in (key, f"{key}_mb")] + [
        "recommendation"
    ]
    assert list(dpa.recover_partial_write("/nonexistent.json")) == [
        "recoverable",
        "samples_found",
        "metadata",
        "error",
    ]


def _in_dpa_order(records, stats, config):
    """The JSON DPA writes, built from the values alone in DPA's key order (so an order taken
    from accel.dpa's own dicts cannot hide a difference)."""
    keys = DPA_RANKED_KEYS if "rank" in records[0] else DPA_RECORD_KEYS
    out = {
        "metadata": {
            "num_samples": len(records),
            "config": None if config is None else {k: config[k] for k in DPA_CONFIG_KEYS},
        },
        "augmentations": [{k: r[k] for k in keys} for r in records],
    }
    if stats is not None:
        out["statistics"] = {n: {k: stats[n][k] for k in DPA_STAT_KEYS} for n in DPA_STATS_KEYS}
    return json.dumps(out, indent=2).encode()


@pytest.mark.parametrize("include_stats", [True, False])
@pytest.mark.parametrize("ranked", [False, True])
def test_saved_chain_bytes_are_dpas_key_order(tmp_path, capsys, include_stats, ranked):
    records = (
        list(dpa.stream_augmentation_chain(6, rank=1, world_size=2))
        if ranked
        else dpa.generate_augmentation_chain(5)
    )
    config = dpa.AugmentationConfig(rotation_range=(-45, 45), augmentation_depth=7)
    path = tmp_path / "chain.json"
    dpa.save_augmentation_chain(records, str(path), config, include_stats=include_stats)
    config_json = {
        "augmentation_depth": 7,
        "contrast_range": [0.7, 1.3],
        "scale_range": [0.8, 1.2],
        "noise_range": [0, 0.1],
        "brightness_range": [0.8, 1.2],
        "rotation_range": [-45, 45],
    }
    stats = json.loads(json.dumps(dpa.compute_statistics(records))) if include_stats else None
    assert path.read_bytes() == _in_dpa_order(records, stats, config_json)


def test_saved_stream_bytes_are_dpas_key_order(tmp_path):
    records = dpa.generate_augmentation_chain(4)
    path = tmp_path / "s.json"
    dpa.save_augmentation_stream(iter(records), str(path), include_stats=False)
    body = ",\n".join("    " + json.dumps({k: r[k] for k in DPA_RECORD_KEYS}) for r in records)
    assert (
        path.read_bytes()
        == (
            '{\n  "metadata": {\n    "num_samples": null,\n    "config": null,\n'
            '    "streaming": true\n  },\n  "augmentations": [\n' + body + "\n  ]\n}\n"
        ).encode()
    )
    dpa.save_augmentation_stream(iter(records), str(path))
    saved = json.loads(path.read_bytes())
    assert list(saved) == ["metadata", "augmentations", "statistics"]
    assert list(saved["metadata"]) == ["num_samples", "config", "streaming"]
    assert [list(r) for r in saved["augmentations"]] == [DPA_RECORD_KEYS] * 4
    assert list(saved["statistics"]) == DPA_STATS_KEYS
    assert all(list(s) == DPA_STAT_KEYS for s in saved["statistics"].values())


def test_saved_files_equal_dpas_own_when_a_checkout_is_named(tmp_path, capsys):
    """With $ACCEL_BENCH_DPA_SRC naming a DPA checkout: the files DPA's own code writes for
    the same records, byte for byte, and the key order of its records and estimates."""
    from benchmarks.bench_augment_reference import load_dpa

    peer = load_dpa()
    if peer is None:
        pytest.skip("$ACCEL_BENCH_DPA_SRC names no DPA checkout")
    ours, theirs = dpa.generate_augmentation_chain(6), peer.generate_augmentation_chain(6)
    assert ours == theirs and [list(r) for r in ours] == [list(r) for r in theirs]
    for n in (0, 10**6):
        assert list(dpa.estimate_memory_usage(n).items()) == list(
            peer.estimate_memory_usage(n).items()
        )
    assert list(dpa.get_memory_usage_estimate(10**7).items()) == list(
        peer.get_memory_usage_estimate(10**7).items()
    )
    a, b = dpa.compute_statistics(ours), peer.compute_statistics(theirs)
    assert [(k, list(v)) for k, v in a.items()] == [(k, list(v)) for k, v in b.items()]
    config = (
        dpa.AugmentationConfig(rotation_range=(-45, 45)),
        peer.AugmentationConfig(rotation_range=(-45, 45)),
    )
    for name, save in [
        ("chain", lambda m, recs, cfg, f: m.save_augmentation_chain(recs, f, cfg)),
        ("chain-bare", lambda m, recs, cfg, f: m.save_augmentation_chain(recs, f, None, False)),
        (
            "stream-bare",
            lambda m, recs, cfg, f: m.save_augmentation_stream(
                iter(recs), f, cfg, include_stats=False
            ),
        ),
        ("stream", lambda m, recs, cfg, f: m.save_augmentation_stream(iter(recs), f, cfg)),
    ]:
        save(dpa, ours, config[0], str(tmp_path / f"ours-{name}.json"))
        save(peer, theirs, config[1], str(tmp_path / f"theirs-{name}.json"))
        a, b = (
            (tmp_path / f"ours-{name}.json").read_bytes(),
            (tmp_path / f"theirs-{name}.json").read_bytes(),
        )
        if b'"statistics"' not in b:
            assert a == b, name
            continue
        # the statistics agree to rounding (accel computes them in NumPy chunks, DPA with
        # exact fractions or Welford): the bytes up to them are equal, then the key order
        cut = b.index(b'"statistics"')
        assert a[:cut] == b[:cut], name
        sa, sb = json.loads(a)["statistics"], json.loads(b)["statistics"]
        assert [(k, list(v)) for k, v in sa.items()] == [(k, list(v)) for k, v in sb.items()], name
        for n in sa:
            assert sa[n] == pytest.approx(sb[n], rel=1e-13, abs=1e-15), (name, n)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_stream_file_with_statistics_is_dpas_json_in_constant_memory(tmp_path, n):
    records = dpa.generate_augmentation_chain(n)
    path = tmp_path / "s.json"
    dpa.save_augmentation_stream(iter(records), str(path))
    text = path.read_text()
    if n:
        assert text == _dpa_file(records, None, stats=True, streaming=True)
    else:
        assert json.loads(text)["statistics"]["rotation"] == {
            "mean": 0.0,
            "stdev": 0.0,
            "min": 0.0,
            "max": 0.0,
            "count": 0,
        }
        assert json.loads(text)["augmentations"] == [] and '"augmentations": [],' in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]  # no spool or temp file left


def test_stream_file_without_statistics_is_dpas_incremental_layout(tmp_path):
    records = dpa.generate_augmentation_chain(3)
    path = tmp_path / "s.json"
    dpa.save_augmentation_stream(iter(records), str(path), include_stats=False, buffer_size=2)
    body = ",\n".join("    " + json.dumps(r) for r in records)
    assert path.read_text() == (
        '{\n  "metadata": {\n    "num_samples": null,\n    "config": null,\n'
        '    "streaming": true\n  },\n  "augmentations": [\n' + body + "\n  ]\n}\n"
    )
    assert list(dpa.load_augmentation_stream(str(path), chunk_size=2)) == [records[:2], records[2:]]
    assert list(dpa.load_augmentation_stream(str(path), chunk_size=1)) == records


@pytest.mark.parametrize("include_stats", [True, False])
def test_failed_stream_save_leaves_the_old_file(tmp_path, include_stats):
    path = tmp_path / "s.json"
    path.write_text("old")

    def failing():
        yield from dpa.generate_augmentation_chain(3)
        raise RuntimeError("producer died")

    with pytest.raises(dpa.PartialWriteError, match="producer died") as info:
        dpa.save_augmentation_stream(
            failing(), str(path), include_stats=include_stats, buffer_size=2
        )
    assert info.value.samples_written == (0 if include_stats else 2)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_recover_partial_write_counts_complete_samples_of_a_truncated_dpa_file(tmp_path):
    records = dpa.generate_augmentation_chain(4)
    path = tmp_path / "s.json"
    dpa.save_augmentation_stream(iter(records), str(path), include_stats=False)
    text = path.read_text()
    (tmp_path / "cut.json").write_text(text[: text.index(records[3]["hash"])])
    info = dpa.recover_partial_write(str(tmp_path / "cut.json"))
    assert (info["recoverable"], info["samples_found"], info["metadata"]["streaming"]) == (
        True,
        3,
        True,
    )
    assert dpa.recover_partial_write(str(path))["samples_found"] == 4
    assert dpa.recover_partial_write(str(tmp_path / "none.json"))["error"] == "File does not exist"


def test_invalid_files_raise_streamingioerror(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "nokey.json").write_text('{"metadata": {}}')
    with pytest.raises(dpa.StreamingIOError, match="Invalid JSON"):
        dpa.load_augmentation_stream(str(tmp_path / "bad.json"))
    with pytest.raises(dpa.StreamingIOError, match="missing 'augmentations' key"):
        dpa.load_augmentation_stream(str(tmp_path / "nokey.json"))
    with pytest.raises(json.JSONDecodeError, match="Invalid JSON"):
        dpa.load_augmentation_chain(str(tmp_path / "bad.json"))


# --------------------------------------------------------------------------- batching


def test_round_robin_interleaves_and_sequential_does_not():
    rr = BatchProcessor(
        BatchStrategy.ROUND_ROBIN, BatchConfig(BatchStrategy.ROUND_ROBIN, 2, num_buckets=2)
    )
    assert list(rr.process_stream(range(9))) == [[0, 2], [1, 3], [4, 6], [5, 7], [8]]
    seq = BatchProcessor(BatchStrategy.SEQUENTIAL, BatchConfig(BatchStrategy.SEQUENTIAL, 2))
    assert list(seq.process_stream(range(5))) == [[0, 1], [2, 3], [4]]
    assert [len(b) for b in dpa.stream_augmentation_chain_batched(70)] == [
        32,
        32,
        6,
    ]  # DPA's default of 32


def _memory(percent, available=8000):
    return MemoryInfo(available_mb=available, used_mb=1000, total_mb=16000, percent_used=percent)


@pytest.mark.parametrize(
    ("percent", "available", "sizes"),
    [
        (60.0, 8000, [10, 10, 5]),  # moderate pressure: the configured size
        (40.0, 8000, [12, 12, 1]),  # plenty of memory: 20% larger (MemoryAwareBatcher)
        (78.0, 8000, [10, 10, 5]),  # above 75% every batch is cut at the next check
    ],
)
def test_memory_optimized_follows_memory_pressure(monkeypatch, percent, available, sizes):
    monkeypatch.setattr(MemoryInfo, "current", classmethod(lambda cls: _memory(percent, available)))
    proc = BatchProcessor(
        BatchStrategy.MEMORY_OPTIMIZED, BatchConfig(BatchStrategy.MEMORY_OPTIMIZED, 10)
    )
    assert [len(b) for b in proc.process_stream(range(25))] == sizes


def test_memory_monitoring_raises_above_90_percent(monkeypatch):
    monkeypatch.setattr(MemoryInfo, "current", classmethod(lambda cls: _memory(95.0)))
    proc = BatchProcessor(BatchStrategy.SEQUENTIAL, BatchConfig(BatchStrategy.SEQUENTIAL, 5))
    with pytest.raises(MemoryLimitExceededError, match="95%"):
        list(proc.process_with_memory_monitoring(range(10)))


def test_adaptive_follows_the_consumers_throughput(monkeypatch):
    monkeypatch.setattr(MemoryInfo, "current", classmethod(lambda cls: _memory(60.0)))
    proc = BatchProcessor(BatchStrategy.ADAPTIVE, BatchConfig(BatchStrategy.ADAPTIVE, 4))
    now = [0.0]
    proc.clock = lambda: now[0]
    sizes = []
    for batch in proc.process_stream(range(200)):
        sizes.append(len(batch))
        # the consumer has a fixed cost of 1 s per batch: larger batches are faster per item
        now[0] += 1.0 + 0.001 * len(batch)
    assert sizes[:5] == [4, 8, 16, 32, 64]
    assert proc._performance_history[0] == {
        "batch_size": 4,
        "processing_time": pytest.approx(1.004),
        "time_per_item": pytest.approx(0.251),
    }


# --------------------------------------------------------------------------- benchmark


@pytest.mark.parametrize(("measure_memory", "measure_cpu"), [(False, False), (True, True)])
def test_benchmark_config_switches_are_honoured(measure_memory, measure_cpu):
    runner = BenchmarkRunner(
        BenchmarkConfig(2, 1, measure_memory=measure_memory, measure_cpu=measure_cpu)
    )
    metrics = runner.benchmark_generation(20)
    assert metrics.throughput_samples_per_second > 0
    if not measure_cpu:
        assert metrics.cpu_usage_percent == 0.0 and metrics.memory_usage_mb == 0.0
    else:
        assert 0 < metrics.cpu_usage_percent <= 100


def test_benchmark_generation_calls_the_public_per_sample_function(monkeypatch):
    calls = []
    monkeypatch.setattr(dpa, "gen_augmentation_params", lambda i, c=None: calls.append(i))
    BenchmarkRunner(BenchmarkConfig(2, 1)).benchmark_generation(3)
    assert calls == [0, 1, 2] * 3  # one warm-up pass, two timed passes
    monkeypatch.setattr(dpa, "gen_augmentation_params", lambda i, c=None: 1 / 0)
    with pytest.raises(
        MeasurementError, match="Failed to benchmark parameter generation: division by zero"
    ):
        BenchmarkRunner(BenchmarkConfig(2, 1)).benchmark_generation(3)


def test_benchmark_function_waits_for_jax_and_reports_failures():
    import jax.numpy as jnp

    result = benchmark_function(lambda: jnp.ones((64, 64)) @ jnp.ones((64, 64)), iterations=3)
    assert (
        result.iterations == 3
        and result.min_time_seconds <= result.avg_time_seconds <= result.max_time_seconds
    )
    count = itertools.count()
    with pytest.raises(
        MeasurementError, match="Function failed during benchmarking iteration 1: boom"
    ):
        benchmark_function(
            lambda: 1 if next(count) < 2 else (_ for _ in ()).throw(ValueError("boom")),
            iterations=3,
        )


def test_benchmarks_are_timed_by_accel_augment(monkeypatch):
    timed = []
    original = augment.BenchmarkRunner.benchmark

    def spy(self, run, num_samples, *, setup=None):
        timed.append((self.config.iterations, self.config.warmup_iterations, num_samples))
        return original(self, run, num_samples, setup=setup)

    monkeypatch.setattr(augment.BenchmarkRunner, "benchmark", spy)
    runner = BenchmarkRunner(BenchmarkConfig(2, 0, measure_memory=False, measure_cpu=False))
    runner.benchmark_generation(3)
    runner.benchmark_streaming(5, chunk_size=2)
    benchmark_function(lambda: None, iterations=4)
    # warmup_iterations=0: one untimed (compiling) call all the same
    assert timed == [(2, 1, 3), (2, 1, 5), (4, 1, 1)]


def test_facade_shares_accel_augments_implementations():
    assert issubclass(dpa.BatchProcessor, augment.BatchProcessor)
    assert dpa.BatchStrategy is augment.BatchStrategy and dpa.measure_time is augment.measure_time
    p = dpa.BatchProcessor(
        dpa.BatchStrategy.ADAPTIVE, dpa.BatchConfig(dpa.BatchStrategy.ADAPTIVE, 4, min_batch_size=2)
    )
    assert list(map(len, p.process_stream(range(9)))) == p.batch_sizes and p.config.batch_size == 4
    assert [
        h["batch_size"] for h in p._performance_history
    ] == p.batch_sizes  # recorded by the hook
    # the three "distributed" modules have distinct names
    names = {
        m.__name__
        for m in (
            importlib.import_module("accel.distributed"),
            dpa.distributed,
            importlib.import_module("accel.augment._ranks"),
        )
    }
    assert names == {"accel.distributed", "accel.dpa.distributed", "accel.augment._ranks"}


def test_profiler_summary_counts_calls():
    prof = PerformanceProfiler(enable_memory_tracking=False)
    results = []
    for _ in range(3):
        with prof.profile_context("op"):
            pass
        results.append(prof._completed_operations["op"][-1].call_count)
    summary = prof.get_profile_summary()["op"]
    assert results == [1, 2, 3] and summary.call_count == 3
    assert summary.avg_time_per_call_ms == pytest.approx(summary.total_time_seconds * 1000 / 3)
