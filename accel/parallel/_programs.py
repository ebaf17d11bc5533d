"""The process-wide cache of compiled training programs.

A program depends on the strategy, backend, devices, the static :class:`ProgramSpec`, the
model (``loss_fn``, by identity), the optimizer (its name and schedule, or the user's
transformation, by what they compute: an equal optax expression built again is the same
key; never the learning rate or hyperparameter values, which are arguments) and
the structure, shapes and dtypes of the parameters and data. A second fit that changes only
values (data, learning rate, hyperparameters, seed, epochs) reuses the executable.

The programs live in the library's one cache (``accel._cache``: its size, least recently
used dropped first, and ``accel.clear_caches()``).
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from accel import _cache

__all__ = ["cache_key", "compiled"]


def _avals(tree: Any) -> tuple:
    return tuple((np.shape(a), np.asarray(a).dtype.str) for a in jax.tree.leaves(tree))


def cache_key(*static: Any, params: Any, data: Any) -> tuple:
    """The cache key: the static parts as given, the pytrees by structure, shapes and dtypes."""
    return (*static, jax.tree.structure(params), _avals(params), jax.tree.structure(data), _avals(data))


def compiled(key: tuple, build: Callable[[], Any], args: Callable[[Any], tuple],
             shapes: Callable[[Any], tuple | None] | None = None) -> tuple[Any, Any, float]:  # fmt: skip
    """``(program, executable, compile seconds)`` for ``key``: ``build()`` makes the program
    and ``args(program)`` its arguments (lowered ahead of time on first use; 0.0 seconds
    when cached). ``args`` is called on every use, so the caller gets its placed arguments
    back through it.

    ``shapes(program)``, where given and not ``None``, is the same arguments with the data
    as ``jax.ShapeDtypeStruct``: the program is then compiled before the data are placed,
    and the heap the compiler freed goes back to the system in between, so the process's
    peak memory is the larger of the two, not their sum (``benchmarks/bench_input_pipeline``)."""
    timed: list[float] = []
    placed: list[bool] = []  # whether compiling already placed the caller's arguments

    def compile_program() -> tuple[Any, Any]:
        program = build()
        abstract = None if shapes is None else shapes(program)
        placed.append(abstract is None)
        t0 = time.perf_counter()
        exe = program.run.lower(*(args(program) if abstract is None else abstract)).compile()
        timed.append(time.perf_counter() - t0)
        if abstract is not None:
            release_freed_heap()
        return program, exe

    (program, exe), _ = _cache.cached(("ParallelTrainer", *key), compile_program)
    if placed != [True]:
        args(program)  # cached, or compiled from shapes: place the caller's arguments now
    return program, exe, timed[0] if timed else 0.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to release this way
        return None


def release_freed_heap() -> None:
    """Give the memory the C heap holds free back to the system (glibc's ``malloc_trim``;
    elsewhere nothing). XLA's compiler frees about 100 MiB after compiling a training
    program, which glibc would otherwise keep for the process's lifetime."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
