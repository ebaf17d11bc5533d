"""The input pipeline: the rows each of this process's devices needs, read ahead of the step.

For optimizer steps ``[g0, g1)`` of an epoch, step ``g`` needs, on each of this process's
devices ``l``, the ``(k, m)`` rows of its slots in the batch plan (``accel._plan.step_ids``
over the shared epoch order ``accel._orders``): the same rows a device would gather from
device-resident data. A grain ``MapDataset`` over the steps reads them from the source
(``read_step``), with ``threads`` worker threads and ``prefetch`` steps read ahead, while the
device computes (sizes bounded in bytes: ``BLOCK_BYTES``, ``CHUNK_BYTES``); :meth:`StepLoader.blocks` groups ``block`` consecutive steps into one
array per column of shape ``(block, L, k, m, ...)`` plus the slots' validity, padded to
``block`` steps (a fixed shape: one compiled program) and records how long the consumer
waited for each block (``Block.wait_s``: the step time spent waiting for data).

A process reads only the rows its own devices need: each process opens the same source
and reads its slots. The evaluation at an epoch boundary reads each device's block of
rows (``_plan.device_rows``) in chunks the same way (:meth:`StepLoader.chunks`).

Example:
    >>> import numpy as np
    >>> from accel._plan import Layout
    >>> from accel.data import ArraySource, StepLoader
    >>> src = ArraySource({"X": np.arange(20.0).reshape(10, 2), "y": np.arange(10.0)})
    >>> lay = Layout(n_rows=10, n_shards=1, group_devices=2, batch_size=4, accum=1)
    >>> loader = StepLoader(src, lay, seed=0, devices=[0, 1], block=2)
    >>> b = next(loader.blocks(0, 3))
    >>> b.first, b.count, b.columns["X"].shape, b.valid.shape
    (0, 2, (2, 2, 1, 2, 2), (2, 2, 1, 2))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from accel import _orders, _plan
from accel.data._sources import read_checked

__all__ = ["BLOCK_BYTES", "CHUNK_BYTES", "MAX_BLOCK_STEPS", "Block", "Chunk", "StepLoader"]


# Sizes of what is read ahead: a block (one program call) holds at most MAX_BLOCK_STEPS steps
# and BLOCK_BYTES of rows (at least one step); `prefetch` steps (two blocks) are read ahead;
# an evaluation chunk holds CHUNK_BYTES of rows of this process's devices (at least
# MIN_CHUNK_ROWS rows per device), two read ahead.
MAX_BLOCK_STEPS = 8
BLOCK_BYTES = 32 << 20
CHUNK_BYTES = 16 << 20
MIN_CHUNK_ROWS = 256


def _grain() -> Any:
    try:
        import grain
    except ImportError:
        raise ImportError(
            "training from a data source needs grain (the input pipeline): "
            "pip install 'accel[data]'"
        ) from None
    return grain


class Block(NamedTuple):
    """``count`` steps from global step ``first`` (padded to the block size): per column an
    array ``(block, L, k, m, ...)`` of this process's ``L`` devices, the slots' global row
    ids ``ids`` ``(block, L, k, m)`` (int32, ``-1`` at the padding: what per-sample
    augmentation keys on) and their validity ``valid`` (``ids >= 0``); ``wait_s`` the
    seconds the consumer waited for it."""

    first: int
    count: int
    columns: dict[str, np.ndarray]
    ids: np.ndarray
    wait_s: float

    @property
    def valid(self) -> np.ndarray:
        return self.ids >= 0


class Chunk(NamedTuple):
    """Rows ``(L, C, ...)`` of each device's own block (evaluation) and their validity."""

    columns: dict[str, np.ndarray]
    valid: np.ndarray


class StepLoader:
    """Reads the steps of the batch plan ``lay`` from ``source`` for ``devices`` (global
    device indices of this process), ahead of the consumer (module doc).

    ``threads``: worker threads reading steps, at most ``prefetch`` of them (grain reads no
    more steps at once than it holds ahead, and warns when given more threads: a block of
    one large step holds ``prefetch = 2`` steps, so 2 threads then);
    ``delay_s``: extra seconds per step read (to show the overlap in benchmarks);
    ``check_finite``: refuse NaN or infinity in any column (naming it, the row and the file)
    wherever read. Every read is checked against the source's ``spec`` (``read_checked``)."""

    def __init__(self, source: Any, lay: _plan.Layout, seed: int, devices: Sequence[int], *,
                 block: int | None = None, threads: int = 4, prefetch: int | None = None,
                 chunk_rows: int | None = None, delay_s: float = 0.0,
                 check_finite: bool = False) -> None:  # fmt: skip
        if len(source) != lay.n_global:
            raise ValueError(f"the source has {len(source)} rows, the plan {lay.n_global}")
        self.source = source
        self.lay = lay
        self.seed = seed
        self.devices = np.asarray(devices, np.int64)
        self._spec = source.spec()
        row_bytes = sum(int(np.prod(t, dtype=np.int64)) * np.dtype(d).itemsize for t, d in self._spec.values())
        step_bytes = max(1, row_bytes * len(self.devices) * lay.accum * lay.micro)
        if block is None:  # module doc: a block of at most BLOCK_BYTES (and MAX_BLOCK_STEPS)
            block = min(MAX_BLOCK_STEPS, lay.steps_per_epoch, max(1, BLOCK_BYTES // step_bytes))
        if chunk_rows is None:
            per_row = max(1, row_bytes * len(self.devices))
            chunk_rows = min(lay.rows_per_device, max(MIN_CHUNK_ROWS, CHUNK_BYTES // per_row))
        self.block = block
        self.chunk_rows = chunk_rows
        self.prefetch = 2 * block if prefetch is None else prefetch
        # grain warns (through absl logging) when prefetch_buffer_size < num_threads: the
        # extra threads would idle, so they are not asked for (0 = no read-ahead at all)
        self.threads = min(threads, self.prefetch) if self.prefetch else threads
        self.delay_s = delay_s
        self.check_finite = check_finite
        self._orders: dict[int, np.ndarray] = {}  # the epochs being read (threads share them)
        self._lock = threading.Lock()
        self._stream: tuple[Iterator[Any], int, int] | None = None  # (steps, next step, until)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        with self._lock:
            order = self._orders.get(epoch)
            if order is None:
                order = _orders.epoch_permutation(self.seed, epoch, self.lay.n_global).astype(np.int32)
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = order
            return order

    def _read(self, ids: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Rows ``ids`` (any shape; ``-1`` = padding) as ``{column: ids.shape + row}`` (zeros
        at the padding) and the validity ``ids >= 0``."""
        valid = ids >= 0
        got = read_checked(self.source, ids[valid].astype(np.int64), finite=self.check_finite, spec=self._spec)
        out = {}
        every = bool(valid.all())
        for name, (tail, dtype) in self._spec.items():
            if every:  # no padding: the rows as read
                out[name] = got[name].reshape(*ids.shape, *tail)
                continue
            a = np.zeros((*ids.shape, *tail), dtype)
            a[valid] = got[name]
            out[name] = a
        return out, valid

    def read_step(self, g: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Global step ``g``: this process's devices' ``(L, k, m, ...)`` rows and their
        global row ids (int32, ``-1``: padding)."""
        S = self.lay.steps_per_epoch
        e, s = divmod(int(g), S)
        ids = _plan.step_ids(self._epoch_order(e), s, self.lay, xp=np)[self.devices]
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._read(ids)[0], ids.astype(np.int32, copy=False)

    def _steps(self, g0: int, until: int) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        """Steps ``[g0, until)`` read ahead by grain (one stream across epochs: the next
        epoch's first steps are read during this epoch's last ones and its evaluation)."""
        grain = _grain()
        ds = grain.MapDataset.range(g0, until).map(self.read_step)
        options = grain.ReadOptions(num_threads=self.threads, prefetch_buffer_size=self.prefetch)
        return iter(ds.to_iter_dataset(options))

    def blocks(self, g0: int, g1: int, until: int | None = None) -> Iterator[Block]:
        """Blocks of up to ``block`` steps covering ``[g0, g1)`` (within one epoch).
        ``until``: the run's last step; reading goes on ahead past ``g1`` up to it, and the
        next call that starts at ``g1`` continues that stream."""
        S = self.lay.steps_per_epoch
        if g0 // S != (g1 - 1) // S:
            raise ValueError(f"steps [{g0}, {g1}) span two epochs (S = {S})")
        until = g1 if until is None else max(until, g1)
        if self._stream is None or self._stream[1:] != (g0, until):
            self._stream = (self._steps(g0, until), g0, until)
        steps = self._stream[0]
        self._stream = (steps, g1, until)
        for first in range(g0, g1, self.block):
            count = min(self.block, g1 - first)
            t0 = time.perf_counter()
            parts = [next(steps) for _ in range(count)]
            wait = time.perf_counter() - t0
            pad = self.block - count
            columns = {
                name: np.stack([p[0][name] for p in parts] + [np.zeros_like(parts[0][0][name])] * pad)
                for name in self._spec
            }
            ids = np.stack([p[1] for p in parts] + [np.full_like(parts[0][1], -1)] * pad)
            yield Block(first, count, columns, ids, wait)

    def chunks(self, rows: int | None = None) -> Iterator[Chunk]:
        """Each of this process's devices' own block of rows, ``rows`` (default
        ``chunk_rows``) at a time (the last chunk padded): the evaluation's input."""
        rows = self.chunk_rows if rows is None else rows
        R = self.lay.rows_per_device
        held = np.stack([_plan.device_rows(int(d), self.lay, xp=np) for d in self.devices])
        starts = list(range(0, R, rows))

        def read(i: int) -> Chunk:
            ids = held[:, starts[i] : starts[i] + rows]
            if ids.shape[1] < rows:
                ids = np.pad(ids, ((0, 0), (0, rows - ids.shape[1])), constant_values=-1)
            return Chunk(*self._read(ids))

        grain = _grain()
        ds = grain.MapDataset.range(len(starts)).map(read)
        # chunks are large (rows x this process's devices): two read ahead bound the memory
        options = grain.ReadOptions(num_threads=min(self.threads, 2), prefetch_buffer_size=2)
        yield from ds.to_iter_dataset(options)
