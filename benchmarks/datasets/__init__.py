"""Benchmark data sets: real-data loaders and synthetic generators.

Every function returns float64 NumPy arrays and a ``metadata`` dict with at least ``name``,
``source``, ``n_train``, ``n_test``, ``n_features`` and ``condition_number`` (of the
training Hessian ``X_train.T @ X_train / n_train``, measured; ``inf`` when singular).

- Synthetic, exact spectrum: :func:`generate_highdim_regression`,
  :func:`generate_extreme_condition_data`.
- Downloaded once, then read from disk: :func:`load_mnist`, :func:`load_california_housing`
  (``data_dir``, else ``$ACCEL_DATA_DIR/<name>``, else the user cache; SHA-256 verified;
  :class:`DataUnavailableError` offline).
- Shipped with scikit-learn (offline; ``pip install 'accel[datasets]'``):
  :func:`load_digits_binary`, :func:`load_digits` (10 classes), :func:`load_diabetes`.
- Images for image models: :func:`load_digit_images` (MNIST's digits, or the 8x8 digits
  scaled to 28x28 offline; float32 images and int32 labels, not float64).

Example:
    >>> from benchmarks.datasets import generate_highdim_regression
    >>> X, y, w, meta = generate_highdim_regression(100, 10, condition_number=1e3)
    >>> sorted(k for k in meta if k in {"name", "condition_number"})
    ['condition_number', 'name']
"""

from ._cache import DataUnavailableError
from ._california import load_california_housing
from ._images import IMAGE_SOURCES, load_digit_images
from ._mnist import load_mnist
from ._shipped import load_diabetes, load_digits, load_digits_binary
from ._synthetic import (
    CONDITION_TYPES,
    generate_extreme_condition_data,
    generate_highdim_regression,
)

__all__ = [
    "CONDITION_TYPES",
    "IMAGE_SOURCES",
    "DataUnavailableError",
    "generate_extreme_condition_data",
    "generate_highdim_regression",
    "load_california_housing",
    "load_diabetes",
    "load_digit_images",
    "load_digits",
    "load_digits_binary",
    "load_mnist",
]
