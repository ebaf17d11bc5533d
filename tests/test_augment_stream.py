"""Streams, restarts, distributed splitting and per-rank streams of accel.augment."""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.augment import (
    PARAM_NAMES,
    AugmentationBatch,
    DistributedRangeSplitter,
    gen_augmentation_batch,
    generate_augmentation_chain,
    stream_augmentation_chain,
    stream_augmentation_range,
    stream_distributed_augmentation_chain,
)


def _cat(batches):
    return AugmentationBatch.concatenate(list(batches))


def _assert_same(a, b):
    np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
    an, bn = a.to_numpy(), b.to_numpy()
    for n in PARAM_NAMES:
        np.testing.assert_array_equal(an[n], bn[n], err_msg=n)


@settings(max_examples=5, deadline=None)
@given(n=st.integers(1, 40), chunk=st.integers(1, 16), start=st.sampled_from([0, 5, 2**40, 2**64 - 64]))
def test_stream_equals_one_batch_for_any_chunk_size(n, chunk, start):
    chunks = list(stream_augmentation_chain(n, chunk_size=chunk, start_id=start, seed=4, epoch=2))
    assert [len(c) for c in chunks] == [min(chunk, n - i) for i in range(0, n, chunk)]
    whole = gen_augmentation_batch(np.arange(n, dtype=np.uint64) + np.uint64(start), seed=4, epoch=2)
    _assert_same(_cat(chunks), whole)


def test_restart_at_start_id_continues_exactly():
    full = _cat(stream_augmentation_chain(50, chunk_size=8, seed=1))
    stream = stream_augmentation_chain(50, chunk_size=8, seed=1)
    first = list(itertools.islice(stream, 3))  # stopped after 24 samples
    rest = list(stream_augmentation_chain(50 - 24, chunk_size=5, start_id=24, seed=1))
    _assert_same(_cat(first + rest), full)


def test_per_sample_dicts_and_range_form():
    recs = list(stream_augmentation_chain(5, chunk_size=None, start_id=3))
    assert [r["sample_id"] for r in recs] == [3, 4, 5, 6, 7]
    batch = gen_augmentation_batch([3, 4, 5, 6, 7])
    assert recs == list(batch.records())
    assert list(stream_augmentation_range(3, 8, chunk_size=None)) == recs
    assert generate_augmentation_chain(5, start_id=3) == recs


@pytest.mark.parametrize("forever", [None, math.inf])
def test_endless_stream(forever):
    got = list(itertools.islice(stream_augmentation_chain(forever, chunk_size=4), 5))
    assert [c.sample_ids[0] for c in got] == [0, 4, 8, 12, 16]
    tail = list(stream_augmentation_chain(None, chunk_size=4, start_id=2**64 - 3))
    assert [c.sample_ids.tolist() for c in tail] == [[2**64 - 3, 2**64 - 2, 2**64 - 1]]


def test_stream_memory_is_constant():
    stream = stream_augmentation_chain(400_000, chunk_size=2_000)
    next(stream)  # compile outside the measurement
    tracemalloc.start()
    count = 0
    for chunk in stream:
        count += len(chunk)
        chunk.to_numpy()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 398_000
    # one chunk of ids + values is ~56 kB; all of them would be ~11 MB
    assert peak < 1_500_000, peak


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: stream_augmentation_chain(10, chunk_size=0), ValueError, "chunk_size must be an integer >= 1"),
        (lambda: stream_augmentation_chain(10, chunk_size=2.5), TypeError, "chunk_size must be an integer"),
        (lambda: stream_augmentation_chain(-1), ValueError, "num_samples must be >= 0"),
        (lambda: stream_augmentation_chain("10"), TypeError, "num_samples must be"),
        (lambda: stream_augmentation_chain(10, start_id=-1), ValueError, "start_id must be"),
        (lambda: stream_augmentation_chain(4, start_id=2**64 - 3), ValueError, "must be < 2\\*\\*64"),
        (lambda: stream_augmentation_chain(4, algorithm="mt19937"), ValueError, "unknown algorithm"),
        (lambda: stream_augmentation_range(5, 3), ValueError, "end_id must be >= start_id"),
        (lambda: generate_augmentation_chain(math.inf), TypeError, "num_samples must be an integer"),
        (lambda: stream_distributed_augmentation_chain(10, 2, 2), ValueError, "rank must be in"),
        (lambda: stream_distributed_augmentation_chain(10, 0, 0), ValueError, "world_size must be"),
        (lambda: stream_distributed_augmentation_chain(10, 0, 2, chunk_size=0), ValueError, "chunk_size"),
        (lambda: stream_distributed_augmentation_chain(10, 0, 2, mode="blocks"), ValueError, "mode must be one of"),
        (lambda: DistributedRangeSplitter(10, 0), ValueError, "world_size must be an integer >= 1"),
        (lambda: DistributedRangeSplitter(-1, 2), ValueError, "total_samples must be"),
        (lambda: DistributedRangeSplitter(10, 2).get_rank_range(2), ValueError, "rank must be in"),
        (lambda: DistributedRangeSplitter(10, 2).get_rank_for_sample(10), ValueError, "sample_id must be <"),
    ],
)
def test_bad_stream_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# -- distributed -----------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(total=st.integers(0, 300), ws=st.integers(1, 9), mode=st.sampled_from(["contiguous", "strided"]))
def test_splitter_partitions_balanced_with_o1_lookup(total, ws, mode):
    s = DistributedRangeSplitter(total, ws, mode)
    assert s.validate_ranges()
    owner = {}
    sizes = []
    for r, rr in enumerate(s.get_all_ranges()):
        ids = list(rr.ids())
        sizes.append(len(ids))
        for i in ids:
            assert i not in owner
            owner[i] = r
    assert sorted(owner) == list(range(total))
    assert not sizes or max(sizes) - min(sizes) <= 1
    assert all(s.get_rank_for_sample(i) == r for i, r in owner.items())


def test_splitter_dpa_tuple_interface():
    s = DistributedRangeSplitter(1000, 4)
    start, end = s.get_rank_range(0)
    assert (start, end) == (0, 250) and s.get_rank_range(3) == (750, 1000)
    strided = DistributedRangeSplitter(10, 4, mode="strided").get_rank_range(1)
    assert list(strided.ids()) == [1, 5, 9] and strided.step == 4 and strided.num_samples == 3


@pytest.mark.parametrize("mode", ["contiguous", "strided"])
def test_distributed_union_equals_single_process_for_every_world_size(mode):
    total = 37
    single = gen_augmentation_batch(np.arange(total), seed=3, epoch=1)
    for ws in range(1, 9):
        parts = [
            b
            for r in range(ws)
            for b in stream_distributed_augmentation_chain(total, r, ws, chunk_size=8, mode=mode, seed=3, epoch=1)
        ]
        union = _cat(parts)
        order = np.argsort(union.sample_ids)
        _assert_same(union.select(order), single)
        if mode == "contiguous":  # each rank's block is its splitter range, in order
            got = [b.sample_ids.tolist() for b in stream_distributed_augmentation_chain(total, ws - 1, ws, chunk_size=100)]
            assert got == [list(DistributedRangeSplitter(total, ws).get_rank_range(ws - 1).ids())]


def test_distributed_stream_records():
    recs = list(stream_distributed_augmentation_chain(6, 1, 3, chunk_size=None, mode="strided"))
    assert [r["sample_id"] for r in recs] == [1, 4]
    assert recs == list(gen_augmentation_batch([1, 4]).records())
