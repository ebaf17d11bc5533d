"""How benchmark results judge their spread and show themselves: notebook tables,
``to_dataframe()`` and ``plot()``.

A timing whose ``relative_std = std / mean`` exceeds :data:`NOISY_RELATIVE_STD` is ``noisy``:
its table row says so in the ``note`` column, and its bar in :meth:`ResultDisplay.plot` is
hatched (with a legend entry). Results with this mixin
(:class:`~accel.bench.Comparison`, :class:`~accel.bench.OptimizerBenchmark`,
:class:`~accel.bench.SpeedBenchmark`) render as an HTML table in Jupyter and as the text
table in IPython; pandas (``accel[pandas]``) and matplotlib (``accel[plot]``) are imported
only when ``to_dataframe()`` or ``plot()`` is called.

Example:
    >>> import numpy as np
    >>> from accel.bench import compare_backends
    >>> res = compare_backends(lambda X: X + 1, np.ones((8, 8)), backends=("numpy",),
    ...                        n_runs=2, warmup=0)
    >>> res._repr_html_().count(">numpy</td>")
    1
    >>> df = res.to_dataframe()
    >>> df.index.tolist(), bool(df.loc["numpy", "median_time"] == res["numpy"].median_time)
    (['numpy'], True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from accel._report import TableDisplay, optional_import

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "NOISY_RELATIVE_STD",
    "ResultDisplay",
    "Row",
    "field_record",
    "noisy_note",
    "plot_rows",
    "relative_spread",
]

# A timing whose standard deviation exceeds half its mean is too spread out for a ratio:
# repeated runs of the same comparison then differ by more than 2x.
NOISY_RELATIVE_STD = 0.5

NOISY_HATCH = "//"
LOG_SCALE_SPAN = 100.0  # plot() switches to a log axis when the medians span more than this


def relative_spread(
    mean: float | None, std: float | None, n_runs: int
) -> tuple[float | None, bool | None]:
    """``(std / mean, std / mean > NOISY_RELATIVE_STD)``; ``(None, None)`` when not measurable
    (fewer than two runs, no or zero mean).

    Example:
        >>> relative_spread(1.0, 0.75, 3), relative_spread(1.0, 0.25, 3)
        ((0.75, True), (0.25, False))
        >>> relative_spread(1.0, 0.0, 1)
        (None, None)
    """
    if not mean or std is None or n_runs < 2:
        return None, None
    rel = std / mean
    return rel, rel > NOISY_RELATIVE_STD


def noisy_note(relative_std: float) -> str:
    """The table's note for a noisy timing, e.g. ``'noisy: std = 1.2 x mean'``."""
    return f"noisy: std = {relative_std:.2g} x mean"


def field_record(result: Any, *skip: str) -> dict[str, Any]:
    """A dataclass result's fields but ``skip``, as a DataFrame row's columns."""
    fields = dataclasses.fields(result)
    return {f.name: getattr(result, f.name) for f in fields if f.name not in skip}


class Row(NamedTuple):
    """One row of a result's DataFrame and one bar of its plot.

    ``key`` is the DataFrame index entry, ``label`` the bar's tick label, ``record`` the
    columns: numeric fields in seconds (``median_time``, ``std_time``, ...) and flags
    (``noisy``; ``available`` where a backend may be missing).
    """

    key: Hashable
    label: str
    record: dict[str, Any]


class ResultDisplay(TableDisplay):
    """Mixin: ``to_dataframe()`` and ``plot()`` over ``_rows()``, tables from ``_tables()``."""

    _index_names: tuple[str, ...] = ("name",)

    def _rows(self) -> list[Row]:
        raise NotImplementedError

    def _plot_title(self) -> str:
        return type(self).__name__

    def to_dataframe(self) -> pd.DataFrame:
        """One row per timed thing (backend, optimizer): the result's fields, times in seconds,
        and the flags (``noisy``, ...); a missing number is NaN, a missing flag ``None``.

        Needs pandas: ``pip install 'accel[pandas]'``."""
        pd = optional_import("pandas", "pandas", "to_dataframe()")
        rows = self._rows()
        keys = [r.key for r in rows]
        names = list(self._index_names)
        if len(names) == 1:
            index = pd.Index(keys, name=names[0])
        elif keys:
            index = pd.MultiIndex.from_tuples(keys, names=names)
        else:
            index = pd.MultiIndex.from_arrays([[] for _ in names], names=names)
        frame = pd.DataFrame([r.record for r in rows], index=index)
        for column in frame.columns:
            values = frame[column].tolist()
            if None in values and all(v is None or _is_number(v) for v in values):
                frame[column] = frame[column].astype(float)  # missing numbers as NaN
        return frame

    def plot(self, ax: Axes | None = None) -> Axes:
        """Bar chart of the median time (ms) per row with ``std`` error bars; noisy timings
        hatched and named in the legend; a log axis when the medians span more than 100x.

        Draws on ``ax`` (default: a new pyplot figure, shown inline by Jupyter) and returns
        it. Needs matplotlib: ``pip install 'accel[plot]'``."""
        return plot_rows(self._rows(), self._plot_title(), ax)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(row: Row) -> bool:
    record = row.record
    return record.get("available", True) is not False and record.get("median_time") is not None


def plot_rows(rows: Sequence[Row], title: str, ax: Axes | None = None) -> Axes:
    """Bars of ``median_time`` in ms with ``std_time`` error bars (clipped at zero), one per row
    that has a time; noisy rows hatched and named in the legend; a log axis when the medians
    span more than ``LOG_SCALE_SPAN``; rows without a time listed in the title."""
    optional_import("matplotlib", "plot", "plot()")
    from matplotlib.patches import Patch

    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.subplots()[1]
    shown = [r for r in rows if _shown(r)]
    missing = [r.label for r in rows if not _shown(r)]
    medians = [r.record["median_time"] * 1e3 for r in shown]
    stds = [(r.record.get("std_time") or 0.0) * 1e3 for r in shown]
    lower = [min(s, m) for s, m in zip(stds, medians, strict=True)]
    bars = ax.bar(range(len(shown)), medians, yerr=[lower, stds], capsize=4, color="C0")
    noisy = [bool(r.record.get("noisy")) for r in shown]
    for bar, is_noisy in zip(bars, noisy, strict=True):
        if is_noisy:
            bar.set_hatch(NOISY_HATCH)
            bar.set_edgecolor("black")
    ax.set_xticks(range(len(shown)), [r.label for r in shown])
    if medians and min(medians) > 0 and max(medians) / min(medians) > LOG_SCALE_SPAN:
        ax.set_yscale("log")
    if any(noisy):
        label = f"noisy: std > {NOISY_RELATIVE_STD} x mean"
        handle = Patch(facecolor="C0", edgecolor="black", hatch=NOISY_HATCH, label=label)
        ax.legend(handles=[handle])
    if not shown:
        ax.text(0.5, 0.5, "nothing to plot: no timing was measured",
                transform=ax.transAxes, ha="center", va="center")
    ax.set_ylabel("median time per call [ms] (error bars: ± std)")
    ax.set_title(title + (f"\nunavailable: {', '.join(missing)}" if missing else ""))
    return ax
