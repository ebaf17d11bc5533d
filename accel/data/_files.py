"""Rows of an array stored in a file, read with ``pread`` and checked for change on every read.

A source reads rows of ``.npy`` files (and of the memory maps a user passes) many times over
a fit. Reading them through a memory map is not safe against a file that changes meanwhile:
a file truncated while it is mapped makes the next access to a page past its new end raise
``SIGBUS``, which kills the process with no message (no Python handler can recover from it:
the faulting copy is re-executed), and a file rewritten in place is read half old, half new.
A check of the file's size before each read does not close the gap: the truncation can
happen between the check and the copy.

So :class:`FileRows` never maps the file. Each read opens the file, reads the rows with
``pread`` (``os.preadv``) into a buffer, and closes it:

* a truncated file cannot raise ``SIGBUS``: ``pread`` past the end returns fewer bytes (a
  short read), which is detected and reported as a ``ValueError`` naming the file;
* the file's identity and state, ``(st_dev, st_ino, st_size, st_mtime_ns)``, are recorded
  when the source is opened, compared when each read opens the file (a file replaced,
  truncated or rewritten since the last read) and, with ``fstat`` on the open descriptor,
  after the rows are read (a change *during* the read: a write that landed while the rows
  were copied has updated the modification time by the time the read ends). Any
  difference stops the read with a ``ValueError`` naming the file and what changed. Cost:
  an ``open``, two ``fstat`` and a ``close`` per read of a block of rows (microseconds),
  and no file descriptor is held between reads (thousands of shards need no more).

What it cannot see: a rewrite that leaves the size unchanged within one tick of the file
system's clock of the recorded modification time (ext4 stamps times with a clock of a few
milliseconds), or a rewrite that sets the time back (``os.utime``, ``cp -p``).

Rows are read in runs: the requested rows are sorted, and rows that lie within
``GAP_BYTES`` of each other in the file are read by one ``pread`` (reading them costs
less than another system call); a contiguous block of rows in order (an evaluation chunk,
a fingerprint) is a single ``pread`` into the result. Runs are read into a scratch buffer
of at most ``SCRATCH_BYTES``, a window of runs at a time (a run longer than half of it is
cut), and their rows copied out: a read of many rows spread over the whole file (the input
pipeline reads a block of several steps at once) reads most of the file in large runs,
never the file at once. The price of safety is one system call per row read at random
from a large file, where the rows asked for are few and far apart: on the 2-core VM
(``benchmarks/bench_source_reads.py``, BENCHMARKS.md), 1024 random rows of 1 KiB took 2.6
ms against 0.6 ms through a memory map. The input pipeline reads on worker threads, ahead
of the steps, so the cost is hidden wherever a step computes longer than its rows take to
read. A row-major (C-ordered) file reads each row's bytes at
once; a Fortran-ordered file (``np.save`` of an F-contiguous array, such as many
``DataFrame.to_numpy()`` results) is read one column at a time, correct but a system call
per column and run: save such data C-ordered (``np.ascontiguousarray``) for speed.

Example:
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(12.0).reshape(6, 2))
    >>> rows = FileRows.npy(path, "X")
    >>> rows.shape, rows.take(np.array([5, 0, 5])).tolist()
    ((6, 2), [[10.0, 11.0], [0.0, 1.0], [10.0, 11.0]])
"""

from __future__ import annotations

import itertools
import mmap
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GAP_BYTES", "SCRATCH_BYTES", "FileRows"]

# Rows closer than this in the file (bytes between them) are read by one pread: on the
# 2-core VM a pread of a row costs about 2.4 us and a copy from the page cache 0.15-0.3
# ns/byte, so skipping 8-16 KiB costs what a system call does; of 8, 16 and 32 KiB, 16 read
# 32768 of 200000 rows of 1 KiB fastest (ad hoc timings on the VM: 28 ms against 49 and 29).
GAP_BYTES = 16384
# A read of many rows goes through a scratch buffer of at most this many bytes: runs are
# read into it a window at a time and their rows copied out (a block of dense rows reads
# most of the file, never all at once).
SCRATCH_BYTES = 8 << 20


def _header(path: str, name: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, data offset)`` of a ``.npy`` file; a file that is
    empty or not a ``.npy`` file is refused naming it."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ValueError(f"column {name!r}: {path!r} is empty (0 bytes), not a .npy file")
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:  # version 3.0 (a UTF-8 header): NumPy reads it with its private reader
                shape, fortran, dtype = fmt._read_array_header(f, version)
        except (ValueError, SyntaxError, TypeError, EOFError, UnicodeDecodeError) as err:
            raise ValueError(f"column {name!r}: {path!r} is not a readable .npy file: {err}") from None
        return tuple(shape), bool(fortran), np.dtype(dtype), f.tell()


class FileRows:
    """The rows of an array of ``shape`` and ``dtype`` stored in the file ``path`` from byte
    ``offset``: row ``r`` of element ``(r, *i)`` at ``offset + r * strides[0] + Σ i_k *
    strides[k]`` (module doc). ``name`` (the column) names it in messages. Array-like
    enough for the sources: ``shape``, ``dtype``, ``ndim``, ``len``, ``take(rows)``."""

    def __init__(self, path: Any, offset: int, shape: tuple[int, ...], dtype: Any,
                 strides: tuple[int, ...] | None = None, *, name: str = "data") -> None:  # fmt: skip
        self.path = os.fspath(path)
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if not self.shape:
            raise ValueError(f"column {name!r}: {self.path!r} holds a scalar, a column needs a row axis")
        if self.dtype.hasobject:
            raise TypeError(f"column {name!r} must be numeric (bool, integer or float), got dtype {self.dtype} "
                            f"in {self.path!r}")  # fmt: skip
        isz = self.dtype.itemsize
        tail = self.shape[1:]
        c_tail = tuple(int(np.prod(tail[k + 1 :], dtype=np.int64)) * isz for k in range(len(tail)))
        if strides is None:
            strides = (int(np.prod(tail, dtype=np.int64)) * isz, *c_tail)
        strides = tuple(int(s) for s in strides)
        n = self.shape[0]
        self._flip = strides[0] < 0  # rows stored last to first: read row n - 1 - r
        if self._flip:
            offset, strides = offset + (n - 1) * strides[0], (-strides[0], *strides[1:])
        self.row_bytes = int(np.prod(tail, dtype=np.int64)) * isz
        if tuple(strides[1:]) == c_tail and (strides[0] >= self.row_bytes or n <= 1):
            self._lines = [0]  # each row's bytes follow each other: one cell of row_bytes
            self._cell = self.row_bytes
        else:  # a cell per element (Fortran order, strided views): one line per element
            self._lines = [sum(i * s for i, s in zip(idx, strides[1:], strict=True)) for idx in np.ndindex(*tail)]
            self._cell = isz
        self._stride = max(strides[0], self._cell)
        self.offset = int(offset)
        end = self.offset + max(self._lines, default=0) + (n - 1) * self._stride + self._cell if n else 0
        low = self.offset + min(self._lines, default=0)
        st = self._stat_path()
        if n and (low < 0 or end > st.st_size):
            raise ValueError(
                f"column {name!r}: {self.path!r} holds {st.st_size} bytes, fewer than its "
                f"{n} rows of {self.dtype}{list(tail)} need ({end} bytes): a truncated file"
            )
        self._stamp = self._state(st)

    @classmethod
    def npy(cls, path: Any, name: str) -> FileRows:
        """The rows of a ``.npy`` file; its header must describe the whole file (a file that
        holds more bytes than its header's rows is refused: it was written with a different
        header, or appended to)."""
        path = os.fspath(path)
        if not Path(path).is_file():
            raise ValueError(f"column {name!r}: no such file {path!r}")
        shape, fortran, dtype, offset = _header(path, name)
        if dtype.hasobject:
            raise TypeError(f"column {name!r} must be numeric (bool, integer or float), got dtype {dtype} in {path!r}")
        if not shape:
            raise ValueError(f"column {name!r}: {path!r} holds a scalar, a column needs a row axis")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = os.stat(path).st_size
        if size != offset + nbytes:
            rows = f"{shape[0]} rows of {dtype}{list(shape[1:])}"
            raise ValueError(
                f"column {name!r}: {path!r} holds {size - offset} bytes of data, its header "
                f"declares {rows} ({nbytes} bytes): "
                + ("a truncated file" if size < offset + nbytes else "the header describes only part of the file")
            )
        strides = None
        if fortran and len(shape) > 1:  # element (r, *i) at r + n * (Fortran-flat index of i)
            strides, step = [dtype.itemsize], dtype.itemsize * shape[0]
            for k in shape[1:]:
                strides.append(step)
                step *= k
        return cls(path, offset, shape, dtype, None if strides is None else tuple(strides), name=name)

    @classmethod
    def of_memmap(cls, a: np.memmap, name: str) -> FileRows | None:
        """The rows of a read-only memory map of a file (any view of it: slices, steps,
        Fortran order), read from the file; ``None`` where ``a`` is not a map of a named
        file (then it is read as an array)."""
        filename = getattr(a, "filename", None)
        root = a
        while isinstance(getattr(root, "base", None), np.ndarray):
            root = root.base
        mm = getattr(root, "base", None)
        if not filename or a.ndim == 0 or a.size == 0 or not isinstance(mm, mmap.mmap):
            return None
        if a.shape[0] > 1 and abs(a.strides[0]) < a.dtype.itemsize:
            return None  # rows broadcast or overlapping: read as an array
        # np.memmap maps the file from its offset rounded down to the allocation granularity
        map_start = int(getattr(root, "offset", 0)) // mmap.ALLOCATIONGRANULARITY * mmap.ALLOCATIONGRANULARITY
        offset = map_start + (a.ctypes.data - np.frombuffer(mm, np.uint8).ctypes.data)
        return cls(filename, offset, a.shape, a.dtype, a.strides, name=name)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    # -- the file's state ---------------------------------------------------------------
    @staticmethod
    def _state(st: os.stat_result) -> tuple[int, int, int, int]:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def _stat_path(self) -> os.stat_result:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise ValueError(f"column {self.name!r}: no such file {self.path!r}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"column {self.name!r}: {self.path!r} is not a regular file")
        return st

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise ValueError(
                f"{self.path!r} (column {self.name!r}) was removed while it was read for training: a "
                "source's files must not be modified, truncated or replaced until the fit ends"
            ) from None

    def _check(self, st: os.stat_result) -> None:
        """Raise naming the file if its state differs from the one recorded at opening."""
        now = self._state(st)
        if now == self._stamp:
            return
        dev, ino, size, mtime = self._stamp
        if now[:2] != (dev, ino):
            what = "was replaced by another file"
        elif now[2] != size:
            what = f"changed size from {size} to {now[2]} bytes ({'truncated' if now[2] < size else 'grown'})"
        else:
            what = f"was modified (its modification time changed from {mtime} to {now[3]} ns)"
        raise ValueError(
            f"{self.path!r} (column {self.name!r}) {what} while it was read for training: a "
            "source's files must not be modified, truncated or replaced until the fit ends"
        )

    # -- reading --------------------------------------------------------------------------
    def _pread(self, fd: int, buf: memoryview, at: int) -> None:
        while len(buf):
            got = os.preadv(fd, [buf], at) if hasattr(os, "preadv") else _pread_into(fd, buf, at)
            if got == 0:  # past the end: the file shrank since it was checked
                self._check(os.fstat(fd))
                raise ValueError(
                    f"{self.path!r} (column {self.name!r}) ended at byte {at} while it was read "
                    "for training: truncated? a source's files must not change until the fit ends"
                )
            buf, at = buf[got:], at + got

    def _cells(self, fd: int, rows: np.ndarray, line: int) -> np.ndarray:
        """The ``cell`` bytes of ``rows`` on one line: ``(len(rows), cell)`` uint8 (module
        doc: runs of nearby rows, read through a bounded scratch buffer)."""
        stride, cell = self._stride, self._cell
        if rows.size > 1 and stride == cell and np.all(np.diff(rows) == 1):  # a block in order
            buf = np.empty(rows.size * cell, np.uint8)
            self._pread(fd, memoryview(buf), self.offset + line + int(rows[0]) * stride)
            return buf.reshape(rows.size, cell)
        order = np.argsort(rows, kind="stable")
        s = rows[order]
        span = max(1, SCRATCH_BYTES // (2 * stride))  # the most rows one piece reads
        gap = np.diff(s) > max(1, GAP_BYTES // stride)  # a new run starts after each
        run_lo = s[np.r_[0, np.flatnonzero(gap) + 1]]
        part = (s - run_lo[np.r_[0, np.cumsum(gap)]]) // span  # pieces: runs cut every `span` rows
        cut = np.flatnonzero(gap | (np.diff(part) != 0)) + 1
        first, last = np.r_[0, cut], np.r_[cut - 1, s.size - 1]  # each piece's rows, in s
        lo = s[first]
        counts = s[last] - lo + 1  # rows each piece reads
        before = np.cumsum(counts) - counts  # where each piece goes, all pieces packed
        pos = s - np.repeat(lo - before, last - first + 1)  # each row's place there
        offsets = (self.offset + line + lo * stride).tolist()
        # windows: consecutive pieces packed in the scratch (fewer than 2 * span rows each)
        bounds = np.r_[0, np.flatnonzero(np.diff(before // span)) + 1, lo.size].tolist()
        scratch = np.empty(int(min(counts.sum(), 2 * span)) * stride, np.uint8)
        view = memoryview(scratch)
        out = np.empty((rows.size, cell), np.uint8)
        read = os.preadv if hasattr(os, "preadv") else None
        for w0, w1 in itertools.pairwise(bounds):
            base = int(before[w0])
            begins = ((before[w0:w1] - base) * stride).tolist()
            ends = ((before[w0:w1] - base + counts[w0:w1] - 1) * stride + cell).tolist()
            for b, e, at in zip(begins, ends, offsets[w0:w1], strict=True):
                piece = view[b:e]
                if read is None or read(fd, [piece], at) != e - b:  # a short read: finish or report it
                    self._pread(fd, piece, at)
            lattice = np.lib.stride_tricks.as_strided(scratch, shape=(ends[-1] // stride + 1, cell), strides=(stride, 1))
            i0, i1 = int(first[w0]), int(last[w1 - 1]) + 1
            out[order[i0:i1]] = lattice[pos[i0:i1] - base]
        return out

    def take(self, rows: Any) -> np.ndarray:
        """Rows ``rows`` (1-D integers in ``[0, len)``, any order, repeats allowed) as an
        array ``(len(rows), *shape[1:])``; raises naming the file if it changed."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        n = self.shape[0]
        if self._flip:
            rows = n - 1 - rows
        tail = self.shape[1:]
        if rows.size == 0 or self.row_bytes == 0:
            return np.zeros((rows.size, *tail), self.dtype)
        fd = self._open()
        try:
            self._check(os.fstat(fd))  # the file opened is the one recorded
            if len(self._lines) == 1:
                out = self._cells(fd, rows, self._lines[0]).view(self.dtype).reshape(rows.size, *tail)
            else:
                out = np.empty((rows.size, len(self._lines)), self.dtype)
                for j, line in enumerate(self._lines):
                    out[:, j] = self._cells(fd, rows, line).view(self.dtype)[:, 0]
                out = out.reshape(rows.size, *tail)
            self._check(os.fstat(fd))  # no change while the rows were read
        finally:
            os.close(fd)
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        """``rows[ints]`` or ``rows[slice]``: :meth:`take` of those rows."""
        if isinstance(key, slice):
            return self.take(np.arange(*key.indices(self.shape[0])))
        return self.take(np.asarray(key))

    def __repr__(self) -> str:
        return f"FileRows({self.path!r}, shape={self.shape}, dtype={self.dtype})"


def _pread_into(fd: int, buf: memoryview, at: int) -> int:
    data = os.pread(fd, len(buf), at)
    buf[: len(data)] = data
    return len(data)
