"""The input pipeline: the rows each of this process's devices needs, read ahead of the step.

For optimizer steps ``[g0, g1)`` of an epoch, step ``g`` needs, on each of this process's
devices ``l``, the ``(k, m)`` rows of its slots in the batch plan (``accel._plan.step_ids``
over the shared epoch order ``accel._orders``): the same rows a device would gather from
device-resident data. The loader reads them a block at a time: :meth:`StepLoader.blocks`
yields ``block`` consecutive steps as one array per column of shape ``(block, L, k, m,
...)`` plus the slots' row ids, padded to ``block`` steps (a fixed shape: one compiled
program), and records how long the consumer waited for each block (``Block.wait_s``: the
step time spent waiting for data). All the rows of a block are read from the source at once
(``_read_block``): a file source sorts them and reads rows that lie close together with one
system call (``accel.data._files``), so a block of many steps, which holds a good part of
an epoch's rows, costs far fewer reads than its steps one by one. ``prefetch`` steps (whole
blocks) are read ahead by ``threads`` worker threads while the device computes, on threads
the process reuses for every stream (``accel.data._ahead``: new threads for each stream made
the memory of a streamed fit grow); sizes are bounded in bytes (``BLOCK_BYTES``,
``CHUNK_BYTES``). A call that ends inside a block already read (a checkpoint period) gets
its part of it, and the next call the rest.

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
from accel.data._ahead import read_ahead
from accel.data._files import FileRows
from accel.data._parquet import ParquetShards
from accel.data._sources import ArraySource, NpyShards, read_checked

__all__ = ["BLOCK_BYTES", "CHUNK_BYTES", "MAX_BLOCK_STEPS", "Block", "Chunk", "StepLoader"]


# Sizes of what is read ahead: a block (one program call) holds at most MAX_BLOCK_STEPS steps
# and BLOCK_BYTES of rows (at least one step); `prefetch` steps (two blocks) are read ahead;
# an evaluation chunk holds CHUNK_BYTES of rows of this process's devices (at least
# MIN_CHUNK_ROWS rows per device), two read ahead.
MAX_BLOCK_STEPS = 8
BLOCK_BYTES = 32 << 20
CHUNK_BYTES = 16 << 20
MIN_CHUNK_ROWS = 256


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

    ``threads``: worker threads reading blocks, at most as many as the blocks read ahead
    (``prefetch`` steps, rounded up to whole blocks: more threads would idle);
    ``delay_s``: extra seconds per step read (to show the overlap in benchmarks);
    ``check_finite``: refuse NaN or infinity in any column (naming it, the row and the file)
    wherever read; once a process that holds every device has read every row (an
    evaluation, :meth:`chunks`) of a source read from files checked for change on every
    read (``.npy`` files, shards, Parquet), later reads skip that check: those rows cannot
    change unseen. Every read is checked against the source's ``spec`` (``read_checked``)."""

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
        # read ahead in whole blocks (a block's rows are read at once: see `_read_block`)
        self._ahead = -(-self.prefetch // block) if self.prefetch else 0
        # no more threads than blocks read ahead: the others would idle (0 = no read-ahead)
        self.threads = min(threads, self._ahead) if self._ahead else threads
        self.delay_s = delay_s
        self.check_finite = check_finite
        # every row was read and found finite, from files checked for change on every read
        # (`chunks`): later reads skip the finiteness check
        self._all_finite = False
        self._orders: dict[int, np.ndarray] = {}  # the epochs being read (threads share them)
        self._lock = threading.Lock()
        # the blocks being read: (their iterator, the next step, until, the block partly used)
        self._stream: tuple[Iterator[Block], int, int, Block | None] | None = None

    def _epoch_order(self, epoch: int) -> np.ndarray:
        with self._lock:
            order = self._orders.get(epoch)
            if order is None:
                order = _orders.epoch_permutation(self.seed, epoch, self.lay.n_global).astype(np.int32)
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = order
            return order

    def close(self) -> None:
        """The run is over: stop reading ahead (reads not started are dropped) and let go of
        the blocks read ahead at once, rather than when the garbage collector finds this
        loader (its read-ahead refers back to it)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream[0].close()
        with self._lock:
            self._orders.clear()

    def _read(self, ids: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Rows ``ids`` (any shape; ``-1`` = padding) as ``{column: ids.shape + row}`` (zeros
        at the padding) and the validity ``ids >= 0``."""
        valid = ids >= 0
        finite = self.check_finite and not self._all_finite
        got = read_checked(self.source, ids[valid].astype(np.int64), finite=finite, spec=self._spec)
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

    def _step_ids(self, g: int) -> np.ndarray:
        """Global step ``g``'s row ids on this process's devices ``(L, k, m)`` (``-1``:
        padding), from its epoch's shared order."""
        e, s = divmod(int(g), self.lay.steps_per_epoch)
        return _plan.step_ids(self._epoch_order(e), s, self.lay, xp=np)[self.devices]

    def read_step(self, g: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Global step ``g``: this process's devices' ``(L, k, m, ...)`` rows and their
        global row ids (int32, ``-1``: padding)."""
        ids = self._step_ids(g)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._read(ids)[0], ids.astype(np.int32, copy=False)

    def _spans(self, g0: int, until: int) -> list[tuple[int, int]]:
        """The blocks ``[first, first + count)`` that read steps ``[g0, until)``: ``block``
        steps at a time from ``g0`` to its epoch's end, then from each epoch's start."""
        S, T = self.lay.steps_per_epoch, self.block
        spans, g = [], g0
        while g < until:
            end = min(until, (g // S + 1) * S)
            spans += [(a, min(T, end - a)) for a in range(g, end, T)]
            g = end
        return spans

    def _read_block(self, span: tuple[int, int]) -> Block:
        """Steps ``[first, first + count)`` of one epoch, padded to ``block`` steps: all their
        rows read at once (sorted by the source: rows near each other in a file are read
        together, so a block of many steps costs fewer reads than its steps one by one)."""
        first, count = span
        ids = np.stack([self._step_ids(g) for g in range(first, first + count)])
        if count < self.block:  # padding steps: no rows
            ids = np.concatenate([ids, np.full((self.block - count, *ids.shape[1:]), -1, ids.dtype)])
        if self.delay_s:
            time.sleep(self.delay_s * count)
        columns, _ = self._read(ids)
        return Block(first, count, columns, ids.astype(np.int32, copy=False), 0.0)

    def _piece(self, blk: Block, g0: int, g1: int) -> Block:
        """Steps ``[g0, g1)`` of ``blk``, padded to ``block`` steps (a call that ends inside
        a block read ahead: a checkpoint or validation period)."""
        a, b, pad = g0 - blk.first, g1 - blk.first, self.block - (g1 - g0)

        def cut(x: np.ndarray, fill: int) -> np.ndarray:
            return np.concatenate([x[a:b], np.full((pad, *x.shape[1:]), fill, x.dtype)])

        return Block(g0, g1 - g0, {k: cut(v, 0) for k, v in blk.columns.items()}, cut(blk.ids, -1), 0.0)

    def blocks(self, g0: int, g1: int, until: int | None = None) -> Iterator[Block]:
        """Blocks of up to ``block`` steps covering ``[g0, g1)`` (within one epoch).
        ``until``: the run's last step; reading goes on ahead past ``g1`` up to it
        (``threads`` workers, ``prefetch`` steps ahead, in whole blocks), and the next call
        that starts at ``g1`` continues that stream."""
        S = self.lay.steps_per_epoch
        if g0 // S != (g1 - 1) // S:
            raise ValueError(f"steps [{g0}, {g1}) span two epochs (S = {S})")
        until = g1 if until is None else max(until, g1)
        if self._stream is None or self._stream[1:3] != (g0, until):
            ahead = read_ahead(self._read_block, self._spans(g0, until), threads=self.threads, depth=self._ahead,
                               role="steps")
            self._stream = (ahead, g0, until, None)
        blocks, _, _, held = self._stream
        g = g0
        while g < g1:
            wait = 0.0
            if held is None:
                t0 = time.perf_counter()
                held = next(blocks)
                wait = time.perf_counter() - t0
            end = min(g1, held.first + held.count)
            whole = g == held.first and end == held.first + held.count
            out = held if whole else self._piece(held, g, end)
            held = None if end == held.first + held.count else held
            self._stream = (blocks, end, until, held)
            yield out._replace(wait_s=wait)
            g = end

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

        # chunks are large (rows x this process's devices): two read ahead bound the memory
        yield from read_ahead(read, range(len(starts)), threads=min(self.threads, 2), depth=2,
                              role="chunks")
        if self.check_finite and len(self.devices) == self.lay.n_devices and _unchanging(self.source):
            self._all_finite = True  # this process read every row: they cannot change unseen


def _unchanging(source: Any) -> bool:
    """Whether every column of ``source`` is read from files checked for change on every read
    (``accel.data._files``): a row found finite once stays finite, or its read fails."""
    if type(source) is ArraySource:
        return all(isinstance(a, FileRows) for a in source._arrays.values())
    return type(source) in (NpyShards, ParquetShards)
