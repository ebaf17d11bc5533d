"""The one set of argument checks: every public entry point validates through these.

Each check returns the normalised value or raises, and every message names the parameter
and what is accepted:

* ``TypeError`` when the *kind* of value is wrong (a string where a number is expected,
  ``True`` where an integer is expected: ``bool`` is never accepted as a number);
* ``ValueError`` when the kind is right and the *value* is not (out of range, not finite,
  not one of the choices).

Example:
    >>> from accel._checks import check_int, check_real, check_choice
    >>> check_int(3, "epochs", minimum=1)
    3
    >>> check_real(0.5, "tol", minimum=0.0)
    0.5
    >>> check_choice("adam", "optimizer", ("sgd", "adam"))
    'adam'
    >>> check_int(0, "epochs", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got 0
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "MAX_U64",
    "JSONDecoder",
    "array_is_finite",
    "check_bool",
    "check_choice",
    "check_int",
    "check_path",
    "check_positive_real",
    "check_real",
    "check_seed",
    "namespace",
    "parse_dtype",
    "parse_json",
]

MAX_U64 = 2**64 - 1


def _accepted_int(minimum: int | None, maximum: int | None, allow_none: bool) -> str:
    text = "an integer"
    if minimum is not None and maximum is not None:
        text += f" in [{minimum}, {maximum}]"
    elif minimum is not None:
        text += f" >= {minimum}"
    elif maximum is not None:
        text += f" <= {maximum}"
    return text + (" or None" if allow_none else "")


def check_int(
    value: object,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
) -> Any:
    """``value`` as a Python ``int`` within ``[minimum, maximum]`` (``None`` passes when
    ``allow_none``). NumPy integers are accepted; ``bool`` and floats are not."""
    if type(value) is int and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return value  # the common case, fast (per-sample paths call this per id)
    if value is None and allow_none:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {_accepted_int(minimum, maximum, allow_none)}, got {type(value).__name__}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {_accepted_int(minimum, maximum, allow_none)}, got {value}")
    return value


def check_real(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    allow_none: bool = False,
) -> Any:
    """``value`` as a finite Python ``float`` within the given bounds (``None`` passes when
    ``allow_none``). ``bool`` is refused."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number{' or None' if allow_none else ''}, "
            f"got {type(value).__name__}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low_ok = minimum is None or (value >= minimum if min_inclusive else value > minimum)
    high_ok = maximum is None or (value <= maximum if max_inclusive else value < maximum)
    if not (low_ok and high_ok):
        if minimum is not None and maximum is not None:
            lo = "[" if min_inclusive else "("
            hi = "]" if max_inclusive else ")"
            accepted = f"in {lo}{minimum:g}, {maximum:g}{hi}"
        elif minimum is not None:
            accepted = f"{'>=' if min_inclusive else '>'} {minimum:g}"
        else:
            accepted = f"{'<=' if max_inclusive else '<'} {maximum:g}"
        raise ValueError(f"{name} must be {accepted}, got {value}")
    return value


def check_positive_real(value: object, name: str) -> float:
    """A finite real number ``> 0``."""
    return check_real(value, name, minimum=0.0, min_inclusive=False)


def check_bool(value: object, name: str) -> bool:
    """``True`` or ``False`` (NumPy booleans too); anything else is a ``TypeError``."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_choice(value: object, name: str, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices`` (compared with ``==``, type included)."""
    for choice in choices:
        if isinstance(value, type(choice)) and value == choice:
            return value
    raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as a Python int in ``[0, 2**64)`` (all 64 bits are used by ``_keys``)."""
    if type(seed) is int and 0 <= seed <= MAX_U64:  # the common case, fast
        return seed
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed <= MAX_U64:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {seed}")
    return seed


def check_path(value: object, name: str, *, allow_none: bool = False) -> Path | None:
    """A ``str`` or ``os.PathLike`` path as a ``Path`` (not checked for existence)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str | os.PathLike) or (isinstance(value, str) and not value):
        accepted = "a non-empty str or os.PathLike path" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    return Path(value)


def parse_dtype(value: object) -> np.dtype | None:
    """``np.dtype(value)``, or ``None`` where NumPy does not understand ``value`` (its
    ``TypeError``, and the ``SyntaxError``/``ValueError`` of its comma-separated record
    syntax, e.g. ``','``) or ``value`` is ``None`` (``np.dtype(None)`` would be float64).
    The caller names the parameter and the dtypes it accepts.

    >>> parse_dtype("float32"), parse_dtype(","), parse_dtype(None)
    (dtype('float32'), None, None)
    """
    if value is None:
        return None
    try:
        return np.dtype(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, SyntaxError):
        return None


_FINITE_BLOCK = 1 << 20  # elements per block of the finiteness check (1 MiB of bools)


def namespace(*arrays: Any) -> Any:
    """The array API namespace of ``arrays``: ``numpy`` itself for NumPy arrays (NumPy >= 2
    implements the standard; array_api_compat's wrapper of it costs 0.1-0.2 s to import,
    which a notebook's first fit would feel), ``array_api_compat.array_namespace`` for the
    rest (JAX, CuPy, PyTorch, mixed inputs)."""
    if all(type(a) is np.ndarray for a in arrays):
        return np
    return array_api_compat.array_namespace(*arrays)


def array_is_finite(a: Any) -> bool:
    """Whether every element of ``a`` is finite, without a temporary the size of ``a``:
    NumPy arrays are checked a block of rows at a time (a memory-mapped file is read, not
    copied), JAX arrays by a jitted reduction (fused: no boolean array is materialised).
    The one finiteness test of arrays and of every data source's rows (``accel.data``)."""
    if isinstance(a, np.ndarray):
        if a.dtype.kind not in "fc" or a.size == 0:
            return True
        if a.ndim == 0:
            return bool(np.isfinite(a))
        rows = max(1, _FINITE_BLOCK // max(1, a.size // a.shape[0]))
        return all(bool(np.isfinite(a[i : i + rows]).all()) for i in range(0, a.shape[0], rows))
    xp = namespace(a)
    if not xp.isdtype(a.dtype, ("real floating", "complex floating")):
        return True
    if array_api_compat.is_jax_array(a):
        return bool(_jax_all_finite(a))
    return bool(xp.all(xp.isfinite(a)))


@functools.cache
def _jax_all_finite_fn() -> Any:
    import jax
    import jax.numpy as jnp

    return jax.jit(lambda a: jnp.all(jnp.isfinite(a)))


def _jax_all_finite(a: Any) -> Any:
    return _jax_all_finite_fn()(a)


class JSONDecoder(json.JSONDecoder):
    """``json.JSONDecoder`` that reports JSON nested too deeply for the parser as a
    ``json.JSONDecodeError`` (a ``ValueError``) instead of a ``RecursionError``, so that every
    loader's handler of invalid JSON names its file. ``raw_decode`` too (``decode`` and
    ``json.load(f, cls=JSONDecoder)`` go through it).

    >>> parse_json("[" * 100_000)
    Traceback (most recent call last):
    ...
    json.decoder.JSONDecodeError: nested too deeply for the JSON parser: line 1 column 1 (char 0)
    """

    def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
        try:
            return super().raw_decode(s, idx)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply for the JSON parser", s, idx) from None


def parse_json(data: str | bytes | bytearray) -> Any:
    """``json.loads(data)`` with :class:`JSONDecoder`: invalid, undecodable (bytes that are not
    UTF-8: ``UnicodeDecodeError``) or too deeply nested JSON raises a ``ValueError``."""
    return json.loads(data, cls=JSONDecoder)
