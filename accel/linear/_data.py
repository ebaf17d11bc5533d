"""Validation of the linear estimators' data and of the arguments that only they have.

Host side, before any compiled code runs. ``TypeError`` for wrong kinds, ``ValueError`` for
wrong values; the message always names the parameter (generic checks: ``accel._checks``).

Example:
    >>> import numpy as np
    >>> from accel.linear._data import check_X_y
    >>> X, y = check_X_y([[1.0, 2.0], [3.0, 4.0]], [[0], [1]], "logistic")
    >>> X.shape, y.shape
    ((2, 2), (2,))
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from accel._checks import check_choice, check_positive_real
from accel.linear._model import LOSSES

__all__ = ["check_X", "check_X_y", "check_learning_rate", "check_loss"]


def check_loss(loss: object) -> str:
    """``'mse'`` or ``'logistic'``."""
    if not isinstance(loss, str):
        raise TypeError(f"loss must be one of {LOSSES}, got {type(loss).__name__}")
    return check_choice(loss, "loss", LOSSES)


def check_learning_rate(learning_rate: object) -> Any:
    """A number > 0, or a schedule (callable step -> learning rate), returned unchanged."""
    if callable(learning_rate):
        return learning_rate
    return check_positive_real(learning_rate, "learning_rate")


def _as_array(a: object, name: str) -> Any:
    """NumPy / JAX / array-API arrays pass through; anything else goes through NumPy."""
    if array_api_compat.is_array_api_obj(a):
        return a
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as err:  # ragged nested lists and the like
        raise TypeError(f"{name} must be array-like of numbers: {err}") from None


def _check_numeric(a: Any, name: str, xp: Any) -> None:
    dtype = a.dtype
    ok = False
    try:
        ok = xp.isdtype(dtype, ("bool", "integral", "real floating"))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"{name} must have a real numeric dtype, got {dtype}")


def _check_finite(a: Any, name: str, xp: Any) -> None:
    if xp.isdtype(a.dtype, "real floating") and not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{name} contains NaN or infinity")


def check_X(X: object, n_features: int | None = None, *, name: str = "X") -> Any:
    """Validate a design matrix: 2-D, non-empty, real numeric, finite; optionally ``d`` columns.

    Returns the array (NumPy input stays NumPy, JAX stays JAX; lists become NumPy).
    """
    X = _as_array(X, name)
    xp = array_api_compat.array_namespace(X)
    _check_numeric(X, name, xp)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features), got shape {tuple(X.shape)}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(X.shape)}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the model was fitted with {n_features}")
    _check_finite(X, name, xp)
    return X


def check_X_y(X: object, y: object, loss: str) -> tuple[Any, Any]:
    """Validate ``X`` (n, d) and ``y`` (n,) or (n, 1); returns ``(X, y)`` with ``y`` 1-D.

    For ``loss='logistic'`` every label must be 0 or 1.
    """
    loss = check_loss(loss)
    X = check_X(X)
    y = _as_array(y, "y")
    xp = array_api_compat.array_namespace(y)
    _check_numeric(y, "y", xp)
    if y.ndim == 2 and y.shape[1] == 1:
        y = xp.reshape(y, (-1,))
    if y.ndim != 1:
        raise ValueError(f"y must have shape (n_samples,) or (n_samples, 1), got shape {tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have different lengths: X has {X.shape[0]} rows, y has {y.shape[0]}"
        )
    _check_finite(y, "y", xp)
    if loss == "logistic" and not bool(xp.all((y == 0) | (y == 1))):
        raise ValueError("y must contain only labels 0 and 1 for loss='logistic'")
    return X, y
