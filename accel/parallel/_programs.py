"""The process-wide cache of compiled training programs.

A program depends on the strategy, backend, devices, the static :class:`ProgramSpec`, the
model (``loss_fn``), the optimizer's *identity* (its name and schedule, or the user's
transformation: never the learning rate or hyperparameter values, which are arguments) and
the structure, shapes and dtypes of the parameters and data. A second fit that changes only
values (data, learning rate, hyperparameters, seed, epochs) reuses the executable.

Least recently used entries are dropped beyond ``MAX_PROGRAMS``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = ["MAX_PROGRAMS", "cache_key", "compiled"]

MAX_PROGRAMS = 32
_PROGRAMS: OrderedDict[Any, tuple[Any, Any]] = OrderedDict()


def _avals(tree: Any) -> tuple:
    return tuple((np.shape(a), np.asarray(a).dtype.str) for a in jax.tree.leaves(tree))


def cache_key(*static: Any, params: Any, data: Any) -> tuple:
    """The cache key: the static parts as given, the pytrees by structure, shapes and dtypes."""
    return (*static, jax.tree.structure(params), _avals(params), jax.tree.structure(data), _avals(data))


def compiled(key: tuple, build: Callable[[], Any], args: Callable[[Any], tuple]) -> tuple[Any, Any, float]:
    """``(program, executable, compile seconds)`` for ``key``: ``build()`` makes the program
    and ``args(program)`` its arguments (lowered ahead of time on first use; 0.0 seconds
    when cached). ``args`` is called on every use, so the caller gets its placed arguments
    back through it."""
    entry = _PROGRAMS.get(key)
    if entry is not None:
        _PROGRAMS.move_to_end(key)
        args(entry[0])
        return entry[0], entry[1], 0.0
    program = build()
    placed = args(program)
    t0 = time.perf_counter()
    exe = program.run.lower(*placed).compile()
    seconds = time.perf_counter() - t0
    _PROGRAMS[key] = (program, exe)
    while len(_PROGRAMS) > MAX_PROGRAMS:
        _PROGRAMS.pop(next(iter(_PROGRAMS)))
    return program, exe, seconds
