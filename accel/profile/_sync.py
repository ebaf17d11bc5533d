"""Waiting for an estimator's results: the synchronisation every timer in ``accel`` uses.

JAX dispatches work asynchronously, so a clock stopped right after ``fit`` returns measures
the dispatch, not the work. ``block_fitted`` waits for every fitted attribute; ``fitted_epochs`` reads how many epochs ran.

Example:
    >>> import jax.numpy as jnp
    >>> class Est:
    ...     def fit(self):
    ...         self.coef_, self.history_ = jnp.ones(3) * 2, {"loss": [1.0, 0.5, 0.25]}
    ...         return self
    >>> est = Est().fit()
    >>> block_fitted(est)  # returns once coef_ is computed
    >>> fitted_epochs(est)  # initial loss, then one per epoch
    2
"""

from __future__ import annotations

from typing import Any

import jax

__all__ = ["block_fitted", "fitted_epochs"]


def block_fitted(est: Any) -> None:
    """Wait for every fitted attribute (sklearn convention: trailing ``_``) to be computed."""
    for key, value in getattr(est, "__dict__", {}).items():
        if key.endswith("_") and not key.startswith("_"):
            jax.block_until_ready(value)


def fitted_epochs(est: Any) -> int:
    """Epochs the last ``fit`` ran: ``n_epochs_``, else ``len(history_['loss']) - 1``."""
    if hasattr(est, "n_epochs_"):
        return int(est.n_epochs_)
    history = getattr(est, "history_", None)
    if isinstance(history, dict) and "loss" in history:
        return len(history["loss"]) - 1  # initial loss, then one per epoch
    raise TypeError(f"{type(est).__name__} sets neither n_epochs_ nor history_['loss'] after fit")
