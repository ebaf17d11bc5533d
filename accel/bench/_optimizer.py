"""Timing an estimator's ``fit``, and ``SpeedBenchmark``, which keeps every result.

``benchmark_optimizer`` runs one warm-up fit (where JAX compiles), then ``n_runs`` timed fits,
each stopped only after every fitted array is computed (``accel.profile.block_fitted``).
Both results show themselves as tables in notebooks and have ``to_dataframe()`` and ``plot()``
(:class:`accel.bench._display.ResultDisplay`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accel._report import Table, dump_json, format_table, jsonable, ms
from accel.bench import _clock
from accel.bench._backends import BACKEND_NAMES
from accel.bench._compare import check_n_runs, compare_backends
from accel.bench._display import ResultDisplay, Row, field_record, noisy_note, relative_spread
from accel.bench._results import Comparison
from accel.profile import FieldMapping, block_fitted, fitted_epochs

__all__ = ["OptimizerBenchmark", "SpeedBenchmark", "benchmark_optimizer"]


_OPTIMIZER_HEADERS = (
    "optimizer", "rows", "epochs", "warm-up ms", "median ms", "mean ms", "std ms", "min ms",
    "samples/s", "final loss", "note",
)


@dataclasses.dataclass(frozen=True, repr=False)
class OptimizerBenchmark(FieldMapping, ResultDisplay):
    """Timings of ``n_runs`` identical fits after one warm-up fit (which, for JAX, compiles).

    Times in seconds. ``throughput_samples_per_sec = n_samples * epochs / median_time``.
    ``final_loss`` is ``history_['loss'][-1]`` of the last fit. Also a read-only mapping of its
    fields (``result['mean_time']``, as the 002 document reads it). ``relative_std`` and
    ``noisy`` judge the spread of the timed fits as for backends (see
    :data:`~accel.bench.NOISY_RELATIVE_STD`). Shows itself as its table (text,
    IPython, Jupyter HTML); :meth:`to_dataframe` and :meth:`plot` give one row / bar.
    """

    optimizer: str
    n_samples: int
    n_features: int
    n_runs: int
    epochs: int
    warmup_time: float
    mean_time: float
    median_time: float
    std_time: float
    min_time: float
    throughput_samples_per_sec: float
    final_loss: float
    times: tuple[float, ...]

    _index_names = ("optimizer",)

    @property
    def relative_std(self) -> float | None:
        """``std_time / mean_time`` (``None`` with fewer than two timed fits)."""
        return relative_spread(self.mean_time, self.std_time, self.n_runs)[0]

    @property
    def noisy(self) -> bool | None:
        """Whether ``relative_std`` exceeds ``NOISY_RELATIVE_STD``; ``None`` when it is not measurable."""
        return relative_spread(self.mean_time, self.std_time, self.n_runs)[1]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The JSON text; also written (atomically) to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent=indent)

    def _table_row(self) -> list[Any]:
        return [self.optimizer, self.n_samples, self.epochs, ms(self.warmup_time),
                ms(self.median_time), ms(self.mean_time), ms(self.std_time), ms(self.min_time),
                float(f"{self.throughput_samples_per_sec:.4g}"), self.final_loss,
                noisy_note(self.relative_std) if self.noisy else ""]  # fmt: skip

    def table(self) -> str:
        """The text table (one row, times in ms)."""
        return format_table(_OPTIMIZER_HEADERS, [self._table_row()])

    def _tables(self) -> list[Table]:
        return [Table(_OPTIMIZER_HEADERS, [self._table_row()])]

    def _rows(self) -> list[Row]:
        record = field_record(self, "optimizer", "times")
        record.update(relative_std=self.relative_std, noisy=self.noisy)
        return [Row(self.optimizer, self.optimizer, record)]

    def _plot_title(self) -> str:
        return f"{self.optimizer}: fit time ({self.n_samples} rows, {self.epochs} epochs)"


def _make_estimator(optimizer: Any, config: dict[str, Any] | None) -> Any:
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"config must be a dict of constructor parameters or None, got {config!r}")
    if isinstance(optimizer, type):
        est = optimizer(**(config or {}))
    elif config:
        if not hasattr(optimizer, "get_params"):
            raise TypeError(
                f"config needs an estimator with get_params() (sklearn-style); {type(optimizer).__name__} has none"
            )
        est = type(optimizer)(**{**optimizer.get_params(), **config})
    else:
        est = optimizer
    if not callable(getattr(est, "fit", None)):
        raise TypeError(
            "optimizer must be an estimator (class or instance) with fit(X, y), such as "
            f"optimizers.Adam or accel.JAXOptimizer; got {type(est).__name__}"
        )
    return est


def _one_optimizer(optimizer: Any, optimizer_cls: Any) -> Any:
    if (optimizer is None) == (optimizer_cls is None):
        raise TypeError("pass the estimator (class or instance) once: as optimizer or as optimizer_cls")
    return optimizer if optimizer is not None else optimizer_cls


def benchmark_optimizer(
    optimizer: Any = None,
    X: Any = None,
    y: Any = None,
    config: dict[str, Any] | None = None,
    n_runs: int = 3,
    *,
    optimizer_cls: Any = None,
) -> OptimizerBenchmark:
    """Time ``optimizer.fit(X, y)``: one warm-up fit (JAX compiles there), then ``n_runs``.

    ``optimizer`` is an estimator class (constructed with ``config``) or instance (cloned
    with ``config`` through ``get_params()`` when ``config`` is given), e.g.
    ``optimizers.Adam`` or ``accel.JAXOptimizer``; ``optimizer_cls=`` is the 002 document's
    name for it. JAX results are waited for with ``block_until_ready`` before the clock stops.
    """
    optimizer = _one_optimizer(optimizer, optimizer_cls)
    if X is None or y is None:
        raise TypeError("benchmark_optimizer() needs the data: X and y")
    n_runs = check_n_runs(n_runs)
    est = _make_estimator(optimizer, config)
    shape_x, shape_y = np.shape(X), np.shape(y)
    if len(shape_x) != 2 or len(shape_y) != 1 or shape_x[0] != shape_y[0] or shape_x[0] == 0:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features) and y 1-D with the same non-zero n_samples; "
            f"got X {shape_x}, y {shape_y}"
        )

    def fit() -> int:
        est.fit(X, y)
        block_fitted(est)
        return fitted_epochs(est)

    t0 = _clock.now()
    fit()
    warmup_time = _clock.now() - t0
    times, epochs = [], set()
    for _ in range(n_runs):
        t0 = _clock.now()
        e = fit()
        times.append(_clock.now() - t0)
        epochs.add(e)
    if len(epochs) != 1:
        raise RuntimeError(
            f"identical fits ran different numbers of epochs {sorted(epochs)}: "
            f"{type(est).__name__} is not deterministic"
        )
    (n_epochs,) = epochs
    t = np.asarray(times)
    median = float(np.median(t))
    return OptimizerBenchmark(
        optimizer=type(est).__name__,
        n_samples=int(shape_x[0]),
        n_features=int(shape_x[1]),
        n_runs=n_runs,
        epochs=n_epochs,
        warmup_time=warmup_time,
        mean_time=float(t.mean()),
        median_time=median,
        std_time=float(t.std(ddof=1)) if t.size > 1 else 0.0,
        min_time=float(t.min()),
        throughput_samples_per_sec=shape_x[0] * n_epochs / median,
        final_loss=float(est.history_["loss"][-1]),
        times=tuple(times),
    )


class SpeedBenchmark(ResultDisplay):
    """Runs :func:`compare_backends` and :func:`benchmark_optimizer` and keeps every result.

    Shows itself as the tables of all its results (each comparison's, then one for the
    optimizer benchmarks); :meth:`to_dataframe` has one row per backend of each comparison
    and per optimizer benchmark, indexed by ``(result, name)`` (``result``: the position in
    ``results``) with an ``operation`` column (``'fit'`` for optimizer benchmarks);
    :meth:`plot` draws one bar per row.

    Example:
        >>> import numpy as np
        >>> from accel import SpeedBenchmark
        >>> bench = SpeedBenchmark()
        >>> r = bench.compare_backends(lambda X, xp: xp.sum(X * X), np.ones((8, 8)),
        ...                            backends=("numpy",), n_runs=2, warmup=0)
        >>> r["numpy"].available, len(bench.results)
        (True, 1)
    """

    _index_names = ("result", "name")

    def __init__(self) -> None:
        self.results: list[Comparison | OptimizerBenchmark] = []

    def _tables(self) -> list[Table]:
        tables = [t for r in self.results if isinstance(r, Comparison) for t in r._tables()]
        fits = [r._table_row() for r in self.results if isinstance(r, OptimizerBenchmark)]
        if fits:
            tables.append(Table(_OPTIMIZER_HEADERS, fits, title="benchmark_optimizer"))
        return tables

    def _rows(self) -> list[Row]:
        rows = []
        for i, result in enumerate(self.results):
            operation = result.operation if isinstance(result, Comparison) else "fit"
            rows.extend(
                Row((i, r.key), f"#{i} {operation}: {r.label}",
                    {"operation": operation, **r.record})
                for r in result._rows()
            )
        return rows

    def compare_backends(
        self,
        operation: Callable[..., Any],
        data_numpy: np.ndarray | Sequence[np.ndarray],
        backends: Sequence[str] = BACKEND_NAMES,
        n_runs: int = 10,
        warmup: int = 3,
        dtype: Any = None,
    ) -> Comparison:
        result = compare_backends(operation, data_numpy, backends, n_runs, warmup, dtype)
        self.results.append(result)
        return result

    def benchmark_optimizer(
        self,
        optimizer: Any = None,
        X: Any = None,
        y: Any = None,
        config: dict[str, Any] | None = None,
        n_runs: int = 3,
        *,
        optimizer_cls: Any = None,
    ) -> OptimizerBenchmark:
        """:func:`benchmark_optimizer`, keeping the result (``optimizer_cls=`` as in 002)."""
        result = benchmark_optimizer(optimizer, X, y, config, n_runs, optimizer_cls=optimizer_cls)
        self.results.append(result)
        return result

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """All results so far as one JSON list; also written (atomically) to ``path``."""
        return dump_json([r.to_dict() for r in self.results], path, indent=indent)
