"""When training stops early: the one divergence rule and the ``tol`` rule, and their warnings.

Used by every estimator (the NumPy reference in ``optimizers``, ``JAXOptimizer``,
``ParallelTrainer``), on every backend, after each epoch's full-data loss ``L_e``:

.. code-block:: text

    diverged   L_e is not finite, or L_0 > 0 and L_e > DIVERGENCE_FACTOR * L_0
    converged  L_{e-1} - L_e <= tol * |L_{e-1}|          (only when tol is set)

``L_0`` is the loss at the initial (zero) parameters. A diverged epoch is discarded: the
estimator keeps the parameters of the last epoch that passed the rule, sets ``diverged_``
and warns with a :class:`DivergenceWarning`. A loss that grows past ``10**8`` times its
initial value is not a slow start: a step size too large for the problem makes the loss grow
geometrically (``|1 - lr * lambda_max| > 1``), and such a run reaches float64's overflow only
after hundreds of epochs of meaningless parameters.

Example:
    >>> import numpy as np
    >>> from accel.linear._stopping import diverged, converged
    >>> bool(diverged(np.float64(2e9), np.float64(10.0), np)), bool(diverged(np.float64(50.0), np.float64(10.0), np))
    (True, False)
    >>> bool(converged(np.float64(1.0), np.float64(0.9999), 1e-3, np))
    True
"""

from __future__ import annotations

import warnings
from typing import Any

from accel.linear import _sklearn

__all__ = [
    "DIVERGENCE_FACTOR",
    "ConvergenceWarning",
    "DivergenceWarning",
    "converged",
    "diverged",
    "warn_diverged",
    "warn_not_converged",
]

DIVERGENCE_FACTOR = 1e8


class DivergenceWarning(RuntimeWarning):
    """Training stopped at a non-finite (or exploding) loss; the last good parameters were kept."""


class ConvergenceWarning(UserWarning):
    """``tol`` was set but not reached within ``epochs`` (emitted as a subclass of
    scikit-learn's ``ConvergenceWarning`` too where scikit-learn is installed)."""


def diverged(loss: Any, initial_loss: Any, xp: Any, *, nonfinite: bool = True) -> Any:
    """The divergence rule (module doc) for scalars or traced scalars of namespace ``xp``.

    ``nonfinite=False`` keeps only the explosion clause: for runs that skip steps with
    non-finite losses by design (``ParallelTrainer(nan_policy='skip')``), where the
    full-data loss may be NaN because of the rows that are skipped."""
    exploded = (initial_loss > 0) & (loss > DIVERGENCE_FACTOR * initial_loss)
    return (~xp.isfinite(loss) | exploded) if nonfinite else exploded


def converged(previous: Any, loss: Any, tol: Any, xp: Any) -> Any:
    """The ``tol`` rule: relative decrease ``(L_prev - L) / |L_prev| <= tol``."""
    return previous - loss <= tol * xp.abs(previous)


def warn_diverged(name: str, kept_epoch: int, *, stacklevel: int = 3) -> None:
    """The warning every estimator emits when the divergence rule stops it."""
    warnings.warn(
        f"{name}: the loss became non-finite or exceeded {DIVERGENCE_FACTOR:g} times its "
        f"initial value in epoch {kept_epoch + 1}; training stopped and kept the parameters of "
        f"epoch {kept_epoch} (the last good loss). Try a smaller learning_rate.",
        DivergenceWarning,
        stacklevel=stacklevel,
    )


def warn_not_converged(name: str, tol: float, epochs: int, *, stacklevel: int = 3) -> None:
    """The warning when ``tol`` is set and ``epochs`` ran out before it was reached."""
    warnings.warn(
        f"{name}: tol={tol:g} was not reached in {epochs} epochs; increase epochs or "
        "learning_rate, or loosen tol.",
        _sklearn.compatible(ConvergenceWarning),
        stacklevel=stacklevel,
    )
