"""The shared training loop of the NumPy reference optimizers.

The contract (shared DESIGN.md) in the order this loop follows it:

* parameters start at zero: ``θ = [w, b]`` with ``w`` of shape ``(d,)`` (or ``(k, d)`` and
  ``b`` of shape ``(k,)`` for ``k`` outputs or ``K > 2`` classes, flattened into ``θ``);
* the objective is ``accel.linear``'s: the (sample-weighted) mean loss plus the L2 penalty
  ``alpha/2 ||w||²``;
* ``history_['loss'][0]`` and ``history_['grad_norm'][0]`` are the full-data loss and
  gradient norm at the zero start, then one entry after every completed epoch;
* an epoch is one step on the full data (``batch_size=None`` or ``>= n``) or one pass over the rows in
  the order of the JAX estimators, ``epoch_permutation(random_state, epoch, n)`` (epochs count
  from 0; computed in blocks of epochs by the same derivation, ``EpochOrders``; both in
  ``accel.internals``),
  in batches of ``batch_size`` with the last partial batch kept;
* a full-batch step uses the gradient of the previous evaluation, so one epoch costs two
  matrix-vector products; a mini-batch epoch costs two per batch plus two for the
  full-data evaluation;
* the divergence rule of the JAX estimators (``diverged``: a non-finite loss, or one above ``1e8``
  times the initial loss) after an epoch stops training: that epoch is discarded (the
  parameters are those of the last good loss), ``diverged_=True`` and a ``DivergenceWarning``;
  at the end, a fit whose last loss is much worse than its best epoch's (their
  end-of-fit rule) also gets ``diverged_=True`` and a ``WorseThanBestWarning``;
* with ``tol``: after an epoch with ``L_prev - L <= tol * |L_prev|`` (relative decrease
  below ``tol``) training stops with ``converged_=True`` (a ``ConvergenceWarning`` when the
  epochs run out first).

Subclasses only provide the update rule (``_init_state`` and ``_direction``), with optax's
arithmetic: ``θ ← θ - η_t · u_t`` where ``u_t`` is the optimizer's direction and ``η_t``
the learning rate (or ``learning_rate(t - 1)`` for a schedule, ``t`` counting steps from 1).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from accel import internals
from accel.linear import HYPERPARAMETERS, LinearEstimator

__all__ = ["BaseOptimizer"]

_DTYPES = ("float32", "float64")


def check_numpy_dtype(dtype: object) -> np.dtype:
    if dtype is None:  # np.dtype(None) is float64: refused like any other non-name
        raise TypeError(f"dtype must be one of {_DTYPES}, got None")
    dt = internals.parse_dtype(dtype)
    if dt is None:
        raise TypeError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    if dt.name not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    return dt


class BaseOptimizer(LinearEstimator):
    """Linear model (``z = X @ w + b``) trained by a first-order optimizer, in NumPy.

    Args:
        learning_rate: step size ``η > 0``, or a schedule ``t -> η_t`` (e.g. an optax schedule;
            called as optax does, with the 0-based step count as a JAX int32 scalar).
        epochs: maximum number of epochs (passes over the data), ``>= 1``.
        batch_size: rows per step; ``None`` means full batch.
        loss: ``'mse'`` (``1/(2n) Σ (z - y)²``; ``y`` of shape ``(n, k)`` fits ``k`` outputs)
            or ``'logistic'`` (any labels: binary for two classes, multinomial for more).
        fit_intercept: learn ``b``; with ``False`` it stays 0.
        tol: stop when the relative loss decrease of an epoch is ``<= tol`` (``None``: never).
        random_state: seed of the mini-batch order (an integer in ``[0, 2**64)``).
        verbose: print the loss about ten times during training.
        dtype: ``'float64'`` (default) or ``'float32'``; data and parameters use it. NumPy's
            other spellings of these dtypes (``'f4'``, ``'f'``, ``np.float32``) name them too.
        alpha: the L2 penalty ``>= 0`` (``mean loss + alpha/2 ||coef||²``, intercept not
            penalized), as in ``accel.JAXOptimizer``.

    Attributes (after ``fit``):
        ``coef_`` (d,) or (k, d), ``intercept_`` (a scalar or (k,)), ``history_`` (``'loss'``, ``'grad_norm'``;
        ``n_epochs_ + 1`` entries each), ``n_epochs_``, ``converged_``, ``diverged_``,
        ``n_features_in_``, ``classes_`` (logistic).
    """

    _name: ClassVar[str]  # key in accel.linear.HYPERPARAMETERS
    _intercepts: int = 1  # the last entries of θ that are intercepts (set by fit)

    def __init__(
        self,
        learning_rate: Any = 0.01,
        epochs: int = 1000,
        batch_size: int | None = None,
        loss: str = "mse",
        fit_intercept: bool = True,
        tol: float | None = None,
        random_state: int = 0,
        verbose: bool = False,
        dtype: str = "float64",
        alpha: float = 0.0,
    ) -> None:
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype
        self.alpha = alpha

    # ----- the update rule (subclasses) ----------------------------------------------------

    def _init_state(self, theta: np.ndarray) -> dict[str, Any]:
        return {}

    def _direction(
        self, g: np.ndarray, state: dict[str, Any], theta: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """``(u_t, new_state)``: the step is ``θ ← θ - η_t u_t``."""
        raise NotImplementedError

    # ----- validation ---------------------------------------------------------------------

    def _hyperparameters(self, params: dict[str, Any] | None = None) -> dict[str, float]:
        params = self.get_params() if params is None else params
        names = HYPERPARAMETERS[self._name]  # a hyperparameter set to None takes its default
        given = {k: params[k] for k in names if params[k] is not None}
        return internals.check_hyperparameters(self._name, **given)

    def _check_params(self, params: dict[str, Any]) -> dict[str, float]:
        internals.check_learning_rate(params["learning_rate"])
        internals.check_int(params["epochs"], "epochs", minimum=1)
        internals.check_int(params["batch_size"], "batch_size", minimum=1, allow_none=True)
        internals.check_loss(params["loss"])
        internals.check_bool(params["fit_intercept"], "fit_intercept")
        internals.check_real(params["alpha"], "alpha", minimum=0.0)
        internals.check_real(params["tol"], "tol", minimum=0.0, allow_none=True)
        internals.check_seed(params["random_state"], "random_state")
        internals.check_bool(params["verbose"], "verbose")
        check_numpy_dtype(params["dtype"])
        return self._hyperparameters(params)

    # ----- training -----------------------------------------------------------------------

    def _lr(self, step: int) -> float:
        if callable(self.learning_rate):
            # exactly as optax calls it: with an int32 step count (so an optax schedule
            # computes what it computes inside optax), x64 scoped to this call for float64
            with jax.enable_x64(np.dtype(self.dtype) == np.float64):
                return float(self.learning_rate(jnp.int32(step)))
        return float(self.learning_rate)

    @internals.keeps_state_on_error
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> BaseOptimizer:
        """Train from zero parameters; returns ``self``. ``sample_weight``: per-row weights
        (the weighted mean loss, as ``accel.JAXOptimizer.fit``)."""
        hyper = self._check_params(self.get_params())
        dtype = check_numpy_dtype(self.dtype)
        X, y, sw = self._fit_inputs(X, y, sample_weight=sample_weight)
        X = np.asarray(X, dtype=dtype)
        y = np.asarray(y, dtype=dtype)
        sw = None if sw is None else sw.astype(dtype)
        n, d = X.shape
        # hyperparameters as the dtype's scalars (float32 stays float32), read by _direction
        self._h = {k: dtype.type(v) for k, v in hyper.items()}
        loss, fit_intercept, alpha = self.loss, self.fit_intercept, float(self.alpha)
        w_shape, b_shape = self._param_shapes(y, d)
        self._intercepts = int(np.prod(b_shape))  # the last entries of θ (read by _direction)
        m = int(np.prod(w_shape))

        def split(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return theta[:m].reshape(w_shape), theta[m:].reshape(b_shape)

        def gradient(rows: Any, theta: np.ndarray) -> tuple[Any, np.ndarray]:
            Xr, yr = (X, y) if rows is None else (X[rows], y[rows])
            swr = sw if sw is None or rows is None else sw[rows]
            value, gw, gb = internals.loss_and_grad(
                Xr, yr, *split(theta), loss=loss, fit_intercept=fit_intercept, alpha=alpha,
                sample_weight=swr, xp=np,
            )  # fmt: skip
            return value, np.concatenate([gw.reshape(-1), np.reshape(gb, -1)])

        def evaluate(theta: np.ndarray) -> tuple[Any, np.ndarray]:
            return gradient(None, theta)

        def norm(g: np.ndarray) -> Any:
            return internals.grad_norm(*split(g), np)

        theta = np.zeros(m + int(np.prod(b_shape)), dtype=dtype)
        state = self._init_state(theta)
        value, g = evaluate(theta)
        losses, norms = [value], [norm(g)]
        initial = value
        converged, diverged = False, bool(internals.diverged(value, initial, np))
        full_batch = self.batch_size is None or self.batch_size >= n
        orders = None if full_batch else internals.EpochOrders(self.random_state, n)
        step = 0
        report_every = max(1, self.epochs // 10)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for epoch in range(self.epochs if not diverged else 0):
                new = theta
                if orders is None:
                    u, state = self._direction(g, state, new)
                    new = new - dtype.type(self._lr(step)) * u
                    step += 1
                else:
                    order = orders.get(epoch)
                    for start in range(0, n, self.batch_size):
                        _, g_batch = gradient(order[start : start + self.batch_size], new)
                        u, state = self._direction(g_batch, state, new)
                        new = new - dtype.type(self._lr(step)) * u
                        step += 1
                new_value, new_g = evaluate(new)
                if internals.diverged(new_value, initial, np):
                    diverged = True
                    break
                previous, theta, g, value = value, new, new_g, new_value
                losses.append(value)
                norms.append(norm(g))
                if self.verbose and ((epoch + 1) % report_every == 0 or epoch + 1 == self.epochs):
                    print(f"{type(self).__name__} epoch {epoch + 1}/{self.epochs}: loss={value:.6g}")
                if self.tol is not None and internals.converged(previous, value, self.tol, np):
                    converged = True
                    break
        history = {"loss": np.array(losses, dtype=dtype), "grad_norm": np.array(norms, dtype=dtype)}
        self.compile_time_ = 0.0  # NumPy compiles nothing (profilers read this)
        self._store_result(*split(theta), history, converged=converged, diverged=diverged, tol=self.tol)
        return self

    def step(self, X_batch: Any, y_batch: Any) -> float:
        """One update of the running parameters on a batch, for hand-written loops.

        The first call starts from zero parameters. Each call evaluates the batch loss and
        gradient at the current parameters (the same ``loss_and_grad`` as ``fit``), applies
        the same update rule (``_direction``) and learning rate (a schedule is called with the
        number of earlier ``step`` calls), stores ``coef_``, ``intercept_`` and
        ``n_features_in_``, and returns the batch loss *before* the update. ``fit`` neither
        uses nor resets this running state.

        Example:
            >>> import numpy as np
            >>> from optimizers import SGD
            >>> X, y = np.eye(2), np.array([1.0, 2.0])
            >>> opt = SGD(learning_rate=0.5)
            >>> losses = [opt.step(X, y) for _ in range(3)]
            >>> losses[0] == (1 + 4) / (2 * 2) and losses[2] < losses[0]
            True
        """
        hyper = self._check_params(self.get_params())
        dtype = check_numpy_dtype(self.dtype)
        X, y = internals.check_X_y(X_batch, y_batch, self.loss)
        if np.ndim(y) != 1:
            raise ValueError(f"y_batch must have shape (n_samples,): step() trains one output, got shape {np.shape(y)}")
        if self.loss == "logistic" and not np.all(np.isin(np.asarray(y), (0, 1))):
            raise ValueError(
                "y_batch must hold labels 0 and 1 for loss='logistic' in step() (one batch "
                "cannot tell which two classes a data set has; fit() accepts any two labels)"
            )
        X, y = np.asarray(X, dtype=dtype), np.asarray(y, dtype=dtype)
        d = X.shape[1]
        self._h = {k: dtype.type(v) for k, v in hyper.items()}
        self._intercepts = 1
        run = getattr(self, "_step_run", None)
        if run is None:
            theta = np.zeros(d + 1, dtype=dtype)
            run = self._step_run = {"theta": theta, "state": self._init_state(theta), "t": 0}
        elif run["theta"].shape[0] != d + 1 or run["theta"].dtype != dtype:
            raise ValueError(
                f"X_batch has {d} features of dtype {dtype}; the running parameters have "
                f"{run['theta'].shape[0] - 1} of dtype {run['theta'].dtype}"
            )
        theta = run["theta"]
        value, gw, gb = internals.loss_and_grad(
            X, y, theta[:d], theta[d], loss=self.loss, fit_intercept=self.fit_intercept,
            alpha=float(self.alpha), xp=np,
        )  # fmt: skip
        u, run["state"] = self._direction(np.append(gw, gb), run["state"], theta)
        run["theta"] = theta - dtype.type(self._lr(run["t"])) * u
        run["t"] += 1
        self.coef_, self.intercept_, self.n_features_in_ = run["theta"][:d], run["theta"][d], d
        return float(value)

    def _decision(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=self.coef_.dtype)
        return internals.decision_function(X, self.coef_, self.intercept_, np)


