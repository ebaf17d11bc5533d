"""Small real data sets shipped inside scikit-learn (offline fallbacks of the benchmarks).

Both read scikit-learn's bundled files (no network): the optional extra
``pip install 'accel[datasets]'``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ._checks import check_bool, check_seed, check_test_size
from ._conditioning import dataset_metadata
from ._preprocess import standardize, train_test_split

__all__ = ["load_diabetes", "load_digits_binary"]


def _sklearn_datasets(loader: str) -> ModuleType:
    try:
        import sklearn.datasets
    except ImportError as error:
        raise ImportError(
            f"{loader}() reads the data set bundled with scikit-learn, which is not installed: "
            "pip install 'accel[datasets]'"
        ) from error
    return sklearn.datasets


def _finish(
    name: str,
    source: str,
    X: np.ndarray,
    y: np.ndarray,
    test_size: object,
    seed: object,
    normalize: object,
    **extra: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    normalize = check_bool(normalize, "normalize")
    test_size = check_test_size(test_size)
    seed = check_seed(seed)
    X_train, y_train, X_test, y_test = train_test_split(X, y, test_size, seed)
    if normalize:
        X_train, X_test = standardize(X_train, X_test)
    metadata = dataset_metadata(
        name, source, X_train, X_test, normalized=normalize, seed=seed, test_size=test_size, **extra
    )
    return X_train, y_train, X_test, y_test, metadata


def _digits(binary: bool, test_size: object, seed: object, normalize: object):
    """scikit-learn's digits: 0-4 vs 5-9 (float64), or the ten digits (int64)."""
    name = "digits_binary" if binary else "digits"
    bunch = _sklearn_datasets(f"load_{name}").load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    target = np.asarray(bunch.target)
    y = (target >= 5).astype(np.float64) if binary else target.astype(np.int64)
    task = {"task": "binary_classification"} if binary else {"task": "multiclass_classification", "n_classes": 10}
    return _finish(
        name, "scikit-learn bundled file datasets/data/digits.csv.gz (UCI optical digits)",
        X, y, test_size, seed, normalize, **task,
    )  # fmt: skip


def load_digits_binary(
    test_size: float = 0.2, seed: int = 0, normalize: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """scikit-learn's 8x8 digits (1,797 images, 64 pixels 0-16) as a binary problem.

    ``y = 1`` for digits 5-9, ``0`` for 0-4 (float64), as in :func:`load_mnist`. The rows
    are split by a shuffle determined by ``seed`` alone (``ceil(test_size * n)`` test rows);
    ``normalize`` standardises pixels with training statistics (constant pixels -> 0).
    ``metadata['condition_number']`` is that of ``X_train.T @ X_train / n`` (``inf``: some
    border pixels are always 0).

    Example:
        >>> X_tr, y_tr, X_te, y_te, meta = load_digits_binary()
        >>> X_tr.shape, X_te.shape, meta["name"]
        ((1437, 64), (360, 64), 'digits_binary')
    """
    return _digits(True, test_size, seed, normalize)


def load_digits(
    test_size: float = 0.2, seed: int = 0, normalize: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """scikit-learn's 8x8 digits as the 10-class problem: ``y`` is the digit 0-9 (int64), as
    ``load_mnist(binary_classification=False)``; split and ``normalize`` as in
    :func:`load_digits_binary`.

    Example:
        >>> X_tr, y_tr, X_te, y_te, meta = load_digits()
        >>> X_tr.shape, sorted(set(y_tr.tolist())) == list(range(10)), meta["name"]
        ((1437, 64), True, 'digits')
    """
    return _digits(False, test_size, seed, normalize)


def load_diabetes(
    test_size: float = 0.2, seed: int = 0, normalize: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """scikit-learn's diabetes regression data (442 patients, 10 features, float64 target).

    Read unscaled (``scaled=False``); the split and ``normalize`` work as in
    :func:`load_digits_binary`. The target (disease progression after one year) is left
    as it is.

    Example:
        >>> X_tr, y_tr, X_te, y_te, meta = load_diabetes()
        >>> X_tr.shape, X_te.shape, meta["name"]
        ((353, 10), (89, 10), 'diabetes')
    """
    datasets = _sklearn_datasets("load_diabetes")
    bunch = datasets.load_diabetes(scaled=False)
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.float64)
    return _finish(
        "diabetes",
        "scikit-learn bundled files datasets/data/diabetes_data_raw.csv.gz, diabetes_target.csv.gz",
        X, y, test_size, seed, normalize,
        task="regression",
        feature_names=tuple(bunch.feature_names),
    )  # fmt: skip
