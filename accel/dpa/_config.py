"""DPA's ``AugmentationConfig``, presets and ``fib``, as DPA defines them.

The config is DPA's mutable dataclass (ranges stored as given, so ``asdict`` and the JSON
files keep DPA's ``[-30, 30]``), with DPA's checks (``lo < hi``, depth >= 1) plus two that
DPA lacks: the bounds must be finite real numbers and the depth an integer (DPA would
produce NaN parameters or fail deep inside the hash loop). The presets are
``accel.augment.PRESETS`` (one table) in DPA's types.

DPA-specific, with the reason: ``AugmentationConfig`` cannot be ``accel.augment``'s. That
one is frozen (DPA's is changed in place by DPA code), stores float tuples (DPA's files keep
the numbers as given) and refuses ranges DPA accepts and its kernel computes exactly
(negative scales, brightness factors or noise levels; bounds or widths outside float32,
which only ``accel.augment``'s counter-based float32 algorithms need).

Example:
    >>> from accel.dpa import AugmentationConfig, fib, get_preset
    >>> AugmentationConfig().rotation_range, get_preset("mild").noise_range
    ((-30, 30), (0, 0.05))
    >>> [fib(n) for n in range(8)]
    [0, 1, 1, 2, 3, 5, 8, 13]
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from typing import Any, NamedTuple

from accel import augment

from ._args import at_least, non_negative

__all__ = ["PARAM_NAMES", "PRESETS", "AugmentationConfig", "Ranges", "fib", "get_preset", "ranges_of"]

PARAM_NAMES = ("rotation", "brightness", "noise", "scale", "contrast")
_PLAIN = (int, float)


def _check_range(name: str, value: Any) -> None:
    if type(value) is tuple and len(value) == 2:  # the common case, fast: plain numbers in order
        low, high = value
        if type(low) in _PLAIN and type(high) in _PLAIN and -math.inf < low < high < math.inf:
            return
    try:
        low, high = value
    except (TypeError, ValueError):
        raise TypeError(f"{name}_range must be a pair (low, high) of real numbers, got {value!r}") from None
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, numbers.Real):
            raise TypeError(f"{name}_range must be a pair (low, high) of real numbers, got {value!r}")
        if not math.isfinite(bound):
            raise ValueError(f"{name}_range must be finite, got {value!r}")
    if low >= high:
        raise ValueError(f"{name}_range: lower bound must be < upper bound, got {value!r}")


@dataclass
class AugmentationConfig:
    """Ranges ``(low, high)`` of the five parameters and the hash-chain depth (DPA v0.2).

    A parameter is ``low + (high - low) * u`` with ``u`` in ``[0, 1)``, exactly DPA's
    ``random.uniform``.
    """

    rotation_range: tuple[float, float] = (-30, 30)
    brightness_range: tuple[float, float] = (0.8, 1.2)
    noise_range: tuple[float, float] = (0, 0.1)
    scale_range: tuple[float, float] = (0.8, 1.2)
    contrast_range: tuple[float, float] = (0.7, 1.3)
    augmentation_depth: int = 10

    def __post_init__(self) -> None:
        for name in PARAM_NAMES:
            _check_range(name, getattr(self, f"{name}_range"))
        at_least(self.augmentation_depth, "augmentation_depth", 1)


class Ranges(NamedTuple):
    """A config's checked ranges: the depth, and ``(low, high - low)`` per parameter as Python
    floats (DPA's ``random.uniform`` is ``low + (high - low) * u``, in float64: every value
    of ``accel.dpa`` is computed from ``affine``)."""

    depth: int
    affine: tuple[tuple[float, float], ...]


_FIELDS = operator.attrgetter(*(f"{name}_range" for name in PARAM_NAMES), "augmentation_depth")
# The last config checked, its field objects and its Ranges. Reused only while the config holds
# the same immutable field objects (tuples of ints and floats, an int depth), so a range
# changed in place or replaced is checked again: DPA's per-sample calls pass one config
# millions of times, and checking it costs a fifth of a call.
_last: tuple[Any, tuple, Ranges | None] = (None, (), None)


def _immutable(fields: tuple) -> bool:
    return type(fields[-1]) is int and all(
        type(pair) is tuple and all(type(x) in _PLAIN for x in pair) for pair in fields[:-1]
    )


def ranges_of(config: Any) -> Ranges:
    """The checked :class:`Ranges` of a DPA or ``accel.augment`` config.

    Checked again on every call because DPA's config is mutable: a range changed after
    construction is validated when parameters are generated from it.
    """
    global _last
    try:
        fields = _FIELDS(config)
    except AttributeError:
        raise TypeError(
            f"config must be an AugmentationConfig (accel.dpa or accel.augment) or None, got {type(config).__name__}"
        ) from None
    last_config, last_fields, last = _last
    if last_config is config and all(a is b for a, b in zip(fields, last_fields, strict=True)):
        return last
    try:
        pairs = tuple(tuple(pair) for pair in fields[:-1])
    except TypeError:
        raise TypeError(
            f"config must be an AugmentationConfig (accel.dpa or accel.augment) or None, got {type(config).__name__}"
        ) from None
    for name, pair in zip(PARAM_NAMES, pairs, strict=True):
        _check_range(name, pair)
    depth = at_least(fields[-1], "augmentation_depth", 1)
    ranges = Ranges(depth, tuple((float(low), float(high - low)) for low, high in pairs))
    if _immutable(fields):
        _last = (config, fields, ranges)
    return ranges


def _as_dpa(config: Any) -> AugmentationConfig:
    """DPA's config with the ranges of an ``accel.augment`` config, whole numbers as ints
    (DPA writes ``[-15, 15]``, not ``[-15.0, 15.0]``, into its files)."""

    def number(v: float) -> float:
        return int(v) if float(v).is_integer() else v

    ranges = {f"{name}_range": tuple(number(v) for v in getattr(config, f"{name}_range")) for name in PARAM_NAMES}
    return AugmentationConfig(**ranges, augmentation_depth=config.augmentation_depth)


# DPA's presets are accel.augment's (the same numbers): one table, DPA's types.
PRESETS: dict[str, AugmentationConfig] = {name: _as_dpa(cfg) for name, cfg in augment.PRESETS.items()}


def get_preset(preset_name: str) -> AugmentationConfig:
    """The preset ``'mild'``, ``'moderate'`` or ``'aggressive'`` (the shared object, as in DPA)."""
    if not isinstance(preset_name, str) or preset_name not in PRESETS:
        raise ValueError(f"Unknown preset '{preset_name}'. Available: {list(PRESETS.keys())}")
    return PRESETS[preset_name]


def fib(n: int) -> int:
    """The ``n``-th Fibonacci number (``fib(0) = 0``, ``fib(1) = 1``), iteratively."""
    n = non_negative(n, "n")
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
