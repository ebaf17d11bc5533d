"""The one estimator base: scikit-learn's conventions for every estimator of the project.

``LinearEstimator`` is the base of the NumPy reference optimizers (``optimizers``),
``JAXOptimizer`` and ``ParallelTrainer``. It gives them, in one place:

* parameters: ``get_params``/``set_params`` from ``__init__``'s signature plus the
  optimizer's hyperparameters (passed as ``**kwargs``). ``__init__`` and ``set_params`` only
  store (scikit-learn's contract; ``set_params`` refuses only a name that is no parameter):
  every value is validated by ``fit`` (``_check_params``), before it changes anything.
  A hyperparameter set to ``None`` is unset (its default applies), and changing
  ``optimizer_type`` drops the hyperparameters the new optimizer does not have (unless they
  are set in the same call), so a search over optimizers works from any starting point;
* scikit-learn integration without importing scikit-learn (``import accel`` and a fit never
  do: it costs seconds): the class follows scikit-learn's estimator protocol by duck typing
  (``get_params``/``set_params``, ``__sklearn_tags__``, ``__sklearn_is_fitted__``), which is
  all ``clone``, ``GridSearchCV``, ``cross_val_score``, pipelines and ``check_estimator``
  need; its errors and warnings derive from scikit-learn's categories when scikit-learn is
  installed (``_sklearn``); a notebook shows scikit-learn's HTML diagram once scikit-learn is
  imported. scikit-learn stays optional.
  ``loss='mse'`` makes a regressor (one output or several, ``score`` is R²),
  ``loss='logistic'`` a classifier (any labels, ``classes_``: two classes binary, more
  multinomial; ``score`` is accuracy);
* fitting: :meth:`_fit_inputs` validates ``X``/``y`` and encodes labels; results are stored
  through :meth:`_store_result`, which also emits the stopping rules' warnings; a fit
  method decorated with :func:`keeps_state_on_error` that raises leaves the estimator as it
  was before the call (the previous fit's attributes intact);
* prediction: ``decision_function`` (``z = X @ coef_ + intercept_``), ``predict``,
  ``predict_proba``, ``score``; ``NotFittedError`` before ``fit``.

A subclass provides ``__init__`` (storing its arguments unchanged), ``_check_params(params)``
(raise ``TypeError``/``ValueError`` naming the parameter), ``fit`` and ``_decision(X)``.

Example:
    >>> import numpy as np
    >>> from optimizers import SGD
    >>> X, y = np.eye(3), np.arange(3.0)
    >>> est = SGD(learning_rate=0.1, epochs=5).fit(X, y)
    >>> est.set_params(epochs=0).get_params()["epochs"]  # stored, not checked
    0
    >>> try:
    ...     est.fit(X, y)
    ... except ValueError as err:
    ...     print(err)
    epochs must be an integer >= 1, got 0
    >>> est.n_epochs_  # the previous fit's attributes are intact
    5
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import numpy as np

from accel import _sklearn
from accel import train as engine
from accel._checks import check_bool, check_real, namespace
from accel._sklearn import keeps_state_on_error
from accel.linear import _data, _model

__all__ = ["LinearEstimator", "NotFittedError", "keeps_state_on_error"]


class NotFittedError(ValueError, AttributeError):
    """Raised by ``predict``/``score``/... before ``fit``: a ``ValueError`` and
    ``AttributeError`` (scikit-learn's convention), raised as a subclass of scikit-learn's
    ``NotFittedError`` too where scikit-learn is installed."""


class _NotAvailable(AttributeError, ValueError):
    """A classifier-only method asked of a regressor: ``hasattr`` is False (scikit-learn's
    duck typing), and calling it reads as the ``ValueError`` it is."""


class _logistic_only:
    """Descriptor: the method exists only when ``loss='logistic'`` (scikit-learn's
    ``available_if``, without importing scikit-learn)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.fn  # on the class: the function (its signature shows in help and docs)
        if getattr(obj, "loss", None) != "logistic":
            raise _NotAvailable(
                f"{self.fn.__name__} is only defined for loss='logistic' "
                f"(this {type(obj).__name__} has loss={getattr(obj, 'loss', None)!r})"
            )
        return self.fn.__get__(obj, owner)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b


_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


class LinearEstimator:
    """Base of every estimator of the project (module doc)."""

    loss: str

    # ----- parameters -------------------------------------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        names = _PARAM_NAMES.get(cls)
        if names is None:  # inspect.signature is slow next to a fit: once per class
            sig = inspect.signature(cls.__init__)
            names = _PARAM_NAMES[cls] = tuple(sorted(
                p.name
                for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ))  # fmt: skip
        return list(names)

    def _extra_params(self) -> dict[str, Any]:
        """Parameters passed through ``**kwargs`` (the optimizer's hyperparameters)."""
        return dict(self.__dict__.get("_optimizer_hyperparameters", {}))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, hyperparameters included (``deep`` is accepted and
        unused: no parameter is an estimator)."""
        params = {name: getattr(self, name) for name in self._get_param_names()}
        params.update(self._extra_params())
        return params

    def _check_params(self, params: dict[str, Any]) -> Any:
        """Validate a complete parameter set; raise ``TypeError``/``ValueError`` naming the
        parameter. Returns whatever the subclass needs (e.g. the filled hyperparameters)."""
        return None

    def _params_after(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The parameter set ``set_params(**changes)`` would give (before validation)."""
        names = set(self._get_param_names())
        kinds = {p.kind for p in inspect.signature(type(self).__init__).parameters.values()}
        # hyperparameters go through **kwargs only where __init__ takes them that way
        hyper_names = set(engine.ALL_HYPERPARAMETERS) if inspect.Parameter.VAR_KEYWORD in kinds else set()
        current = self.get_params()
        for key in changes:  # any name get_params reports can be set (scikit-learn's rule)
            if key not in names and key not in hyper_names and key not in current:
                raise ValueError(
                    f"invalid parameter {key!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {sorted(names | set(self._extra_params()))}"
                )
        new = {**current, **changes}
        if "optimizer_type" in changes and isinstance(changes["optimizer_type"], str):
            own = set(engine.HYPERPARAMETERS.get(changes["optimizer_type"], {}))
            for key in set(self._extra_params()) - own - set(changes):
                del new[key]  # a hyperparameter of the old optimizer only
        for key in set(changes) - names:
            if changes[key] is None:
                del new[key]  # None unsets a hyperparameter: its default applies
        return new

    def set_params(self, **params: Any) -> LinearEstimator:
        """Set constructor arguments and hyperparameters; returns ``self``.

        Only stores (scikit-learn's contract): ``fit`` validates the values. A name that is
        no parameter raises ``ValueError``; a hyperparameter set to ``None`` is unset.
        """
        new = self._params_after(params)
        names = set(self._get_param_names())
        for key, value in new.items():
            if key in names:
                setattr(self, key, value)
        self._optimizer_hyperparameters = {k: v for k, v in new.items() if k not in names}
        return self

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        order = [p for p in sig.parameters if p != "self" and p in self.get_params()]
        for key in order + sorted(self._extra_params()):
            value = self.get_params()[key]
            p = sig.parameters.get(key)
            if p is not None and p.default is not p.empty and _same(p.default, value):
                continue
            shown.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        """Notebook display: the text repr, and scikit-learn's HTML diagram when scikit-learn
        is already imported (its ``display='diagram'`` setting); never imports it."""
        bundle = {"text/plain": repr(self)}
        if sys.modules.get("sklearn") is not None:  # imported (not blocked)
            import sklearn
            from sklearn.utils import estimator_html_repr

            if sklearn.get_config()["display"] == "diagram":
                bundle["text/html"] = estimator_html_repr(self)
        return bundle

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a regressor (``loss='mse'``, one output or several) or a
        classifier (two classes or more)."""
        return _sklearn.tags(classifier=getattr(self, "loss", "mse") == "logistic")

    # ----- fitting ------------------------------------------------------------------------

    def _fit_inputs(self, X: Any, y: Any, finite_X: bool = True,
                    sample_weight: Any = None) -> tuple[Any, Any, np.ndarray | None]:  # fmt: skip
        """Validate ``(X, y, sample_weight)`` for ``fit``: returns ``X``, ``y`` as numbers
        (for ``loss='logistic'``: 0/1 for ``classes_[0]``/``classes_[1]``, one-hot ``(n, K)``
        for ``K > 2`` classes) and the normalized sample weights (``_model``: mean 1,
        float64) or ``None``; sets ``n_features_in_`` and, for classifiers, ``classes_``. A
        column ``y`` of shape ``(n, 1)`` is accepted with a ``DataConversionWarning``
        (scikit-learn's rule). ``finite_X=False``: the caller tests ``X`` for NaN and
        infinity itself. Nothing is set when a check fails."""
        X, y = _data.check_X_y(
            X, y, self.loss, who=type(self).__name__, warn_column=True, finite_X=finite_X
        )
        sw = None
        if sample_weight is not None:
            sw = _model.normalized_sample_weight(_data.check_sample_weight(sample_weight, int(X.shape[0])))
        if self.loss == "logistic":
            y, self.classes_ = _data.encode_labels(y)
        elif hasattr(self, "classes_"):
            del self.classes_
        self.n_features_in_ = int(X.shape[1])
        return X, y, sw

    @staticmethod
    def _param_shapes(y: Any, d: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The shapes of ``w`` and ``b`` for the encoded targets ``y`` (``_fit_inputs``)."""
        return ((d,), ()) if np.ndim(y) == 1 else ((int(y.shape[1]), d), (int(y.shape[1]),))

    def _check_model_params(self, params: dict[str, Any]) -> None:
        """The linear model's own settings: ``loss``, ``fit_intercept`` and ``alpha``."""
        _data.check_loss(params["loss"])
        check_bool(params["fit_intercept"], "fit_intercept")
        check_real(params.get("alpha", 0.0), "alpha", minimum=0.0)

    def _source_fit_inputs(self, source: Any) -> tuple[int, int]:
        """``fit`` on a data source (``accel.data``): the source's ``(n, d)`` for the linear
        model (columns ``'X'``, ``'y'``; for the logistic loss its labels are checked to be
        0/1 and ``classes_`` is ``[0, 1]``); sets ``n_features_in_``."""
        n, d = _data.check_linear_source(source, self.loss)
        self._source_inputs(d)
        return n, d

    def _validation_data(self, validation_data: Any, n_features: int,
                         n_outputs: int = 0) -> tuple[Any, int] | None:  # fmt: skip
        """``fit``'s ``validation_data`` checked against the fitted inputs (``None`` stays;
        ``n_outputs``: the columns of a 2-D ``y`` of mse, else 0)."""
        if validation_data is None:
            return None
        return _data.check_validation_data(validation_data, n_features, self.loss,
                                           getattr(self, "classes_", None), n_outputs)  # fmt: skip

    def _source_inputs(self, n_features: int) -> None:
        if self.loss == "logistic":
            self.classes_ = np.array([0.0, 1.0])
        elif hasattr(self, "classes_"):
            del self.classes_
        self.n_features_in_ = int(n_features)

    def _check_validation_use(self, validation: Any) -> None:
        """``patience``/``restore_best`` act on validation data: refuse them without."""
        if validation is None and (self.patience is not None or self.restore_best):
            raise ValueError(
                "patience and restore_best need validation data: fit(..., validation_data="
                "(X_val, y_val)) or train(..., eval_data=...)"
            )

    def _store_validation(self, early: Any, epochs_done: int, params: Any) -> Any:
        """With validation data (``early``: ``engine.EarlyStopping``, else ``None``):
        set ``best_params_``, ``best_epoch_``, ``best_val_loss_`` and ``stopped_early_``;
        return the parameters to keep (the best ones under ``restore_best``)."""
        self.stopped_early_ = early is not None and early.should_stop(epochs_done)
        if early is None:
            for name in ("best_params_", "best_epoch_", "best_val_loss_"):
                self.__dict__.pop(name, None)
            return params
        self.best_params_ = early.best_params
        self.best_epoch_ = early.best_epoch
        self.best_val_loss_ = early.best_loss
        return early.best_params if self.restore_best else params

    def _store_result(
        self,
        coef: np.ndarray,
        intercept: Any,
        history: dict[str, Any],
        *,
        converged: bool,
        diverged: bool,
        tol: float | None,
        report: bool = True,
    ) -> None:
        """Set the fitted attributes (``coef_``, ``intercept_`` as a scalar of ``coef_``'s
        dtype, or an array for several outputs, ``history_`` as NumPy arrays, ``n_epochs_``,
        ``converged_``, ``diverged_``)
        and apply the end-of-fit rules (:meth:`_settle_stopping`; ``report=False``: the
        caller raises instead, no rule and no warning)."""
        self.coef_ = np.asarray(coef)
        self.intercept_ = (self.coef_.dtype.type(intercept) if self.coef_.ndim == 1
                           else np.asarray(intercept, self.coef_.dtype))  # fmt: skip
        self.history_ = {
            k: (np.asarray(v) if not np.isscalar(v) else v) for k, v in history.items()
        }
        self.n_epochs_ = len(self.history_["loss"]) - 1
        self.converged_ = bool(converged)
        self.diverged_ = bool(diverged)
        if report:
            self._settle_stopping(tol)

    def _settle_stopping(self, tol: float | None) -> None:
        """The end of every fit (``history_``, ``n_epochs_``, ``converged_`` and
        ``diverged_`` set by the loop): the end-of-fit rule of ``_stopping`` on the loss of
        the returned parameters (the last epoch, or the best one under ``restore_best``),
        then the warnings: a divergence (``diverged_``, ``converged_`` False) naming the
        best epoch where the fit ended much worse than it, else ``tol`` not reached."""
        name = type(self).__name__
        kept = None
        if getattr(self, "restore_best", False) and "best_epoch_" in self.__dict__:
            kept = self.best_epoch_
        regression = engine.regressed(self.history_["loss"], kept)
        stopped = self.diverged_
        if regression is not None:
            self.diverged_, self.converged_ = True, False
        if self.diverged_:
            engine.warn_diverged(
                name, self.n_epochs_, regression=regression, stopped=stopped,
                remedy=self._divergence_remedy(regression),
            )  # fmt: skip
        elif tol is not None and not self.converged_:
            engine.warn_not_converged(name, tol, self.n_epochs_)

    def _divergence_remedy(self, regression: engine.Regression | None) -> str:
        """What to change besides the learning rate, after the divergence ``regression``."""
        if regression is None or regression.best_epoch == 0:
            return ""  # nothing to keep: the untrained parameters were the best
        text = f"epochs={regression.best_epoch} (the same run then ends at its best epoch)"
        if "restore_best" in self._get_param_names():
            text += ", or validation data with patience and restore_best=True"
        return text

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise _sklearn.compatible(NotFittedError)(
                f"this {type(self).__name__} instance is not fitted yet; call fit(X, y) first"
            )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coef_")

    def _decision(self, X: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----- prediction ---------------------------------------------------------------------

    def _decision_values(self, X: Any) -> Any:
        """``z = X @ coef_ + intercept_`` after the checks every prediction makes."""
        self._check_fitted()
        return self._decision(_data.check_X(X, self.n_features_in_, who=type(self).__name__))

    @_logistic_only
    def decision_function(self, X: Any) -> Any:
        """``z = X @ coef_ᵀ + intercept_`` (``loss='logistic'``): for two classes the logit of
        ``classes_[1]``, shape ``(n,)``; for ``K > 2`` the ``K`` class scores, ``(n, K)``."""
        return self._decision_values(X)

    def predict(self, X: Any) -> Any:
        """Values ``z = X @ coef_ᵀ + intercept_`` for ``loss='mse'`` (``(n,)``, or ``(n, k)``
        for ``k`` outputs, float64 for NumPy input as scikit-learn requires of multi-output
        regressors); for ``loss='logistic'`` the class: for two classes
        ``classes_[1]`` where ``z > 0``, else ``classes_[0]``; for more, the class of the
        largest score."""
        z = self._decision_values(X)
        if self.loss != "logistic":  # several outputs of NumPy input: float64 (scikit-learn's rule)
            return z.astype(np.float64) if z.ndim == 2 and isinstance(z, np.ndarray) else z
        labels = _model.predict_from_decision(z, self.loss)
        if z.ndim == 1 and np.array_equal(self.classes_, [0, 1]) and self.classes_.dtype.kind in "iuf":
            return labels  # 0/1 in the array type of X (JAX stays JAX)
        return self.classes_[np.asarray(labels).astype(np.intp)]

    @_logistic_only
    def predict_proba(self, X: Any) -> Any:
        """The probability of each class of ``classes_`` per row, shape ``(n, K)``: for two
        classes ``[1 - σ(z), σ(z)]``, for more ``softmax(z)``; ``loss='logistic'`` only."""
        z = self._decision_values(X)
        xp = namespace(z)
        if z.ndim == 2:
            return xp.exp(_model.log_softmax(z, xp))
        p = _model.sigmoid(z, xp)
        return xp.stack([1.0 - p, p], axis=1)

    @_logistic_only
    def predict_log_proba(self, X: Any) -> Any:
        """``log(predict_proba(X))``, computed stably from the scores."""
        z = self._decision_values(X)
        xp = namespace(z)
        if z.ndim == 2:
            return _model.log_softmax(z, xp)
        zero = xp.zeros_like(z)
        return xp.stack([-xp.logaddexp(zero, z), -xp.logaddexp(zero, -z)], axis=1)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² for ``loss='mse'`` (the mean over outputs for several), accuracy for
        ``loss='logistic'`` (``sample_weight``: per-row weights, as scikit-learn's ``score``)."""
        self._check_fitted()
        X, y = _data.check_X_y(X, y, self.loss)
        y_pred = np.asarray(self.predict(X))
        y = np.asarray(y)
        w = None if sample_weight is None else _data.check_sample_weight(sample_weight, len(y))
        if self.loss == "logistic":
            hit = (y_pred == y).astype(np.float64)
            return float(np.average(hit, weights=w))
        return _model.score_from_predictions(
            np.asarray(y, dtype=y_pred.dtype), y_pred, self.loss, xp=np, sample_weight=w
        )
