"""The seven NumPy reference optimizers: one update rule each, optax's arithmetic exactly.

Notation: ``g_t`` the gradient at step ``t = 1, 2, ...``, ``η_t`` the learning rate,
``θ = [w, b]`` the parameters, all operations elementwise. Defaults come from the one table
``accel.linear.HYPERPARAMETERS``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accel.linear import HYPERPARAMETERS as _H

from ._base import BaseOptimizer

__all__ = ["SGD", "AdaGrad", "Adam", "AdamW", "MomentumSGD", "NesterovMomentum", "RMSProp"]

_State = dict[str, Any]


class SGD(BaseOptimizer):
    """Plain gradient descent (``optax.sgd(learning_rate)``).

    ``θ ← θ - η_t g_t``
    """

    _name = "sgd"

    def _direction(self, g: np.ndarray, state: _State, theta: np.ndarray) -> tuple[np.ndarray, _State]:
        return g, state


class MomentumSGD(BaseOptimizer):
    """Heavy-ball momentum (``optax.sgd(learning_rate, momentum)``).

    ``m_t = g_t + μ m_{t-1}`` (``m_0 = 0``),  ``θ ← θ - η_t m_t``;  ``μ = momentum = 0.9``.
    """

    _name = "momentum"

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
        *,
        momentum: float = _H["momentum"]["momentum"],
    ) -> None:
        super().__init__(
            learning_rate, epochs, batch_size, loss, fit_intercept, tol, random_state, verbose, dtype,
            alpha,
        )
        self.momentum = momentum

    def _init_state(self, theta: np.ndarray) -> _State:
        return {"m": np.zeros_like(theta)}

    def _direction(self, g: np.ndarray, state: _State, theta: np.ndarray) -> tuple[np.ndarray, _State]:
        m = g + self._h["momentum"] * state["m"]
        return m, {"m": m}


class NesterovMomentum(MomentumSGD):
    """Nesterov momentum (``optax.sgd(learning_rate, momentum, nesterov=True)``).

    ``m_t = g_t + μ m_{t-1}`` (``m_0 = 0``),  ``θ ← θ - η_t (g_t + μ m_t)``;  ``μ = momentum = 0.9``.
    """

    _name = "nesterov"

    def _direction(self, g: np.ndarray, state: _State, theta: np.ndarray) -> tuple[np.ndarray, _State]:
        mu = self._h["momentum"]
        m = g + mu * state["m"]
        return g + mu * m, {"m": m}


class AdaGrad(BaseOptimizer):
    """AdaGrad (``optax.adagrad(learning_rate, initial_accumulator_value, eps)``).

    ``s_t = s_{t-1} + g_t²`` (``s_0 = initial_accumulator_value = 0.1``),
    ``θ ← θ - η_t g_t / sqrt(s_t + ε)`` (0 where ``s_t = 0``);  ``ε = eps = 1e-7``.
    """

    _name = "adagrad"

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
        *,
        initial_accumulator_value: float = _H["adagrad"]["initial_accumulator_value"],
        eps: float = _H["adagrad"]["eps"],
    ) -> None:
        super().__init__(
            learning_rate, epochs, batch_size, loss, fit_intercept, tol, random_state, verbose, dtype,
            alpha,
        )
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps

    def _init_state(self, theta: np.ndarray) -> _State:
        return {"s": np.full_like(theta, self._h["initial_accumulator_value"])}

    def _direction(self, g: np.ndarray, state: _State, theta: np.ndarray) -> tuple[np.ndarray, _State]:
        s = g * g + state["s"]
        safe = np.where(s > 0, s, 1)
        inv_sqrt = np.where(s > 0, 1 / np.sqrt(safe + self._h["eps"]), 0)
        return inv_sqrt * g, {"s": s}


class RMSProp(BaseOptimizer):
    """RMSProp (``optax.rmsprop(learning_rate, decay, eps)``, ``eps`` inside the square root).

    ``ν_t = (1 - ρ) g_t² + ρ ν_{t-1}`` (``ν_0 = 0``),  ``θ ← θ - η_t g_t / sqrt(ν_t + ε)``;
    ``ρ = decay = 0.9``, ``ε = eps = 1e-8``.
    """

    _name = "rmsprop"

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
        *,
        decay: float = _H["rmsprop"]["decay"],
        eps: float = _H["rmsprop"]["eps"],
    ) -> None:
        super().__init__(
            learning_rate, epochs, batch_size, loss, fit_intercept, tol, random_state, verbose, dtype,
            alpha,
        )
        self.decay = decay
        self.eps = eps

    def _init_state(self, theta: np.ndarray) -> _State:
        return {"nu": np.zeros_like(theta)}

    def _direction(self, g: np.ndarray, state: _State, theta: np.ndarray) -> tuple[np.ndarray, _State]:
        rho = self._h["decay"]
        nu = (1 - rho) * (g * g) + rho * state["nu"]
        return (1 / np.sqrt(nu + self._h["eps"])) * g, {"nu": nu}


class Adam(BaseOptimizer):
    """Adam (``optax.adam(learning_rate, b1, b2, eps)``), bias-corrected.

    ``m_t = (1 - β₁) g_t + β₁ m_{t-1}``,  ``v_t = (1 - β₂) g_t² + β₂ v_{t-1}`` (``m_0 = v_0 = 0``),
    ``m̂_t = m_t / (1 - β₁ᵗ)``,  ``v̂_t = v_t / (1 - β₂ᵗ)``,  ``θ ← θ - η_t m̂_t / (sqrt(v̂_t) + ε)``;
    ``β₁ = b1 = 0.9``, ``β₂ = b2 = 0.999``, ``ε = eps = 1e-8``.
    """

    _name = "adam"

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
        *,
        b1: float = _H["adam"]["b1"],
        b2: float = _H["adam"]["b2"],
        eps: float = _H["adam"]["eps"],
    ) -> None:
        super().__init__(
            learning_rate, epochs, batch_size, loss, fit_intercept, tol, random_state, verbose, dtype,
            alpha,
        )
        self.b1 = b1
        self.b2 = b2
        self.eps = eps

    def _init_state(self, theta: np.ndarray) -> _State:
        return {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "t": 0}

    def _direction(self, g: np.ndarray, state: _State, theta: np.ndarray) -> tuple[np.ndarray, _State]:
        b1, b2 = self._h["b1"], self._h["b2"]
        t = state["t"] + 1
        m = (1 - b1) * g + b1 * state["m"]
        v = (1 - b2) * (g * g) + b2 * state["v"]
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        return m_hat / (np.sqrt(v_hat) + self._h["eps"]), {"m": m, "v": v, "t": t}


class AdamW(Adam):
    """AdamW (``optax.adamw(learning_rate, b1, b2, eps, weight_decay)``): decoupled weight decay.

    Adam's ``m̂_t / (sqrt(v̂_t) + ε)`` as in :class:`Adam`, then
    ``θ ← θ - η_t (m̂_t / (sqrt(v̂_t) + ε) + λ θ)`` with ``λ = weight_decay = 0.01`` applied to
    ``w`` only: the intercept is not decayed.
    """

    _name = "adamw"

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
        *,
        b1: float = _H["adamw"]["b1"],
        b2: float = _H["adamw"]["b2"],
        eps: float = _H["adamw"]["eps"],
        weight_decay: float = _H["adamw"]["weight_decay"],
    ) -> None:
        super().__init__(
            learning_rate, epochs, batch_size, loss, fit_intercept, tol, random_state, verbose, dtype,
            alpha, b1=b1, b2=b2, eps=eps,
        )  # fmt: skip
        self.weight_decay = weight_decay

    def _direction(self, g: np.ndarray, state: _State, theta: np.ndarray) -> tuple[np.ndarray, _State]:
        u, state = super()._direction(g, state, theta)
        u = u.copy()
        k = self._intercepts  # the last k entries are the intercepts
        u[:-k] += self._h["weight_decay"] * theta[:-k]
        return u, state
