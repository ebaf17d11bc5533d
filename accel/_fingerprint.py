"""What a callable computes, as a hashable key: two equal optax expressions share one program.

A compiled training program depends on the optax transformation (and a learning-rate
schedule) it was traced with. Keyed on the object's identity, ``train(...,
optimizer=optax.adam(1e-3))`` written inline compiles again on every call, since each call
builds a new object. :func:`fingerprint` keys it on what it computes instead:

* numbers, strings, ``None``: their type and ``repr`` (``0.0`` and ``-0.0`` differ);
* arrays (NumPy, JAX) of at most ``MAX_ARRAY_ELEMENTS`` elements: dtype, shape and bytes;
  dtypes by name;
* tuples (``NamedTuple``\\ s such as ``optax.GradientTransformation`` included), lists and
  dicts: their type and their items' fingerprints; ``functools.partial``: its function and
  arguments;
* a function defined at the top level of a module (reachable by its module and name): the
  function itself; any other Python function (a closure, a lambda): its module, qualified
  name and code (bytecode, constants, names), the defaults, the values in its closure, and
  the values of the global names its code reads (modules by name), each recursively;
* anything else (classes, instances, builtins, large arrays, PRNG key arrays): the object itself, by
  identity; so is what a cycle or more than ``MAX_DEPTH`` levels reach. Such a key is
  never equal to another object's: the conservative answer, a compile, never a program
  traced from a different computation.

Example:
    >>> import optax
    >>> from accel._fingerprint import fingerprint
    >>> fingerprint(optax.adam(1e-3)) == fingerprint(optax.adam(1e-3))
    True
    >>> fingerprint(optax.adam(1e-3)) == fingerprint(optax.adam(2e-3))
    False
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Hashable
from typing import Any

import jax
import numpy as np

__all__ = ["MAX_ARRAY_ELEMENTS", "MAX_DEPTH", "fingerprint"]

MAX_ARRAY_ELEMENTS = 1 << 16
MAX_DEPTH = 64
_SCALARS = (type(None), bool, int, float, complex, str, bytes)


class _Identity:
    """A key equal only to a key of the same object (holding it, so its id stays unique)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj

    def __repr__(self) -> str:
        return f"<identity of {type(self.obj).__name__} at {id(self.obj):#x}>"


def fingerprint(obj: Any) -> Hashable:
    """A hashable key of what ``obj`` computes (module doc): equal for two independently
    built but identical optax transformations or schedules, different when any number,
    array, function or referenced global differs."""
    return _fp(obj, (), 0, {})


def _fp(obj: Any, path: tuple[int, ...], depth: int, memo: dict[int, Hashable]) -> Hashable:
    if isinstance(obj, _SCALARS):
        return (type(obj).__name__, repr(obj))
    if id(obj) in memo:
        return memo[id(obj)]
    if id(obj) in path or depth > MAX_DEPTH:
        return _Identity(obj)
    inner = (*path, id(obj))

    def sub(x: Any) -> Hashable:
        return _fp(x, inner, depth + 1, memo)

    memo[id(obj)] = key = _key(obj, sub)
    return key


def _key(obj: Any, sub: Any) -> Hashable:
    if isinstance(obj, types.ModuleType):
        return ("module", obj.__name__)
    if isinstance(obj, np.dtype):
        return ("dtype", obj.str)
    if isinstance(obj, type) and issubclass(obj, np.generic):
        return ("dtype", np.dtype(obj).str)
    if isinstance(obj, np.ndarray | np.generic | jax.Array):
        try:
            a = np.asarray(obj)
        except TypeError:  # no host value (a typed PRNG key array): by identity
            return _Identity(obj)
        if a.size > MAX_ARRAY_ELEMENTS or a.dtype.hasobject:
            return _Identity(obj)
        return ("array", type(obj).__name__, a.dtype.str, a.shape, a.tobytes())
    if isinstance(obj, tuple | list):
        return (type(obj), tuple(sub(x) for x in obj))
    if isinstance(obj, dict):
        return (type(obj), tuple((sub(k), sub(v)) for k, v in obj.items()))
    if isinstance(obj, functools.partial):
        return ("partial", sub(obj.func), sub(obj.args), sub(obj.keywords))
    if isinstance(obj, types.FunctionType):
        return _function(obj, sub)
    return _Identity(obj)


def _code(code: types.CodeType, sub: Any) -> Hashable:
    consts = tuple(_code(c, sub) if isinstance(c, types.CodeType) else sub(c) for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _function(fn: types.FunctionType, sub: Any) -> Hashable:
    module = sys.modules.get(fn.__module__)
    if module is not None and getattr(module, fn.__qualname__, None) is fn:
        return _Identity(fn)  # a module's own function: the same object every time
    cells = tuple(sub(c.cell_contents) if _filled(c) else ("empty",) for c in fn.__closure__ or ())
    g = fn.__globals__
    read = tuple((name, sub(g[name])) for name in sorted(_global_names(fn.__code__)) if name in g)
    return (
        "function", fn.__module__, fn.__qualname__, _code(fn.__code__, sub),
        sub(fn.__defaults__), sub(fn.__kwdefaults__), cells, read,
    )  # fmt: skip


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True
