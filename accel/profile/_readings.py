"""Readings a machine cannot make, and mapping access to result objects.

``Unavailable(reason)`` stands for a measurement this machine cannot take (GPU memory on a
CPU-only machine, a backend that is not installed). It is a float NaN that stays itself
through arithmetic, is falsy, formats as ``'unavailable'`` whatever the format spec, and
becomes ``null`` in JSON, so code written for a GPU (``f"{stats['memory']['peak_mb']:.1f} MB"``)
prints ``unavailable MB`` on a CPU instead of raising. Test for it with :func:`is_unavailable`.

``FieldMapping`` gives a dataclass result read-only mapping access to its fields
(``result['mean_time']``, ``'speedup_vs_numpy' in result``, ``result.items()``), as the seed
documents use results; a field that holds ``None`` is absent from the mapping view and reads
as ``Unavailable`` (with the result's ``reason`` when its ``available`` is False).

Example:
    >>> from accel.profile import Unavailable, is_unavailable
    >>> x = Unavailable("no NVIDIA GPU")
    >>> f"{x * 1000:.2f} ms", bool(x), is_unavailable(x + 1), x.reason
    ('unavailable ms', False, True, 'no NVIDIA GPU')
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import ItemsView, KeysView, ValuesView
from typing import Any

__all__ = ["FieldMapping", "Unavailable", "cpu_percent", "is_unavailable"]


class Unavailable(float):
    """A reading that cannot be made here; ``reason`` says why (see the module docstring)."""

    reason: str

    def __new__(cls, reason: str = "") -> Unavailable:
        self = super().__new__(cls, math.nan)
        self.reason = reason
        return self

    def _same(self, *args: Any) -> Unavailable:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same
    __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = __round__ = _same

    def __bool__(self) -> bool:
        return False

    def __format__(self, spec: str) -> str:
        return "unavailable"

    def __str__(self) -> str:
        return "unavailable"

    def __repr__(self) -> str:
        return f"Unavailable({self.reason!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Unavailable, (self.reason,))


def cpu_percent(cpu_seconds: float, wall_seconds: float) -> float:
    """This process's CPU time over ``wall_seconds`` as a percent of all cores, in [0, 100]:
    ``100 * cpu_seconds / (wall_seconds * os.cpu_count())`` (0.0 for an empty interval).

    Example:
        >>> from accel.profile import cpu_percent
        >>> 0.0 <= cpu_percent(0.5, 1.0) <= 100.0, cpu_percent(1.0, 0.0)
        (True, 0.0)
    """
    if wall_seconds <= 0:
        return 0.0
    return min(100.0, 100.0 * cpu_seconds / (wall_seconds * (os.cpu_count() or 1)))


def is_unavailable(value: Any) -> bool:
    """Whether ``value`` is an :class:`Unavailable` reading."""
    return isinstance(value, Unavailable)


class FieldMapping:
    """Read-only mapping view of a dataclass's fields (mixin; see the module docstring)."""

    def _present(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        names = [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]
        if key not in names:
            raise KeyError(f"{key!r} is not a field of {type(self).__name__}; fields: {', '.join(names)}")
        value = getattr(self, key)
        if value is None:
            unavailable = getattr(self, "available", True) is False
            return Unavailable(str(getattr(self, "reason", "")) if unavailable else f"{key} was not measured")
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._present()

    def keys(self) -> KeysView[str]:
        return self._present().keys()

    def values(self) -> ValuesView[Any]:
        return self._present().values()

    def items(self) -> ItemsView[str, Any]:
        return self._present().items()

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default
