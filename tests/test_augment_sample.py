"""The per-sample path (``gen_augmentation_params``): host hashes, block cache, bit-identity.

Every value is compared bit for bit (``struct`` of the float64 holding the float32) with
the batch kernel, which ``tests/test_augment.py`` pins to golden values and to a
``jax.random`` reference. Batches here have at most 8 ids, so they share one compiled
kernel per algorithm and id width.
"""

from __future__ import annotations

import struct
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _dpa_oracle import oracle
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import _keys
from accel.augment import (
    PARAM_NAMES,
    AugmentationConfig,
    _sample,
    gen_augmentation_batch,
    gen_augmentation_params,
    get_preset,
)

COUNTER = ("threefry2x32", "philox4x32")
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)


def bits(values) -> list[bytes]:
    return [struct.pack("<d", float(v)) for v in values]


def batch_rows(ids, config, seed, epoch, algorithm) -> list[list[float]]:
    b = gen_augmentation_batch(np.array(ids, dtype=np.uint64), config, seed=seed, epoch=epoch, algorithm=algorithm)
    cols = b.to_numpy()
    return [[float(cols[n][i]) for n in PARAM_NAMES] for i in range(len(ids))]


def _bound(draw, magnitude):
    return draw(st.one_of(st.just(0.0), st.floats(1e-30, magnitude).map(lambda v: v * draw(st.sampled_from((-1, 1))))))


@st.composite
def configs(draw):
    """Ranges anywhere the config accepts: tiny, huge, straddling zero, touching zero."""
    ranges = {}
    for name in PARAM_NAMES:
        lo = _bound(draw, draw(st.sampled_from((1e-20, 1.0, 1e3, 1e30))))
        width = draw(st.floats(2.0**-50, 1e30)) if lo == 0 else abs(lo) * draw(st.floats(2.0**-20, 4.0))
        hi = lo + width
        ranges[f"{name}_range"] = (lo, hi)
    try:
        return AugmentationConfig(**ranges)
    except ValueError:
        return AugmentationConfig()


# -- the host hashes --------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(k0=u32, k1=u32, data=st.lists(u32, min_size=3, max_size=3))
def test_host_fold_in_equals_jax_random_scalar_swar_and_numpy(k0, k1, data):
    for impl in COUNTER:
        key = jax.random.wrap_key_data(jnp.array([k0, k1], jnp.uint32), impl=impl)
        want = [tuple(int(v) for v in jax.random.key_data(jax.random.fold_in(key, d))) for d in data]
        assert [_keys.fold_in_host((k0, k1), d, impl=impl) for d in data] == want
        # three lanes in 64-bit slots of one Python int
        ones = sum(1 << (64 * i) for i in range(3))
        packed = sum(d << (64 * i) for i, d in enumerate(data))
        x0, x1 = _keys.fold_in_host((k0 * ones, k1 * ones), packed, impl=impl, mask=0xFFFFFFFF * ones, lane=ones)
        assert [((x0 >> (64 * i)) & 0xFFFFFFFF, (x1 >> (64 * i)) & 0xFFFFFFFF) for i in range(3)] == want
        # NumPy arrays (uint64 for philox's 64-bit products)
        kind = np.uint32 if impl == "threefry2x32" else np.uint64
        a0, a1 = _keys.fold_in_host((k0, k1), np.array(data, dtype=kind), impl=impl)
        assert list(zip(a0.tolist(), a1.tolist(), strict=True)) == want


@settings(max_examples=30, deadline=None)
@given(seed=u64, epoch=u32)
def test_host_epoch_key_equals_the_jax_derivation(seed, epoch):
    for impl in COUNTER:
        kd = jax.random.key_data(_keys.epoch_key(_keys.seed_key(seed, impl=impl), epoch))
        assert _keys.epoch_key_host(seed, epoch, impl=impl) == tuple(int(v) for v in kd)


def test_threefry_rounds_known_answers():
    # Random123 known-answer vectors for threefry2x32-20: (key, ctr, out), Python ints.
    kat = [
        ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ]
    for key, ctr, out in kat:
        assert _keys.threefry2x32_rounds(*key, *ctr) == out


def test_philox_rounds_known_answer():
    # Random123 philox4x32-10 known answer: ctr = key = 0.
    assert _keys.philox4x32_rounds(0, 0, 0, 0, 0, 0) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)


# -- one id against the batch kernel ---------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(sample_id=u64, seed=u64, epoch=u32, algorithm=st.sampled_from(COUNTER), config=configs())
def test_single_id_equals_batch_bit_for_bit(sample_id, seed, epoch, algorithm, config):
    _sample.clear_cache()
    want = batch_rows([sample_id], config, seed, epoch, algorithm)[0]
    got = gen_augmentation_params(sample_id, config, seed=seed, epoch=epoch, algorithm=algorithm)
    assert list(got) == list(PARAM_NAMES)
    assert bits(got.values()) == bits(want)
    plan = _sample._plan(config, seed, epoch, algorithm)
    assert bits(plan.one(sample_id)) == bits(want) or not plan.exact


@settings(max_examples=25, deadline=None)
@given(block=st.integers(0, 2**54 - 1), seed=u64, epoch=u32, algorithm=st.sampled_from(COUNTER), config=configs())
def test_numpy_block_equals_batch_bit_for_bit(block, seed, epoch, algorithm, config):
    plan = _sample._Plan(config, seed, epoch, algorithm)
    got = plan.block(block)
    assert got.dtype == np.float32 and got.shape == (_sample.BLOCK, 5)
    start = block * _sample.BLOCK
    picks = [0, 1, 511, _sample.BLOCK - 1]
    want = batch_rows([start + k for k in picks], config, seed, epoch, algorithm)
    assert [bits(got[k]) for k in picks] == [bits(w) for w in want]


@pytest.mark.parametrize("algorithm", COUNTER)
def test_sequential_and_shuffled_ids_equal_batch_and_fill_the_cache(algorithm):
    _sample.clear_cache()
    n = 3 * _sample.BLOCK
    ids = np.arange(2**40, 2**40 + n, dtype=np.uint64)
    want = gen_augmentation_batch(ids, algorithm=algorithm, seed=5, epoch=1).to_numpy()
    want = np.stack([want[name] for name in PARAM_NAMES], axis=1).astype(np.float64)
    order = np.random.default_rng(0).permutation(n)
    for i in list(range(n // 2)) + order.tolist():  # half sequential, then shuffled
        got = gen_augmentation_params(int(ids[i]), seed=5, epoch=1, algorithm=algorithm)
        assert bits(got.values()) == bits(want[i]), i
    plan = _sample._plan(get_preset("moderate"), 5, 1, algorithm)
    assert len(plan.blocks) == 3 and plan.exact


def test_cache_is_bounded_and_evicts_oldest_blocks(monkeypatch):
    _sample.clear_cache()
    monkeypatch.setattr(_sample, "MAX_BLOCKS", 2)
    monkeypatch.setattr(_sample, "BLOCK_AFTER", 1)
    for b in range(5):
        gen_augmentation_params(b * _sample.BLOCK + 3, seed=9)
    plan = _sample._plan(get_preset("moderate"), 9, 0, "threefry2x32")
    assert sorted(plan.blocks) == [3, 4]
    want = batch_rows([3 * _sample.BLOCK + 7], None, 9, 0, "threefry2x32")[0]
    assert bits(gen_augmentation_params(3 * _sample.BLOCK + 7, seed=9).values()) == bits(want)
    for epoch in range(4):  # plans (config, seed, epoch, algorithm) are bounded too
        gen_augmentation_params(1, epoch=epoch)
    assert len(_sample._PLANS) == _sample._MAX_PLANS


def test_ids_without_reuse_never_build_a_block():
    _sample.clear_cache()
    rng = np.random.default_rng(3)
    for sid in rng.integers(0, 2**64 - 1, 200, dtype=np.uint64, endpoint=True).tolist():
        gen_augmentation_params(sid, seed=4)
    assert _sample._plan(get_preset("moderate"), 4, 0, "threefry2x32").blocks == {}


@pytest.mark.parametrize(
    "ranges",
    [{"contrast_range": (-0.0, 1.0)}, {"rotation_range": (-3.0, 0.0)}],
    ids=["negative zero low bound", "zero high bound (subnormal last float32)"],
)
def test_configs_outside_the_exact_host_path_use_the_kernel(ranges):
    config = AugmentationConfig(**ranges)
    assert not _sample._Plan(config, 0, 0, "threefry2x32").exact
    for sid in (0, 5, 2**64 - 1):
        assert bits(gen_augmentation_params(sid, config).values()) == bits(batch_rows([sid], config, 0, 0, "threefry2x32")[0])


def test_threads_share_the_cache_without_changing_values():
    _sample.clear_cache()
    ids = list(range(2 * _sample.BLOCK))
    want = [bits(gen_augmentation_params(i, seed=8).values()) for i in ids]
    _sample.clear_cache()
    results: dict[int, list] = {}

    def work(k):
        results[k] = [bits(gen_augmentation_params(i, seed=8).values()) for i in ids[k::3]]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i % 3][i // 3] for i in ids] == want


# -- 'dpa' -----------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(sample_id=u64, depth=st.integers(1, 40), preset=st.sampled_from(["mild", "moderate", "aggressive"]))
def test_dpa_single_id_equals_oracle_and_batch(sample_id, depth, preset):
    import dataclasses

    config = dataclasses.replace(get_preset(preset), augmentation_depth=depth)
    got = gen_augmentation_params(sample_id, config, algorithm="dpa")
    u = oracle(sample_id, depth)
    assert got == {n: lo + (hi - lo) * v for n, (lo, hi), v in zip(PARAM_NAMES, config.ranges, u, strict=True)}
    assert bits(got.values()) == bits(batch_rows([sample_id], config, 0, 0, "dpa")[0])


def test_dpa_single_id_keeps_the_global_random_state_and_errors():
    import random

    random.seed(5)
    before = random.getstate()
    gen_augmentation_params(3, algorithm="dpa")
    assert random.getstate() == before
    with pytest.raises(ValueError, match="seed"):
        gen_augmentation_params(3, algorithm="dpa", seed=1)
    with pytest.raises(ValueError, match="epoch"):
        gen_augmentation_params(3, algorithm="dpa", epoch=2)


@pytest.mark.parametrize(
    ("sample_id", "error", "match"),
    [(-1, ValueError, "sample_id"), (2**64, ValueError, "sample_id"), (1.0, TypeError, "sample_id"),
     (True, TypeError, "sample_id"), ("3", TypeError, "sample_id")],
)
def test_bad_ids(sample_id, error, match):
    with pytest.raises(error, match=match):
        gen_augmentation_params(sample_id)


def test_numpy_integer_ids_are_accepted():
    assert gen_augmentation_params(np.uint64(2**64 - 1)) == gen_augmentation_params(2**64 - 1)
    assert gen_augmentation_params(np.int32(7), algorithm="dpa") == gen_augmentation_params(7, algorithm="dpa")
