"""Penalized 10-class logistic regression on MNIST's shape (60000 x 784): ``JAXOptimizer``
against scikit-learn, side by side in one run (issue 24 item 7).

The problem: softmax (multinomial) logistic regression, objective
``L = mean softmax cross-entropy + alpha/2 ||coef||^2`` (intercept not penalized) with
``alpha = 1 / (C n)``: scikit-learn's ``LogisticRegression(C=C)``. ``L`` of every fitted
model is recomputed the same way, in float64 on the training data
(``accel.linear.loss_value``), so the objectives compare; the target ``L*`` is
``sklearn_lbfgs_float64``'s and the gap is ``(L - L*) / L*`` (negative: lower).

Data (``--data``): ``mnist``: MNIST's IDX files read from disk
(``benchmarks.datasets.load_mnist``, never downloaded here), pixels / 255, the official
10000-image test set; ``standin``: an offline stand-in of the same shape, NOT MNIST:
scikit-learn's 1797 8x8 digits resized to 28x28 (``benchmarks.datasets.load_digit_images``),
1500 of them the training pool and the other 297 the test pool, each row a pool image
shifted by up to +-3 pixels in each direction plus N(0, 0.1) noise, clipped to [0, 1];
``auto`` (default): MNIST when its files are on disk, else the stand-in. Every fit gets the
same float64 C-ordered ``X`` (ours converts it to its dtype inside ``fit``: timed).

Cases:

* ``sklearn_lbfgs_float64``: ``LogisticRegression(C=C, solver='lbfgs', tol=1e-4,
  max_iter=1000)`` (scikit-learn's defaults but ``max_iter``); its objective is the target.
* ``sklearn_lbfgs_float32``: the same fit on ``X.astype(float32)`` (scikit-learn keeps
  float32 for L-BFGS; the cast is timed, as ours is inside ``fit``).
* ``ours_lbfgs_<dtype>``: ``JAXOptimizer('lbfgs', loss='logistic', alpha=1/(C n),
  epochs=1000, dtype=...)`` at its defaults (``gtol=1e-5``, ``ftol=2.2e-9``: "defaults"), and
  the same fit stopped at the first iteration whose objective is ``<= `` scikit-learn's
  ("matched": ``epochs = k``, ``k`` read from the defaults fit's ``history_['loss']``, then
  raised, by bisection up to the defaults' iterations, until the float64 objective is ``<=``
  the target; the calibration fits are untimed; no "matched" row when the defaults fit itself
  ends above the target).
  ``epochs`` is an argument of the compiled program, so "matched" reuses "defaults"' program.
* ``sklearn_sgd``: ``SGDClassifier(loss='log_loss', alpha=alpha, max_iter=E, tol=None,
  n_jobs=-1, random_state=0)``: E epochs of per-row SGD, one-vs-rest (10 binary models, on
  both cores), so its objective is that of a different model scored in the softmax objective.
* ``ours_adam``: ``JAXOptimizer('adam', learning_rate=lr, batch_size=B, epochs=E,
  loss='logistic', alpha=alpha)``: E epochs of mini-batch Adam on the softmax objective.

Timing: each case runs in a fresh process (``--only CASE``) that loads the data, resets the
peak-RSS mark to the current RSS (Linux ``/proc/self/clear_refs``, read as ``VmHWM``; the
RSS at the reset, imports and data included, is reported too, so the excess is what the
fits added), makes a first call (for ours: tracing and compiling, ``compile_time_``; JAX's
persistent compilation cache off, ``ACCEL_COMPILATION_CACHE=0``), then ``--repeats`` timed
calls: the median is over those, the first call is reported apart. scikit-learn has nothing
to compile and one of its L-BFGS fits takes tens of seconds on a 2-core machine, so its
first call is one of its ``--repeats`` calls (the median is over all of them). The two
"ours" L-BFGS fits alternate (order reversed on odd repeats). A call is a fresh estimator's
``fit``, which returns with NumPy results (ours reads its results back to the host). Peak
RSS is the process's peak over all its calls, calibration included (no fitted model is kept
alive during the next call, yet the RSS of ours grows from fit to fit: BENCHMARKS.md). The
1/5/15-minute load averages before and after each case are kept (``loadavg_*``): other work
on the machine shows there. The cases run one after the other (not interleaved across
processes). Ratios are ``ours / sklearn`` times: above 1 ours is slower.

Run: ``python -m benchmarks.bench_linear_models`` (``--repeats 3``; ``--dtypes
float32,float64`` adds float64; ``--quick``: a small smoke run in one process without peak
memory; ``--json PATH`` keeps every number).
"""

from __future__ import annotations

import os

os.environ.setdefault("ACCEL_COMPILATION_CACHE", "0")

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np

from accel import JAXOptimizer
from accel.internals import encode_labels, loss_value
from benchmarks._rss import reset_peak_rss, rss_mib
from benchmarks.datasets import DataUnavailableError, load_digit_images, load_mnist

SEED = 0
SHIFT, NOISE, TRAIN_POOL = 3, 0.1, 1500  # the stand-in (module doc)
MAX_ITER = 1000


# -- the data ----------------------------------------------------------------------------------
def _jitter(images: np.ndarray, labels: np.ndarray, pool: np.ndarray, n: int, rng) -> tuple:
    """``n`` rows drawn from ``pool``: shifted by up to ``SHIFT`` pixels, noise added."""
    ids = rng.choice(pool, n)
    padded = np.pad(images[ids], ((0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT)))
    dy, dx = rng.integers(-SHIFT, SHIFT + 1, (2, n))
    out = np.empty((n, 28, 28), np.float64)
    for sy in range(-SHIFT, SHIFT + 1):
        for sx in range(-SHIFT, SHIFT + 1):
            rows = (dy == sy) & (dx == sx)
            out[rows] = padded[rows, SHIFT + sy : SHIFT + sy + 28, SHIFT + sx : SHIFT + sx + 28]
    out += rng.normal(0.0, NOISE, out.shape)
    return np.clip(out, 0.0, 1.0).reshape(n, 784), labels[ids].astype(np.int64)


def load_data(source: str, n_train: int, n_test: int) -> dict[str, Any]:
    """``X, y, X_test, y_test`` (float64, int64), ``Y`` (one-hot ``y``) and a description."""
    if source in ("auto", "mnist"):
        try:
            X, y, Xt, yt, _ = load_mnist(n_train, binary_classification=False, normalize=False, download=False)
            data = {"X": X / 255.0, "y": y, "X_test": Xt[:n_test] / 255.0, "y_test": yt[:n_test],
                    "source": "MNIST (IDX files; pixels / 255; official test set)"}  # fmt: skip
        except DataUnavailableError:
            if source == "mnist":
                raise
            source = "standin"
    if source == "standin":
        images, labels, _ = load_digit_images("digits", None, seed=SEED)
        rng = np.random.default_rng(SEED)
        order = rng.permutation(len(labels))
        X, y = _jitter(images[..., 0], labels, order[:TRAIN_POOL], n_train, rng)
        Xt, yt = _jitter(images[..., 0], labels, order[TRAIN_POOL:], n_test, rng)
        data = {"X": X, "y": y, "X_test": Xt, "y_test": yt,
                "source": (f"stand-in, NOT MNIST: scikit-learn's 8x8 digits resized to 28x28, shifted "
                           f"<= {SHIFT} px, N(0, {NOISE}) noise; train pool {TRAIN_POOL} images, "
                           f"test pool the other {len(labels) - TRAIN_POOL}")}  # fmt: skip
    data["Y"] = encode_labels(data["y"])[0]
    return data


# -- measuring -------------------------------------------------------------------------------
def _timed(fit) -> tuple[float, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of capped fits
        t0 = time.perf_counter()
        model = fit()
        return time.perf_counter() - t0, model


def _scores(model, data, alpha: float) -> dict[str, float]:
    coef, intercept = np.asarray(model.coef_, np.float64), np.asarray(model.intercept_, np.float64)
    obj = float(loss_value(data["X"], data["Y"], coef, intercept, loss="logistic", alpha=alpha, xp=np))
    return {"objective": obj, "test_accuracy": float(np.mean(model.predict(data["X_test"]) == data["y_test"]))}


def _summary(times: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(times), "times_s": times}


# -- the cases -----------------------------------------------------------------------------------
def sklearn_lbfgs(args, data, alpha, target, dtype):
    from sklearn.linear_model import LogisticRegression

    def fit():  # the cast to float32 is timed, as ours' inside its fit
        X = data["X"] if dtype == "float64" else data["X"].astype(dtype)
        return LogisticRegression(C=args.C, solver="lbfgs", tol=1e-4, max_iter=MAX_ITER).fit(X, data["y"])

    first, model = _timed(fit)  # nothing to compile: the first call is one of the repeats
    times = [first] + [_timed(fit)[0] for _ in range(args.repeats - 1)]
    return {"first_s": first, **_summary(times), "n_iter": int(model.n_iter_.max()), **_scores(model, data, alpha)}


def first_reaching(reaches, start: int, stop: int) -> int:
    """The least ``k`` in ``[start, stop]`` with ``reaches(k)``, given ``reaches(stop)`` and
    that it stays true once true (L-BFGS never raises the loss): ``start`` first, then bisection
    (a few fits, not one per iteration)."""
    if start >= stop or reaches(start):
        return min(start, stop)
    lo, hi = start, stop  # reaches(lo) false, reaches(hi) true
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi


def ours_lbfgs(args, data, alpha, target, dtype):
    def make(epochs):
        return lambda: JAXOptimizer("lbfgs", loss="logistic", alpha=alpha, epochs=epochs, dtype=dtype).fit(
            data["X"], data["y"]
        )

    first, model = _timed(make(MAX_ITER))
    out: dict[str, Any] = {"first_s": first, "compile_s": float(model.compile_time_)}
    history, n_iter = np.asarray(model.history_["loss"]), int(model.n_epochs_)
    reached = _scores(model, data, alpha)["objective"] <= (np.inf if target is None else target)
    del model  # no fitted model is kept alive during the next fit (peak RSS of one fit)
    fits = {"defaults": make(MAX_ITER)}
    matched_epochs = None
    if target is not None and reached:  # calibrate k (module doc), untimed
        below = np.flatnonzero(history[1:] <= target)
        start = int(below[0]) + 1 if below.size else n_iter
        matched_epochs = first_reaching(
            lambda k: _scores(_timed(make(k))[1], data, alpha)["objective"] <= target, start, n_iter
        )
        fits["matched"] = make(matched_epochs)
    times, last = _repeat(fits, args.repeats, data, alpha)
    for name in fits:
        out[name] = {**_summary(times[name]), **last[name]}
    out["matched_epochs"] = matched_epochs
    return out


def _repeat(fits: dict[str, Any], repeats: int, data, alpha) -> tuple[dict, dict]:
    """``repeats`` calls of each fit, alternating (order reversed on odd repeats); the times,
    and the scores of each fit's last call. Each model is dropped before the next call."""
    times: dict[str, list[float]] = {name: [] for name in fits}
    last: dict[str, Any] = {}
    for r in range(repeats):
        for name in fits if r % 2 == 0 else list(fits)[::-1]:
            t, model = _timed(fits[name])
            times[name].append(t)
            if r == repeats - 1:
                last[name] = {"n_iter": int(model.n_epochs_), "converged": bool(model.converged_),
                              **_scores(model, data, alpha)}  # fmt: skip
            del model
    return times, last


def sklearn_sgd(args, data, alpha, target):
    from sklearn.linear_model import SGDClassifier

    def fit():
        return SGDClassifier(loss="log_loss", alpha=alpha, max_iter=args.epochs, tol=None, n_jobs=-1,
                             random_state=SEED).fit(data["X"], data["y"])  # fmt: skip

    first, model = _timed(fit)
    times = [_timed(fit)[0] for _ in range(args.repeats)]
    return {"first_s": first, **_summary(times), "epochs": args.epochs, **_scores(model, data, alpha)}


def ours_adam(args, data, alpha, target):
    def fit():
        return JAXOptimizer("adam", learning_rate=args.lr, batch_size=args.batch, epochs=args.epochs,
                            loss="logistic", alpha=alpha).fit(data["X"], data["y"])  # fmt: skip

    first, model = _timed(fit)
    out = {"first_s": first, "compile_s": float(model.compile_time_)}
    del model
    times, last = _repeat({"adam": fit}, args.repeats, data, alpha)
    return {**out, **_summary(times["adam"]), "epochs": args.epochs, **last["adam"]}


REFERENCE = "sklearn_lbfgs_float64"  # its objective is the target


def case_names(args) -> list[str]:
    return [*(f"sklearn_lbfgs_{d}" for d in args.sklearn_dtypes.split(",")),
            *(f"ours_lbfgs_{d}" for d in args.dtypes.split(",")), "sklearn_sgd", "ours_adam"]  # fmt: skip


def run_case(case: str, args, data, target: float | None) -> dict[str, Any]:
    alpha = 1.0 / (args.C * len(data["y"]))
    for prefix, fn in (("sklearn_lbfgs_", sklearn_lbfgs), ("ours_lbfgs_", ours_lbfgs)):
        if case.startswith(prefix):
            return fn(args, data, alpha, target, case.removeprefix(prefix))
    return {"sklearn_sgd": sklearn_sgd, "ours_adam": ours_adam}[case](args, data, alpha, target)


def _own_process(case: str, args, target) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.bench_linear_models", "--only", case, "--data", args.data,
           "--rows", str(args.rows), "--test-rows", str(args.test_rows), "--C", repr(args.C),
           "--repeats", str(args.repeats), "--epochs", str(args.epochs), "--batch", str(args.batch),
           "--lr", repr(args.lr), "--sklearn-dtypes", args.sklearn_dtypes, "--dtypes", args.dtypes]  # fmt: skip
    if target is not None:
        cmd += ["--target", repr(target)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="auto", choices=("auto", "mnist", "standin"))
    p.add_argument("--rows", type=int, default=60000, help="training rows")
    p.add_argument("--test-rows", type=int, default=10000)
    p.add_argument("--C", type=float, default=0.01, help="LogisticRegression's C; alpha = 1/(C n)")
    p.add_argument("--dtypes", default="float32", help="ours' L-BFGS dtypes, comma-separated")
    p.add_argument("--sklearn-dtypes", default="float64,float32",
                   help="X's dtype for LogisticRegression (float64 first: the target)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10, help="epochs of Adam and SGD")
    p.add_argument("--batch", type=int, default=256, help="Adam's batch size")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--only", help="one case in this process (prints its JSON)")
    p.add_argument("--target", type=float, default=None, help="the objective 'matched' must reach")
    p.add_argument("--no-memory", action="store_true", help="all cases in this process, no peak RSS")
    p.add_argument("--quick", action="store_true", help="a smoke run: 600 rows, 1 repeat, one process")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.test_rows, args.repeats, args.epochs, args.no_memory = 600, 200, 1, 2, True
    if args.only:
        data = load_data(args.data, args.rows, args.test_rows)
        before, reset, load = rss_mib("VmRSS"), reset_peak_rss(), list(os.getloadavg())
        out = run_case(args.only, args, data, args.target)
        out.update(rss_before_mib=before, peak_rss_mib=rss_mib("VmHWM"), peak_from_start=not reset,
                   loadavg_before=load, loadavg_after=list(os.getloadavg()))  # fmt: skip
        print(json.dumps(out))
        return out
    data = load_data(args.data, args.rows, args.test_rows)
    data_meta = {"source": data["source"], "n": len(data["y"]), "n_test": len(data["y_test"])}
    n = data_meta["n"]
    print(f"# {data_meta['source']}; {n} x 784 train, {data_meta['n_test']} test; C={args.C} "
          f"(alpha={1 / (args.C * n):.4g}); {args.repeats} repeats; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs", flush=True)  # fmt: skip
    results: dict[str, Any] = {"meta": {**data_meta, **vars(args), "alpha": 1 / (args.C * n)}, "cases": {}}
    target = None
    for case in case_names(args):
        res = run_case(case, args, data, target) if args.no_memory else _own_process(case, args, target)
        results["cases"][case] = res
        if case == REFERENCE:
            target = res["objective"]
        print(f"{case}: {json.dumps(res)}", flush=True)
    results["ratios"] = ratios(results["cases"])
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


def ratios(cases: dict[str, Any]) -> dict[str, float]:
    """``ours / sklearn`` times (medians, and first calls): above 1 ours is slower."""
    out = {}
    for name, res in cases.items():
        if not name.startswith("ours_lbfgs_"):
            continue
        for ref in (c for c in cases if c.startswith("sklearn_lbfgs_")):
            out[f"{name}_first_over_{ref}_first"] = res["first_s"] / cases[ref]["first_s"]
            for mode in ("defaults", "matched"):
                if mode in res:
                    out[f"{name}_{mode}_over_{ref}"] = res[mode]["median_s"] / cases[ref]["median_s"]
    adam, sgd = cases["ours_adam"], cases["sklearn_sgd"]
    out["ours_adam_over_sklearn_sgd"] = adam["median_s"] / sgd["median_s"]
    out["ours_adam_first_over_sklearn_sgd_first"] = adam["first_s"] / sgd["first_s"]
    return out


def _mem(case: dict[str, Any]) -> str:
    if case.get("peak_rss_mib") is None:
        return "-"
    return f"{case['peak_rss_mib']:,.0f} (+{case['peak_rss_mib'] - case['rss_before_mib']:,.0f})"


def table(results: dict[str, Any]) -> str:
    """Two Markdown tables: L-BFGS against LogisticRegression, Adam against SGDClassifier
    (medians; ratios ``ours / sklearn``; gaps against the target objective)."""
    cases = results["cases"]
    target = cases[REFERENCE]["objective"]
    refs = [c for c in cases if c.startswith("sklearn_lbfgs_")]

    def cells(res, first, iters, case, bases):
        ratio = [f"{res['median_s'] / b['median_s']:.3f}" if b is not res else "" for b in bases]
        first_s = "" if first is None else f"{first['first_s']:.2f}" + (
            f" ({first['compile_s']:.2f})" if "compile_s" in first else "")
        return ("| " + " | ".join([f"{res['median_s']:.3f}", *ratio, first_s, str(iters), f"{res['objective']:.8f}",
                f"{(res['objective'] - target) / abs(target):+.2e}", f"{res['test_accuracy']:.4f}", _mem(case)]) + " |")  # fmt: skip

    bases = [cases[r] for r in refs]
    lines = ["| case | median s | " + " | ".join(f"ours / {r}" for r in refs) + " | first call s (compile s) | "
             "iterations | objective | gap vs target | test accuracy | peak RSS MiB (+ over loaded) |",
             "|---" * (8 + len(refs)) + "|"]  # fmt: skip
    for name, res in cases.items():
        if name.startswith("sklearn_lbfgs_"):
            lines.append(f"| {name} " + cells(res, res, res["n_iter"], res, [res] * len(refs)))
        elif name.startswith("ours_lbfgs_"):
            lines.append(f"| {name} defaults " + cells(res["defaults"], res, res["defaults"]["n_iter"], res, bases))
            if "matched" in res:
                lines.append(f"| {name} matched " + cells(res["matched"], None, res["matched"]["n_iter"], res, bases))
    sgd, adam = cases["sklearn_sgd"], cases["ours_adam"]
    lines += ["", "| case | median s | ours / sklearn_sgd | first call s (compile s) | epochs | objective | "
              "gap vs target | test accuracy | peak RSS MiB (+ over loaded) |", "|---" * 9 + "|",
              "| sklearn_sgd " + cells(sgd, sgd, sgd["epochs"], sgd, [sgd]),
              "| ours_adam " + cells(adam, adam, adam["epochs"], adam, [sgd])]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
