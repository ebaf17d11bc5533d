"""MNIST and California loaders on tiny fixtures the tests write (never the network)."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from _dataset_files import CAL_ROWS, cal_csv, cal_tgz, go_offline, idx_gz, mnist_arrays, write_mnist

import benchmarks.datasets as ds
from benchmarks.datasets import (
    DataUnavailableError,
    _cache,
    _california,
    _mnist,
    load_california_housing,
    load_mnist,
)
from benchmarks.datasets._cache import RemoteFile

REQUIRED_KEYS = ("name", "source", "n_train", "n_test", "n_features", "condition_number")

# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    go_offline(monkeypatch)


def sklearn_reference(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's own transformation (fetch_california_housing), re-typed here."""
    data = raw[:, [8, 7, 2, 3, 4, 5, 6, 1, 0]].copy()
    target, X = data[:, 0], data[:, 1:]
    X[:, 2] /= X[:, 5]
    X[:, 3] /= X[:, 5]
    X[:, 5] = X[:, 4] / X[:, 5]
    return X, target / 100000.0


def serve(monkeypatch, routes: dict[str, bytes]) -> list[str]:
    calls: list[str] = []

    def fake(url, timeout):
        calls.append(url)
        if url not in routes:
            raise urllib.error.URLError("offline")
        return io.BytesIO(routes[url])

    monkeypatch.setattr(_cache, "_open_url", fake)
    return calls


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---- MNIST ------------------------------------------------------------------------------------


def test_mnist_reads_idx_files_labels_and_shapes(tmp_path):
    arrays = mnist_arrays()
    write_mnist(tmp_path, arrays)
    X_tr, y_tr, X_te, y_te, meta = load_mnist(n_samples=None, normalize=False, data_dir=tmp_path)
    assert X_tr.shape == (30, 16) and X_te.shape == (12, 16)
    assert X_tr.dtype == X_te.dtype == y_tr.dtype == np.float64
    np.testing.assert_array_equal(X_tr, arrays["train-images-idx3-ubyte.gz"].reshape(30, 16))
    np.testing.assert_array_equal(X_te, arrays["t10k-images-idx3-ubyte.gz"].reshape(12, 16))
    np.testing.assert_array_equal(y_tr, arrays["train-labels-idx1-ubyte.gz"] >= 5)
    np.testing.assert_array_equal(y_te, arrays["t10k-labels-idx1-ubyte.gz"] >= 5)
    assert set(np.unique(y_tr).tolist()) == {0.0, 1.0}
    _, y10, _, y10_te, meta10 = load_mnist(
        n_samples=None, binary_classification=False, data_dir=tmp_path
    )
    assert y10.dtype == np.int64
    np.testing.assert_array_equal(y10, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(y10_te, arrays["t10k-labels-idx1-ubyte.gz"])
    assert meta["name"] == "mnist_binary" and meta10["name"] == "mnist"
    assert meta["singular"] is True and meta["condition_number"] == np.inf  # constant pixels


def test_mnist_normalisation_uses_training_statistics_and_survives_constant_pixels(tmp_path):
    arrays = mnist_arrays()
    write_mnist(tmp_path, arrays)
    X_tr, _, X_te, _, _ = load_mnist(n_samples=20, data_dir=tmp_path)
    raw_tr = arrays["train-images-idx3-ubyte.gz"].reshape(30, 16)[:20].astype(float)
    raw_te = arrays["t10k-images-idx3-ubyte.gz"].reshape(12, 16).astype(float)
    assert np.all(np.isfinite(X_tr)) and np.all(np.isfinite(X_te))
    # Constant pixels (0 and 7 in every training image): exactly 0 on train, x - c on test.
    np.testing.assert_array_equal(X_tr[:, :2], 0.0)
    np.testing.assert_array_equal(X_te[:, 0], raw_te[:, 0] - 0.0)
    np.testing.assert_array_equal(X_te[:, 1], raw_te[:, 1] - 7.0)
    mean, std = raw_tr[:, 2:].mean(axis=0), raw_tr[:, 2:].std(axis=0)
    np.testing.assert_allclose(X_tr[:, 2:], (raw_tr[:, 2:] - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(X_te[:, 2:], (raw_te[:, 2:] - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(X_tr[:, 2:].std(axis=0), 1.0, rtol=1e-12)


def test_mnist_n_samples_takes_the_first_rows(tmp_path):
    write_mnist(tmp_path, mnist_arrays())
    full = load_mnist(n_samples=None, normalize=False, data_dir=tmp_path)
    part = load_mnist(n_samples=9, normalize=False, data_dir=tmp_path)
    np.testing.assert_array_equal(part[0], full[0][:9])
    np.testing.assert_array_equal(part[1], full[1][:9])
    np.testing.assert_array_equal(part[2], full[2])
    assert part[4]["n_train"] == 9 and part[4]["n_test"] == 12


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_samples": 31}, ValueError, r"n_samples must be <= 30 \(the training images in"),
        ({"n_samples": 0}, ValueError, "n_samples must be an integer >= 1"),
        ({"n_samples": 2.0}, TypeError, "n_samples must be an integer"),
        (
            {"binary_classification": "yes"},
            TypeError,
            "binary_classification must be True or False",
        ),
        ({"normalize": 1}, TypeError, "normalize must be True or False"),
        ({"download": None}, TypeError, "download must be True or False"),
    ],
)
def test_mnist_bad_arguments(tmp_path, kwargs, exc, match):
    write_mnist(tmp_path, mnist_arrays())
    with pytest.raises(exc, match=match):
        load_mnist(data_dir=tmp_path, **{"n_samples": 5, **kwargs})


def test_mnist_reads_from_accel_data_dir(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist", mnist_arrays())
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path))
    *_, meta = load_mnist(n_samples=5)
    assert meta["data_dir"] == str(tmp_path / "mnist")


def test_mnist_downloads_verified_files_into_the_cache(tmp_path, monkeypatch):
    blobs = {name: idx_gz(a) for name, a in mnist_arrays().items()}
    files = tuple(
        RemoteFile(
            f.name, (f"https://mirror.invalid/{f.name}",), hashlib.sha256(blobs[f.name]).hexdigest()
        )
        for f in _mnist.MNIST_FILES
    )
    monkeypatch.setattr(_mnist, "MNIST_FILES", files)
    calls = serve(monkeypatch, {f"https://mirror.invalid/{n}": b for n, b in blobs.items()})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_cache.sys, "platform", "linux")
    X_tr, *_ = load_mnist(n_samples=10)
    assert X_tr.shape == (10, 16) and len(calls) == 4
    expected = ["accel", "accel/mnist", *sorted(f"accel/mnist/{n}" for n in blobs)]
    assert tree(tmp_path / "cache") == expected
    load_mnist(n_samples=10)
    assert len(calls) == 4


def test_mnist_offline_error_then_files_placed_by_hand_work(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="MNIST: 4 file") as info:
        load_mnist()
    message = str(info.value)
    for f in _mnist.MNIST_FILES:
        assert f.name in message and f.sha256 in message
    assert str(tmp_path / "mnist") in message and "offline test" in message
    assert tree(tmp_path) == []  # no empty mnist/ folder left behind
    write_mnist(tmp_path / "mnist", mnist_arrays())
    assert load_mnist(n_samples=3)[0].shape == (3, 16)


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda b: b[: len(b) // 2], "not a valid gzip file"),
        (lambda b: gzip.compress(gzip.decompress(b)[:-5]), "truncated or corrupt"),
        (lambda b: gzip.compress(b"\x01\x02\x08\x03" + gzip.decompress(b)[4:]), "not an IDX file"),
    ],
)
def test_mnist_corrupt_file_names_the_file(tmp_path, corrupt, match):
    blobs = write_mnist(tmp_path, mnist_arrays())
    name = "train-images-idx3-ubyte.gz"
    (tmp_path / name).write_bytes(corrupt(blobs[name]))
    with pytest.raises(ValueError, match=match) as info:
        load_mnist(n_samples=5, data_dir=tmp_path)
    assert name in str(info.value)


def test_mnist_inconsistent_files(tmp_path):
    arrays = mnist_arrays()
    arrays["train-labels-idx1-ubyte.gz"] = arrays["train-labels-idx1-ubyte.gz"][:-1]
    write_mnist(tmp_path, arrays)
    with pytest.raises(ValueError, match=r"has 30 images but .* has 29 labels"):
        load_mnist(n_samples=5, data_dir=tmp_path)
    arrays = mnist_arrays()
    arrays["t10k-labels-idx1-ubyte.gz"][0] = 11
    write_mnist(tmp_path, arrays)
    with pytest.raises(ValueError, match="labels must be digits 0-9, found 11"):
        load_mnist(n_samples=5, data_dir=tmp_path)


def test_mnist_recorded_files_are_the_standard_ones():
    names = [f.name for f in _mnist.MNIST_FILES]
    assert names == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    for f in _mnist.MNIST_FILES:
        assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0
        assert all(url.endswith("/" + f.name) for url in f.urls)


# ---- California housing -----------------------------------------------------------------------


def test_california_csv_features_match_sklearn_transformation(tmp_path):
    (tmp_path / "cal_housing.data").write_bytes(cal_csv())
    X_tr, y_tr, X_te, y_te, meta = load_california_housing(tmp_path, normalize=False, seed=3)
    X_ref, y_ref = sklearn_reference(CAL_ROWS)
    order = np.random.default_rng(3).permutation(10)  # the documented split
    np.testing.assert_allclose(X_te, X_ref[order[:2]], rtol=1e-15)
    np.testing.assert_allclose(X_tr, X_ref[order[2:]], rtol=1e-15)
    np.testing.assert_allclose(y_te, y_ref[order[:2]], rtol=1e-15)
    np.testing.assert_allclose(y_tr, y_ref[order[2:]], rtol=1e-15)
    assert y_ref[0] == pytest.approx(4.526)  # units of 100k USD
    assert meta["feature_names"] == (
        "MedInc",
        "HouseAge",
        "AveRooms",
        "AveBedrms",
        "Population",
        "AveOccup",
        "Latitude",
        "Longitude",
    )
    assert meta["n_train"] == 8 and meta["n_test"] == 2 and meta["n_features"] == 8


def test_california_split_is_deterministic_in_the_seed(tmp_path):
    (tmp_path / "cal_housing.data").write_bytes(cal_csv())
    a = load_california_housing(tmp_path, seed=1)
    b = load_california_housing(tmp_path, seed=1)
    c = load_california_housing(tmp_path, seed=2)
    for left, right in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[1], c[1])
    np.testing.assert_allclose(a[0].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(a[0].std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.sort(np.concatenate([a[1], a[3]])), np.sort(CAL_ROWS[:, 8] / 1e5))


def test_california_archive_is_read_like_the_csv(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "cal_housing.data").write_bytes(cal_csv())
    (tmp_path / "tgz").mkdir()
    (tmp_path / "tgz" / "cal_housing.tgz").write_bytes(cal_tgz(cal_csv()))
    from_csv = load_california_housing(tmp_path / "csv")
    from_tgz = load_california_housing(tmp_path / "tgz")
    for left, right in zip(from_csv[:4], from_tgz[:4], strict=True):
        np.testing.assert_array_equal(left, right)


def test_california_downloads_the_verified_archive(tmp_path, monkeypatch):
    blob = cal_tgz(cal_csv())
    url = "https://figshare.invalid/5976036"
    remote = RemoteFile("cal_housing.tgz", (url,), hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(_california, "CALIFORNIA_ARCHIVE", remote)
    calls = serve(monkeypatch, {url: blob})
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path))
    *_, meta = load_california_housing()
    assert calls == [url] and meta["n_train"] + meta["n_test"] == 10
    assert tree(tmp_path) == ["california_housing", "california_housing/cal_housing.tgz"]


def test_california_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="California housing: 1 file") as info:
        load_california_housing()
    message = str(info.value)
    for expected in (
        "cal_housing.tgz",
        "cal_housing.data",
        str(tmp_path / "california_housing"),
        _california.CALIFORNIA_ARCHIVE.sha256,
        "ndownloader.figshare.com",
    ):
        assert expected in message, expected
    assert tree(tmp_path) == []
    with pytest.raises(DataUnavailableError, match="download=False"):
        load_california_housing(download=False)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (cal_csv(CAL_ROWS[:, :8]), r"expected rows of 9 columns"),
        (b"a,b,c\n", "not a numeric comma-separated file"),
        (b"", "the file is empty"),
        (
            cal_csv(np.where(np.arange(9) == 6, 0.0, CAL_ROWS)),
            r"households \(column 7\) must be > 0",
        ),
        (cal_csv(np.where(np.arange(9) == 0, np.nan, CAL_ROWS)), "contains NaN or inf"),
    ],
)
def test_california_bad_csv(tmp_path, content, match):
    (tmp_path / "cal_housing.data").write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        load_california_housing(tmp_path)
    assert "cal_housing.data" in str(info.value)


def test_california_bad_archive(tmp_path):
    (tmp_path / "cal_housing.tgz").write_bytes(cal_tgz(cal_csv(), member="other.csv"))
    with pytest.raises(ValueError, match=r"has no member CaliforniaHousing/cal_housing\.data"):
        load_california_housing(tmp_path)
    (tmp_path / "cal_housing.tgz").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match=r"not a readable \.tgz archive"):
        load_california_housing(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"test_size": 0.0}, ValueError, r"test_size must be in \(0, 1\)"),
        ({"test_size": 1.0}, ValueError, r"test_size must be in \(0, 1\)"),
        ({"test_size": 0.99}, ValueError, "leaves 0 training and 10 test rows"),
        ({"seed": -3}, ValueError, "seed must be an integer"),
        ({"normalize": "no"}, TypeError, "normalize must be True or False"),
    ],
)
def test_california_bad_arguments(tmp_path, kwargs, exc, match):
    (tmp_path / "cal_housing.data").write_bytes(cal_csv())
    with pytest.raises(exc, match=match):
        load_california_housing(tmp_path, **kwargs)


def test_california_recorded_archive():
    remote = _california.CALIFORNIA_ARCHIVE
    assert remote.name == "cal_housing.tgz"
    assert remote.sha256 == "aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681"


# ---- metadata contract (every loader and generator) ------------------------------------------------------------------------


def _all_sources(tmp_path):
    write_mnist(tmp_path / "mnist", mnist_arrays())
    (tmp_path / "cal").mkdir()
    # 40 rows (10 fixture rows, jittered): enough for a nonsingular 8-feature training Hessian.
    jitter = 1 + 0.05 * np.random.default_rng(0).random((4, *CAL_ROWS.shape))
    (tmp_path / "cal" / "cal_housing.data").write_bytes(cal_csv(np.vstack(CAL_ROWS * jitter)))
    X, _, _, meta = ds.generate_highdim_regression(50, 10)
    yield "generate_highdim_regression", X, None, meta
    X, _, meta = ds.generate_extreme_condition_data(60, 12, condition_type="near_singular")
    yield "generate_extreme_condition_data", X, None, meta
    X_tr, _, X_te, _, meta = ds.load_mnist(n_samples=20, data_dir=tmp_path / "mnist")
    yield "load_mnist", X_tr, X_te, meta
    X_tr, _, X_te, _, meta = ds.load_california_housing(tmp_path / "cal")
    yield "load_california_housing", X_tr, X_te, meta
    for loader in (ds.load_digits_binary, ds.load_digits, ds.load_diabetes):
        X_tr, _, X_te, _, meta = loader()
        yield loader.__name__, X_tr, X_te, meta


def test_every_loader_and_generator_has_the_metadata_contract(tmp_path):
    seen = []
    for name, X_tr, X_te, meta in _all_sources(tmp_path):
        seen.append(name)
        assert set(REQUIRED_KEYS) <= set(meta), name
        assert isinstance(meta["name"], str) and meta["name"], name
        assert isinstance(meta["source"], str) and meta["source"], name
        assert meta["n_train"] == X_tr.shape[0], name
        assert meta["n_test"] == (0 if X_te is None else X_te.shape[0]), name
        assert meta["n_features"] == X_tr.shape[1], name
        # Reference: NumPy's condition number of the training Hessian (inf when singular).
        H = X_tr.T @ X_tr / X_tr.shape[0]
        if np.linalg.matrix_rank(X_tr) < X_tr.shape[1]:
            assert meta["condition_number"] == np.inf and meta["singular"] is True, name
        else:
            assert meta["condition_number"] == pytest.approx(np.linalg.cond(H), rel=1e-6), name
    # load_digit_images returns images (n, 28, 28, 1) for image models, not a feature matrix
    # with its conditioning: tests/test_datasets_shipped.py checks it
    matrices = [f for f in ds.__all__ if f.startswith(("load_", "generate_")) and f != "load_digit_images"]
    assert sorted(seen) == sorted(matrices)
