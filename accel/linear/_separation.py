"""Separable classes: a logistic loss without penalty that has no minimum.

When every training row is classified correctly, scaling the coefficients up lowers the
logistic loss further, towards 0: the unpenalized objective has no minimiser, and an
optimizer run long enough sends the coefficients to infinity (L-BFGS used to reach a loss
near ``1e-27`` and then overflow). L-BFGS now stops on its own rules; this module tells the
user why its result is where it stopped, and what gives a finite optimum (``alpha > 0``).

Example:
    >>> import warnings, numpy as np
    >>> from accel import JAXOptimizer
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     est = JAXOptimizer("lbfgs", loss="logistic", epochs=100).fit(X, y)
    >>> [w.category.__name__ for w in caught], est.converged_
    (['SeparationWarning'], True)
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from accel import train as engine

__all__ = ["SeparationWarning", "note_separation"]


class SeparationWarning(engine.ConvergenceWarning):
    """A logistic fit without penalty on separable data: the loss has no minimum (it tends to
    0 as the coefficients grow), so the coefficients found are where the optimizer stopped."""


def note_separation(est: Any, X: Any, y: Any) -> None:
    """A :class:`SeparationWarning` when the fitted ``est`` classifies every training row of
    ``(X, y)`` right (``y`` encoded: 0/1, or one-hot) without a penalty."""
    z = np.asarray(est._decision(X))
    right = (z > 0) == (y > 0.5) if z.ndim == 1 else np.argmax(z, axis=1) == np.argmax(y, axis=1)
    if np.all(right):
        warnings.warn(
            f"every training row is classified correctly and alpha=0: the data are separable, "
            f"so the loss has no minimum (it goes to 0 as coef_ grows without bound). The fit "
            f"stopped after {est.n_epochs_} iterations at loss "
            f"{float(est.history_['loss'][-1]):.3g}, norm of coef_ "
            f"{float(np.linalg.norm(est.coef_)):.3g}; set alpha > 0 for a finite optimum",
            SeparationWarning,
            stacklevel=4,
        )
