"""Timing an estimator's ``fit``, and ``SpeedBenchmark``, which keeps every result.

``benchmark_optimizer`` runs one warm-up fit (where JAX compiles), then ``n_runs`` timed fits,
each stopped only after every fitted array is computed (``accel.profile.block_fitted``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accel._report import dump_json, format_table, jsonable, ms
from accel.bench import _clock
from accel.bench._backends import BACKEND_NAMES
from accel.bench._compare import check_n_runs, compare_backends
from accel.bench._results import Comparison
from accel.profile import FieldMapping, block_fitted, fitted_epochs

__all__ = ["OptimizerBenchmark", "SpeedBenchmark", "benchmark_optimizer"]


@dataclasses.dataclass(frozen=True)
class OptimizerBenchmark(FieldMapping):
    """Timings of ``n_runs`` identical fits after one warm-up fit (which, for JAX, compiles).

    ``throughput_samples_per_sec = n_samples * epochs / median_time``. ``final_loss`` is
    ``history_['loss'][-1]`` of the last fit. Also a read-only mapping of its fields
    (``result['mean_time']``, as the 002 document reads it).
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

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The JSON text; also written (atomically) to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent=indent)

    def table(self) -> str:
        headers = ("optimizer", "rows", "epochs", "warm-up ms", "median ms", "mean ms",
                   "std ms", "min ms", "samples/s", "final loss")
        row = [self.optimizer, self.n_samples, self.epochs, ms(self.warmup_time),
               ms(self.median_time), ms(self.mean_time), ms(self.std_time), ms(self.min_time),
               float(f"{self.throughput_samples_per_sec:.4g}"), self.final_loss]
        return format_table(headers, [row])

    def __str__(self) -> str:
        return self.table()


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


class SpeedBenchmark:
    """Runs :func:`compare_backends` and :func:`benchmark_optimizer` and keeps every result.

    Example:
        >>> import numpy as np
        >>> from accel import SpeedBenchmark
        >>> bench = SpeedBenchmark()
        >>> r = bench.compare_backends(lambda X, xp: xp.sum(X * X), np.ones((8, 8)),
        ...                            backends=("numpy",), n_runs=2, warmup=0)
        >>> r["numpy"].available, len(bench.results)
        (True, 1)
    """

    def __init__(self) -> None:
        self.results: list[Comparison | OptimizerBenchmark] = []

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
