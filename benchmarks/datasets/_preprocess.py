"""Deterministic train/test split and per-feature standardisation shared by the loaders.

Split: the rows are shuffled by ``numpy.random.default_rng(seed).permutation(n)``; the first
``ceil(test_size * n)`` shuffled rows are the test set, the rest the training set.

Standardisation uses training statistics only:

.. code-block:: text

    z = (x - mean_train) / std_train        for a feature that varies in the training set
    z = x - x_train[0]                      for a constant feature (exactly 0 on train)

so a constant feature (e.g. an always-black MNIST border pixel) gives zeros, never
``0/0`` or a huge number; a varying feature satisfies ``|z| <= sqrt(n_train)`` on train.

Example:
    >>> import numpy as np
    >>> Xtr, Xte = standardize(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[2.0, 6.0]]))
    >>> Xtr.tolist(), Xte.tolist()
    ([[-1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0]])
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_seed, check_test_size

__all__ = ["standardize", "train_test_split"]


def train_test_split(
    X: np.ndarray, y: np.ndarray, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X_train, y_train, X_test, y_test``: a shuffled split determined by ``seed`` alone."""
    test_size = check_test_size(test_size)
    seed = check_seed(seed)
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X and y must have the same number of rows, got {n} and {y.shape[0]}")
    n_test = math.ceil(test_size * n)
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={test_size} leaves {n - n_test} training and {n_test} test rows out of {n}; "
            "both must be >= 1"
        )
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both arrays with the per-feature statistics of ``X_train`` (float64)."""
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    constant = np.all(X_train == X_train[0], axis=0)
    center = np.where(constant, X_train[0], X_train.mean(axis=0))
    std = X_train.std(axis=0)
    scale = np.where(constant | (std == 0.0), 1.0, std)
    Z_train, Z_test = X_train - center, X_test - center  # fresh arrays: divide in place
    Z_train /= scale
    Z_test /= scale
    return Z_train, Z_test
