"""Argument checks with DPA's wording, on top of ``accel._checks``.

DPA's users (and its test suite) match error messages such as ``"start_id must be
non-negative"`` or ``"chunk_size must be positive"``. These helpers run the project's checks
(``accel._checks``: ``TypeError`` for the wrong kind of value, ``ValueError`` for a bad
value) and only reword the ``ValueError`` to DPA's phrase, still naming what is accepted.

Example:
    >>> from accel.dpa._args import non_negative
    >>> non_negative(3, "start_id")
    3
    >>> non_negative(-1, "start_id")
    Traceback (most recent call last):
    ...
    ValueError: start_id must be non-negative (an integer >= 0), got -1
"""

from __future__ import annotations

from typing import Any

from accel._checks import check_int

__all__ = ["at_least", "non_negative", "positive", "rank_and_world"]


def _reworded(value: Any, name: str, minimum: int, phrase: str) -> int:
    try:
        return check_int(value, name, minimum=minimum)
    except ValueError:
        raise ValueError(f"{name} must be {phrase} (an integer >= {minimum}), got {value}") from None


def non_negative(value: Any, name: str) -> int:
    """An integer ``>= 0`` ("must be non-negative")."""
    return _reworded(value, name, 0, "non-negative")


def positive(value: Any, name: str) -> int:
    """An integer ``>= 1`` ("must be positive")."""
    return _reworded(value, name, 1, "positive")


def at_least(value: Any, name: str, minimum: int) -> int:
    """An integer ``>= minimum`` (DPA's "must be >= k")."""
    return _reworded(value, name, minimum, f">= {minimum}")


def rank_and_world(rank: Any, world_size: Any) -> tuple[int, int]:
    """``0 <= rank < world_size`` with DPA's three messages, checked in DPA's order."""
    rank = non_negative(rank, "rank")
    world_size = at_least(world_size, "world_size", 1)
    if rank >= world_size:
        raise ValueError(f"rank ({rank}) must be < world_size ({world_size})")
    return rank, world_size
