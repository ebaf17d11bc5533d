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

import warnings
from typing import Any

import array_api_compat
import numpy as np

from accel import _sklearn
from accel._checks import array_is_finite, check_choice, namespace
from accel.linear._model import LOSSES
from accel.train import check_source_rows


class DataConversionWarning(UserWarning):
    """An input was converted (e.g. a column ``y`` read as 1-D); emitted as a subclass of
    scikit-learn's ``DataConversionWarning`` too where scikit-learn is installed."""

__all__ = [
    "DataConversionWarning",
    "array_is_finite",
    "check_X",
    "check_X_y",
    "check_linear_source",
    "check_loss",
    "check_sample_weight",
    "check_validation_data",
    "encode_labels",
]


def check_loss(loss: object) -> str:
    """``'mse'`` or ``'logistic'``."""
    if not isinstance(loss, str):
        raise TypeError(f"loss must be one of {LOSSES}, got {type(loss).__name__}")
    return check_choice(loss, "loss", LOSSES)


def _as_array(a: object, name: str) -> Any:
    """NumPy / JAX / array-API arrays pass through; anything else goes through NumPy."""
    if hasattr(a, "toarray") and hasattr(a, "nnz"):  # scipy.sparse, without importing scipy
        raise TypeError(
            f"{name} is a sparse matrix, which is not supported: pass a dense array "
            f"({name}.toarray())"
        )
    if array_api_compat.is_array_api_obj(a):
        return a
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as err:  # ragged nested lists and the like
        raise TypeError(f"{name} must be array-like of numbers: {err}") from None


def _numeric(a: Any, name: str) -> Any:
    """``a`` with a real numeric dtype: object arrays of numbers are converted to float64
    (a ``TypeError`` from NumPy names an element that is not a number), complex ones refused."""
    if isinstance(a, np.ndarray) and a.dtype == object:
        try:
            return a.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must hold numbers: {err}") from None
    xp = namespace(a)
    if xp.isdtype(a.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported: {name} has dtype {a.dtype}")
    ok = False
    try:
        ok = xp.isdtype(a.dtype, ("bool", "integral", "real floating"))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"{name} must have a real numeric dtype, got {a.dtype}")
    return a


def _check_finite(a: Any, name: str, xp: Any) -> None:
    """Raise unless every value is finite. A 2-D float32/float64 NumPy array is first checked
    with one BLAS product ``a @ 1`` (no temporary of ``a``'s size, threaded): a NaN or an
    infinity in a row makes that row's sum non-finite, so finite sums prove a finite ``a``;
    only when a sum is not finite (a bad value, or a finite row that overflowed) does the
    exact test (:func:`array_is_finite`, a block of rows at a time) decide."""
    if not xp.isdtype(a.dtype, "real floating"):
        return
    if isinstance(a, np.ndarray) and a.ndim == 2 and a.dtype in (np.float32, np.float64):
        with np.errstate(all="ignore"):  # overflow/invalid are what this looks for
            sums = a @ np.ones(a.shape[1], a.dtype)
        if np.isfinite(sums).all():
            return
    if not array_is_finite(a):
        raise ValueError(f"{name} contains NaN or infinity")


def check_X(
    X: object, n_features: int | None = None, *, name: str = "X", who: str = "the model",
    finite: bool = True,
) -> Any:  # fmt: skip
    """Validate a design matrix: 2-D, non-empty, real numeric, finite; optionally ``d`` columns
    (``who`` names the fitted estimator in that error). ``finite=False`` leaves the
    finiteness test to the caller (a pass over ``X`` that a compiled program can make).

    Returns the array (NumPy input stays NumPy, JAX stays JAX; lists and object arrays of
    numbers become NumPy).
    """
    X = _numeric(_as_array(X, name), name)
    xp = namespace(X)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features), got shape {tuple(X.shape)}. "
            "Reshape your data: X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for "
            "a single sample"
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"{name} is empty: 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required."
        )
    if X.shape[1] == 0:
        raise ValueError(
            f"{name} is empty: 0 feature(s) (shape={tuple(X.shape)}) while a minimum of 1 is required."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but {who} is expecting {n_features} features "
            f"as input (it was fitted with {n_features})"
        )
    if finite:
        _check_finite(X, name, xp)
    return X


def check_X_y(
    X: object, y: object, loss: str, *, who: str = "this estimator", warn_column: bool = False,
    finite_X: bool = True,
) -> tuple[Any, Any]:  # fmt: skip
    """Validate ``X`` (n, d) and ``y``; returns ``(X, y)``.

    ``loss='mse'``: ``y`` real numeric and finite, ``(n,)`` or ``(n, k)`` (``k`` outputs).
    ``loss='logistic'``: ``y`` of shape ``(n,)`` holds class labels of any type
    (:func:`encode_labels` checks there are at least two). A column ``y`` of shape
    ``(n, 1)`` is read as ``(n,)``, with ``warn_column`` with a ``DataConversionWarning``
    (scikit-learn's rule). ``finite_X=False``: see :func:`check_X`.
    """
    loss = check_loss(loss)
    X = check_X(X, finite=finite_X)
    if y is None:
        raise ValueError(f"{who} requires y to be passed, but the target y is None")
    y = _as_array(y, "y")
    if loss == "mse" or not (isinstance(y, np.ndarray) and y.dtype.kind in "OUS"):
        y = _numeric(y, "y")
    xp = namespace(y)
    if y.ndim == 2 and y.shape[1] == 1:
        if warn_column:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected: use y.ravel(). "
                "It is read as its only column.",
                _sklearn.compatible(DataConversionWarning),
                stacklevel=4,
            )
        y = xp.reshape(y, (-1,))
    if y.ndim != 1 and not (loss == "mse" and y.ndim == 2):
        shapes = "(n_samples,) or (n_samples, n_outputs)" if loss == "mse" else "(n_samples,) or (n_samples, 1)"
        raise ValueError(f"y must have shape {shapes} for loss={loss!r}, got shape {tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have different lengths: X has {X.shape[0]} rows, y has {y.shape[0]}"
        )
    if y.dtype.kind not in "OUS":
        _check_finite(y, "y", xp)
    return X, y


_CLASSES = "loss='logistic' needs y with at least two classes (integer or string labels)"


def encode_labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(Y, classes)``: ``classes`` the sorted labels of ``y``; for two classes ``Y``
    (float64, ``(n,)``) is 1 where ``y == classes[1]``, else 0; for ``K > 2`` classes ``Y``
    is one-hot, ``(n, K)``. Raises ``ValueError`` (naming ``y``) for continuous values or one
    class.

    Example:
        >>> Y, classes = encode_labels(np.array(["b", "a", "c", "a"]))
        >>> classes.tolist(), Y.tolist()[0]
        (['a', 'b', 'c'], [0.0, 1.0, 0.0])
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" and y.size and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise ValueError(f"Unknown label type: continuous values in y; {_CLASSES}")
    try:
        classes, index = np.unique(y, return_inverse=True)
    except TypeError as err:  # mixed types in an object array
        raise ValueError(f"Unknown label type: y mixes {err}; {_CLASSES}") from None
    if len(classes) == 1:
        raise ValueError(f"y contains one class only ({classes[0]!r}); {_CLASSES}")
    index = index.reshape(-1)
    if len(classes) == 2:
        return index.astype(np.float64), classes
    return np.eye(len(classes))[index], classes


def check_sample_weight(sample_weight: object, n: int) -> np.ndarray:
    """Per-row weights: shape ``(n,)``, finite, non-negative, not all zero."""
    w = _numeric(_as_array(sample_weight, "sample_weight"), "sample_weight")
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError("sample_weight must be finite, >= 0 and not all zero")
    return w


_LABEL_ROWS = 1 << 16  # labels read at a time by check_linear_source


def check_linear_source(source: Any, loss: str) -> tuple[int, int]:
    """``(n, d)`` of a source for the linear model: columns ``'X'`` (rows of ``d``
    features) and ``'y'`` (scalars); with ``loss='logistic'`` the labels must be 0 and 1
    (checked by reading ``y`` once)."""
    spec = source.spec()
    if set(spec) != {"X", "y"}:
        raise ValueError(f"a source for fit needs the columns 'X' and 'y', got {sorted(spec)}")
    if len(spec["X"][0]) != 1 or spec["X"][0][0] == 0:
        raise ValueError(f"column 'X' must hold rows of features (1-D each), got rows of shape {spec['X'][0]}")
    if spec["y"][0] != ():
        raise ValueError(f"column 'y' must hold one number per row, got rows of shape {spec['y'][0]}")
    n = len(source)
    if n == 0:
        raise ValueError("the source has no rows")
    if loss == "logistic":
        for start in range(0, n, _LABEL_ROWS):
            y = source.read(np.arange(start, min(n, start + _LABEL_ROWS)))["y"]
            if not np.all((y == 0) | (y == 1)):
                raise ValueError("a streamed fit with loss='logistic' needs labels 0 and 1 in column 'y'")
    return n, spec["X"][0][0]


def check_validation_data(validation_data: Any, n_features: int, loss: str,
                          classes: Any, n_outputs: int = 0) -> tuple[Any, int]:  # fmt: skip
    """``fit``'s ``validation_data``: ``(X_val, y_val)`` arrays (checked like ``X``/``y``;
    for the logistic loss the labels must be among the fit's ``classes``, encoded as ``fit``
    encodes them; for mse ``y_val`` has the fit's ``n_outputs`` columns, 0 for a 1-D ``y``), or
    a data source / paths as ``fit`` takes them. Returns ``(data, n_rows)``: a mapping of
    float32 arrays ``{'X', 'y'}`` or a source."""
    from accel.data import as_source, is_source_like

    name = "validation_data"
    if not is_source_like(validation_data):
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise TypeError(
                f"{name} must be a tuple (X_val, y_val) or a data source (accel.data), got "
                f"{type(validation_data).__name__}"
            )
    pair = tuple(validation_data) if isinstance(validation_data, tuple | list) else (validation_data, None)
    if is_source_like(pair[0]):  # the checks of a training source, then of every row
        try:
            source = as_source(*pair)
            n, d = check_linear_source(source, loss)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{name}: {err}") from None
        if d != n_features:
            raise ValueError(
                f"{name}: X_val has {d} features, but the model is expecting {n_features} "
                f"features as input (it was fitted with {n_features})"
            )
        check_source_rows(source, name)
        return source, n
    try:
        X, y = check_X_y(*pair, loss)
        check_X(X, n_features, name="X_val", who="the model")
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name}: {err}") from None
    y = np.asarray(y)
    if loss == "logistic":
        known = np.isin(y, classes)
        if not np.all(known):
            raise ValueError(
                f"{name}: y_val has labels {np.unique(y[~known])[:5].tolist()} not among the "
                f"classes seen in fit {np.asarray(classes).tolist()}"
            )
        index = np.searchsorted(classes, y)
        y = index.astype(np.float32) if len(classes) == 2 else np.eye(len(classes), dtype=np.float32)[index]
    elif (y.shape[1] if y.ndim == 2 else 0) != n_outputs:
        raise ValueError(
            f"{name}: y_val has shape {y.shape}, but the model was fitted with "
            f"{n_outputs or 1} output(s)" + ("" if n_outputs else " (y of shape (n_samples,))")
        )
    return {"X": np.asarray(X, np.float32), "y": np.asarray(y, np.float32)}, int(X.shape[0])
