"""The results of a backend comparison: one :class:`BackendResult` per backend and the
:class:`Comparison` that holds them (a dict by backend name), with the table and JSON forms.

A result's spread is judged too: ``relative_std = std / mean`` above
:data:`NOISY_RELATIVE_STD` marks the timing ``noisy``, and a speed-up computed from a noisy
timing is flagged ``speedup_reliable=False`` (a 61x "speed-up" from a NumPy timing whose
std exceeded its mean is a measurement of the load, not of the backends).

Example:
    >>> from accel.bench import compare_backends
    >>> import numpy as np
    >>> res = compare_backends(lambda X: X + 1, np.ones((8, 8)), backends=("numpy",), n_runs=2, warmup=0)
    >>> isinstance(res["numpy"], BackendResult) and "numpy" in res.table()
    True

In a notebook a :class:`Comparison` shows itself as the table (``_repr_html_`` in Jupyter, the
text table in IPython); ``to_dataframe()`` and ``plot()`` come from
:class:`accel.bench._display.ResultDisplay`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from accel._report import Table, dump_json, format_table, jsonable, ms
from accel.bench._display import (
    NOISY_RELATIVE_STD,
    ResultDisplay,
    Row,
    field_record,
    noisy_note,
    relative_spread,
)
from accel.profile import FieldMapping

__all__ = ["NOISY_RELATIVE_STD", "BackendResult", "Comparison"]


@dataclasses.dataclass(frozen=True)
class BackendResult(FieldMapping):
    """One backend's timings for one operation; times in seconds.

    Also a read-only mapping of its fields, as the 002 document uses it
    (``timing['mean_time']``, ``'speedup_vs_numpy' in timing``): a field that is ``None`` is
    absent from ``keys()`` and reads as :class:`accel.profile.Unavailable` (printing
    ``unavailable``), with the backend's ``reason`` when the backend could not run.

    ``compile_time`` is JAX's ahead-of-time compilation, ``0.0`` for NumPy and ``None`` for
    CuPy (it compiles kernels lazily inside the first call, see ``first_call_time``).
    ``transfer_time`` is the median host-to-device placement of all inputs (``0.0`` for
    NumPy). ``max_rel_diff`` compares the output with the reference backend's.
    ``relative_std`` is ``std_time / mean_time``; ``noisy`` is True when it exceeds
    :data:`NOISY_RELATIVE_STD`; ``speedup_reliable`` is False when this backend's or NumPy's
    timing is noisy (``None`` without a speedup).
    """

    backend: str
    available: bool
    reason: str
    device: str | None = None
    dtype: str | None = None
    n_runs: int = 0
    warmup: int = 0
    mean_time: float | None = None
    median_time: float | None = None
    std_time: float | None = None
    min_time: float | None = None
    first_call_time: float | None = None
    compile_time: float | None = None
    transfer_time: float | None = None
    speedup_vs_numpy: float | None = None
    max_rel_diff: float | None = None
    times: tuple[float, ...] = ()
    relative_std: float | None = None
    noisy: bool | None = None
    speedup_reliable: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def _row(self) -> Row:
        """Its DataFrame row: every scalar field (times in seconds) but ``backend``."""
        return Row(self.backend, self.backend, field_record(self, "backend", "times"))


_TABLE_HEADERS = (
    "backend", "device", "dtype", "median ms", "mean ms", "std ms", "min ms",
    "compile ms", "transfer ms", "speedup", "max rel diff", "note",
)


def _note(r: BackendResult) -> str:
    notes = []
    if r.noisy:
        notes.append(noisy_note(r.relative_std))
    if r.speedup_reliable is False and r.backend != "numpy":
        notes.append("speedup unreliable" + ("" if r.noisy else " (numpy timing noisy)"))
    return "; ".join(notes)


def _table_row(r: BackendResult) -> list[Any]:
    if not r.available:
        return [r.backend, r.device, r.dtype, *[None] * 8, f"unavailable: {r.reason}"]
    return [
        r.backend, r.device, r.dtype, ms(r.median_time), ms(r.mean_time), ms(r.std_time),
        ms(r.min_time), ms(r.compile_time), ms(r.transfer_time),
        None if r.speedup_vs_numpy is None else round(r.speedup_vs_numpy, 3),
        None if r.max_rel_diff is None else float(f"{r.max_rel_diff:.3g}"),
        _note(r),
    ]


def _spread(r: BackendResult) -> tuple[float | None, bool | None]:
    """``(relative_std, noisy)`` of an available result (``None`` when not measurable)."""
    if not r.available:
        return None, None
    return relative_spread(r.mean_time, r.std_time, r.n_runs)


class Comparison(ResultDisplay, dict[str, BackendResult]):
    """``{backend: BackendResult}`` for one operation, plus its name and reference backend.

    ``str(comparison)``, ``repr()``, IPython and Jupyter (HTML) show it as a table, noisy
    timings flagged in the ``note`` column; :meth:`to_json` serialises it,
    :meth:`to_dataframe` gives one row per backend (times in seconds), :meth:`plot` a bar
    chart of the median times.
    """

    _index_names = ("backend",)

    def __init__(self, operation: str, reference: str | None, results: dict[str, BackendResult]):
        super().__init__(results)
        self.operation = operation
        self.reference = reference

    def table(self) -> str:
        """The text table, one row per backend (times in ms)."""
        return format_table(_TABLE_HEADERS, self._table_rows())

    def _table_rows(self) -> list[list[Any]]:
        return [_table_row(r) for r in self.values()]

    def _title(self) -> str:
        return f"{self.operation} (reference: {self.reference})"

    def _tables(self) -> list[Table]:
        return [Table(_TABLE_HEADERS, self._table_rows(), title=self._title())]

    def _rows(self) -> list[Row]:
        return [r._row() for r in self.values()]

    def _plot_title(self) -> str:
        return self._title()

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "reference": self.reference,
            "results": {name: r.to_dict() for name, r in self.items()},
        }

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The JSON text; also written (atomically) to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent=indent)
