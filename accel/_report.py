"""Plain-text tables, JSON-safe values and atomic file writes for benchmark reports.

Example:
    >>> print(format_table(["backend", "median ms"], [["numpy", 1.5], ["jax", None]]))
    backend  median ms
    -------  ---------
    numpy          1.5
    jax              -
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from typing import Any

from accel._atomic import write_atomic

__all__ = ["dump_json", "format_table", "jsonable", "ms", "write_atomic"]


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds rounded to 4 significant digits, ``None`` kept."""
    return None if seconds is None else float(f"{seconds * 1e3:.4g}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned text table; numbers right-aligned, ``None`` shown as ``-``."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        any(isinstance(row[i], int | float) for row in rows)
        and all(isinstance(row[i], int | float) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples, NumPy/JAX scalars and arrays as JSON values; non-finite floats become ``None``
    (JSON has no NaN/Infinity)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    shape = getattr(value, "shape", None)
    if shape == () and hasattr(value, "item"):  # NumPy/JAX scalars
        value = value.item()
    elif shape is not None and hasattr(value, "tolist"):  # NumPy/JAX arrays
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dump_json(value: Any, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
    """``value`` as strict JSON text (see :func:`jsonable`); also written atomically to
    ``path`` when given."""
    text = json.dumps(jsonable(value), indent=indent, allow_nan=False)
    if path is not None:
        write_atomic(path, text + "\n")
    return text
