"""Augmentation ranges: ``AugmentationConfig`` and the DPA presets.

A config holds one half-open range ``[lo, hi)`` per parameter, in the fixed order
``PARAM_NAMES = ('rotation', 'brightness', 'noise', 'scale', 'contrast')`` (rotation in
degrees), and ``augmentation_depth`` (used only by the bit-exact ``'dpa'`` algorithm).
Configs are frozen dataclasses: a preset handed out by ``get_preset`` cannot be changed.

Example:
    >>> from accel.augment import AugmentationConfig, get_preset
    >>> get_preset("mild").rotation_range
    (-15.0, 15.0)
    >>> AugmentationConfig(noise_range=(0.0, 0.2)).noise_range
    (0.0, 0.2)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["ALGORITHMS", "COUNTER_ALGORITHMS", "PARAM_NAMES", "PRESETS", "AugmentationConfig", "get_preset"]

PARAM_NAMES: tuple[str, ...] = ("rotation", "brightness", "noise", "scale", "contrast")
# the generators of the parameters: two counter-based jax.random hashes and DPA's exact one
COUNTER_ALGORITHMS = ("threefry2x32", "philox4x32")
ALGORITHMS = (*COUNTER_ALGORITHMS, "dpa")
_F32 = np.float32
_MAX_ABS = 1e30  # float32 headroom: widths stay finite
_MIN_ABS = 1e-30  # bounds stay normal float32 numbers (devices may flush subnormals to zero)
_MIN_WIDTH = 2.0**-60  # the exact split products of the kernel stay normal floats


def _f32_at_or_above(x: float) -> np.float32:
    """Smallest float32 >= x."""
    y = _F32(x)
    return y if float(y) >= x else np.nextafter(y, _F32(np.inf))


def _f32_below(x: float) -> np.float32:
    """Largest float32 < x."""
    y = _F32(x)
    return y if float(y) < x else np.nextafter(y, _F32(-np.inf))


def _check_range(name: str, value: object) -> tuple[float, float]:
    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a pair (lo, hi) of real numbers, got {value!r}")
    lo, hi = value
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must be a pair (lo, hi) of real numbers, got {value!r}")
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if not lo < hi:
        raise ValueError(f"{name} must satisfy lo < hi, got {value!r}")
    # Counter-based algorithms draw float32 values: [lo, hi) must hold a float32 and its
    # width must be finite in float32.
    if not (
        all(v == 0 or _MIN_ABS <= abs(v) <= _MAX_ABS for v in (lo, hi))
        and hi - lo >= _MIN_WIDTH
        and math.isfinite(_F32(hi - lo))
        and _f32_at_or_above(lo) <= _f32_below(hi)
    ):
        raise ValueError(
            f"{name} = {value!r} is too narrow or too wide for float32 parameters "
            f"(need lo, hi each 0 or of magnitude in [{_MIN_ABS:g}, {_MAX_ABS:g}], hi - lo >= 2**-60 "
            "and a float32 in [lo, hi))"
        )
    return lo, hi


@dataclasses.dataclass(frozen=True)
class AugmentationConfig:
    """Half-open ranges ``[lo, hi)`` of the five augmentation parameters; immutable.

    Each range must be finite with ``lo < hi``; scales must be positive (``lo > 0``), brightness
    factors and noise standard deviations non-negative (``lo >= 0``); ``augmentation_depth`` (hash-chain length
    of the ``'dpa'`` algorithm) must be an integer >= 1. Ranges are stored as float tuples.

    Example:
        >>> cfg = AugmentationConfig(rotation_range=(-10, 10))
        >>> cfg.rotation_range, cfg.augmentation_depth
        ((-10.0, 10.0), 10)
    """

    rotation_range: tuple[float, float] = (-30.0, 30.0)
    brightness_range: tuple[float, float] = (0.8, 1.2)
    noise_range: tuple[float, float] = (0.0, 0.1)
    scale_range: tuple[float, float] = (0.8, 1.2)
    contrast_range: tuple[float, float] = (0.7, 1.3)
    augmentation_depth: int = 10

    def __post_init__(self) -> None:
        for name in PARAM_NAMES:
            field = f"{name}_range"
            object.__setattr__(self, field, _check_range(field, getattr(self, field)))
        # Ranges the image ops would reject only when applied (rotate_and_scale needs
        # scale > 0, adjust_brightness factor >= 0, add_noise std >= 0): refused here, where
        # the mistake is made.
        if self.scale_range[0] <= 0:
            raise ValueError(f"scale_range must have lo > 0 (scales are positive), got {self.scale_range!r}")
        if self.brightness_range[0] < 0:
            raise ValueError(
                f"brightness_range must have lo >= 0 (brightness factors multiply pixels), got {self.brightness_range!r}"
            )
        if self.noise_range[0] < 0:
            raise ValueError(f"noise_range must have lo >= 0 (a noise std), got {self.noise_range!r}")
        depth = self.augmentation_depth
        if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
            raise TypeError(f"augmentation_depth must be an integer >= 1, got {depth!r}")
        if depth < 1:
            raise ValueError(f"augmentation_depth must be an integer >= 1, got {depth}")
        object.__setattr__(self, "augmentation_depth", int(depth))

    @property
    def ranges(self) -> tuple[tuple[float, float], ...]:
        """The five ``(lo, hi)`` ranges in ``PARAM_NAMES`` order."""
        return tuple(getattr(self, f"{name}_range") for name in PARAM_NAMES)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (DPA's ``asdict(config)`` layout, ranges as lists)."""
        out: dict[str, Any] = {f"{n}_range": list(r) for n, r in zip(PARAM_NAMES, self.ranges, strict=True)}
        out["augmentation_depth"] = self.augmentation_depth
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentationConfig:
        """Inverse of ``to_dict``; unknown keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise TypeError(f"config must be a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown AugmentationConfig fields {sorted(unknown)}; accepted: {sorted(names)}")
        return cls(**data)  # each field is checked (and ranges made tuples) by __post_init__


PRESETS: Mapping[str, AugmentationConfig] = MappingProxyType({
    "mild": AugmentationConfig(
        rotation_range=(-15.0, 15.0),
        brightness_range=(0.9, 1.1),
        noise_range=(0.0, 0.05),
        scale_range=(0.9, 1.1),
        contrast_range=(0.85, 1.15),
    ),
    "moderate": AugmentationConfig(),
    "aggressive": AugmentationConfig(
        rotation_range=(-45.0, 45.0),
        brightness_range=(0.7, 1.3),
        noise_range=(0.0, 0.15),
        scale_range=(0.7, 1.3),
        contrast_range=(0.6, 1.4),
    ),
})


def get_preset(name: str) -> AugmentationConfig:
    """The preset config ``'mild'``, ``'moderate'`` (the defaults) or ``'aggressive'``.

    Configs are immutable, so the returned object can be shared safely.

    Example:
        >>> get_preset("aggressive").contrast_range
        (0.6, 1.4)
    """
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a str, one of {sorted(PRESETS)}, got {type(name).__name__}")
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; accepted: {sorted(PRESETS)}") from None


def resolve_config(config: AugmentationConfig | None) -> AugmentationConfig:
    """``config`` or the default (moderate) config; anything else is a ``TypeError``."""
    if config is None:
        return PRESETS["moderate"]
    if not isinstance(config, AugmentationConfig):
        raise TypeError(f"config must be an AugmentationConfig or None, got {type(config).__name__}")
    return config
