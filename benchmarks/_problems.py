"""The problems of the large-scale suite, with their fallbacks, for ``--quick`` and ``--full``.

========================  =========  ==================================================
problem                   loss       data
========================  =========  ==================================================
MNIST (10k)               logistic   digits 0-4 -> 0, 5-9 -> 1; falls back to the shipped
                                     scikit-learn digits set when the MNIST files are absent,
                                     then named "Digits (MNIST stand-in)"
MNIST 10-class (10k)      logistic   the ten digits (multinomial), L2 penalty alpha = 1e-4
                                     (``LogisticRegression(C=1)`` on 10,000 rows); falls back
                                     to the shipped digits' ten classes, then named
                                     "Digits 10-class (MNIST stand-in)"
California housing        mse        falls back to the shipped diabetes set, then named
                                     "Diabetes (California stand-in)"
Synthetic d=100 / 1000    mse        ``generate_highdim_regression`` (kappa 50 on all its
(+ d=5000 / 10000 full)              rows), 2.5 d rows
Extreme kappa=1e3 / 1e6   mse        ``generate_extreme_condition_data`` (exponential spectrum)
(+ 1e9 full)
========================  =========  ==================================================

Synthetic data are split 80/20 into train/test with a seeded permutation; real data keep the
loaders' own split. Every problem's metadata give the sizes of the arrays it holds
(``n_train``, ``n_test``, ``n_features``); a synthetic problem's ``condition_number`` (and
``singular``, ``rank``, ``condition_number_nonzero``) is measured on its training rows, the
Hessian the optimizers see, and what the generator measured on all its rows, before the
split, is kept under ``generated`` (``n_samples``, ``condition_number``, ...).

A fallback problem carries the name of the data it really uses, so every heading, table row
and plot title of the report says digits or diabetes, never MNIST or California
(``FALLBACK_NAMES``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["FALLBACK_NAMES", "Problem", "iter_problems", "problem_names"]

# Problem name when the real data set is absent: the data actually used, and what it replaces.
FALLBACK_NAMES = {
    "MNIST (10k)": "Digits (MNIST stand-in)",
    "California housing": "Diabetes (California stand-in)",
    "MNIST 10-class (10k)": "Digits 10-class (MNIST stand-in)",
}
MNIST10_ALPHA = 1e-4  # the 10-class problem's penalty: LogisticRegression(C=1) on 10,000 rows


@dataclasses.dataclass
class Problem:
    """One benchmark problem: data, loss, metadata and the fallback used (if any)."""

    name: str
    loss: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    metadata: dict[str, Any]
    fallback: str | None = None
    alpha: float = 0.0  # the L2 penalty of the objective (a unique optimum for 10 classes)

    def __post_init__(self) -> None:
        # the sizes are those of the arrays held, whatever the loader or generator counted
        self.metadata = {
            **self.metadata,
            "n_train": int(self.X_train.shape[0]),
            "n_test": int(self.X_test.shape[0]),
            "n_features": int(self.X_train.shape[1]),
        }


# What a generator measured on all its rows, which the split changes (module doc).
_WHOLE_DATA_KEYS = ("condition_number", "condition_number_nonzero", "singular", "rank",
                    "condition_number_with_intercept", "centered", "actual_kappa")


def _split(
    X: np.ndarray, y: np.ndarray, meta: dict[str, Any], seed: int, test_fraction: float = 0.2
):
    """Seeded train/test split of generated data, with the metadata of the training rows."""
    from benchmarks.datasets._conditioning import hessian_spectrum

    order = np.random.default_rng(seed).permutation(X.shape[0])
    n_test = max(1, round(test_fraction * X.shape[0]))
    test, train = order[:n_test], order[n_test:]
    generated = {"n_samples": int(X.shape[0])}
    generated.update({k: meta[k] for k in _WHOLE_DATA_KEYS if k in meta})
    spectrum = hessian_spectrum(X[train])
    metadata = {k: v for k, v in meta.items() if k not in _WHOLE_DATA_KEYS}
    metadata.update({k: spectrum[k] for k in ("condition_number", "condition_number_nonzero",
                                              "singular", "rank")})
    metadata["generated"] = generated
    return X[train], y[train], X[test], y[test], metadata


def _mnist_problem(classes: int) -> Callable[[int, bool], Problem]:
    """MNIST's 10,000 rows as the binary problem (0-4 vs 5-9) or the 10-class one (with its
    penalty); the shipped digits offline."""
    name = "MNIST (10k)" if classes == 2 else "MNIST 10-class (10k)"
    alpha = 0.0 if classes == 2 else MNIST10_ALPHA

    def make(seed: int, download: bool) -> Problem:
        from benchmarks import datasets

        try:
            X, y, Xt, yt, meta = datasets.load_mnist(
                n_samples=10000, binary_classification=classes == 2, download=download
            )
            fallback = None
        except datasets.DataUnavailableError as exc:
            load = datasets.load_digits_binary if classes == 2 else datasets.load_digits
            X, y, Xt, yt, meta = load(seed=seed)
            reason = str(exc).splitlines()[0].rstrip(":")
            kind = "" if classes == 2 else f" ({classes} classes)"
            fallback = f"MNIST files absent ({reason}); used the shipped scikit-learn digits set{kind}"
        shown = name if fallback is None else FALLBACK_NAMES[name]
        meta = dict(meta, alpha=alpha) if alpha else dict(meta)
        return Problem(shown, "logistic", X, y, Xt, yt, meta, fallback, alpha)

    return make


def _california(seed: int, download: bool) -> Problem:
    from benchmarks import datasets

    try:
        X, y, Xt, yt, meta = datasets.load_california_housing(download=download)
        fallback = None
    except datasets.DataUnavailableError as exc:
        X, y, Xt, yt, meta = datasets.load_diabetes(seed=seed)
        reason = str(exc).splitlines()[0].rstrip(":")
        fallback = f"California housing files absent ({reason}); used the shipped scikit-learn diabetes set"
    name = "California housing" if fallback is None else FALLBACK_NAMES["California housing"]
    return Problem(name, "mse", X, y, Xt, yt, dict(meta), fallback)


def _highdim(d: int) -> Callable[[int, bool], Problem]:
    def make(seed: int, download: bool) -> Problem:
        from benchmarks import datasets

        X, y, _, meta = datasets.generate_highdim_regression(
            n_samples=2 * d + d // 2, n_features=d, condition_number=50.0, seed=seed
        )
        X, y, Xt, yt, meta = _split(X, y, meta, seed)
        return Problem(f"Synthetic d={d}", "mse", X, y, Xt, yt, meta)

    return make


def _extreme(kappa: float) -> Callable[[int, bool], Problem]:
    def make(seed: int, download: bool) -> Problem:
        from benchmarks import datasets

        X, y, meta = datasets.generate_extreme_condition_data(
            n_samples=500, n_features=50, target_kappa=kappa, condition_type="exponential", seed=seed
        )
        X, y, Xt, yt, meta = _split(X, y, meta, seed)
        return Problem(f"Extreme kappa={kappa:.0e}", "mse", X, y, Xt, yt, meta)

    return make


_QUICK: dict[str, Callable[[int, bool], Problem]] = {
    "mnist": _mnist_problem(2),
    "mnist10": _mnist_problem(10),
    "california": _california,
    "highdim100": _highdim(100),
    "highdim1000": _highdim(1000),
    "kappa1e3": _extreme(1e3),
    "kappa1e6": _extreme(1e6),
}
_FULL_ONLY: dict[str, Callable[[int, bool], Problem]] = {
    "highdim5000": _highdim(5000),
    "highdim10000": _highdim(10000),
    "kappa1e9": _extreme(1e9),
}


def problem_names(full: bool) -> list[str]:
    """Short names accepted by ``--problems``, in suite order."""
    return list(_QUICK) + (list(_FULL_ONLY) if full else [])


def iter_problems(names: list[str], *, seed: int, download: bool) -> Iterator[Problem]:
    """Build the named problems lazily (one data set in memory at a time)."""
    table = {**_QUICK, **_FULL_ONLY}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"problems: unknown {unknown}; accepted: {list(table)}")
    for name in names:
        yield table[name](seed, download)
