"""Digit images for image models: MNIST's 28x28 digits, or scikit-learn's 8x8 digits scaled
up to 28x28 as an offline stand-in.

Example:
    >>> from benchmarks.datasets import load_digit_images
    >>> images, labels, meta = load_digit_images(source="digits", n_samples=100)
    >>> images.shape, images.dtype.name, labels.dtype.name, meta["source"]
    ((100, 28, 28, 1), 'float32', 'int32', 'scikit-learn digits (8x8, bilinear to 28x28)')
    >>> bool(images.min() >= 0.0 and images.max() <= 1.0)
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._cache import DataUnavailableError
from ._checks import check_bool, check_int, check_seed
from ._mnist import load_mnist
from ._shipped import _sklearn_datasets

__all__ = ["IMAGE_SOURCES", "load_digit_images"]

IMAGE_SOURCES = ("auto", "mnist", "digits")
_SIDE = 28


def _digits(n_samples: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 digits (0..16) bilinearly resized to 28x28, in [0, 1]; rows
    repeated (in a shuffled order from ``seed``) when more are asked for."""
    import jax
    import jax.numpy as jnp

    bunch = _sklearn_datasets("load_digit_images").load_digits()
    small = bunch.images.astype(np.float32) / 16.0  # (1797, 8, 8)
    big = jax.image.resize(jnp.asarray(small), (len(small), _SIDE, _SIDE), method="bilinear")
    images = np.clip(np.asarray(big), 0.0, 1.0)[..., None]
    labels = bunch.target.astype(np.int32)
    if n_samples is not None:
        rows = np.random.default_rng(seed).permutation(np.resize(np.arange(len(images)), n_samples))
        images, labels = images[rows], labels[rows]
    return images, labels


def load_digit_images(
    source: str = "auto", n_samples: int | None = 10000, *, seed: int = 0, download: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Digit images ``(n, 28, 28, 1)`` float32 in ``[0, 1]``, labels 0-9 int32, metadata.

    ``source``: ``'mnist'`` (the training set's first ``n_samples`` images, from the files
    :func:`load_mnist` reads; ``download`` as there), ``'digits'`` (the offline stand-in:
    scikit-learn's 8x8 digits, ``pip install 'accel[datasets]'``, resized bilinearly to
    28x28 and repeated up to ``n_samples`` rows), or ``'auto'``: MNIST when its files are
    on disk, else the stand-in.

    Example:
        >>> images, labels, meta = load_digit_images(source="digits", n_samples=10)
        >>> images.shape, int(labels.max()) <= 9
        ((10, 28, 28, 1), True)
    """
    if not isinstance(source, str) or source not in IMAGE_SOURCES:
        raise ValueError(f"source must be one of {IMAGE_SOURCES}, got {source!r}")
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
    seed = check_seed(seed)
    download = check_bool(download, "download")
    if source in ("auto", "mnist"):
        try:
            X, y, _, _, _ = load_mnist(n_samples, binary_classification=False, normalize=False,
                                       download=download)
            images = (X.reshape(-1, _SIDE, _SIDE, 1) / 255.0).astype(np.float32)
            return images, y.astype(np.int32), {"source": "MNIST", "n": len(images)}
        except DataUnavailableError:
            if source == "mnist":
                raise
    images, labels = _digits(n_samples, seed)
    meta = {"source": "scikit-learn digits (8x8, bilinear to 28x28)", "n": len(images)}
    return images, labels, meta
