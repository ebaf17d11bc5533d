"""The DPA kernel against a pure-Python oracle (hashlib + random.Random), bit for bit.

Every test here shares one compiled kernel (batches of at most 64 ids, prefixes of at most 35
bytes, depth <= 128) except the long-prefix test (two SHA-256 blocks) and the slow deep test.
"""

from __future__ import annotations

import numpy as np
import pytest
from _dpa_oracle import oracle
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.augment._dpa_kernels import _draws as _dpa
from accel.augment._dpa_kernels import _sha256


def expected(ids, depth, prefix=""):
    return np.array([oracle(int(i), depth, prefix) for i in ids], dtype=np.float64).reshape(-1, 5)


# Ids at every decimal-length boundary and at the 32/63/64-bit edges.
EDGE_IDS = sorted(
    {0, 1, 2**32 - 1, 2**32, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1}
    | {10**k for k in range(20)}
    | {10**k - 1 for k in range(1, 20)}
)


@pytest.mark.parametrize(
    ("depth", "prefix"),
    [
        (1, ""),
        (10, ""),
        (2, "0:0:"),
        (10, "12345:3:"),
        (100, "18446744073709551615:63:"),
        (128, ""),
        (3, "é:"),  # UTF-8 prefix: hashed as prefix.encode(), like DPA
        (5, "x" * 35),  # longest prefix that still fits one block with a 20-digit id
    ],
)
def test_edge_ids_equal_oracle_bit_for_bit(depth, prefix):
    ids = np.array(EDGE_IDS, dtype=np.uint64)
    got = _dpa.dpa_uniforms(ids, depth=depth, prefix=prefix)
    assert got.dtype == np.float64 and got.shape == (len(EDGE_IDS), 5)
    np.testing.assert_array_equal(got, expected(EDGE_IDS, depth, prefix))


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=64),
    depth=st.integers(1, 100),
    prefix=st.one_of(
        st.just(""),
        st.builds(lambda s, r: f"{s}:{r}:", st.integers(0, 2**64 - 1), st.integers(0, 1023)),
    ),
)
def test_property_equal_oracle(ids, depth, prefix):
    np.testing.assert_array_equal(
        _dpa.dpa_uniforms(np.array(ids, dtype=np.uint64), depth=depth, prefix=prefix),
        expected(ids, depth, prefix),
    )


def test_long_prefix_uses_two_blocks():
    # 40 + up to 20 digits + 9 padding bytes > 64: the message needs a second block for long ids.
    prefix = "p" * 40
    ids = [0, 7, 12345, 10**14, 2**64 - 1, 10**19]
    np.testing.assert_array_equal(_dpa.dpa_uniforms(ids, depth=4, prefix=prefix), expected(ids, 4, prefix))


@pytest.mark.slow
@pytest.mark.parametrize("depth", [300, _dpa.MAX_DEPTH])
def test_deep_chain_suffixes_beyond_one_block(depth):
    # fib(i) has more than 55 digits from i = 264: the constant tail spans 2 (up to 4) blocks.
    ids = [0, 2**64 - 1]
    np.testing.assert_array_equal(_dpa.dpa_uniforms(ids, depth=depth), expected(ids, depth))


def test_chunking_and_padding_do_not_change_results(monkeypatch):
    # Chunks of 64 (the bucket the other tests compile) so that 150 ids take three calls.
    monkeypatch.setattr(_dpa, "_MAX_CHUNK", 64)
    monkeypatch.setattr(_dpa, "_BUCKETS", (64,))
    ids = np.arange(150, dtype=np.uint64) * 7919 + 2**40
    whole = _dpa.dpa_uniforms(ids, depth=3)
    np.testing.assert_array_equal(whole, expected(ids, 3))
    single = np.concatenate([_dpa.dpa_uniforms(ids[i : i + 1], depth=3) for i in (0, 63, 64, 149)])
    np.testing.assert_array_equal(single, whole[[0, 63, 64, 149]])
    np.testing.assert_array_equal(whole[::-1], _dpa.dpa_uniforms(ids[::-1], depth=3))


def test_batch_sizes_and_depths_share_compiled_kernels():
    kernel = _dpa._kernel()
    _dpa.dpa_uniforms([1], depth=1)
    before = kernel._cache_size()
    for n, depth in [(1, 7), (5, 100), (64, 2), (33, 128)]:
        _dpa.dpa_uniforms(np.arange(n), depth=depth, prefix=f"{n}:0:")
    assert kernel._cache_size() == before


def test_input_forms_and_shapes():
    ref = _dpa.dpa_uniforms(np.array([3, 4], dtype=np.uint64), depth=2)
    np.testing.assert_array_equal(_dpa.dpa_uniforms([3, 4], depth=2), ref)
    np.testing.assert_array_equal(_dpa.dpa_uniforms(np.array([3, 4], dtype=np.int32), depth=2), ref)
    np.testing.assert_array_equal(_dpa.dpa_uniforms(3, depth=2), ref[:1])
    assert _dpa.dpa_uniforms(np.zeros(0, dtype=np.uint64), depth=2).shape == (0, 5)
    assert ((ref >= 0) & (ref < 1)).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sample_ids": [1], "depth": 0}, ValueError, "depth must be an integer >= 1"),
        ({"sample_ids": [1], "depth": -3}, ValueError, "depth must be an integer >= 1"),
        ({"sample_ids": [1], "depth": 1001}, ValueError, "depth must be an integer >= 1 and <= 1000"),
        ({"sample_ids": [1], "depth": 2.0}, TypeError, "depth must be an integer"),
        ({"sample_ids": [1], "depth": True}, TypeError, "depth must be an integer"),
        ({"sample_ids": [1], "depth": None}, TypeError, "depth must be an integer"),
        ({"sample_ids": [-1], "depth": 1}, ValueError, "sample_ids must be non-negative"),
        ({"sample_ids": [1.5], "depth": 1}, TypeError, "sample_ids must be an integer"),
        ({"sample_ids": [2**64], "depth": 1}, ValueError, r"sample_ids must be an integer in \[0, 2\*\*64\)"),
        ({"sample_ids": [1], "depth": 1, "prefix": 5}, TypeError, "prefix must be a str"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        _dpa.dpa_uniforms(**kwargs)


def test_fibonacci_suffixes():
    assert _dpa.fibonacci_suffixes(8) == ["0", "1", "1", "2", "3", "5", "8", "13"]
    assert _dpa.fibonacci_suffixes(100)[-1] == "218922995834555169026"  # 21 digits


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_host_padding_and_schedule_follow_fips_180_4(message):
    raw = _sha256.pad_message_host(message).astype(">u4").tobytes()
    assert len(raw) == 64 * ((len(message) + 9 + 63) // 64)
    assert raw[: len(message)] == message and raw[len(message)] == 0x80
    assert int.from_bytes(raw[-8:], "big") == 8 * len(message)
    assert not any(raw[len(message) + 1 : -8])
    for block in _sha256.pad_message_host(message).reshape(-1, 16):
        w = [int(x) for x in block]
        for t in range(16, 64):
            s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w.append((s1 + w[t - 7] + s0 + w[t - 16]) & 0xFFFFFFFF)
        kw = [(int(k) + x) & 0xFFFFFFFF for k, x in zip(_sha256.K, w, strict=True)]
        assert _sha256.expand_block_host(block).tolist() == kw
