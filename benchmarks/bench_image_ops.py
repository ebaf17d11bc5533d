"""Images/s of the augmentation image ops on a batch, vs a NumPy/scipy per-image pipeline.

Usage::

    python -m benchmarks.bench_image_ops [--batch 256] [--size 224] [--channels 3] [--repeats 3]
        [--n-baseline 16]

Times each image op of :mod:`accel.augment` and ``apply_augmentations`` on a float32 NHWC
batch already on the device (``block_until_ready``, median of ``--repeats`` after a
compile-and-warm-up call whose time is reported apart), the uint8 path of
``apply_augmentations``, and the same pipeline written with ``scipy.ndimage.affine_transform``
(order=1, mode='grid-constant') and NumPy, image by image, on ``--n-baseline`` images.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from accel.augment import (
    add_noise,
    adjust_brightness,
    adjust_contrast,
    apply_augmentations,
    noise_keys,
    rotate_and_scale,
)


class Batch(dict):
    """Stand-in for issue 5's AugmentationBatch (mapping + sample_ids, seed, epoch)."""

    def __init__(self, params, sample_ids, seed=0, epoch=0):
        super().__init__(params)
        self.sample_ids, self.seed, self.epoch = sample_ids, seed, epoch


def scipy_pipeline(img: np.ndarray, p: dict, i: int, rng: np.random.Generator) -> np.ndarray:
    t = np.deg2rad(p["rotation"][i])
    m = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]], dtype=np.float32) / p["scale"][i]
    c = (np.array(img.shape[:2], dtype=np.float32) - 1) / 2
    out = np.stack(
        [
            ndimage.affine_transform(img[..., k], m, offset=c - m @ c, order=1, mode="grid-constant")
            for k in range(img.shape[-1])
        ],
        axis=-1,
    )
    out = np.clip(out * np.float32(p["brightness"][i]), 0, 1)
    mean = out.mean()
    out = np.clip(mean + np.float32(p["contrast"][i]) * (out - mean), 0, 1)
    noise = rng.standard_normal(out.shape, dtype=np.float32)
    return np.clip(out + np.float32(p["noise"][i]) * noise, 0, 1)


def op_cases(images, images_u8, batch, keys) -> dict:
    """The timed calls: each op on ``images`` with ``batch``'s per-image parameters (a mapping
    with ``sample_ids``, ``seed``, ``epoch``), and the whole pipeline on float32 and uint8."""
    return {
        "rotate_and_scale": lambda: rotate_and_scale(images, batch["rotation"], batch["scale"]),
        "adjust_brightness": lambda: adjust_brightness(images, batch["brightness"]),
        "adjust_contrast": lambda: adjust_contrast(images, batch["contrast"]),
        "add_noise": lambda: add_noise(images, batch["noise"], keys),
        "apply_augmentations": lambda: apply_augmentations(images, batch),
        "apply_augmentations_uint8": lambda: apply_augmentations(images_u8, batch),
    }


def timed(fn, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-baseline", type=int, default=16)
    args = parser.parse_args(argv)

    n = args.batch
    rng = np.random.default_rng(0)
    host = rng.random((n, args.size, args.size, args.channels), dtype=np.float32)
    images = jax.block_until_ready(jnp.asarray(host))
    images_u8 = jax.block_until_ready(jnp.asarray((host * 255).round().astype(np.uint8)))
    params = {
        "rotation": rng.uniform(-30, 30, n),
        "brightness": rng.uniform(0.8, 1.2, n),
        "noise": rng.uniform(0, 0.1, n),
        "scale": rng.uniform(0.8, 1.2, n),
        "contrast": rng.uniform(0.7, 1.3, n),
    }
    batch = Batch(params, np.arange(n, dtype=np.uint64), seed=0, epoch=0)
    keys = noise_keys(batch.sample_ids, 0, 0)

    cases = op_cases(images, images_u8, batch, keys)
    result = {"device": str(jax.devices()[0]), "shape": list(host.shape)}
    for name, fn in cases.items():
        first, median = timed(fn, args.repeats)
        result[name] = {
            "compile_and_first_s": round(first, 3),
            "median_s": round(median, 4),
            "images_per_s": round(n / median, 1),
        }

    m = args.n_baseline
    base_rng = np.random.default_rng(1)
    times = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        for i in range(m):
            scipy_pipeline(host[i], params, i, base_rng)
        times.append(time.perf_counter() - t0)
    base_rate = m / statistics.median(times)
    result["scipy_numpy_pipeline"] = {"images": m, "median_s": round(statistics.median(times), 4), "images_per_s": round(base_rate, 1)}
    result["apply_speedup_vs_scipy"] = round(result["apply_augmentations"]["images_per_s"] / base_rate, 2)
    for key, value in result.items():
        print(f"{key}: {value}")
    return result


if __name__ == "__main__":
    main()
