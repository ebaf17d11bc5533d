"""Plain-text and HTML tables, JSON-safe values and atomic file writes for benchmark reports.

:class:`TableDisplay` makes a result show itself as its tables: ``str``/``repr`` and IPython
print the text table, Jupyter renders the HTML one (``_repr_html_``). :func:`optional_import`
imports an optional dependency or raises an ``ImportError`` that names the extra to install.

Example:
    >>> print(format_table(["backend", "median ms"], [["numpy", 1.5], ["jax", None]]))
    backend  median ms
    -------  ---------
    numpy          1.5
    jax              -
    >>> format_html_table(["backend"], [["<b>"]]).count("&lt;b&gt;")
    1
"""

from __future__ import annotations

import dataclasses
import html
import importlib
import json
import math
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from accel._atomic import write_atomic

__all__ = [
    "Table",
    "TableDisplay",
    "dump_json",
    "format_html_table",
    "format_table",
    "jsonable",
    "ms",
    "optional_import",
    "write_atomic",
]


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds rounded to 4 significant digits, ``None`` kept."""
    return None if seconds is None else float(f"{seconds * 1e3:.4g}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _numeric_columns(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[bool]:
    """Per column: it holds numbers (and ``None``) only, so it is right-aligned."""
    return [
        any(isinstance(row[i], int | float) for row in rows)
        and all(isinstance(row[i], int | float) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned text table; numbers right-aligned, ``None`` shown as ``-``."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = _numeric_columns(headers, rows)
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


def format_html_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str = ""
) -> str:
    """The same table as :func:`format_table` as HTML (cells formatted alike, text escaped)."""
    numeric = _numeric_columns(headers, rows)
    # notebooks right-align every cell by default; text keeps its indentation (pre)
    right, left = ' style="text-align: right"', ' style="text-align: left; white-space: pre"'
    styles = [right if num else left for num in numeric]

    def tr(tag: str, values: Sequence[Any]) -> str:
        cells = (
            f"<{tag}{style}>{html.escape(_cell(v))}</{tag}>"
            for v, style in zip(values, styles, strict=True)
        )
        return f"<tr>{''.join(cells)}</tr>"

    title = f'<caption style="text-align: left">{html.escape(caption)}</caption>' if caption else ""
    body = "".join(tr("td", row) for row in rows)
    return f"<table>{title}<thead>{tr('th', headers)}</thead><tbody>{body}</tbody></table>"


@dataclasses.dataclass(frozen=True)
class Table:
    """A table with an optional title above it and note below it (no headers: title only)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str = ""
    note: str = ""

    def text(self) -> str:
        table = [format_table(self.headers, self.rows)] if self.headers else []
        return "\n".join(part for part in (self.title, *table, self.note) if part)

    def html(self) -> str:
        if not self.headers:
            return f"<p>{html.escape(self.title)}</p>"
        note = f"<p><small>{html.escape(self.note)}</small></p>" if self.note else ""
        return format_html_table(self.headers, self.rows, caption=self.title) + note


class TableDisplay:
    """Mixin: an object shown as the tables its ``_tables()`` returns.

    ``str()`` and ``repr()`` are the text tables (so a ``dict`` subclass does not print its
    dict), IPython's pretty printer prints them too, and Jupyter renders ``_repr_html_``.
    """

    def _tables(self) -> list[Table]:
        raise NotImplementedError

    def __str__(self) -> str:
        tables = self._tables()
        if not tables:
            return f"{type(self).__name__}: nothing recorded yet"
        return "\n\n".join(t.text() for t in tables)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's pretty printer (``p`` is its ``RepresentationPrinter``)."""
        p.text(f"{type(self).__name__}(...)" if cycle else str(self))

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the tables as HTML."""
        tables = self._tables()
        if not tables:
            return f"<p>{html.escape(str(self))}</p>"
        return "<div>" + "".join(t.html() for t in tables) + "</div>"


def optional_import(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise ``ImportError`` saying ``purpose`` needs ``accel[extra]``.

    Example:
        >>> optional_import("json", "none", "this").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.partition(".")[0]
        raise ImportError(
            f"{purpose} needs {package}: pip install 'accel[{extra}]' ({exc})"
        ) from None


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
