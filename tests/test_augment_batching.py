"""BatchProcessor strategies: each one's behaviour, and how they differ."""

from __future__ import annotations

import functools
import operator
import resource
from pathlib import Path

import numpy as np
import pytest
from _bench_fakes import ManualClock

from accel.augment import (
    AugmentationBatch,
    BatchConfig,
    BatchProcessor,
    BatchStrategy,
    _batching,
    process_memory_budget,
    stream_augmentation_chain,
)


def _ids(batches):
    return [b.sample_ids.tolist() if isinstance(b, AugmentationBatch) else [r["sample_id"] for r in b] for b in batches]


def _run(strategy, n=23, chunk=5, **cfg):
    p = BatchProcessor(strategy, BatchConfig(**cfg))
    return _ids(p.process_stream(stream_augmentation_chain(n, chunk_size=chunk))), p


def test_sequential_keeps_order_and_sizes():
    got, p = _run(BatchStrategy.SEQUENTIAL, batch_size=7)
    assert got == [list(range(0, 7)), list(range(7, 14)), list(range(14, 21)), [21, 22]]
    assert p.batch_sizes == [7, 7, 7, 2]


def test_round_robin_deals_samples_over_buckets():
    got, _ = _run(BatchStrategy.ROUND_ROBIN, n=14, batch_size=3, num_buckets=4)
    assert got == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11], [12], [13]]
    seq, _ = _run(BatchStrategy.SEQUENTIAL, n=14, batch_size=3)
    assert got != seq and sorted(functools.reduce(operator.iadd, got, [])) == sorted(functools.reduce(operator.iadd, seq, [])) == list(range(14))


def test_batches_carry_the_right_parameters():
    stream = list(stream_augmentation_chain(20, chunk_size=6))
    whole = AugmentationBatch.concatenate(stream).to_numpy()
    for strategy in BatchStrategy:
        if strategy is BatchStrategy.MEMORY_OPTIMIZED:
            continue
        for b in BatchProcessor(strategy, BatchConfig(batch_size=4, num_buckets=3)).process_stream(iter(stream)):
            np.testing.assert_array_equal(b.to_numpy()["rotation"], whole["rotation"][b.sample_ids.astype(np.int64)])


def test_dpa_style_config_with_strategy_field():
    p = BatchProcessor(BatchStrategy.SEQUENTIAL, BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=32))
    assert p.config.strategy is BatchStrategy.SEQUENTIAL
    assert [len(b) for b in p.process_stream(stream_augmentation_chain(40, chunk_size=16))] == [32, 8]


def test_dict_streams_give_lists_of_dicts():
    p = BatchProcessor("sequential", BatchConfig(batch_size=4))
    out = list(p.process_stream(stream_augmentation_chain(10, chunk_size=None)))
    assert [len(b) for b in out] == [4, 4, 2] and isinstance(out[0], list) and out[2][1]["sample_id"] == 9


def test_memory_optimized_sizes_from_budget_and_bytes_per_sample():
    # float32 values (5 x 4 bytes) + uint64 id = 28 bytes per sample
    got1, p1 = _run(BatchStrategy.MEMORY_OPTIMIZED, n=50_000, chunk=10_000, max_memory_mb=1, memory_fraction=0.25)
    want = int(0.25 * 2**20 / 28)
    assert p1.batch_sizes[0] == want and p1.memory_budget == (2**20, "max_memory_mb")
    _, p2 = _run(BatchStrategy.MEMORY_OPTIMIZED, n=50_000, chunk=10_000, max_memory_mb=2, memory_fraction=0.25)
    assert p2.batch_sizes[0] == int(0.25 * 2**21 / 28)
    assert sum(len(b) for b in got1) == 50_000
    _, p3 = _run(BatchStrategy.MEMORY_OPTIMIZED, n=500, chunk=100, max_memory_mb=1, max_batch_size=64)
    assert set(p3.batch_sizes[:-1]) == {64}


def test_memory_optimized_uses_process_budget_not_system_memory(monkeypatch):
    monkeypatch.setattr(_batching, "process_memory_budget", lambda: (28 * 1000 * 4, "cgroup"))
    _, p = _run(BatchStrategy.MEMORY_OPTIMIZED, n=3000, chunk=1000)
    assert p.memory_budget == (112_000, "cgroup") and p.batch_sizes[0] == 1000


def test_rlimit_as_is_read(monkeypatch):
    monkeypatch.setattr(_batching, "_cgroup_available", lambda: None)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text().splitlines()
    vm = int(next(line for line in status if line.startswith("VmSize:")).split()[1]) * 1024
    limit = vm + (3 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        budget, source = process_memory_budget()
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert source == "RLIMIT_AS" and (3 << 30) - (64 << 20) < budget <= 3 << 30


def test_cgroup_limits_are_read(tmp_path, monkeypatch):
    (tmp_path / "proc").write_text("0::/job\n")
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "memory.max").write_text(str(512 << 20))
    (tmp_path / "job" / "memory.current").write_text(str(100 << 20))
    monkeypatch.setattr(_batching, "PROC_SELF_CGROUP", tmp_path / "proc")
    monkeypatch.setattr(_batching, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(_batching, "_rlimit_as_available", lambda: None)
    assert process_memory_budget() == (412 << 20, "cgroup")
    (tmp_path / "job" / "memory.max").write_text("max")
    (tmp_path / "memory.max").write_text("max")
    assert process_memory_budget() == (1024 << 20, "default")
    # cgroup v1 layout
    (tmp_path / "proc").write_text("4:memory:/job1\n")
    (tmp_path / "memory" / "job1").mkdir(parents=True)
    (tmp_path / "memory" / "job1" / "memory.limit_in_bytes").write_text(str(300 << 20))
    (tmp_path / "memory" / "job1" / "memory.usage_in_bytes").write_text(str(50 << 20))
    assert process_memory_budget() == (250 << 20, "cgroup")


def _adaptive_sizes(cost, n=60_000, **cfg):
    clock = ManualClock()
    p = BatchProcessor(BatchStrategy.ADAPTIVE, BatchConfig(**cfg), clock=clock)
    for batch in p.process_stream(stream_augmentation_chain(n, chunk_size=4096)):
        clock.now += cost(len(batch))  # the consumer's time for this batch
    return p.batch_sizes


def test_adaptive_grows_while_throughput_improves():
    sizes = _adaptive_sizes(lambda k: 1.0 + 0.001 * k, batch_size=16, max_batch_size=8192)
    assert sizes[:6] == [16, 32, 64, 128, 256, 512] and max(sizes) == 8192


def test_adaptive_shrinks_on_slowdown():
    # throughput collapses above 256 samples (e.g. the consumer spills out of cache)
    sizes = _adaptive_sizes(lambda k: 1.0 + (0.01 * k if k <= 256 else 0.5 * k), n=20_000, batch_size=16, max_batch_size=8192)
    assert sizes[:6] == [16, 32, 64, 128, 256, 512]
    assert sizes[6] == 256 and max(sizes) == 512
    later = sizes[6:-1]
    assert sum(s > 256 for s in later) <= len(later) // 3  # mostly at or below the cliff


def test_adaptive_holds_when_throughput_is_flat():
    sizes = _adaptive_sizes(lambda k: 0.001 * k, n=5000, batch_size=100)
    assert sizes[:3] == [100, 200, 200] and set(sizes[1:-1]) == {200}


def test_strategies_differ():
    seq, _ = _run(BatchStrategy.SEQUENTIAL, n=40, batch_size=8)
    rr, _ = _run(BatchStrategy.ROUND_ROBIN, n=40, batch_size=8)
    mem, _ = _run(BatchStrategy.MEMORY_OPTIMIZED, n=40, max_memory_mb=0.001, memory_fraction=1.0)
    ada = _adaptive_sizes(lambda k: 1.0 + 0.001 * k, n=40, batch_size=8)
    assert len({str(seq), str(rr), str(mem)}) == 3
    assert [len(b) for b in seq] != ada


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: BatchConfig(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
        (lambda: BatchConfig(min_batch_size=10, max_batch_size=5), ValueError, "min_batch_size"),
        (lambda: BatchConfig(max_memory_mb=-1), ValueError, "max_memory_mb must be > 0"),
        (lambda: BatchConfig(num_buckets=0), ValueError, "num_buckets"),
        (lambda: BatchConfig(growth=1.0), ValueError, "growth must be > 1"),
        (lambda: BatchConfig(growth=float("inf")), ValueError, "growth must be finite"),
        (lambda: BatchConfig(growth="2"), TypeError, "growth must be a real number"),
        (lambda: BatchConfig(tolerance=float("nan")), ValueError, "tolerance must be finite"),
        (lambda: BatchConfig(tolerance=1.0), ValueError, r"tolerance must be in \[0, 1\)"),
        (lambda: BatchConfig(memory_fraction=0), ValueError, r"memory_fraction must be in \(0, 1\]"),
        (lambda: BatchConfig(max_memory_mb=float("inf")), ValueError, "max_memory_mb must be finite"),
        (lambda: BatchConfig(batch_size="8"), TypeError, "batch_size must be an integer >= 1, got str"),
        (lambda: BatchConfig(num_buckets=True), TypeError, "num_buckets must be an integer >= 1, got bool"),
        (lambda: BatchProcessor("fastest"), ValueError, "unknown strategy 'fastest'"),
        (lambda: BatchConfig(strategy="fastest"), ValueError, "unknown strategy 'fastest'"),
        (lambda: BatchProcessor("sequential", BatchConfig(strategy="adaptive")), ValueError, "disagrees"),
        (lambda: BatchProcessor("adaptive", {"batch_size": 3}), TypeError, "config must be a BatchConfig"),
        (lambda: list(BatchProcessor("sequential").process_stream([1, 2])), TypeError, "process_stream takes"),
    ],
)
def test_batching_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
