"""Built-in operations for ``accel compare``: each written once against the array API.

``size`` is ``n`` everywhere: an ``n x n`` float matrix (plus the vectors an operation
needs), or ``n`` sample ids for the augmentation parameters. Inputs are drawn from
``numpy.random.default_rng(seed)`` in float64 and cast to the requested dtype, so every
backend gets bit-identical inputs.

======================  ==============================================================
name                    computation
======================  ==============================================================
``matmul``              ``A @ B``                                  (2 n^3 flop)
``matvec``              ``A @ v``                                  (2 n^2 flop)
``elementwise``         brightness/contrast ``clip((X - 0.5) * 1.2 + 0.55, 0, 1)``
``reduction``           row sums ``sum(X, axis=1)``
``logreg_grad``         ``X.T @ (sigmoid(X @ w) - y) / n``  (logistic-loss gradient)
``augment``             ``accel.augment.gen_augmentation_batch(ids, seed=0, epoch=0)``
                        (JAX only; the library compiles it itself)
======================  ==============================================================

Example:
    >>> from accel.bench._operations import run_operation
    >>> res = run_operation("matvec", 32, backends=("numpy", "jax"), dtype="float32",
    ...                     n_runs=2, warmup=1)
    >>> res["jax"].dtype, res["jax"].max_rel_diff < 1e-5
    ('float32', True)
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accel._info import Probe
from accel.bench._compare import (
    _compare,
    _unavailable,
    check_backends,
    check_dtype,
    check_n_runs,
    check_warmup,
)
from accel.bench._results import Comparison

__all__ = ["OPERATIONS", "Operation", "get_operation", "parse_sizes", "run_operation"]

Inputs = tuple[np.ndarray, ...]


@dataclasses.dataclass(frozen=True)
class Operation:
    """A built-in benchmark operation."""

    name: str
    description: str
    fn: Callable[..., Any]
    make_inputs: Callable[[int, np.random.Generator], Inputs]  # float64 / int64 host data
    flops: Callable[[int], float] | None = None
    supported: tuple[str, ...] | None = None  # None: every backend
    self_managed: bool = False  # takes host inputs, compiles itself (see _compare)
    uses_dtype: bool = True

    def probe(self) -> Probe:
        return Probe(True, "built in")


def _matmul(A: Any, B: Any) -> Any:
    return A @ B


def _matvec(A: Any, v: Any) -> Any:
    return A @ v


def _elementwise(X: Any, *, xp: Any) -> Any:
    contrast, brightness = 1.2, 0.05
    return xp.clip((X - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)


def _reduction(X: Any, *, xp: Any) -> Any:
    return xp.sum(X, axis=1)


def _logreg_grad(X: Any, y: Any, w: Any, *, xp: Any) -> Any:
    p = 1.0 / (1.0 + xp.exp(-(X @ w)))
    return X.T @ (p - y) / X.shape[0]


def _square(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((n, n))


def _logreg_inputs(n: int, rng: np.random.Generator) -> Inputs:
    X = rng.standard_normal((n, n))
    w = rng.standard_normal(n) / np.sqrt(n)  # logits ~ N(0, 1): no overflow in exp
    y = (rng.random(n) < 0.5).astype(np.float64)
    return X, y, w


class _Augment(Operation):
    def probe(self) -> Probe:
        try:
            module = importlib.import_module("accel.augment")
        except ImportError as exc:
            return Probe(False, f"accel.augment is not available ({exc})")
        if not callable(getattr(module, "gen_augmentation_batch", None)):
            return Probe(False, "accel.augment has no gen_augmentation_batch")
        return Probe(True, "accel.augment.gen_augmentation_batch")


def _augment(ids: np.ndarray) -> Any:
    from accel.augment import gen_augmentation_batch

    return gen_augmentation_batch(ids, seed=0, epoch=0)


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("matmul", "A @ B, A and B n x n", _matmul,
                  lambda n, rng: (_square(n, rng), _square(n, rng)), flops=lambda n: 2.0 * n**3),
        Operation("matvec", "A @ v, A n x n", _matvec,
                  lambda n, rng: (_square(n, rng), rng.standard_normal(n)), flops=lambda n: 2.0 * n**2),
        Operation("elementwise", "brightness/contrast on an n x n image", _elementwise,
                  lambda n, rng: (rng.random((n, n)),)),
        Operation("reduction", "row sums of an n x n matrix", _reduction,
                  lambda n, rng: (_square(n, rng),)),
        Operation("logreg_grad", "logistic-regression gradient, X n x n", _logreg_grad,
                  _logreg_inputs),
        _Augment("augment", "augmentation parameters for n sample ids", _augment,
                 lambda n, rng: (np.arange(n, dtype=np.int64),),
                 supported=("jax",), self_managed=True, uses_dtype=False),
    )
}


def get_operation(name: str) -> Operation:
    """The built-in operation ``name``; ``ValueError`` naming the accepted ones otherwise."""
    try:
        return OPERATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"op: unknown operation {name!r}; accepted: {', '.join(OPERATIONS)}") from None


def parse_sizes(sizes: str | Sequence[int]) -> tuple[int, ...]:
    """``'256,1024'`` or ``[256, 1024]`` as a tuple of positive ints."""
    items = sizes.split(",") if isinstance(sizes, str) else list(sizes)
    out = []
    for item in items:
        try:
            if isinstance(item, bool) or (not isinstance(item, str | int | np.integer)):
                raise ValueError
            n = int(item.strip()) if isinstance(item, str) else int(item)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"sizes must be positive integers such as 256,1024; got {sizes!r}")
        out.append(n)
    if not out:
        raise ValueError(f"sizes must be positive integers such as 256,1024; got {sizes!r}")
    return tuple(out)


def run_operation(
    name: str,
    size: int,
    backends: Sequence[str] = ("numpy", "jax", "cupy"),
    dtype: Any = "float32",
    n_runs: int = 10,
    warmup: int = 3,
    seed: int = 0,
) -> Comparison:
    """Benchmark the built-in operation ``name`` at ``size`` on ``backends``."""
    op = get_operation(name)
    (size,) = parse_sizes([size])
    names = check_backends(backends)
    n_runs, warmup = check_n_runs(n_runs), check_warmup(warmup)
    dt = check_dtype(dtype)
    arrays = op.make_inputs(size, np.random.default_rng(seed))
    if op.uses_dtype and dt is not None:
        arrays = tuple(a.astype(dt) for a in arrays)
    probe = op.probe()
    if not probe.usable:
        label = ",".join(sorted({a.dtype.name for a in arrays}))
        results = {b: _unavailable(b, probe.detail, label, n_runs, warmup) for b in names}
        return Comparison(name, None, results)
    return _compare(op.fn, arrays, names, n_runs, warmup, name=name,
                    self_managed=op.self_managed, supported=op.supported)
