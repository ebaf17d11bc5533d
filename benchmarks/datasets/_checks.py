"""Argument checks shared by every loader and generator (one implementation each).

Each check returns the normalised value or raises ``TypeError`` (wrong kind of value) or
``ValueError`` (right kind, not accepted), naming the parameter and what is accepted.

Example:
    >>> check_int(3, "n_samples", minimum=1)
    3
    >>> check_real(0.5, "test_size", minimum=0.0, maximum=1.0, exclusive=True)
    0.5
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from accel._keys import check_seed

__all__ = ["check_bool", "check_int", "check_real", "check_seed", "check_test_size"]


def check_int(
    value: object, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as a Python int in ``[minimum, maximum]`` (bounds optional)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive: bool = False,
) -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` (open interval if ``exclusive``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    lo_bad = minimum is not None and (value <= minimum if exclusive else value < minimum)
    hi_bad = maximum is not None and (value >= maximum if exclusive else value > maximum)
    if lo_bad or hi_bad:
        lo = "-inf" if minimum is None else repr(float(minimum))
        hi = "inf" if maximum is None else repr(float(maximum))
        interval = f"({lo}, {hi})" if exclusive else f"[{lo}, {hi}]"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def check_bool(value: object, name: str) -> bool:
    """``value`` if it is a bool (``numpy.bool_`` accepted); no truthiness of other types."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_test_size(value: object) -> float:
    """The fraction of rows held out for testing, in the open interval (0, 1)."""
    return check_real(value, "test_size", minimum=0.0, maximum=1.0, exclusive=True)
