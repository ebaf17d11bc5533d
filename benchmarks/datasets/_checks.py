"""Argument checks of every loader and generator: accel's checks (the repository's one set).

``check_bool``, ``check_int``, ``check_real`` and ``check_seed`` are ``accel._checks``'s,
through ``accel.internals``: each returns the normalised value or raises ``TypeError`` (wrong
kind of value) or ``ValueError`` (right kind, not accepted), naming the parameter and what is
accepted, with the same words as accel's own entry points. ``check_test_size`` is the one
check of this package's own: the held-out fraction, in the open interval ``(0, 1)``.

Example:
    >>> check_int(3, "n_samples", minimum=1)
    3
    >>> check_test_size(0.25)
    0.25
    >>> check_test_size(1.0)
    Traceback (most recent call last):
    ...
    ValueError: test_size must be in (0, 1), got 1.0
"""

from __future__ import annotations

from accel.internals import check_bool, check_int, check_real, check_seed

__all__ = ["check_bool", "check_int", "check_real", "check_seed", "check_test_size"]


def check_test_size(value: object) -> float:
    """The fraction of rows held out for testing, in the open interval (0, 1)."""
    return check_real(
        value, "test_size", minimum=0.0, maximum=1.0, min_inclusive=False, max_inclusive=False
    )
