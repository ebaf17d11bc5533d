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
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    """Dataclasses, tuples and NumPy scalars as JSON values; non-finite floats become ``None``
    (JSON has no NaN/Infinity)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # NumPy/JAX scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file in the same
    folder, so that a failure never leaves a partial file behind."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dump_json(value: Any, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
    """``value`` as strict JSON text (see :func:`jsonable`); also written atomically to
    ``path`` when given."""
    text = json.dumps(jsonable(value), indent=indent, allow_nan=False)
    if path is not None:
        write_atomic(path, text + "\n")
    return text
