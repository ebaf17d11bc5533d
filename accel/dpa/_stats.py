"""DPA's ``compute_statistics`` and ``compute_streaming_statistics``.

Both return ``{name: {'mean', 'stdev', 'min', 'max', 'count'}}`` for the five parameters
(``stdev`` is the sample standard deviation, 0.0 for one value) and are computed by
``accel.augment.compute_statistics`` in one pass over NumPy chunks (Chan/Welford merges), so
a stream of any length takes constant memory. Means and deviations agree with DPA's
``statistics``/Welford results to rounding (about 1e-16 relative); min, max and count are
exact. As in DPA, an empty stream gives zeros; an empty list raises ``ValueError``.

Example:
    >>> from accel.dpa import compute_statistics
    >>> rows = [dict(rotation=r, brightness=1.0, noise=0.0, scale=1.0, contrast=1.0) for r in (0, 10)]
    >>> s = compute_statistics(rows)["rotation"]
    >>> s["mean"], s["min"], s["max"], s["count"]
    (5.0, 0.0, 10.0, 2)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from accel import augment

from ._config import PARAM_NAMES

__all__ = ["compute_statistics", "compute_streaming_statistics"]

_EMPTY = {"mean": 0.0, "stdev": 0.0, "min": 0.0, "max": 0.0, "count": 0}


def compute_statistics(params_list: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Statistics of a list of parameter dicts (``ValueError`` when it is empty, as DPA's
    ``statistics.mean``)."""
    return augment.compute_statistics(params_list)


def compute_streaming_statistics(param_generator: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Statistics of a stream of parameter dicts in constant memory (zeros when empty)."""
    items = iter(param_generator)
    first = next(items, None)
    if first is None:
        return {name: dict(_EMPTY) for name in PARAM_NAMES}
    return augment.compute_statistics(itertools.chain([first], items))
