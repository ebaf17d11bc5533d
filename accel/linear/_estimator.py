"""What every linear estimator shares: sklearn-style parameters, prediction, scoring, results.

Used by the NumPy reference classes (``optimizers``) and ``JAXOptimizer``. A subclass sets
the fitted attributes through :meth:`LinearEstimatorMixin._store_result` and provides
``_decision(X)`` (``z = X @ coef_ + intercept_`` in its own backend).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from accel.linear import _data, _model

__all__ = ["DivergenceWarning", "LinearEstimatorMixin", "NotFittedError", "warn_diverged"]


class DivergenceWarning(RuntimeWarning):
    """Training stopped at a non-finite loss; the last finite parameters were kept."""


class NotFittedError(ValueError, AttributeError):
    """Raised by ``predict``/``score`` before ``fit`` (sklearn's convention: ValueError + AttributeError)."""


class LinearEstimatorMixin:
    """sklearn conventions: ``get_params``/``set_params``/``repr`` from ``__init__``'s signature."""

    loss: str

    # ----- parameters -------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def _extra_params(self) -> dict[str, Any]:
        """Parameters passed through ``**kwargs`` (none by default)."""
        return {}

    def _set_extra_param(self, key: str, value: Any) -> bool:
        """Set a ``**kwargs`` parameter; return False if ``key`` is not one."""
        return False

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (sklearn convention; ``deep`` is accepted and unused)."""
        params = {name: getattr(self, name) for name in self._param_names()}
        params.update(self._extra_params())
        return params

    def set_params(self, **params: Any) -> LinearEstimatorMixin:
        """Set constructor arguments; returns ``self``. Unknown names raise ``ValueError``."""
        names = set(self._param_names())
        for key, value in params.items():
            if key in names:
                setattr(self, key, value)
            elif not self._set_extra_param(key, value):
                raise ValueError(
                    f"invalid parameter {key!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {sorted(self.get_params())}"
                )
        self._check_params()
        return self

    def _check_params(self) -> None:  # overridden: validation of the hyperparameters
        pass

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for key, value in self.get_params().items():
            p = sig.parameters.get(key)
            if p is not None and p.default is not p.empty and _same(p.default, value):
                continue
            shown.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ----- results ------------------------------------------------------------------------

    def _store_result(
        self,
        coef: np.ndarray,
        intercept: Any,
        losses: np.ndarray,
        grad_norms: np.ndarray,
        *,
        converged: bool,
        diverged: bool,
    ) -> None:
        self.coef_ = np.asarray(coef)
        self.intercept_ = self.coef_.dtype.type(intercept)
        self.history_ = {"loss": np.asarray(losses), "grad_norm": np.asarray(grad_norms)}
        self.n_epochs_ = len(losses) - 1
        self.converged_ = bool(converged)
        self.diverged_ = bool(diverged)
        self.n_features_in_ = self.coef_.shape[0]

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"this {type(self).__name__} instance is not fitted yet; call fit(X, y) first"
            )

    def _decision(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----- prediction ---------------------------------------------------------------------

    def decision_function(self, X: Any) -> Any:
        """``z = X @ coef_ + intercept_`` (the logit for ``loss='logistic'``)."""
        self._check_fitted()
        return self._decision(_data.check_X(X, self.n_features_in_))

    def predict(self, X: Any) -> Any:
        """Values ``z`` for ``loss='mse'``; class labels 0/1 (``z > 0``) for ``loss='logistic'``."""
        return _model.predict_from_decision(self.decision_function(X), self.loss)

    def predict_proba(self, X: Any) -> Any:
        """``[P(y=0), P(y=1)]`` per row, shape ``(n, 2)``; only for ``loss='logistic'``."""
        if self.loss != "logistic":
            raise ValueError("predict_proba is only defined for loss='logistic'")
        import array_api_compat

        z = self.decision_function(X)
        xp = array_api_compat.array_namespace(z)
        p = _model.sigmoid(z, xp)
        return xp.stack([1.0 - p, p], axis=1)

    def score(self, X: Any, y: Any) -> float:
        """R² for ``loss='mse'``, accuracy for ``loss='logistic'``."""
        X, y = _data.check_X_y(X, y, self.loss)
        y_pred = np.asarray(self.predict(X))
        return _model.score_from_predictions(np.asarray(y, dtype=y_pred.dtype), y_pred, self.loss)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b


def warn_diverged(name: str, kept_epoch: int) -> None:
    """The ``DivergenceWarning`` every estimator emits when it stops at a non-finite loss."""
    warnings.warn(
        f"{name}: the loss became non-finite in epoch {kept_epoch + 1}; training stopped and "
        f"kept the parameters of epoch {kept_epoch} (the last finite loss). Try a smaller "
        "learning_rate.",
        DivergenceWarning,
        stacklevel=3,
    )
