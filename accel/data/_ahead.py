"""Read-ahead on the process's reader threads: ``fn`` of the coming items while the consumer works.

:func:`read_ahead` yields ``fn(item)`` for each item in order, with up to ``depth`` items
being read ahead of the consumer by ``threads`` worker threads. The threads are made once
per process (per thread count) and reused by every stream, every fit and every evaluation.

Why not a thread pool per stream (what grain's ``to_iter_dataset`` makes for each
iterator, and what the pipeline used before): glibc's ``malloc`` gives each new thread that
allocates an arena of its own, and an arena keeps the buffers freed in it (tens of MiB of
read-ahead blocks) for that arena's next allocations. With new reader threads for every
stream (each epoch's evaluation, each fit) the process came to hold many such arenas, and
its memory grew from fit to fit. ``benchmarks/bench_streaming.py`` (BENCHMARKS.md): a
streamed fit of 196 MiB of rows peaked at 1.78x the resident memory of the same fit on
arrays in memory with grain's threads, 1.06-1.16x on reused threads (with the block reads
of ``StepLoader``, which also changed).

A worker's exception is raised in the consumer's thread when it reaches that item. A
consumer that stops early cancels the reads not yet started (those running finish). After
``fork`` a child process makes its own threads (a parent's threads do not exist there).

Example:
    >>> from accel.data._ahead import read_ahead
    >>> list(read_ahead(lambda x: x * x, range(5), threads=2, depth=2))
    [0, 1, 4, 9, 16]
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["read_ahead"]

_POOLS: dict[tuple[int, str, int], ThreadPoolExecutor] = {}  # (pid, role, threads) -> threads
_LOCK = threading.Lock()


def _pool(role: str, threads: int) -> ThreadPoolExecutor:
    key = (os.getpid(), role, threads)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(threads, thread_name_prefix=f"accel-{role}")
        return pool


def read_ahead(fn: Callable[[Any], Any], items: Iterable[Any], *, threads: int, depth: int,
               role: str = "read") -> Iterator[Any]:  # fmt: skip
    """``fn(item)`` for each of ``items``, in order, ``depth`` items read ahead by
    ``threads`` reused worker threads (module doc) of the pool named ``role`` (streams that
    run at the same time use different pools, so that neither waits for the other's
    reads); ``depth == 0`` or ``threads == 0``: read in the consumer's thread, nothing
    ahead."""
    if depth <= 0 or threads <= 0:
        yield from map(fn, items)
        return
    pool = _pool(role, threads)
    pending: collections.deque[Future] = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # stopped early (or a read failed): the reads not started are dropped
        for f in pending:
            f.cancel()
