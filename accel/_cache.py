"""The library's one cache of compiled training programs, and ``accel.clear_caches()``.

Every estimator keeps its compiled programs here: ``JAXOptimizer`` (resident and streamed
data) and ``ParallelTrainer`` (every strategy). A key holds what changes the program (the
estimator, the static settings, what the optimizer computes, shapes and dtypes), never the
values a program takes as arguments (data, learning rate, hyperparameters, seed, epochs),
so a second fit that changes only values reuses the program and reports
``compile_time_ == 0.0``.

At most :data:`MAX_PROGRAMS` programs are kept; beyond, the least recently used is dropped.
A training program holds its compiled executable (a few MB of host memory each on CPU; on
a GPU, its code and constants on the device). :func:`clear_caches` empties the cache and
JAX's own caches of traced and compiled functions, as ``equinox.clear_caches`` does: the
next fit compiles again.

Example:
    >>> import numpy as np
    >>> import accel
    >>> X, y = np.eye(4, 2), np.ones(4)
    >>> model = accel.JAXOptimizer(epochs=2).fit(X, y)
    >>> model.fit(X, y).compile_time_
    0.0
    >>> accel.clear_caches()
    >>> model.fit(X, y).compile_time_ > 0
    True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import jax

from accel import _compilation_cache

__all__ = ["MAX_PROGRAMS", "cached", "clear_caches", "entries", "size"]

_compilation_cache.install()  # compiled programs persist across processes (that module's doc)

MAX_PROGRAMS = 64
_PROGRAMS: OrderedDict[Hashable, Any] = OrderedDict()
_T = TypeVar("_T")


def cached(key: Hashable, build: Callable[[], _T]) -> tuple[_T, bool]:
    """``(program, built)``: the cached program of ``key``, or ``build()``'s, stored
    (``built`` is ``True`` then). ``key`` starts with the name of its user (one namespace
    per estimator and path), so keys never collide across them."""
    if key in _PROGRAMS:
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key], False
    program = build()
    _PROGRAMS[key] = program
    while len(_PROGRAMS) > MAX_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return program, True


def size() -> int:
    """How many programs the cache holds now."""
    return len(_PROGRAMS)


def entries() -> list[tuple[Hashable, Any]]:
    """``(key, program)`` of every cached program, least recently used first (for the
    benchmarks that inspect a compiled program)."""
    return list(_PROGRAMS.items())


def clear_caches() -> None:
    """Drop every compiled program of the library and JAX's caches: the next fit of any
    estimator compiles again (and the memory of the dropped executables is released).

    The library keeps at most 64 compiled training programs (``JAXOptimizer`` and
    ``ParallelTrainer`` together), dropping the least recently used first; a program is
    reused by every fit that changes only values (data, learning rate, hyperparameters,
    seed, epochs), not shapes, dtypes or the optimizer's kind.
    """
    _PROGRAMS.clear()
    jax.clear_caches()
