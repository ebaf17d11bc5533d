"""Test helper: the offline guard and the tiny MNIST / California files the data set tests
write (never the network)."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np

from benchmarks.datasets import _cache


def go_offline(monkeypatch) -> None:
    """Any attempt to reach the network is an offline failure; ``$ACCEL_DATA_DIR`` is unset."""

    def offline(url, timeout):
        raise urllib.error.URLError(f"offline test: {url}")

    monkeypatch.setattr(_cache, "_open_url", offline)
    monkeypatch.delenv("ACCEL_DATA_DIR", raising=False)


def idx_gz(array: np.ndarray) -> bytes:
    """The gzip-compressed IDX (uint8) encoding of ``array``."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return gzip.compress(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def mnist_arrays(n_train: int = 30, n_test: int = 12, side: int = 4) -> dict[str, np.ndarray]:
    """The four MNIST files' arrays (random uint8 images, seed 7), by file name."""
    rng = np.random.default_rng(7)
    train = rng.integers(0, 256, (n_train, side, side), dtype=np.uint8)
    test = rng.integers(0, 256, (n_test, side, side), dtype=np.uint8)
    train[:, 0, 0] = 0  # an always-black border pixel
    train[:, 0, 1] = 7  # a constant non-zero pixel
    return {
        "train-images-idx3-ubyte.gz": train,
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) * 7 % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": test,
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_mnist(folder: Path, arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Writes ``arrays`` into ``folder`` as IDX files; returns their bytes by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    blobs = {name: idx_gz(a) for name, a in arrays.items()}
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    return blobs


# longitude, latitude, age, rooms, bedrooms, population, households, income, value
CAL_ROWS = np.array(
    [
        [-122.23, 37.88, 41, 880, 129, 322, 126, 8.3252, 452600],
        [-122.22, 37.86, 21, 7099, 1106, 2401, 1138, 8.3014, 358500],
        [-122.24, 37.85, 52, 1467, 190, 496, 177, 7.2574, 352100],
        [-122.25, 37.85, 52, 1274, 235, 558, 219, 5.6431, 341300],
        [-122.25, 37.85, 52, 1627, 280, 565, 259, 3.8462, 342200],
        [-121.24, 39.37, 16, 2785, 616, 1387, 530, 2.3886, 89400],
        [-117.04, 32.69, 27, 1790, 356, 1286, 347, 3.5104, 111000],
        [-118.40, 34.06, 37, 3781, 873, 1725, 838, 4.1455, 500001],
        [-120.19, 36.60, 25, 875, 214, 931, 214, 1.5536, 58300],
        [-124.30, 41.80, 19, 2672, 552, 1298, 478, 1.9797, 85800],
    ]
)


def cal_csv(rows: np.ndarray = CAL_ROWS) -> bytes:
    """``rows`` in the form of California housing's ``cal_housing.data`` (CSV, no header)."""
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def cal_tgz(csv: bytes, member: str = "CaliforniaHousing/cal_housing.data") -> bytes:
    """A .tgz archive holding ``csv`` as ``member`` (the published archive's layout)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(csv)
        archive.addfile(info, io.BytesIO(csv))
    return buffer.getvalue()
