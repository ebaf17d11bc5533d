"""The large-scale benchmark suite: every optimizer on every backend against the exact optimum.

Run it (the README's main job)::

    python -m benchmarks                 # --quick: 7 problems, 5 optimizers, < 3 min on 2 cores
    python -m benchmarks --full          # larger problems, all 7 optimizers and L-BFGS (JAX only)
    python benchmarks/large_scale_benchmark.py --output DIR --backends numpy,jax --optimizers sgd,adam

Outputs in ``--output`` (default ``benchmark_results``):

* ``large_scale_results.json`` — schema ``accel.large_scale/1``::

      {"schema": "accel.large_scale/1", "created": ISO-8601 UTC, "command": str,
       "versions": {package: version}, "device": {"backend": str, "devices": [str]},
       "dtype": str, "seed": int, "repeats": int, "rtol": float,
       "lr_rule": {"sgd_family": str, "adaptive": str, "line_search": str},
       "problems": [{"name", "loss", "n_train", "n_test", "n_features", "metadata", "fallback",
                     "optimum": {"loss", "method", "grad_norm"},
                     "lipschitz", "learning_rates": {optimizer: lr}, "lr_source": {optimizer: str},
                     "hyperparameters": {optimizer: {name: value}}}],
       "results": [{"problem", "optimizer", "backend", "learning_rate", "epochs", "time_median_s",
                    "times_s", "time_relative_std", "time_noisy", "compile_time_s",
                    "compile_count", "program_reused", "final_train_loss", "optimum_loss", "gap",
                    "converged", "diverged", "test_metric", "test_metric_name", "history_loss"}],
       "skipped": [{"backend", "reason"}]}

  Strict JSON: non-finite floats (an infinite condition number, a diverged loss) are ``null``.

* ``BENCHMARK_REPORT.md`` — tables per problem, backend speed-ups, the optimum, fallbacks used.
  ``n_train``/``n_test``/``n_features`` are the sizes of the arrays fitted and scored.
  A problem whose files are absent runs on its shipped stand-in and is named after it
  (``Digits (MNIST stand-in)``, ``Diabetes (California stand-in)``)
  in the JSON, every heading, table row, plot file and plot title.
* PNG plots: ``loss_vs_epoch_<problem>.png``, ``loss_vs_time_<problem>.png`` and ``backend_speedup.png``.

Definitions (also printed in the report):

* time: median wall time of ``repeats`` complete ``fit`` calls; for compiled backends the
  first call (compilation + run) is timed apart and ``compile_time_s = first - median``.
* compile_count: XLA compilations during that first call (JAX's monitoring events);
  ``program_reused`` is True when there were none: the program was already compiled (by an
  earlier fit of the same shapes, dtype and settings in this process, or loaded from JAX's
  persistent cache), so ``compile_time_s`` is about 0 and the report says ``(reused)``.
  Both are ``None`` for NumPy.
* noisy: ``time_relative_std = stdev(times_s) / mean(times_s)`` above
  ``accel.bench``'s ``NOISY_RELATIVE_STD`` (``accel compare``'s rule; ``None`` with one
  repeat); a speed-up from a noisy timing (the backend's or NumPy's) is printed ``(noisy)``
  in the tables and hatched in ``backend_speedup.png``.
* final train loss: recomputed in float64 from the returned ``coef_``/``intercept_`` with the
  shared loss of ``accel.internals.loss_value``, so every backend is judged by the same arithmetic.
* gap: ``(final - optimum) / max(|optimum|, 1e-12)``; converged: ``gap <= rtol``.
* A loss below the optimum by more than float64 rounding raises: the optimum would be wrong.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: import the package this file belongs to
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from accel.internals import dump_json, jsonable, write_atomic
from benchmarks import _optimum, _problems, _report

__all__ = ["BACKENDS", "LargeScaleBenchmark", "main"]

BACKENDS = ("numpy", "jax", "parallel")
QUICK_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
# optimizers only JAXOptimizer runs (a line search on the full batch): no NumPy or parallel row
JAX_ONLY = ("lbfgs",)
FULL_OPTIMIZERS = (*QUICK_OPTIMIZERS, "adagrad", "rmsprop", *JAX_ONLY)
SGD_FAMILY = ("sgd", "momentum", "nesterov")
ADAPTIVE_GRID = (1e-3, 1e-2, 1e-1, 1.0)
_NUMPY_CLASSES = {
    "sgd": "SGD",
    "momentum": "MomentumSGD",
    "nesterov": "NesterovMomentum",
    "adagrad": "AdaGrad",
    "rmsprop": "RMSProp",
    "adam": "Adam",
    "adamw": "AdamW",
}
LR_RULE = {
    "sgd_family": "learning_rate = 1/L, L = largest eigenvalue of the Hessian bound "
    "[X,1]^T [X,1] / n (divided by 4 for logistic), computed in float64",
    "adaptive": "grid {grid} on a validation split (last 20% of a seeded shuffle of the training "
    "rows), {tune} epochs of the NumPy reference each; lowest finite validation loss wins",
    "line_search": "lbfgs: optax's zoom line search picks every step; learning_rate 1.0 (optax's "
    "default: the first trial step is the quasi-Newton step); one epoch is one iteration",
}


class _CompileCounter:
    """XLA compilations in this process, counted from JAX's monitoring events (the listener is
    registered once, on first use)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self) -> None:
        self.count = 0
        self._listening = False

    def _listen(self, event: str, duration: float, **kwargs: Any) -> None:
        if event == self.EVENT:
            self.count += 1

    def start(self) -> int:
        """Listen (once); returns the count so far."""
        if not self._listening:
            import jax

            jax.monitoring.register_event_duration_secs_listener(self._listen)
            self._listening = True
        return self.count


_COMPILES = _CompileCounter()


def _versions() -> dict[str, str | None]:
    from accel.internals import package_versions

    return package_versions()


def _device() -> dict[str, Any]:
    import jax

    return {"backend": jax.default_backend(), "devices": [str(d) for d in jax.local_devices()]}


class LargeScaleBenchmark:
    """Run optimizers on problems across backends and write JSON, Markdown and plots.

    Example:
        >>> import numpy as np, tempfile
        >>> from benchmarks.large_scale_benchmark import LargeScaleBenchmark
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(80, 3)); y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
        >>> bench = LargeScaleBenchmark(tempfile.mkdtemp(), backends=("numpy",), repeats=1,
        ...                             progress=False)
        >>> rows = bench.benchmark_dataset("toy", X[:60], y[:60], X[60:], y[60:],
        ...                                {"name": "toy"}, ["sgd"], max_epochs=200)
        >>> rows[0]["converged"]
        True
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str] = "benchmark_results",
        *,
        backends: Sequence[str] = BACKENDS,
        repeats: int = 3,
        dtype: str = "float32",
        seed: int = 0,
        rtol: float = 1e-3,
        tune_epochs: int | None = None,
        progress: bool = True,
        command: str | None = None,
    ) -> None:
        unknown = [b for b in backends if b not in BACKENDS]
        if unknown or not backends:
            raise ValueError(f"backends must be a non-empty subset of {BACKENDS}, got {list(backends)}")
        if not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        if not rtol > 0:
            raise ValueError(f"rtol must be > 0, got {rtol!r}")
        self.output_dir = Path(output_dir)
        self.repeats = repeats
        self.dtype = dtype
        self.seed = seed
        self.rtol = rtol
        self.tune_epochs = tune_epochs
        self.progress = progress
        self.command = command or " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
        self.results: list[dict[str, Any]] = []
        self.problems: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.backends = self._usable_backends(tuple(backends))
        self._bar: Any = None

    # -- set-up ---------------------------------------------------------------------------

    def _usable_backends(self, backends: tuple[str, ...]) -> tuple[str, ...]:
        import jax

        usable = []
        for b in backends:
            if b == "parallel" and len(jax.local_devices()) < 2:
                self.skipped.append(
                    {"backend": b, "reason": f"only {len(jax.local_devices())} local device(s); "
                     "ParallelTrainer runs when there are at least 2"}
                )
                continue
            usable.append(b)
        return tuple(usable)

    def _estimator(
        self, backend: str, optimizer: str, lr: float, loss: str, epochs: int, hyper: dict[str, float] | None = None,
        alpha: float = 0.0,
    ) -> Any:  # fmt: skip
        common = {"learning_rate": lr, "epochs": epochs, "loss": loss, "random_state": self.seed,
                  "alpha": alpha, **(hyper or {})}  # fmt: skip
        if backend == "numpy":
            import optimizers

            return getattr(optimizers, _NUMPY_CLASSES[optimizer])(dtype=self.dtype, **common)
        if backend == "jax":
            from accel import JAXOptimizer

            return JAXOptimizer(optimizer_type=optimizer, dtype=self.dtype, **common)
        from accel import ParallelTrainer

        return ParallelTrainer(optimizer_type=optimizer, **common)

    # -- learning rates -------------------------------------------------------------------

    def choose_learning_rates(
        self, X: np.ndarray, y: np.ndarray, loss: str, optimizers: Sequence[str], max_epochs: int,
        hyper: dict[str, dict[str, float]] | None = None, alpha: float = 0.0,
    ) -> tuple[dict[str, float], dict[str, str], float]:
        """Learning rate per optimizer by the stated rule (``hyper``: hyperparameters per
        optimizer, used in the grid search; ``alpha``: the problem's penalty); returns
        (rates, sources, L)."""
        n_classes = int(np.unique(np.asarray(y)).size) if loss == "logistic" else 0
        L = _optimum.lipschitz_constant(X, loss, n_classes, alpha)
        rates: dict[str, float] = {}
        sources: dict[str, str] = {}
        order = np.random.default_rng(self.seed).permutation(X.shape[0])
        n_val = max(1, X.shape[0] // 5)
        val, fit = order[-n_val:], order[:-n_val]
        tune = self._tune_epochs(max_epochs)
        for opt in optimizers:
            if opt in JAX_ONLY:
                rates[opt], sources[opt] = 1.0, "line search"
                continue
            if opt in SGD_FAMILY:
                rates[opt], sources[opt] = 1.0 / L, "1/L"
                continue
            best, best_loss = None, math.inf
            for lr in ADAPTIVE_GRID:
                est = self._fit_quietly(
                    self._estimator("numpy", opt, lr, loss, tune, (hyper or {}).get(opt), alpha), X[fit], y[fit]
                )
                if est.coef_.shape != _coef_shape(X, y, loss):  # a class absent from the fit rows
                    continue
                val_loss = _optimum.training_loss(X[val], y[val], est.coef_, est.intercept_, loss, alpha)
                if math.isfinite(val_loss) and val_loss < best_loss:
                    best, best_loss = lr, val_loss
            if best is None:
                raise RuntimeError(f"{opt}: every learning rate of the grid {ADAPTIVE_GRID} diverged")
            rates[opt], sources[opt] = best, "grid"
        return rates, sources, L

    def _tune_epochs(self, max_epochs: int) -> int:
        return self.tune_epochs or max(20, max_epochs // 4)

    @staticmethod
    def _fit_quietly(est: Any, X: np.ndarray, y: np.ndarray) -> Any:
        # Divergence is a result here (recorded as `diverged`), not an error.
        from accel.linear import DivergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)
            return est.fit(X, y)

    # -- running --------------------------------------------------------------------------

    def _time_fits(self, backend: str, make: Any, X: np.ndarray, y: np.ndarray):
        """``(estimator, median, times, compile_time, compile_count)``; ``compile_count`` is the
        number of XLA compilations during the first call (``None`` for NumPy)."""
        compile_time, compile_count = 0.0, None
        if backend != "numpy":  # first call compiles: timed apart
            before = _COMPILES.start()
            t0 = time.perf_counter()
            self._fit_quietly(make(), X, y)
            first = time.perf_counter() - t0
            compile_count = _COMPILES.count - before
        times = []
        for _ in range(self.repeats):
            est = make()
            t0 = time.perf_counter()
            self._fit_quietly(est, X, y)
            np.asarray(est.coef_)  # results are on the host before the clock stops
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        if backend != "numpy":
            compile_time = max(first - median, 0.0)
        return est, median, times, compile_time, compile_count

    def benchmark_dataset(
        self,
        name: str,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        metadata: dict[str, Any],
        configs: Sequence[str | dict[str, Any]] | dict[str, dict[str, Any] | None],
        max_epochs: int,
        *,
        loss: str | None = None,
        fallback: str | None = None,
        alpha: float = 0.0,
    ) -> list[dict[str, Any]]:
        """Benchmark ``configs`` on one problem with every backend; returns (and keeps) one
        result per run.

        ``configs`` is a list of optimizer names or dicts ``{"optimizer", "learning_rate"?,
        hyperparameter?...}``, or (the 002 document's form) a dict from optimizer name to
        its settings, e.g. ``{'Adam': {'learning_rate': 1e-3}, 'AdamW': {'weight_decay': 0.01}}``.
        Names are the table's (``'adam'``) or the NumPy class names (``'Adam'``,
        ``'MomentumSGD'``); other keys are optax hyperparameters (``accel.linear.HYPERPARAMETERS``).
        ``loss`` defaults to ``metadata.get("loss", "mse")``; ``alpha`` is the objective's L2
        penalty (every estimator fits it; the optimum includes it). Missing learning rates are
        chosen by :meth:`choose_learning_rates`.
        """
        from accel.internals import check_loss

        loss = check_loss(loss or metadata.get("loss", "mse"))
        if not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"max_epochs must be an integer >= 1, got {max_epochs!r}")
        specs = _specs(configs)
        alpha = float(alpha)
        optimum = _optimum.solve_optimum(X_train, y_train, loss, alpha)
        need = [s["optimizer"] for s in specs if "learning_rate" not in s]
        rates, sources, lipschitz = self.choose_learning_rates(
            X_train, y_train, loss, need, max_epochs, {s["optimizer"]: _hyper(s) for s in specs}, alpha
        )
        for s in specs:
            if "learning_rate" in s:
                rates[s["optimizer"]], sources[s["optimizer"]] = float(s["learning_rate"]), "given"
        self.problems.append(
            {
                "name": name,
                "loss": loss,
                "alpha": alpha,
                "metadata": jsonable(metadata),
                "n_train": int(np.shape(X_train)[0]),
                "n_test": int(np.shape(X_test)[0]),
                "n_features": int(np.shape(X_train)[1]),
                "fallback": fallback,
                "optimum": {"loss": optimum.loss, "method": optimum.method, "grad_norm": optimum.grad_norm},
                "lipschitz": lipschitz,
                "learning_rates": {s["optimizer"]: rates[s["optimizer"]] for s in specs},
                "lr_source": {s["optimizer"]: sources[s["optimizer"]] for s in specs},
                "hyperparameters": {s["optimizer"]: _hyper(s) for s in specs},
            }
        )
        rows = []
        for spec in specs:
            opt = spec["optimizer"]
            for backend in self.backends:
                if opt in JAX_ONLY and backend != "jax":  # JAXOptimizer only (JAX_ONLY)
                    if self._bar is not None:
                        self._bar.update(1)
                    continue
                rows.append(self._run_one(name, loss, opt, rates[opt], backend, max_epochs, optimum,
                                          X_train, y_train, X_test, y_test, _hyper(spec), alpha))
                if self._bar is not None:
                    self._bar.update(1)
        self.results.extend(rows)
        return rows

    def _run_one(self, problem, loss, opt, lr, backend, epochs, optimum, X, y, Xt, yt, hyper=None, alpha=0.0):
        from accel.internals import decision_function

        est, median, times, compile_time, compile_count = self._time_fits(
            backend, lambda: self._estimator(backend, opt, lr, loss, epochs, hyper, alpha), X, y
        )
        coef = np.asarray(est.coef_, np.float64)
        intercept = np.asarray(est.intercept_, np.float64)
        final = _optimum.training_loss(X, y, coef, intercept, loss, alpha)
        rounding = 1e-9 * max(1.0, abs(optimum.loss))
        if final < optimum.loss - rounding:
            raise RuntimeError(
                f"sanity check failed: {problem} / {opt} / {backend} reached training loss {final!r}, "
                f"below the computed optimum {optimum.loss!r} by more than rounding ({rounding:.1e}); "
                "the optimum is wrong"
            )
        z = decision_function(np.asarray(Xt, np.float64), coef, intercept, np)
        if loss == "logistic" and z.ndim == 2:  # K classes, labelled 0..K-1
            metric_name, metric = "accuracy", float(np.mean(np.argmax(z, axis=1) == np.asarray(yt)))
        elif loss == "logistic":
            metric_name, metric = "accuracy", float(np.mean((z > 0) == (np.asarray(yt) > 0.5)))
        else:
            metric_name, metric = "test_mse", float(np.mean((z - np.asarray(yt, np.float64)) ** 2))
        gap = (final - optimum.loss) / max(abs(optimum.loss), 1e-12)
        relative_std, noisy = _report.timing_spread(times)
        return {
            "problem": problem,
            "optimizer": opt,
            "backend": backend,
            "learning_rate": lr,
            "epochs": int(est.n_epochs_),
            "time_median_s": median,
            "times_s": times,
            "time_relative_std": relative_std,
            "time_noisy": noisy,
            "compile_time_s": compile_time,
            "compile_count": compile_count,
            "program_reused": None if compile_count is None else compile_count == 0,
            "final_train_loss": final,
            "optimum_loss": optimum.loss,
            "gap": gap,
            "converged": bool(gap <= self.rtol),
            "diverged": bool(getattr(est, "diverged_", False)),
            "test_metric_name": metric_name,
            "test_metric": metric,
            "history_loss": [float(v) for v in np.asarray(est.history_["loss"], np.float64)],
        }

    # -- outputs --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole run in the documented JSON schema."""
        return {
            "schema": "accel.large_scale/1",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": self.command,
            "versions": _versions(),
            "device": _device(),
            "dtype": self.dtype,
            "seed": self.seed,
            "repeats": self.repeats,
            "rtol": self.rtol,
            "lr_rule": self.lr_rule(),
            "problems": self.problems,
            "results": self.results,
            "skipped": self.skipped,
        }

    def lr_rule(self) -> dict[str, str]:
        tune = self.tune_epochs or "max(20, max_epochs // 4)"
        return {
            "sgd_family": LR_RULE["sgd_family"],
            "adaptive": LR_RULE["adaptive"].format(grid=list(ADAPTIVE_GRID), tune=tune),
            "line_search": LR_RULE["line_search"],
        }

    def save_results(self, filename: str = "large_scale_results.json") -> Path:
        """Write the JSON results atomically into ``output_dir``; returns the path."""
        path = self.output_dir / filename
        dump_json(self.to_dict(), path)  # strict JSON: non-finite floats become null
        return path

    def generate_summary_report(self, filename: str = "BENCHMARK_REPORT.md") -> Path:
        """Write ``BENCHMARK_REPORT.md`` and the PNG plots into ``output_dir``; returns the report path."""
        data = self.to_dict()
        plots = _report.write_plots(data, self.output_dir)
        return write_atomic(self.output_dir / filename, _report.markdown(data, plots))


_BY_CLASS_NAME = {cls: name for name, cls in _NUMPY_CLASSES.items()}


def _coef_shape(X: np.ndarray, y: np.ndarray, loss: str) -> tuple[int, ...]:
    """The shape of ``coef_`` on the whole of ``(X, y)``."""
    classes = int(np.unique(np.asarray(y)).size) if loss == "logistic" else 0
    return (classes, X.shape[1]) if classes > 2 else (X.shape[1],)


def _specs(configs: Any) -> list[dict[str, Any]]:
    """Normalise ``configs`` to ``[{"optimizer": table name, "learning_rate"?, hyper...}]``."""
    from accel.linear import HYPERPARAMETERS

    if isinstance(configs, dict):
        items = []
        for key, settings in configs.items():
            if settings is not None and not isinstance(settings, dict):
                raise ValueError(f"configs[{key!r}] must be a dict of settings or None, got {settings!r}")
            items.append({"optimizer": key, **(settings or {})})
    elif isinstance(configs, str):
        raise ValueError(f"configs must be a list of optimizer names or a dict, got the string {configs!r}")
    else:
        items = [{"optimizer": c} if isinstance(c, str) else dict(c) for c in configs]
    specs = []
    for item in items:
        opt = _BY_CLASS_NAME.get(item.get("optimizer"), item.get("optimizer"))
        if opt not in _NUMPY_CLASSES and opt not in JAX_ONLY:
            accepted = [*_NUMPY_CLASSES, *_BY_CLASS_NAME, *JAX_ONLY]
            raise ValueError(f"configs: optimizer must be one of {accepted}, got {item}")
        own = HYPERPARAMETERS.get(opt, {})
        unknown = set(item) - {"optimizer", "learning_rate", *own}
        if unknown:
            raise ValueError(
                f"configs: {sorted(unknown)} not settings of {opt}; accepted: learning_rate, "
                f"{', '.join(own) or '(no hyperparameters)'}"
            )
        specs.append({**item, "optimizer": opt})
    return specs


def _hyper(spec: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in spec.items() if k not in ("optimizer", "learning_rate")}


def _csv(value: str, accepted: Sequence[str], name: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in accepted]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"{name}: unknown {bad or value!r}; accepted: {','.join(accepted)}")
    return items


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Large-scale optimizer benchmark: NumPy reference vs JAXOptimizer vs "
        "ParallelTrainer against the exact optimum.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small suite, < 3 min on 2 cores (default)")
    mode.add_argument("--full", action="store_true",
                      help="larger problems, all seven optimizers and lbfgs (JAXOptimizer only)")
    p.add_argument("--output", default="benchmark_results", help="output folder (default: %(default)s)")
    p.add_argument("--backends", default=",".join(BACKENDS), help="subset of numpy,jax,parallel")
    p.add_argument("--optimizers", default=None, help="comma-separated optimizer names")
    p.add_argument("--problems", default=None, help="comma-separated problem names (default: all of the mode)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per fit (quick 300, full 1000)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per fit (quick 3, full 5)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--download", action="store_true", help="download MNIST/California when absent")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    full = bool(args.full)
    try:
        backends = _csv(args.backends, BACKENDS, "--backends")
        optimizers = _csv(args.optimizers, FULL_OPTIMIZERS, "--optimizers") if args.optimizers else list(
            FULL_OPTIMIZERS if full else QUICK_OPTIMIZERS
        )
        names = _problems.problem_names(full)
        problems = _csv(args.problems, _problems.problem_names(True), "--problems") if args.problems else names
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    epochs = args.epochs or (1000 if full else 300)
    repeats = args.repeats or (5 if full else 3)
    if epochs < 1 or repeats < 1:
        parser.error("--epochs and --repeats must be >= 1")
    bench = LargeScaleBenchmark(
        args.output, backends=backends, repeats=repeats, dtype=args.dtype, seed=args.seed,
        progress=not args.no_progress,
        command="python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    from tqdm.auto import tqdm

    total = len(problems) * len(optimizers) * len(bench.backends)
    with tqdm(total=total, desc="benchmark suite", unit="fit", disable=args.no_progress) as bar:
        bench._bar = bar
        for problem in _problems.iter_problems(problems, seed=args.seed, download=args.download):
            bar.set_postfix_str(problem.name)
            bench.benchmark_dataset(
                problem.name, problem.X_train, problem.y_train, problem.X_test, problem.y_test,
                problem.metadata, optimizers, epochs, loss=problem.loss, fallback=problem.fallback,
                alpha=problem.alpha,
            )
        bench._bar = None
    json_path = bench.save_results()
    report = bench.generate_summary_report()
    print(_report.console_summary(bench.to_dict()))
    print(f"wrote {json_path}, {report} and plots in {bench.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
