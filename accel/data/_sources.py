"""Data sources: where the rows of a training set come from, read a batch of rows at a time.

A source has named columns (``'X'`` and ``'y'`` for ``fit``; any names for ``train``) that
share the row axis, and reads any set of rows: ``read(rows) -> {column: array}`` with
``rows`` a 1-D integer array (in any order, repeats allowed). Sources never load the whole
data set: a file is read through the page cache (not the process's private memory), a
batch at a time, with ``pread``, never through a memory map, and checked for change on
every read (``_files``: a file truncated or rewritten during a fit stops it with an error
naming the file, where a memory map would kill the process with ``SIGBUS``).

* :class:`ArraySource`: arrays in memory, or memory maps (``np.load(path, mmap_mode='r')``:
  their rows are read from the mapped file);
* :class:`NpyShards`: per column, ``.npy`` files (a glob or a list) whose rows follow each
  other;
* :class:`~accel.data._parquet.ParquetShards` (its own module): Parquet files (pyarrow),
  converted once into ``.npy`` shards read as :class:`NpyShards`;
* :class:`RandomAccessSource`: any object with ``__len__`` and ``__getitem__(int)``
  returning a record (a dict of columns, or an ``(x, y)`` tuple): grain's
  ``RandomAccessDataSource`` protocol.

:func:`as_source` turns what a user passes to ``fit``/``train`` into a source. Bad input is
refused with a ``ValueError``/``TypeError`` naming the column or file: a missing, empty
or truncated file, a ``.npy`` header that describes only part of its file, shards with
different feature counts, a non-numeric column, columns of different lengths, and (checked
on every read) a source whose length or record shapes and dtypes change, or whose files
change. :func:`read_checked` gives every read of every source the checks arrays get.

Example:
    >>> import numpy as np, tempfile, os
    >>> from accel.data import NpyShards
    >>> d = tempfile.mkdtemp()
    >>> for k in range(2):
    ...     np.save(os.path.join(d, f"X-{k}.npy"), np.full((3, 2), k, np.float32))
    ...     np.save(os.path.join(d, f"y-{k}.npy"), np.arange(3, dtype=np.float32) + 3 * k)
    >>> src = NpyShards({"X": os.path.join(d, "X-*.npy"), "y": os.path.join(d, "y-*.npy")})
    >>> len(src), src.read(np.array([5, 0]))["y"].tolist()
    (6, [5.0, 0.0])
"""

from __future__ import annotations

import glob
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from accel._checks import array_is_finite, check_real
from accel.data._files import FileRows

__all__ = [
    "ArraySource",
    "NpyShards",
    "RandomAccessSource",
    "Source",
    "Throttled",
    "WrappedSource",
    "as_source",
    "is_source_like",
    "read_checked",
    "streams",
]


class Source(Protocol):
    """What the input pipeline reads from."""

    columns: tuple[str, ...]

    def __len__(self) -> int: ...

    def read(self, rows: np.ndarray) -> dict[str, np.ndarray]: ...

    def spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Per column: the shape of one row and the dtype."""
        ...


def _numeric(name: str, dtype: np.dtype) -> np.dtype:
    if dtype.kind not in "biuf":
        raise TypeError(f"column {name!r} must be numeric (bool, integer or float), got dtype {dtype}")
    return dtype


def _check_rows(rows: Any, n: int) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 1 or rows.dtype.kind not in "iu":
        raise TypeError(f"rows must be a 1-D integer array, got {rows.dtype}{list(rows.shape)}")
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"rows must be in [0, {n}), got [{rows.min()}, {rows.max()}]")
    return rows


class ArraySource:
    """Columns held as arrays (NumPy, or memory maps: read from their file) sharing the
    first axis."""

    def __init__(self, columns: Mapping[str, Any]) -> None:
        if not isinstance(columns, Mapping) or not columns:
            raise TypeError(f"columns must be a non-empty mapping of name -> array, got {type(columns).__name__}")
        arrays = {}
        for name, a in columns.items():
            if isinstance(a, np.memmap):  # read from its file, not through the map (_files)
                a = FileRows.of_memmap(a, str(name)) or np.asarray(a)
            a = a if isinstance(a, np.ndarray | FileRows) else np.asarray(a)
            if a.ndim == 0:
                raise ValueError(f"column {name!r} needs a row axis, got a scalar")
            _numeric(name, a.dtype)
            arrays[str(name)] = a
        lengths = {k: a.shape[0] for k, a in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"columns must have the same number of rows, got {lengths}")
        self._arrays = arrays
        self.columns = tuple(arrays)

    def __len__(self) -> int:
        return next(iter(self._arrays.values())).shape[0]

    def spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {k: (a.shape[1:], a.dtype) for k, a in self._arrays.items()}

    def read(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        rows = _check_rows(rows, len(self))
        return {k: np.asarray(a[rows]) for k, a in self._arrays.items()}  # FileRows: a.take(rows)

    def locate(self, name: str, row: int) -> str:
        """Where row ``row`` of column ``name`` is stored (for messages)."""
        a = self._arrays[name]
        return f"row {row} of {a.path!r}" if isinstance(a, FileRows) else f"row {row} of the array"


def expand_files(files: Any, name: str) -> list[str]:
    """The files of column ``name``: a glob pattern's matches, sorted, or a non-empty list."""
    if isinstance(files, str | os.PathLike):
        found = sorted(glob.glob(os.fspath(files)))
        if not found:
            raise ValueError(f"column {name!r}: no file matches {os.fspath(files)!r}")
        return found
    if isinstance(files, Sequence) and files:
        return [os.fspath(f) for f in files]
    raise TypeError(f"column {name!r} needs a glob pattern or a non-empty list of files, got {files!r}")


class NpyShards:
    """Columns stored as ``.npy`` shards: per column a glob pattern (sorted) or a list of
    files; shard ``i`` of every column holds the same rows. Each shard is read from its file
    (with ``pread``, never through a memory map, and checked for change on every read: a
    shard truncated or rewritten during a fit stops it with an error naming the file)."""

    def __init__(self, columns: Mapping[str, Any]) -> None:
        if not isinstance(columns, Mapping) or not columns:
            raise TypeError(f"columns must be a non-empty mapping of name -> files, got {type(columns).__name__}")
        paths = {str(k): expand_files(v, k) for k, v in columns.items()}
        shards = {k: [FileRows.npy(f, k) for f in v] for k, v in paths.items()}
        counts = {k: len(v) for k, v in shards.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"every column needs the same number of shards, got {counts}")
        for name, parts in shards.items():
            tails = {p.shape[1:] for p in parts}
            if len(tails) != 1:
                raise ValueError(
                    f"column {name!r}: shards with different feature counts {sorted(tails)}"
                )
            dtypes = {p.dtype for p in parts}
            if len(dtypes) != 1:
                raise ValueError(f"column {name!r}: shards with different dtypes {sorted(map(str, dtypes))}")
            _numeric(name, parts[0].dtype)
        lengths = [[p.shape[0] for p in parts] for parts in shards.values()]
        if any(ls != lengths[0] for ls in lengths):
            raise ValueError(f"shard {{i}} of every column must have the same rows, got {dict(zip(shards, lengths, strict=True))}")
        self._shards = shards
        self._paths = paths
        self._starts = np.concatenate([[0], np.cumsum(lengths[0])])
        self.columns = tuple(shards)

    def locate(self, name: str, row: int) -> str:
        """Where row ``row`` of column ``name`` is stored: its shard file and row there."""
        s = int(np.searchsorted(self._starts, row, side="right")) - 1
        return f"row {row - int(self._starts[s])} of {self._paths[name][s]!r}"

    def __len__(self) -> int:
        return int(self._starts[-1])

    def spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return {k: (v[0].shape[1:], v[0].dtype) for k, v in self._shards.items()}

    def read(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        rows = _check_rows(rows, len(self))
        shard = np.searchsorted(self._starts, rows, side="right") - 1
        out = {k: np.empty((rows.size, *t), d) for k, (t, d) in self.spec().items()}
        for s in np.unique(shard):
            where = np.nonzero(shard == s)[0]
            local = rows[where] - self._starts[s]
            for k, parts in self._shards.items():
                out[k][where] = parts[s].take(local)
        return out


class RandomAccessSource:
    """Any ``obj`` with ``__len__`` and ``__getitem__(i)`` (grain's ``RandomAccessDataSource``
    protocol) returning a record: a mapping of columns, or an ``(x, y)`` tuple (columns
    ``'X'``, ``'y'``). The first record fixes each column's shape and dtype; every read
    checks them and the length again."""

    def __init__(self, obj: Any) -> None:
        if not (hasattr(obj, "__len__") and hasattr(obj, "__getitem__")):
            raise TypeError(f"a random-access source needs __len__ and __getitem__, got {type(obj).__name__}")
        self._obj = obj
        self._n = self._length()
        if self._n == 0:
            raise ValueError("the source has no records")
        first = self._record(0)
        self._spec = {k: (v.shape, v.dtype) for k, v in first.items()}
        for k, (_, dtype) in self._spec.items():
            _numeric(k, dtype)
        self.columns = tuple(first)

    def _length(self) -> int:
        n = len(self._obj)
        if not isinstance(n, int) or n < 0:
            raise TypeError(f"len(source) must be a non-negative int, got {n!r}")
        return n

    def _record(self, i: int) -> dict[str, np.ndarray]:
        rec = self._obj[int(i)]
        if isinstance(rec, Mapping):
            return {str(k): np.asarray(v) for k, v in rec.items()}
        if isinstance(rec, tuple) and len(rec) == 2:
            return {"X": np.asarray(rec[0]), "y": np.asarray(rec[1])}
        raise TypeError(f"source[{i}] must be a mapping of columns or an (x, y) tuple, got {type(rec).__name__}")

    def __len__(self) -> int:
        return self._n

    def locate(self, name: str, row: int) -> str:
        return f"record source[{row}]"

    def spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return dict(self._spec)

    def read(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        if self._length() != self._n:
            raise ValueError(f"the source's length changed from {self._n} to {len(self._obj)} during training")
        rows = _check_rows(rows, self._n)
        out = {k: np.empty((rows.size, *s), d) for k, (s, d) in self._spec.items()}
        for j, i in enumerate(rows):
            rec = self._record(i)
            if set(rec) != set(self._spec):
                raise ValueError(f"source[{i}] has columns {sorted(rec)}, the first record has {sorted(self._spec)}")
            for k, v in rec.items():
                if v.shape != self._spec[k][0] or v.dtype != self._spec[k][1]:
                    raise ValueError(
                        f"source[{i}][{k!r}] is {v.dtype}{list(v.shape)}, the first record's is "
                        f"{self._spec[k][1]}{list(self._spec[k][0])}: a source's records must not change"
                    )
                out[k][j] = v
        return out


class WrappedSource:
    """A source that passes everything to ``source``: subclass it and override ``read`` to
    transform, count or delay what is read."""

    def __init__(self, source: Any) -> None:
        if not _is_source(source):
            raise TypeError(f"source must be a data source (accel.data), got {type(source).__name__}")
        self.source = source
        self.columns = source.columns

    def __len__(self) -> int:
        return len(self.source)

    def spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        return self.source.spec()

    def read(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return self.source.read(rows)

    def locate(self, name: str, row: int) -> str:
        return _locate(self.source, name, row)


class Throttled(WrappedSource):
    """``source`` as a slow disk or network would serve it: one read at a time, each taking
    ``seconds_per_read`` longer. To see what a slow source does to training (the
    ``data_wait_time`` in ``history_``; ``benchmarks/bench_input_pipeline.py``).

    >>> import time
    >>> slow = Throttled(ArraySource({"X": np.ones((4, 2), np.float32)}), 0.01)
    >>> t0 = time.perf_counter(); rows = slow.read(np.arange(2))
    >>> rows["X"].shape, time.perf_counter() - t0 >= 0.01
    ((2, 2), True)
    """

    def __init__(self, source: Any, seconds_per_read: float) -> None:
        super().__init__(source)
        self.seconds_per_read = check_real(seconds_per_read, "seconds_per_read", minimum=0.0)
        self._lock = threading.Lock()

    def read(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        with self._lock:
            time.sleep(self.seconds_per_read)
            return self.source.read(rows)


def _is_source(obj: Any) -> bool:
    """One of the sources above, or any object of the :class:`Source` protocol."""
    if isinstance(obj, ArraySource | NpyShards | RandomAccessSource | WrappedSource):
        return True
    return all(hasattr(obj, a) for a in ("read", "spec", "columns", "__len__"))


def _locate(source: Any, name: str, row: int) -> str:
    """Where row ``row`` of column ``name`` is stored, for a message: the source's
    ``locate(name, row)`` (a file and its row there) where it has one."""
    locate = getattr(source, "locate", None)
    return locate(name, row) if callable(locate) else f"row {row}"


def read_checked(source: Any, rows: np.ndarray, *, finite: bool, what: str = "the source",
                 spec: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """``source.read(rows)`` with the checks arrays get, the one place every source's rows
    are checked (the input pipeline's steps and evaluation chunks, validation data): the
    columns of the source's ``spec``, each ``(len(rows), *row shape)`` of its dtype, and
    with ``finite`` no NaN or infinity in any column (``X`` and ``y`` alike). ``what`` names
    the data in the message (``'validation_data'``); the message names the column, the row
    and, where the source knows it, the file."""
    spec = source.spec() if spec is None else spec
    got = source.read(rows)
    if not isinstance(got, Mapping) or set(got) != set(spec):
        names = sorted(got) if isinstance(got, Mapping) else type(got).__name__
        raise ValueError(f"{what}: read() returned columns {names}, its spec() has {sorted(spec)}")
    out = {}
    for name, (tail, dtype) in spec.items():
        a = got[name]
        if not isinstance(a, np.ndarray) or a.shape != (len(rows), *tail) or a.dtype != dtype:
            found = f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
            raise ValueError(
                f"column {name!r} of {what}: read() returned {found} for {len(rows)} rows, its "
                f"spec() says {np.dtype(dtype)}{list(tail)} per row"
            )
        if finite and not array_is_finite(a):
            bad = int(np.nonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))[0][0])
            row = int(rows[bad])
            raise ValueError(
                f"column {name!r} of {what} contains NaN or infinity: {_locate(source, name, row)}"
            )
        out[name] = a
    return out


def is_source_like(obj: Any) -> bool:
    """Whether ``obj`` is read through the input pipeline rather than held as arrays: a
    source, a path, a memory map, or a random-access object that is not an array."""
    if _is_source(obj):
        return True
    if isinstance(obj, str | os.PathLike | np.memmap):
        return True
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__") or hasattr(obj, "__array_namespace__"):
        return False
    if hasattr(obj, "tocsr"):  # a SciPy sparse matrix: the array path refuses it clearly
        return False
    return hasattr(obj, "__len__") and hasattr(obj, "__getitem__") and not isinstance(obj, Mapping | list | tuple)


def streams(obj: Any, batch_size: int | None) -> bool:
    """Whether ``fit``/``train`` stream ``obj`` through the input pipeline: a source, a
    path or a random-access object always; a memory map (or a mapping of columns holding
    one) only with mini-batches: a full batch needs every row at once, so the memory map is
    then read like an array (as scikit-learn's tools expect)."""
    if isinstance(obj, Mapping):
        return batch_size is not None and any(isinstance(v, np.memmap) for v in obj.values())
    if isinstance(obj, np.memmap):
        return batch_size is not None
    return is_source_like(obj)


def as_source(X: Any, y: Any = None) -> Any:
    """A source from what ``fit(X, y)`` receives: a source (``y`` None); paths of ``.npy``
    files (memory-mapped); arrays or memory maps; a random-access object (``y`` None)."""
    if _is_source(X):
        if y is not None:
            raise TypeError("y must be None when X is a data source (the source holds 'y')")
        return X
    if isinstance(X, str | os.PathLike):
        if not isinstance(y, str | os.PathLike):
            raise TypeError(f"with X given as a path, y must be a path too, got {type(y).__name__}")
        return ArraySource({"X": FileRows.npy(X, "X"), "y": FileRows.npy(y, "y")})
    if isinstance(X, np.ndarray) or hasattr(X, "__array__"):
        if y is None:
            raise TypeError("y is required with array X")
        return ArraySource({"X": X, "y": y})
    if y is not None:
        raise TypeError("y must be None when X is a random-access source")
    return RandomAccessSource(X)
