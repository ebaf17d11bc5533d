"""Parquet files as a data source: converted once into ``.npy`` shards, then read as those.

:class:`ParquetShards` reads a set of Parquet files (pyarrow, the ``data`` extra) whose
numeric feature columns become column ``'X'`` and whose target becomes ``'y'``. Reading
random rows of a compressed, columnar file costs a decompression of its row group per row,
so the files are converted once, a row group at a time (never a whole file in memory), into
float32 ``.npy`` shards, which :class:`~accel.data._sources.NpyShards` then reads with
``pread`` (``_files``). Every file's schema is checked before anything is written, and a
failed conversion leaves no partial cache.

Refused, naming the file or parameter: a missing file, a file without the target or a
feature column, files with different features, a non-numeric column (strings, dictionary
(category) columns of strings, timestamps), ``features`` that include the target, and a
``cache_dir`` that is not a directory. (Parquet keeps dictionary encoding only for strings
and binary values: a column of numbers written from a dictionary is read back as numbers.)

Example:
    >>> import os, tempfile
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from accel.data import ParquetShards
    >>> d = tempfile.mkdtemp()
    >>> pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": [0, 1, 0], "y": [0.5, 1.5, 2.5]}),
    ...                os.path.join(d, "part-0.parquet"))
    >>> src = ParquetShards(os.path.join(d, "*.parquet"), target="y")
    >>> src.feature_names, src.read(np.array([2, 0]))["X"].tolist()
    (('a', 'b'), [[3.0, 0.0], [1.0, 0.0]])
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from accel.data._sources import NpyShards, expand_files

__all__ = ["ParquetShards"]


def _value_kind(arrow_type: Any) -> str:
    """The NumPy kind (``'f'``, ``'i'``, ...) of a column's Arrow type; ``'O'`` where NumPy
    has no such type (a dictionary (category) column: pyarrow raises for it)."""
    try:
        return np.dtype(arrow_type.to_pandas_dtype()).kind
    except (NotImplementedError, TypeError):
        return "O"


class ParquetShards(NpyShards):
    """Parquet files (a glob or a list; pyarrow): ``features`` (numeric columns, all of them
    but ``target`` by default) become column ``'X'`` (float32, one column per feature, in
    order) and ``target`` column ``'y'``. The files are converted once, a row group at a
    time, into ``.npy`` shards under ``cache_dir`` (a new temporary folder by
    default), so reading random rows costs no decompression and no private memory."""

    def __init__(self, files: Any, target: str = "y", features: Sequence[str] | None = None,
                 cache_dir: str | os.PathLike | None = None) -> None:  # fmt: skip
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:  # pragma: no cover - pyarrow is an optional dependency
            raise ImportError("ParquetShards needs pyarrow: pip install 'accel[data]'") from None
        if not isinstance(target, str):
            raise TypeError(f"target must be a column name (str), got {type(target).__name__}")
        if features is not None and (isinstance(features, str | bytes) or not isinstance(features, Sequence)
                                     or not all(isinstance(c, str) for c in features)):  # fmt: skip
            raise TypeError(f"features must be None (every column but the target) or a list of column "
                            f"names (str), got {features!r}")  # fmt: skip
        if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
            raise TypeError(f"cache_dir must be None (a new temporary folder) or a path, got "
                            f"{type(cache_dir).__name__}")  # fmt: skip
        paths = expand_files(files, "parquet")
        names: list[str] | None = None
        readers = []
        for path in paths:  # every file's schema is checked before anything is written
            if not Path(path).is_file():
                raise ValueError(f"parquet: no such file {path!r}")
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            cols = [f.name for f in schema]
            if target not in cols:
                raise ValueError(f"parquet file {path!r} has no target column {target!r} (columns: {cols})")
            feats = list(features) if features is not None else [c for c in cols if c != target]
            if target in feats:
                raise ValueError(f"features must not include the target column {target!r}: it would be "
                                 f"a feature of its own prediction (features: {feats})")  # fmt: skip
            missing = [c for c in feats if c not in cols]
            if missing:
                raise ValueError(f"parquet file {path!r} has no feature column(s) {missing}")
            if names is None:
                names = feats
            elif feats != names:
                raise ValueError(f"parquet file {path!r} has features {feats}, the first file has {names}")
            for c in [*feats, target]:
                arrow_type = schema.field(c).type
                if _value_kind(arrow_type) not in "biuf":
                    kind = "a dictionary (category) column of " if pa.types.is_dictionary(arrow_type) else ""
                    raise TypeError(f"parquet column {c!r} in {path!r} must be numeric (bool, integer or "
                                    f"float), got {kind}{arrow_type}")  # fmt: skip
            readers.append(pf)
        feats = names or []
        temporary = cache_dir is None
        if not temporary and os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
            raise ValueError(f"cache_dir must be a directory (it is created if missing), got the file "
                             f"{os.fspath(cache_dir)!r}")  # fmt: skip
        cache = Path(tempfile.mkdtemp(prefix="accel-parquet-") if temporary else cache_dir)
        cache.mkdir(parents=True, exist_ok=True)
        xs = [cache / f"X-{i:05d}.npy" for i in range(len(readers))]
        ys = [cache / f"y-{i:05d}.npy" for i in range(len(readers))]
        try:
            for pf, x_path, y_path in zip(readers, xs, ys, strict=True):
                _convert(pf, feats, target, x_path, y_path)
        except BaseException:  # no partial cache: remove what was written
            for f in xs + ys:
                f.unlink(missing_ok=True)
            if temporary:
                shutil.rmtree(cache, ignore_errors=True)
            raise
        if temporary:  # the converted copy lives as long as this source
            weakref.finalize(self, shutil.rmtree, cache, ignore_errors=True)
        self.feature_names = tuple(names or ())
        self.cache_dir = cache
        self.files = tuple(paths)
        self.target = target
        super().__init__({"X": xs, "y": ys})

    def locate(self, name: str, row: int) -> str:
        """Where row ``row`` comes from: its Parquet file and row there, and the column(s)."""
        s = int(np.searchsorted(self._starts, row, side="right")) - 1
        if name == "X":  # the feature column(s) holding a non-finite value, else all of them
            x = self.read(np.array([row]))["X"][0]
            bad = [f for f, v in zip(self.feature_names, x, strict=True) if not np.isfinite(v)]
            cols = f"column(s) {bad or list(self.feature_names)}"
        else:
            cols = f"column {self.target!r}"
        return f"row {row - int(self._starts[s])} of {self.files[s]!r}, {cols}"


def _convert(pf: Any, feats: list[str], target: str, x_path: Path, y_path: Path) -> None:
    """One Parquet file -> float32 ``X`` (rows, features) and ``y`` (rows,) ``.npy`` files,
    a row group at a time."""
    n = pf.metadata.num_rows
    X = np.lib.format.open_memmap(x_path, "w+", np.float32, (n, len(feats)))
    y = np.lib.format.open_memmap(y_path, "w+", np.float32, (n,))
    at = 0
    for g in range(pf.num_row_groups):
        table = pf.read_row_group(g, columns=[*feats, target])
        m = table.num_rows
        for j, c in enumerate(feats):
            X[at : at + m, j] = table.column(c).to_numpy()
        y[at : at + m] = table.column(target).to_numpy()
        at += m
    X.flush()
    y.flush()



