"""When training stops early, and when a finished fit is flagged: the divergence rules, the
``tol`` rule, and their warnings.

Used by every estimator (the NumPy reference in ``optimizers``, ``JAXOptimizer``, resident or
streamed, ``ParallelTrainer.fit`` and ``ParallelTrainer.train``), on every backend. After each
epoch's full-data loss ``L_e`` (in the training loop):

.. code-block:: text

    diverged   L_e is not finite, or L_0 > 0 and L_e > DIVERGENCE_FACTOR * L_0
    converged  L_{e-1} - L_e <= tol * |L_{e-1}|          (only when tol is set)

``L_0`` is the loss at the initial (zero) parameters. A diverged epoch is discarded: training
stops with the parameters of the last epoch that passed the rule. A loss that grows past
``10**8`` times its initial value is not a slow start: a step size too large for the problem
makes the loss grow geometrically (``|1 - lr * lambda_max| > 1``), and such a run reaches
float64's overflow only after hundreds of epochs of meaningless parameters. The ``tol`` rule
compares with ``|L_{e-1}|``, so a loss that goes below zero (``ParallelTrainer.train`` with a
user loss) stops when its decrease is small relative to its size, as a positive one does.

At the end of every fit, on the host, one more rule reads the loss history
``L_0, ..., L_k`` of the returned parameters (:func:`regressed`; ``k`` is the last epoch, or
the epoch kept by ``restore_best``):

.. code-block:: text

    B = min_e L_e      (over the finite losses; b = the first epoch that reaches it)
    regressed   L_k - B > max(REGRESSION_SHARE * (L_0 - B),  (REGRESSION_FACTOR - 1) * max(B, 0))
                with REGRESSION_FACTOR = 2, REGRESSION_SHARE = 0.1

The fit ended much worse than its best epoch: more than twice the best loss (``L_k > 2 B``
when ``B > 0``), *and* after giving back more than a tenth of the progress it had made
(``L_0 - B``). A fit that ends above twice the untrained loss fires too (then ``L_0 - B`` is
the smaller term). Everything is a difference, never a division, so the rule holds for any
sign: with ``B <= 0`` (``ParallelTrainer.train`` with a user loss that goes below zero) a
ratio to ``B`` means nothing (the loss's zero is arbitrary), the second term is 0, and the
rule is the share of progress given back alone, the same for ``loss`` and ``loss - c``. Its
limit: a run that made almost no progress (``L_0 - B`` within the noise) can then fire on
noise, which ``B > 0`` prevents through the factor.

Why both terms and these constants (measured; ``tests/test_stopping_rule.py`` holds the
table): mini-batch noise either stays far below ``2 B`` or gives back little progress (a
separable logistic problem, whose loss heads to 0: ``L_k / B`` reaches ``1.7`` at rate 1,
but ``L_k - B`` stays below ``0.003 (L_0 - B)``); only a problem without signal (``B`` near
``L_0``) has an unbounded share, and there the factor holds it. Over the test's ordinary
runs (7 optimizers, rates up to 0.1, 0.03 for momentum and Nesterov, batches of 16 and 32,
3 problems, 4 batch orders: 336 runs of 40 epochs) the final loss was at most ``1.15 B``
and ``(L_k - B) / threshold`` at most 0.15; over 396 runs of 100 epochs (SGD and momentum,
rates 0.001-0.1, batches of 16-128, 5 problems, no signal included) at most 0.014. The
failures of the issue fire by orders of magnitude: float32 features of scale ``1e6``
(Adam, AdamW, RMSProp at the default rate end ``90`` to ``1.5e5`` times above their best),
rates 1-10 (RMSProp, momentum, Nesterov: ``3.5`` to ``1e5`` times the best), L-BFGS on
separable data (``1e-27`` reached, ``9e6`` at the end; since then L-BFGS stops by its own
rules, :func:`quasi_newton_converged`, and undoes an iteration that raises its loss). Runs that jump around chaotically
at large rates (SGD 1.4, Adam 3 on mini-batches) end anywhere from ``1.1`` to ``8`` times
their best, by the batch order: the rule flags those that end much worse.

When it fires the estimator sets ``diverged_=True`` (``diverged_`` means: the returned
parameters come from a diverging run, stopped by the first rule or finished much worse than
its best epoch; ``converged_`` is then False) and warns with a :class:`WorseThanBestWarning`
(a :class:`DivergenceWarning`) naming the best epoch, its loss, the final loss and what to
change. The parameters returned stay those of the last epoch: restoring the best epoch would
need a copy of the state per improving epoch inside the compiled loop, or a second run,
which ``ParallelTrainer`` (streamed data, checkpoints) cannot do cheaply; ``restore_best``
with validation data keeps the best epoch where that is wanted.

Example:
    >>> import numpy as np
    >>> from accel.train._stopping import diverged, converged, regressed
    >>> bool(diverged(np.float64(2e9), np.float64(10.0), np)), bool(diverged(np.float64(50.0), np.float64(10.0), np))
    (True, False)
    >>> bool(converged(np.float64(1.0), np.float64(0.9999), 1e-3, np))
    True
    >>> regressed([1.0, 0.2, 0.1, 0.5])  # twice the best and 4/9 of the progress given back
    Regression(best_epoch=2, best_loss=0.1, final_epoch=3, final_loss=0.5, initial_loss=1.0)
    >>> regressed([1.0, 0.2, 0.1, 0.15]) is None  # 1.5 times the best: noise
    True
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any, NamedTuple

import numpy as np

from accel import _sklearn

__all__ = [
    "DIVERGENCE_FACTOR",
    "REGRESSION_FACTOR",
    "REGRESSION_SHARE",
    "ConvergenceWarning",
    "DivergenceWarning",
    "Regression",
    "WorseThanBestWarning",
    "converged",
    "diverged",
    "evaluation_due",
    "quasi_newton_converged",
    "regressed",
    "warn_diverged",
    "warn_not_converged",
]

DIVERGENCE_FACTOR = 1e8
REGRESSION_FACTOR = 2.0
REGRESSION_SHARE = 0.1


class DivergenceWarning(RuntimeWarning):
    """The fit diverged: training stopped at a non-finite (or exploding) loss, the last good
    parameters were kept; or it ended much worse than its best epoch
    (:class:`WorseThanBestWarning`)."""


class WorseThanBestWarning(DivergenceWarning):
    """The fit ended much worse than its best epoch (the rule of :func:`regressed`)."""


class ConvergenceWarning(UserWarning):
    """``tol`` was set but not reached within ``epochs`` (emitted as a subclass of
    scikit-learn's ``ConvergenceWarning`` too where scikit-learn is installed)."""


class Regression(NamedTuple):
    """What :func:`regressed` found: the best epoch and loss, the returned epoch and its loss."""

    best_epoch: int
    best_loss: float
    final_epoch: int
    final_loss: float
    initial_loss: float


def diverged(loss: Any, initial_loss: Any, xp: Any, *, nonfinite: bool = True) -> Any:
    """The in-loop divergence rule (module doc) for scalars or traced scalars of namespace ``xp``.

    ``nonfinite=False`` keeps only the explosion clause: for runs that skip steps with
    non-finite losses by design (``ParallelTrainer(nan_policy='skip')``), where the
    full-data loss may be NaN because of the rows that are skipped."""
    exploded = (initial_loss > 0) & (loss > DIVERGENCE_FACTOR * initial_loss)
    return (~xp.isfinite(loss) | exploded) if nonfinite else exploded


def evaluation_due(epochs_done: Any, every: int, until: Any) -> Any:
    """Whether the full-data evaluation runs after epoch ``epochs_done`` (counted from 1) of a
    run of ``until`` epochs: ``every`` 1 always, ``k > 1`` every ``k``-th epoch and the last,
    0 never (``ParallelTrainer(eval_every=...)``). Host ints or traced arrays."""
    if every == 1:
        return True
    if every == 0:
        return False
    return (epochs_done % every == 0) | (epochs_done == until)


def converged(previous: Any, loss: Any, tol: Any, xp: Any) -> Any:
    """The ``tol`` rule: relative decrease ``(L_prev - L) / |L_prev| <= tol`` (any sign)."""
    return previous - loss <= tol * xp.abs(previous)


def quasi_newton_converged(previous: Any, loss: Any, grad: Any, gtol: Any, ftol: Any, xp: Any) -> Any:
    """L-BFGS's rules (scipy's ``L-BFGS-B``): ``max_i |g_i| <= gtol`` over every leaf of the
    gradient ``grad``, or ``(L_prev - L) / max(|L_prev|, |L|, 1) <= ftol``.

    Example:
        >>> import numpy as np
        >>> bool(quasi_newton_converged(0.5, 0.5 - 1e-10, [np.array([0.1])], 1e-5, 2.2e-9, np))
        True
        >>> bool(quasi_newton_converged(0.5, 0.4, [np.array([1e-6, -2e-6])], 1e-5, 2.2e-9, np))
        True
        >>> bool(quasi_newton_converged(0.5, 0.4, [np.array([0.1])], 1e-5, 2.2e-9, np))
        False
    """
    import functools

    import jax

    gmax = functools.reduce(xp.maximum, [xp.max(xp.abs(g)) for g in jax.tree.leaves(grad)])
    scale = xp.maximum(xp.maximum(xp.abs(previous), xp.abs(loss)), 1.0)
    return (gmax <= gtol) | (previous - loss <= ftol * scale)


def regressed(losses: Any, final_epoch: int | None = None) -> Regression | None:
    """The end-of-fit rule (module doc) on a loss history ``losses`` (``L_0`` first): a
    :class:`Regression` when the loss of epoch ``final_epoch`` (default: the last) is much
    worse than the best epoch's, else ``None``. Computed in float64; non-finite entries are
    ignored, and a non-finite ``L_0`` or final loss is left to the in-loop rule (``None``)."""
    h = np.asarray(losses, dtype=np.float64).reshape(-1)
    if h.size < 2:
        return None
    k = h.size - 1 if final_epoch is None else int(final_epoch)
    initial, final = float(h[0]), float(h[k])
    if not (math.isfinite(initial) and math.isfinite(final)):
        return None
    masked = np.where(np.isfinite(h), h, np.inf)
    b = int(np.argmin(masked))  # the first epoch of equal best losses
    best = float(masked[b])
    threshold = max(REGRESSION_SHARE * (initial - best), (REGRESSION_FACTOR - 1.0) * max(best, 0.0))
    if not final - best > threshold:
        return None
    return Regression(b, best, k, final, initial)


_REMEDY = "Use a smaller learning_rate"


def _regression_text(r: Regression) -> str:
    return (
        f"the best epoch was epoch {r.best_epoch} with loss {r.best_loss:.6g}, far below the "
        f"loss {r.final_loss:.6g} of the parameters returned (epoch {r.final_epoch}; initial "
        f"loss {r.initial_loss:.6g})"
    )


# the packages whose frames a warning skips, to name the user's line that called them
_PACKAGES = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), name) + os.sep
    for name in ("accel", "optimizers")
)


def _user_stacklevel() -> int:
    """``stacklevel`` for a ``warnings.warn`` in this module's caller: the first frame outside
    ``accel`` and ``optimizers`` (every estimator reaches the warning through its own depth
    of calls: ``fit``, ``_fit``, the stream loop, the trainer's ``_finish``...)."""
    frame, level = sys._getframe(2), 2  # level 1: the function calling warnings.warn
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGES):
        frame, level = frame.f_back, level + 1
    return level


def warn_diverged(name: str, kept_epoch: int, *, regression: Regression | None = None,
                  stopped: bool = True, remedy: str = "") -> None:  # fmt: skip
    """The warning every estimator emits when a divergence rule fires: ``stopped`` (the
    in-loop rule stopped training after ``kept_epoch`` good epochs; ``regression`` adds the
    best epoch when it is much better than the kept one), or the end-of-fit rule alone
    (``stopped=False``: a :class:`WorseThanBestWarning`). ``remedy``: what else to change
    besides the learning rate (the estimator's own options). The warning points at the
    user's line that called into ``accel`` or ``optimizers``."""
    more = f", or {remedy}" if remedy else ""
    if stopped:
        text = (
            f"{name}: the loss became non-finite or exceeded {DIVERGENCE_FACTOR:g} times its "
            f"initial value in epoch {kept_epoch + 1}; training stopped and kept the parameters "
            f"of epoch {kept_epoch} (the last loss below that)."
        )
        if regression is not None:
            text += f" The fit had diverged before: {_regression_text(regression)}."
        category: type[Warning] = DivergenceWarning
    else:
        assert regression is not None
        text = f"{name}: the fit ended much worse than its best epoch: {_regression_text(regression)}."
        category = WorseThanBestWarning
    warnings.warn(f"{text} {_REMEDY}{more}.", category, stacklevel=_user_stacklevel())


def warn_not_converged(name: str, tol: float, epochs: int) -> None:
    """The warning when ``tol`` is set and ``epochs`` ran out before it was reached (at the
    user's line, as :func:`warn_diverged`)."""
    warnings.warn(
        f"{name}: tol={tol:g} was not reached in {epochs} epochs; increase epochs or "
        "learning_rate, or loosen tol.",
        _sklearn.compatible(ConvergenceWarning),
        stacklevel=_user_stacklevel(),
    )
