"""Benchmark: JAXOptimizer against the expert's hand-written ``lax.scan``, NumPy and
scikit-learn, in the same run (issue 17, items 1 and 4).

Run from the repository root (after ``pip install '.[bench]'``)::

    python -m benchmarks.bench_linear_speed                        # the three cases
    python -m benchmarks.bench_linear_speed --cases dispatch --repeats 41

Cases (every contender starts from NumPy arrays, as a user calls it, and ends with its
results on the host):

``dispatch``  adam (lr 1e-3), 160 x 51 float32 regression, 2000 epochs, full batch:
              ``JAXOptimizer`` vs the hand-written scan (:func:`scan_fit`).
``blas``      sgd (lr 1e-3), 60000 x 784 float32 regression, 20 epochs, full batch:
              ``JAXOptimizer`` vs ``optimizers.SGD(dtype='float32')`` vs the scan; an extra
              row fits a 64-byte aligned copy of X. NumPy's own arrays are 16-byte aligned;
              XLA:CPU reads host memory in place only from 64-byte boundaries, and the fit
              reads either X in place (an unaligned X through 64-byte aligned views of
              its own memory plus two small copies), so the two rows should agree.
``lbfgs``     logistic, 10000 x 785 (Gaussian features, labels drawn from a logistic model),
              float64: ``LogisticRegression(C=np.inf, solver='lbfgs')`` (unregularised: our
              objective, the mean log-loss; scikit-learn's defaults otherwise) against
              ``JAXOptimizer('lbfgs', loss='logistic')`` run for the fewest iterations whose
              loss is at most scikit-learn's final loss (both losses computed by
              ``accel.internals.loss_value`` in float64 from the fitted coefficients).
              ``JAXOptimizer`` also in float32 (scikit-learn's L-BFGS works in float64).

Method: every contender is called once untimed first (JAX compiles there; the seconds are
reported apart). Then ``--repeats`` rounds call every contender once each, the order
rotating between rounds (A B C, B C A, C A B, ...), so load on this shared machine hits all
alike; the table gives the median per contender and the ratio of medians. Peak memory: a
thread samples this process's resident set (psutil) every millisecond during each call; the
table gives the largest rise above the resident set before the call (the call's own peak),
over all calls. JSON goes to ``benchmark_results/bench_linear_speed.json`` (atomically).

The scan's loss history has one entry per epoch, the loss before each update (2000
evaluations for 2000 epochs); ``JAXOptimizer``'s also records the loss after the last epoch
(one evaluation more) and its gradient norms, and checks ``tol`` and divergence each epoch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import psutil

from accel import JAXOptimizer
from accel.internals import aligned_empty, dump_json, loss_value
from optimizers import SGD

CASES = ("dispatch", "blas", "lbfgs")


def scan_fit(optimizer: optax.GradientTransformation, epochs: int) -> Callable[..., Any]:
    """The expert's reference: ``value_and_grad`` and an optax update in a ``lax.scan``
    over epochs, stacking each epoch's loss; from NumPy inputs to NumPy results."""

    @jax.jit
    def train(X, y):
        params = {"w": jnp.zeros(X.shape[1], X.dtype), "b": jnp.zeros((), X.dtype)}

        def loss_fn(p):
            r = X @ p["w"] + p["b"] - y
            return 0.5 * jnp.mean(r * r)

        def epoch(carry, _):
            p, state = carry
            value, grads = jax.value_and_grad(loss_fn)(p)
            updates, state = optimizer.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), value

        (p, _), losses = jax.lax.scan(epoch, (params, optimizer.init(params)), length=epochs)
        return p, losses

    def fit(X, y):
        p, losses = train(jnp.asarray(X), jnp.asarray(y))
        return np.asarray(p["w"]), float(p["b"]), np.asarray(losses)

    return fit


class PeakRSS:
    """The largest resident set of this process while active, sampled every ``interval`` s."""

    def __init__(self, interval: float = 1e-3) -> None:
        self.interval, self.process = interval, psutil.Process()

    def __enter__(self) -> PeakRSS:
        self.before = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def rise(self) -> int:
        return self.peak - self.before


def interleaved(contenders: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, Any]]:
    """Warm-up call each (timed apart), then ``repeats`` rounds in rotating order."""
    out: dict[str, dict[str, Any]] = {}
    for name, fn in contenders.items():
        t0 = time.perf_counter()
        fn()
        out[name] = {"first_s": time.perf_counter() - t0, "times_s": [], "peak_rise_bytes": 0}
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                contenders[name]()
                elapsed = time.perf_counter() - t0
            out[name]["times_s"].append(elapsed)
            out[name]["peak_rise_bytes"] = max(out[name]["peak_rise_bytes"], mem.rise)
            out[name]["peak_rss_bytes"] = max(out[name].get("peak_rss_bytes", 0), mem.peak)
    for entry in out.values():
        entry["median_s"] = statistics.median(entry["times_s"])
    return out


def regression(n: int, d: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = X @ (rng.standard_normal(d) / np.sqrt(d)) + 0.5 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def case_dispatch(repeats: int) -> dict[str, Any]:
    X, y = regression(160, 51, "float32")
    model = JAXOptimizer("adam", learning_rate=1e-3, epochs=2000)
    scan = scan_fit(optax.adam(1e-3), 2000)
    res = interleaved({"JAXOptimizer": lambda: model.fit(X, y), "scan": lambda: scan(X, y)}, repeats)
    res["JAXOptimizer"]["final_loss"] = float(model.history_["loss"][-1])
    res["scan"]["final_loss"] = float(scan(X, y)[2][-1])  # the loss before the last update
    return {"case": "dispatch", "shape": [160, 51], "epochs": 2000, "optimizer": "adam",
            "dtype": "float32", "results": res, "ours": "JAXOptimizer", "peers": ["scan"]}  # fmt: skip


def aligned_copy(a: np.ndarray) -> np.ndarray:
    """``a`` copied into a 64-byte aligned buffer (NumPy aligns to 16 only)."""
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out


def case_blas(repeats: int) -> dict[str, Any]:
    X, y = regression(60000, 784, "float32")
    X_aligned = aligned_copy(X)  # an extra row: what the user's NumPy array costs to place
    model = JAXOptimizer("sgd", learning_rate=1e-3, epochs=20)
    ref = SGD(learning_rate=1e-3, epochs=20, dtype="float32")
    scan = scan_fit(optax.sgd(1e-3), 20)
    res = interleaved({"JAXOptimizer": lambda: model.fit(X, y), "NumPy SGD": lambda: ref.fit(X, y),
                       "scan": lambda: scan(X, y),
                       "JAXOptimizer, X 64-byte aligned": lambda: model.fit(X_aligned, y)},
                      repeats)  # fmt: skip
    res["JAXOptimizer, X 64-byte aligned"]["final_loss"] = float(model.history_["loss"][-1])
    model.fit(X, y)
    res["JAXOptimizer"]["final_loss"] = float(model.history_["loss"][-1])
    res["NumPy SGD"]["final_loss"] = float(ref.history_["loss"][-1])
    res["scan"]["final_loss"] = float(scan(X, y)[2][-1])  # the loss before the last update
    return {"case": "blas", "shape": [60000, 784], "epochs": 20, "optimizer": "sgd",
            "dtype": "float32", "results": res, "ours": "JAXOptimizer", "peers": ["NumPy SGD", "scan"]}  # fmt: skip


def logistic_problem(n: int = 10000, d: int = 785) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    z = X @ (2.0 * rng.standard_normal(d) / np.sqrt(d)) + 0.3
    return X, (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)


def case_lbfgs(repeats: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    X, y = logistic_problem()

    def loss64(coef, intercept) -> float:
        return float(loss_value(X, y, np.asarray(coef, np.float64), np.float64(intercept),
                                loss="logistic", xp=np))  # fmt: skip

    sk = LogisticRegression(C=np.inf, solver="lbfgs")
    sk.fit(X, y)
    target = loss64(sk.coef_[0], sk.intercept_[0])
    contenders: dict[str, Callable[[], Any]] = {"scikit-learn": lambda: sk.fit(X, y)}
    iterations: dict[str, int | None] = {}
    models: dict[str, JAXOptimizer] = {}
    for dtype in ("float64", "float32"):
        probe = JAXOptimizer("lbfgs", loss="logistic", epochs=200, dtype=dtype).fit(X, y)
        reached = np.nonzero(probe.history_["loss"] <= target)[0]
        k = int(reached[0]) if reached.size else None
        while k is not None and k <= 200:  # the float64 loss of the coefficients decides
            fitted = JAXOptimizer("lbfgs", loss="logistic", epochs=max(k, 1), dtype=dtype).fit(X, y)
            if loss64(fitted.coef_, fitted.intercept_) <= target:
                break
            k += 1
        name = f"JAXOptimizer lbfgs {dtype}"
        iterations[name] = k
        if k is not None and k <= 200:
            models[name] = model = JAXOptimizer("lbfgs", loss="logistic", epochs=max(k, 1), dtype=dtype)
            contenders[name] = lambda model=model: model.fit(X, y)
    res = interleaved(contenders, repeats)
    res["scikit-learn"].update(final_loss=loss64(sk.coef_[0], sk.intercept_[0]), n_iter=int(sk.n_iter_[0]))
    for name, model in models.items():
        res[name].update(final_loss=loss64(model.coef_, model.intercept_), n_iter=iterations[name])
    return {"case": "lbfgs", "shape": [10000, 785], "loss": "logistic", "dtype": "float64 (also float32 ours)",
            "target_loss": target, "results": res, "ours": "JAXOptimizer lbfgs float64",
            "peers": ["scikit-learn"], "iterations_to_target": iterations}  # fmt: skip


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "load_avg_1_5_15": os.getloadavg(),
        "python": platform.python_version(), "numpy": np.__version__, "jax": jax.__version__,
        "optax": optax.__version__, "jax_devices": [str(dev) for dev in jax.devices()],
    }  # fmt: skip


def rows(case: dict[str, Any]) -> list[str]:
    res, ours = case["results"], case["results"][case["ours"]]
    lines = []
    for name, r in res.items():
        ratio = r["median_s"] / min(res[p]["median_s"] for p in case["peers"]) if name == case["ours"] else None
        lines.append(
            f"| {case['case']} | {name} | {r['median_s'] * 1e3:.1f} ms | {r['first_s']:.2f} s "
            f"| {r['peak_rise_bytes'] / 2**20:.0f} MiB | {r.get('final_loss', float('nan')):.6g} "
            f"| {'' if ratio is None else f'{ratio:.3f}'} | {r['median_s'] / ours['median_s']:.3f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--repeats", type=int, default=21, help="rounds of timed calls (median)")
    parser.add_argument("--out", default="benchmark_results/bench_linear_speed.json")
    args = parser.parse_args(argv)
    info = machine()
    print(f"# bench_linear_speed  {info['date']}  load {info['load_avg_1_5_15']}  jax {info['jax']}", flush=True)
    print("| case | contender | median | first call | peak RSS rise | final loss | ours / best peer | contender / ours |")
    print("|---|---|---|---|---|---|---|---|")
    cases = []
    for name in args.cases:
        case = {"dispatch": case_dispatch, "blas": case_blas, "lbfgs": case_lbfgs}[name](args.repeats)
        cases.append(case)
        print("\n".join(rows(case)), flush=True)
    info["load_avg_after"] = os.getloadavg()
    dump_json({"machine": info, "cases": cases}, args.out)
    print(f"\nload after {info['load_avg_after']}; written {args.out}")


if __name__ == "__main__":
    main()
