"""Image augmentation ops: deterministic single ops and the per-sample random wrapper.

All ops take a batch of images, NHWC ``(N, H, W, C)`` or NHW ``(N, H, W)``, either float32
with values in ``[0, 1]`` or uint8 (``0..255``), and return the same shape and dtype. NumPy
images with NaN or infinity are refused; JAX arrays are not inspected (that would cost a
device-to-host sync per call, and traced values under ``jit`` cannot be inspected at all). Work is
done in float32 on the ``[0, 1]`` scale (uint8 is divided by 255 on the way in and rounded
to the nearest integer on the way out); every op clips its result to ``[0, 1]``. Per-image
parameters are arrays of shape ``(N,)`` (a scalar is broadcast to every image). The ops are
jit-compiled and vectorised over the batch, and image ``i`` of the result depends only on
image ``i`` and its own parameters.

.. code-block:: text

    rotate_and_scale:  out[p] = bilinear(x, c + R(-θ) (p - c) / s)     c = ((H-1)/2, (W-1)/2)
                       θ in degrees, counter-clockwise as displayed (row axis pointing down);
                       border: neighbours outside the image count as 0 (black), i.e.
                       scipy.ndimage.affine_transform(order=1, mode='grid-constant', cval=0)
    adjust_brightness: out = x * factor
    adjust_contrast:   out = m + factor * (x - m),  m = mean of the image over H, W and C
    add_noise:         out = x + std * z,  z ~ N(0, 1) from the image's own key
    apply_augmentations: rotate_and_scale -> adjust_brightness -> adjust_contrast -> add_noise

Example:
    >>> import numpy as np
    >>> from accel.augment._ops import adjust_brightness, rotate_and_scale
    >>> img = np.arange(16, dtype=np.float32).reshape(1, 4, 4) / 16
    >>> out = rotate_and_scale(img, np.array([90.0]), np.array([1.0]))
    >>> bool(np.array_equal(np.asarray(out)[0], np.rot90(img[0])))
    True
    >>> np.asarray(adjust_brightness(img, 2.0)).max().item()
    1.0
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from accel import _keys

__all__ = [
    "add_noise",
    "adjust_brightness",
    "adjust_contrast",
    "apply_augmentations",
    "augment_images",
    "noise_keys",
    "rotate_and_scale",
]

_PARAM_NAMES = ("rotation", "brightness", "noise", "scale", "contrast")


# ---------------------------------------------------------------------------------------------
# Validation and dtype handling (host side)
# ---------------------------------------------------------------------------------------------


def _check_images(images: Any) -> jax.Array:
    if not hasattr(images, "dtype") or not hasattr(images, "shape"):
        raise TypeError(f"images must be a NumPy or JAX array, got {type(images).__name__}")
    dtype = np.dtype(images.dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise TypeError(f"images must have dtype float32 (values in [0, 1]) or uint8, got {dtype}")
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images must be NHWC (4-D) or NHW (3-D), got shape {tuple(images.shape)}"
        )
    if any(d == 0 for d in images.shape[1:3]):
        raise ValueError(f"images must have non-empty height and width, got shape {tuple(images.shape)}")
    # Host (NumPy) images are checked here for free; device and traced arrays are not (that
    # would need a device-to-host sync, or be impossible under jit).
    if isinstance(images, np.ndarray) and dtype == np.float32 and not np.isfinite(images).all():
        raise ValueError("images contain NaN or infinity (float32 images must hold values in [0, 1])")
    return jnp.asarray(images)


def _check_param(value: Any, n: int, name: str) -> jax.Array:
    arr = np.asarray(value) if not isinstance(value, jax.Array) else value
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = jnp.broadcast_to(jnp.asarray(arr, dtype=jnp.float32), (n,))
    elif arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},) (one per image), got shape {tuple(arr.shape)}")
    arr = jnp.asarray(arr, dtype=jnp.float32)
    if not isinstance(arr, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(arr))):
        raise ValueError(f"{name} must be finite")
    return arr


def _check_sign(arr: jax.Array, name: str, *, positive: bool) -> jax.Array:
    """``arr`` if every value is ``> 0`` (``positive``) or ``>= 0``; traced values (inside
    ``jit``) cannot be checked here and pass."""
    if isinstance(arr, jax.core.Tracer):
        return arr
    if not bool(jnp.all(arr > 0) if positive else jnp.all(arr >= 0)):
        bad = float(jnp.min(arr))
        raise ValueError(f"{name} must be {'positive (> 0)' if positive else 'non-negative (>= 0)'}, got {bad:g}")
    return arr


def _to_unit(images: jax.Array) -> jax.Array:
    if images.dtype == jnp.uint8:
        return images.astype(jnp.float32) / 255.0
    return images


def _from_unit(x: jax.Array, dtype) -> jax.Array:
    x = jnp.clip(x, 0.0, 1.0)
    if dtype == jnp.uint8:
        return jnp.round(x * 255.0).astype(jnp.uint8)
    return x


def _as_nhwc(x: jax.Array) -> jax.Array:
    return x[..., None] if x.ndim == 3 else x


# ---------------------------------------------------------------------------------------------
# The math, on float32 images in [0, 1] shaped (H, W, C); one image at a time (vmapped).
# ---------------------------------------------------------------------------------------------


def _cos_sin_degrees(degrees: jax.Array) -> tuple[jax.Array, jax.Array]:
    """cos and sin of an angle in degrees, exact (0, ±1) at multiples of 90 degrees."""
    quarter = jnp.round(degrees / 90.0)
    rest = jnp.deg2rad(degrees - 90.0 * quarter)
    c, s = jnp.cos(rest), jnp.sin(rest)
    k = jnp.mod(quarter, 4.0)
    cos = jnp.select([k == 0, k == 1, k == 2], [c, -s, -c], s)
    sin = jnp.select([k == 0, k == 1, k == 2], [s, c, -s], -c)
    return cos, sin


def _warp_one(img: jax.Array, degrees: jax.Array, scale: jax.Array) -> jax.Array:
    h, w, ch = img.shape
    cos, sin = _cos_sin_degrees(degrees)
    cr, cc = (h - 1) / 2.0, (w - 1) / 2.0
    dr = jnp.arange(h, dtype=jnp.float32)[:, None] - cr
    dc = jnp.arange(w, dtype=jnp.float32)[None, :] - cc
    src_r = cr + (cos * dr + sin * dc) / scale
    src_c = cc + (cos * dc - sin * dr) / scale
    r0, c0 = jnp.floor(src_r), jnp.floor(src_c)
    fr, fc = src_r - r0, src_c - c0
    r0, c0 = r0.astype(jnp.int32), c0.astype(jnp.int32)
    flat = img.reshape(h * w, ch)
    out = jnp.zeros((h, w, ch), dtype=jnp.float32)
    for dy, wy in ((0, 1.0 - fr), (1, fr)):
        for dx, wx in ((0, 1.0 - fc), (1, fc)):
            r, c = r0 + dy, c0 + dx
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            idx = jnp.clip(r, 0, h - 1) * w + jnp.clip(c, 0, w - 1)
            weight = jnp.where(inside, wy * wx, 0.0)
            out = out + weight[..., None] * jnp.take(flat, idx, axis=0)
    return out


def _per_image(value: jax.Array) -> jax.Array:
    return value[:, None, None, None]


def _image_means(x: jax.Array) -> jax.Array:
    """Mean of each image (over H, W and C), one image at a time.

    ``lax.map`` compiles the reduction for a single (H, W, C) image, so its summation order
    cannot depend on the batch size: a batched ``jnp.mean`` over (N, H, W, C) changed an
    image's mean in the last bit with N.
    """
    return jax.lax.map(jnp.mean, x)


def _noise(x: jax.Array, keys: jax.Array) -> jax.Array:
    return jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], dtype=jnp.float32))(keys)


@functools.partial(jax.jit, static_argnames=("ops",))
def _pipeline(images: jax.Array, params: tuple, keys: jax.Array | None, ops: tuple[str, ...]):
    """Apply ``ops`` in order to uint8/float32 images, clipping to [0, 1] after each op."""
    dtype, squeeze = images.dtype, images.ndim == 3
    x = _as_nhwc(_to_unit(images))
    for op, value in zip(ops, params, strict=True):
        if op == "warp":
            x = jax.vmap(_warp_one)(x, *value)
        elif op == "brightness":
            x = x * _per_image(value)
        elif op == "contrast":
            mean = _per_image(_image_means(x))
            x = mean + _per_image(value) * (x - mean)
        else:
            x = x + _per_image(value) * _noise(x, keys)
        x = jnp.clip(x, 0.0, 1.0)
    out = _from_unit(x, dtype)
    return out[..., 0] if squeeze else out


def _per_image_keys(key: Any, n: int) -> jax.Array:
    if not isinstance(key, jax.Array | np.ndarray):
        raise TypeError(
            f"key must be a typed PRNG key array of shape ({n},) or uint32 key data of shape ({n}, 2), "
            f"got {type(key).__name__}"
        )
    key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != (n,):
            raise ValueError(f"key must hold one PRNG key per image, shape ({n},), got {key.shape}")
        return key
    if key.dtype == jnp.uint32 and key.shape == (n, 2):
        return jax.random.wrap_key_data(key, impl=_keys.DEFAULT_IMPL)
    raise TypeError(
        f"key must be a typed PRNG key array of shape ({n},) or uint32 key data of shape ({n}, 2), "
        f"got dtype {key.dtype} and shape {key.shape}"
    )


# ---------------------------------------------------------------------------------------------
# Public ops
# ---------------------------------------------------------------------------------------------


def rotate_and_scale(images: Any, rotation: Any, scale: Any) -> jax.Array:
    """Rotate by ``rotation`` degrees (counter-clockwise) and scale by ``scale`` about the centre.

    One affine warp with bilinear sampling, ``out[p] = bilinear(x, c + R(-θ)(p - c) / s)``;
    samples outside the image count as 0 (``scipy.ndimage.affine_transform(order=1,
    mode='grid-constant')``). ``scale > 1`` zooms in. ``rotation`` and ``scale`` are per-image
    arrays of shape (N,) or scalars; ``scale`` must be positive.
    """
    images = _check_images(images)
    n = images.shape[0]
    rotation = _check_param(rotation, n, "rotation")
    scale = _check_sign(_check_param(scale, n, "scale"), "scale", positive=True)
    return _pipeline(images, ((rotation, scale),), None, ops=("warp",))


def adjust_brightness(images: Any, factor: Any) -> jax.Array:
    """Multiply every pixel by the image's ``factor`` (shape (N,) or scalar, each >= 0), then clip."""
    images = _check_images(images)
    factor = _check_sign(_check_param(factor, images.shape[0], "factor"), "factor", positive=False)
    return _pipeline(images, (factor,), None, ops=("brightness",))


def adjust_contrast(images: Any, factor: Any) -> jax.Array:
    """Blend with the image mean: ``m + factor * (x - m)``, ``m`` over H, W and C; clipped."""
    images = _check_images(images)
    factor = _check_param(factor, images.shape[0], "factor")
    return _pipeline(images, (factor,), None, ops=("contrast",))


def add_noise(images: Any, std: Any, key: Any) -> jax.Array:
    """Add Gaussian noise ``std * N(0, 1)`` (on the [0, 1] scale) drawn from each image's key.

    ``key`` holds one key per image: a typed PRNG key array of shape (N,) (for example
    from :func:`noise_keys`, the keys of ``apply_augmentations``) or raw threefry key data,
    uint32 (N, 2).
    ``std`` must be non-negative.
    """
    images = _check_images(images)
    n = images.shape[0]
    std = _check_sign(_check_param(std, n, "std"), "std", positive=False)
    return _pipeline(images, (std,), _per_image_keys(key, n), ops=("noise",))


def noise_keys(sample_ids: Any, seed: int, epoch: int) -> jax.Array:
    """``fold_in(K(seed, epoch, id), IMAGE_NOISE_STREAM)`` for each id (typed keys, shape (N,))."""
    if np.ndim(sample_ids) > 1:
        raise ValueError(f"sample_ids must be a 1-D sequence of ids, got shape {np.shape(sample_ids)}")
    hi, lo = _keys.split_ids(sample_ids)
    epoch = _keys.check_seed(epoch, "epoch")
    if epoch > 0xFFFFFFFF:
        raise ValueError(f"epoch must be an integer in [0, 2**32), got {epoch}")
    base = _keys.epoch_key(_keys.seed_key(seed), epoch)
    keys = _keys.sample_keys(base, jnp.asarray(hi.ravel()), jnp.asarray(lo.ravel()))
    return jax.vmap(lambda k: jax.random.fold_in(k, _keys.IMAGE_NOISE_STREAM))(keys)


def apply_augmentations(images: Any, batch: Mapping, *, seed: int | None = None) -> jax.Array:
    """Apply a batch of augmentation parameters to ``images`` (image i gets sample i's values).

    ``batch`` maps 'rotation' (degrees), 'brightness', 'noise' (std), 'scale', 'contrast' to
    per-image arrays and has ``sample_ids``, ``seed`` and ``epoch`` attributes (an
    ``AugmentationBatch``). The result is
    ``add_noise(adjust_contrast(adjust_brightness(rotate_and_scale(x))))`` in one jitted call,
    clipped after every op; the noise of image i uses ``fold_in(K(seed, epoch, id_i),
    IMAGE_NOISE_STREAM)``, so it depends only on (seed, epoch, sample id), never on the batch.
    ``seed=None`` uses ``batch.seed``.
    """
    images = _check_images(images)
    n = images.shape[0]
    if not isinstance(batch, Mapping):
        raise TypeError(f"batch must be a Mapping of augmentation parameters, got {type(batch).__name__}")
    missing = [k for k in _PARAM_NAMES if k not in batch]
    if missing:
        raise ValueError(f"batch is missing parameters {missing}; needs {list(_PARAM_NAMES)}")
    for attr in ("sample_ids", "seed", "epoch"):
        if not hasattr(batch, attr):
            raise TypeError(f"batch must have a {attr!r} attribute (an AugmentationBatch)")
    ids = np.asarray(batch.sample_ids)
    if ids.shape != (n,):
        raise ValueError(f"batch has {ids.size} sample ids but images has {n} images")
    seed = batch.seed if seed is None else seed
    p = {name: _check_param(batch[name], n, name) for name in _PARAM_NAMES}
    # traced values (inside jit) cannot be checked here; concrete ones are
    _check_sign(p["scale"], "scale", positive=True)
    _check_sign(p["brightness"], "brightness", positive=False)
    _check_sign(p["noise"], "noise", positive=False)
    return augment_images(images, p, noise_keys(ids, _keys.check_seed(seed), batch.epoch))


def augment_images(images: jax.Array, values: Mapping[str, jax.Array], keys: jax.Array) -> jax.Array:
    """``apply_augmentations``' pipeline on checked (or traced) arguments: ``values`` per-image
    float32 parameters by name, ``keys`` the images' noise keys (:func:`noise_keys`)."""
    params = ((values["rotation"], values["scale"]), values["brightness"], values["contrast"], values["noise"])
    return _pipeline(images, params, keys, ops=("warp", "brightness", "contrast", "noise"))
