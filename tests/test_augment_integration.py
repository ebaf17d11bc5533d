"""The 'dpa' algorithm and the image ops through the public ``accel.augment`` API."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from _dpa_oracle import oracle

from accel import augment
from accel.augment import (
    AugmentationConfig,
    apply_augmentations,
    gen_augmentation_batch,
    gen_augmentation_params,
    gen_distributed_augmentation_params,
    get_preset,
    stream_augmentation_chain,
)


def dpa_oracle(sample_id: int, config: AugmentationConfig, prefix: str = "") -> dict[str, float]:
    """DPA's parameters: ``lo + (hi - lo) * u`` in float64 for the oracle's uniforms ``u``."""
    u = oracle(sample_id, config.augmentation_depth, prefix)
    return {name: lo + (hi - lo) * v for name, (lo, hi), v in zip(augment.PARAM_NAMES, config.ranges, u, strict=True)}


IDS = [0, 1, 9, 10, 12345, 2**32 - 1, 2**32, 2**63 + 17, 2**64 - 1]


@pytest.mark.parametrize("preset", ["mild", "moderate", "aggressive"])
def test_dpa_batch_is_bit_identical_to_the_reference(preset):
    config = get_preset(preset)
    batch = gen_augmentation_batch(np.array(IDS, dtype=np.uint64), config, algorithm="dpa")
    assert batch.algorithm == "dpa"
    for i, sid in enumerate(IDS):
        expected = dpa_oracle(sid, config)
        got = {name: float(np.asarray(batch[name])[i]) for name in augment.PARAM_NAMES}
        assert got == expected, sid


def test_dpa_scalar_stream_and_depth():
    config = AugmentationConfig(augmentation_depth=3)
    assert gen_augmentation_params(77, config, algorithm="dpa") == dpa_oracle(77, config)
    chunks = list(stream_augmentation_chain(23, config, chunk_size=7, start_id=100, algorithm="dpa"))
    assert [len(c) for c in chunks] == [7, 7, 7, 2]
    rotation = np.concatenate([np.asarray(c["rotation"]) for c in chunks])
    assert rotation.tolist() == [dpa_oracle(i, config)["rotation"] for i in range(100, 123)]


@pytest.mark.parametrize(("base_seed", "rank", "world_size"), [(0, 0, 1), (42, 3, 8), (2**40, 1, 2)])
def test_dpa_distributed_hashes_seed_and_rank_not_world_size(base_seed, rank, world_size):
    config = get_preset("moderate")
    got = gen_distributed_augmentation_params(
        5, rank, world_size, config, base_seed=base_seed, algorithm="dpa"
    )
    assert got == dpa_oracle(5, config, f"{base_seed}:{rank}:")
    other_world = gen_distributed_augmentation_params(
        5, rank, world_size + 3, config, base_seed=base_seed, algorithm="dpa"
    )
    assert other_world == got


def test_dpa_has_no_seed_or_epoch():
    with pytest.raises(ValueError, match="seed"):
        gen_augmentation_batch([1, 2], algorithm="dpa", seed=3)
    with pytest.raises(ValueError, match="epoch"):
        gen_augmentation_batch([1, 2], algorithm="dpa", epoch=1)


def test_apply_augmentations_on_a_real_batch_equals_the_single_ops():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 16, 16, 3)).astype(np.float32)
    ids = np.array([3, 1, 2**40, 7], dtype=np.uint64)
    batch = gen_augmentation_batch(ids, get_preset("mild"), seed=11, epoch=2)
    out = np.asarray(apply_augmentations(images, batch))
    x = augment.rotate_and_scale(images, batch["rotation"], batch["scale"])
    x = augment.adjust_brightness(x, batch["brightness"])
    x = augment.adjust_contrast(x, batch["contrast"])
    x = augment.add_noise(x, batch["noise"], augment.noise_keys(ids, 11, 2))
    # One fused program vs four separately compiled ops: equal up to float32 rounding (XLA
    # may contract a multiply-add into an FMA in one and not the other).
    np.testing.assert_allclose(out, np.asarray(x), rtol=1e-6, atol=1e-6)
    # The same ids in another batch get the same images (noise included). A batch of 2 is
    # another XLA program than a batch of 4: equal up to FMA contraction of the warp's
    # sample coordinates, 4 ulps of max(H, W) (see test_augment_ops.one_image_bound;
    # measured 0 here, 9.5 ulps of 1.0 between FMA and non-FMA codegen).
    sub = gen_augmentation_batch(ids[[3, 0]], get_preset("mild"), seed=11, epoch=2)
    np.testing.assert_allclose(
        np.asarray(apply_augmentations(images[[3, 0]], sub)),
        out[[3, 0]],
        rtol=0,
        atol=4 * float(np.spacing(np.float32(16))),
    )
    assert out.dtype == np.float32 and np.all((out >= 0) & (out <= 1))
    assert jax.default_backend() in ("cpu", "gpu", "cuda")
