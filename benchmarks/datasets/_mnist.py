"""MNIST handwritten digits from the four standard IDX ``.gz`` files."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._cache import RemoteFile, ensure_files, resolve_data_dir
from ._checks import check_bool, check_int
from ._conditioning import dataset_metadata
from ._idx import read_idx
from ._preprocess import standardize

__all__ = ["MNIST_FILES", "load_mnist"]

# Mirrors in the order tried: the one torchvision uses, the one TensorFlow uses, the original.
_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# SHA-256 of the published .gz files (train-images 9,912,422 bytes, train-labels 28,881,
# t10k-images 1,648,877, t10k-labels 4,542). Cross-checked against several independent
# published lists (TensorFlow/torchvision-based loaders, dataset manifests).
_DIGESTS = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_FILES = tuple(
    RemoteFile(name, tuple(m + name for m in _MIRRORS), digest) for name, digest in _DIGESTS.items()
)
_TRAIN_IMAGES, _TRAIN_LABELS, _TEST_IMAGES, _TEST_LABELS = (f.name for f in MNIST_FILES)


def _read_split(
    images_path: os.PathLike[str], labels_path: os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, rows, cols), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (n,), got {labels.dtype} {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has {labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must be digits 0-9, found {int(labels.max())}")
    return images.reshape(images.shape[0], -1), labels


def load_mnist(
    n_samples: int | None = 10000,
    binary_classification: bool = True,
    normalize: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """MNIST as ``X_train, y_train, X_test, y_test, metadata``.

    Files: ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz`` (the standard IDX files),
    read from ``data_dir``, else ``$ACCEL_DATA_DIR/mnist``, else ``<user cache>/accel/mnist``.
    Missing files are downloaded and SHA-256-verified when ``download`` is true and the
    network allows; otherwise one :class:`DataUnavailableError` names the files and the
    folder to put them in. Files found on disk are used as they are (their IDX headers and
    sizes are validated).

    Args:
        n_samples: number of training rows, taken in file order from the start of the
            training set (``None``: all 60,000). The test set is the whole official test set.
        binary_classification: ``True``: ``y = 1`` for digits 5-9 and ``0`` for 0-4, as
            float64; ``False``: the digit 0-9 as int64.
        normalize: ``True``: per-pixel standardisation with training statistics,
            ``z = (x - mean_train) / std_train``, constant pixels (always-black borders)
            mapped to 0 instead of dividing by zero; ``False``: raw intensities 0-255.
        data_dir: folder holding the files (see above).
        download: whether a missing file may be downloaded.

    ``X`` is float64 of shape ``(n, 784)``. ``metadata['condition_number']`` is that of
    ``X_train.T @ X_train / n_train``; it is ``inf`` here since border pixels are constant.

    Example:
        >>> X_tr, y_tr, X_te, y_te, meta = load_mnist(n_samples=1000)  # doctest: +SKIP
        >>> X_tr.shape, meta["n_test"]  # doctest: +SKIP
        ((1000, 784), 10000)
    """
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", minimum=1)
    binary_classification = check_bool(binary_classification, "binary_classification")
    normalize = check_bool(normalize, "normalize")
    download = check_bool(download, "download")
    directory = resolve_data_dir(data_dir, "mnist")
    paths = ensure_files("MNIST", MNIST_FILES, directory, download, subdir="mnist")
    X_train, labels_train = _read_split(paths[_TRAIN_IMAGES], paths[_TRAIN_LABELS])
    X_test, labels_test = _read_split(paths[_TEST_IMAGES], paths[_TEST_LABELS])
    if X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"training images have {X_train.shape[1]} pixels but test images {X_test.shape[1]}"
        )
    if n_samples is not None:
        if n_samples > X_train.shape[0]:
            raise ValueError(
                f"n_samples must be <= {X_train.shape[0]} (the training images in "
                f"{paths[_TRAIN_IMAGES]}), got {n_samples}"
            )
        X_train, labels_train = X_train[:n_samples], labels_train[:n_samples]
    if normalize:
        X_train, X_test = standardize(X_train, X_test)
    else:
        X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
    if binary_classification:
        y_train = (labels_train >= 5).astype(np.float64)
        y_test = (labels_test >= 5).astype(np.float64)
    else:
        y_train, y_test = labels_train.astype(np.int64), labels_test.astype(np.int64)
    metadata = dataset_metadata(
        "mnist_binary" if binary_classification else "mnist",
        f"MNIST IDX files in {directory}",
        X_train,
        X_test,
        data_dir=str(directory),
        task="binary_classification" if binary_classification else "multiclass_classification",
        normalized=normalize,
    )
    return X_train, y_train, X_test, y_test, metadata
