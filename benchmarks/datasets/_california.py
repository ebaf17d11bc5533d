"""California housing (1990 census block groups: 20,640 rows, 8 features)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from ._cache import RemoteFile, ensure_files, resolve_data_dir
from ._checks import check_bool, check_seed, check_test_size
from ._conditioning import dataset_metadata
from ._preprocess import standardize, train_test_split

__all__ = ["CALIFORNIA_ARCHIVE", "CALIFORNIA_CSV", "FEATURE_NAMES", "load_california_housing"]

# The archive scikit-learn's fetch_california_housing downloads; URL and SHA-256 copied
# from scikit-learn 1.9 (sklearn/datasets/_california_housing.py, ARCHIVE).
CALIFORNIA_ARCHIVE = RemoteFile(
    "cal_housing.tgz",
    ("https://ndownloader.figshare.com/files/5976036",),
    "aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681",
)
_MEMBER = "CaliforniaHousing/cal_housing.data"
# The extracted CSV (no header, 9 columns), accepted in place of the archive.
CALIFORNIA_CSV = "cal_housing.data"
_RAW_COLUMNS = (
    "longitude", "latitude", "housingMedianAge", "totalRooms", "totalBedrooms",
    "population", "households", "medianIncome", "medianHouseValue",
)  # fmt: skip
FEATURE_NAMES = (
    "MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude",
)  # fmt: skip


def _form(line: bytes) -> tuple[int, ...]:
    """Digits after the decimal point of each field (-1: no point): the standard file writes
    every number with 6."""
    return tuple(len(f.strip().partition(b".")[2]) if b"." in f else -1 for f in line.split(b","))


def _check_not_truncated(data: bytes, name: str) -> None:
    """Refuse a file cut short (a partial copy or download): its last row must be written
    like the row before it: as many columns and, where the file does not end with a line
    end, the same digits (a number cut short loses some). A cut exactly at a line end leaves
    a shorter but well-formed file, which cannot be told from a smaller data set."""
    stripped = data.rstrip()
    cut = stripped.rfind(b"\n")
    if cut < 0:
        return  # one row: the column check of _parse_csv
    last = stripped[cut + 1:]
    previous = stripped[stripped.rfind(b"\n", 0, cut) + 1:cut].rstrip(b"\r")
    line = stripped.count(b"\n") + 1
    columns, expected = len(last.split(b",")), len(previous.split(b","))
    if columns != expected:
        raise ValueError(
            f"{name}: truncated or corrupt: the last row (line {line}) has {columns} columns, "
            f"line {line - 1} has {expected}: {last[:120]!r}"
        )
    if not data.rstrip(b" \t").endswith(b"\n") and _form(last) != _form(previous):
        raise ValueError(
            f"{name}: truncated: the last line (line {line}) has no line end and its numbers "
            f"have other digits than line {line - 1}'s ({last[:120]!r}); if the file is "
            "complete, end it with a newline"
        )


def _parse_csv(data: bytes, name: str) -> np.ndarray:
    if not data.strip():
        raise ValueError(f"{name}: the file is empty")
    _check_not_truncated(data, name)
    try:
        raw = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{name}: not a numeric comma-separated file ({error})") from error
    if raw.shape[0] == 0 or raw.shape[1] != len(_RAW_COLUMNS):
        raise ValueError(
            f"{name}: expected rows of {len(_RAW_COLUMNS)} columns {_RAW_COLUMNS}, got shape {raw.shape}"
        )
    if not np.all(np.isfinite(raw)):
        raise ValueError(f"{name}: contains NaN or inf")
    if np.any(raw[:, 6] <= 0):
        raise ValueError(f"{name}: households (column 7) must be > 0 in every row")
    return raw


def _read_archive(path: Path) -> np.ndarray:
    try:
        with tarfile.open(path, "r:gz") as archive:
            member = archive.extractfile(_MEMBER)
            if member is None:
                raise KeyError(_MEMBER)
            data = member.read()
    except KeyError as error:
        raise ValueError(f"{path}: the archive has no member {_MEMBER}") from error
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .tgz archive ({error})") from error
    return _parse_csv(data, f"{path}:{_MEMBER}")


def california_features(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features and target from the 9 raw columns, exactly as scikit-learn derives them.

    .. code-block:: text

        MedInc = medianIncome, HouseAge = housingMedianAge,
        AveRooms = totalRooms / households, AveBedrms = totalBedrooms / households,
        Population = population, AveOccup = population / households,
        Latitude = latitude, Longitude = longitude,
        y = medianHouseValue / 100000          (units of 100,000 USD)
    """
    lon, lat, age, rooms, bedrooms, population, households, income, value = raw.T
    X = np.column_stack(
        [income, age, rooms / households, bedrooms / households, population,
         population / households, lat, lon]
    )  # fmt: skip
    return X, value / 100000.0


def load_california_housing(
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """California housing as ``X_train, y_train, X_test, y_test, metadata``.

    The standard data set (20,640 rows, features ``FEATURE_NAMES``, target: median house
    value in units of 100,000 USD; see :func:`california_features`). Read from the folder
    ``data_dir``, else ``$ACCEL_DATA_DIR/california_housing``, else
    ``<user cache>/accel/california_housing``: the extracted CSV ``cal_housing.data`` if
    present, else the archive ``cal_housing.tgz``, which is downloaded and SHA-256-verified
    when missing, ``download`` is true and the network allows; otherwise one
    :class:`DataUnavailableError` names the file and the folder to put it in.

    The split is a shuffle determined by ``seed`` alone (``ceil(test_size * n)`` test rows);
    ``normalize`` standardises the features with training statistics (the target is left
    in 100k USD). ``metadata['condition_number']`` is that of ``X_train.T @ X_train / n``.

    Example:
        >>> X_tr, y_tr, X_te, y_te, meta = load_california_housing()  # doctest: +SKIP
        >>> meta["n_train"] + meta["n_test"], meta["n_features"]  # doctest: +SKIP
        (20640, 8)
    """
    download = check_bool(download, "download")
    normalize = check_bool(normalize, "normalize")
    test_size = check_test_size(test_size)
    seed = check_seed(seed)
    directory = resolve_data_dir(data_dir, "california_housing")
    csv = directory / CALIFORNIA_CSV
    if csv.is_file():
        raw, source = _parse_csv(csv.read_bytes(), str(csv)), str(csv)
    else:
        paths = ensure_files(
            "California housing",
            (CALIFORNIA_ARCHIVE,),
            directory,
            download,
            subdir="california_housing",
            hint=f"The extracted CSV {CALIFORNIA_CSV} (9 columns, no header) is accepted instead.",
        )
        path = paths[CALIFORNIA_ARCHIVE.name]
        raw, source = _read_archive(path), str(path)
    X, y = california_features(raw)
    X_train, y_train, X_test, y_test = train_test_split(X, y, test_size, seed)
    if normalize:
        X_train, X_test = standardize(X_train, X_test)
    metadata = dataset_metadata(
        "california_housing",
        source,
        X_train,
        X_test,
        data_dir=str(directory),
        feature_names=FEATURE_NAMES,
        target="median house value / 100,000 USD",
        task="regression",
        normalized=normalize,
        seed=seed,
        test_size=test_size,
    )
    return X_train, y_train, X_test, y_test, metadata
