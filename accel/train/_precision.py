"""Mixed precision: compute dtype, loss scaling and finiteness checks.

Parameters and optimizer state stay float32 ("master weights"); the loss and its backward
pass run in the compute dtype; gradients arrive in float32 because the cast
``params -> compute dtype`` sits inside the differentiated function.

Dynamic loss scaling (float16): the objective is ``scale * loss``, gradients are divided by
``scale`` before the optimizer sees them.

.. code-block:: text

    finite step:      good += 1;  if good == period: scale *= factor, good = 0
    non-finite grads: scale = max(scale / factor, 1);  good = 0;  the update is skipped

Example:
    >>> import jax.numpy as jnp
    >>> from accel.train._precision import init_loss_scale, update_loss_scale
    >>> s = init_loss_scale("dynamic")
    >>> float(s.scale)
    32768.0
    >>> float(update_loss_scale(s, jnp.bool_(False), "dynamic").scale)
    16384.0
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "COMPUTE_DTYPES",
    "DYNAMIC_FACTOR",
    "DYNAMIC_INIT",
    "DYNAMIC_PERIOD",
    "LossScale",
    "all_finite",
    "cast_floating",
    "check_compute_dtype",
    "check_loss_scale",
    "init_loss_scale",
    "update_loss_scale",
]

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
DYNAMIC_INIT = 2.0**15
DYNAMIC_PERIOD = 2000
DYNAMIC_FACTOR = 2.0


class LossScale(NamedTuple):
    """Loss-scaling state (part of the checkpointed train state)."""

    scale: jax.Array  # float32 scalar
    good_steps: jax.Array  # int32 scalar: finite steps since the last change


def check_compute_dtype(compute_dtype: object) -> str:
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(
            f"compute_dtype must be one of {tuple(COMPUTE_DTYPES)}, got {compute_dtype!r}"
        )
    return str(compute_dtype)


def check_loss_scale(loss_scale: object, compute_dtype: str) -> str | float:
    """``None`` -> ``'dynamic'`` for float16, ``1.0`` (no scaling) otherwise."""
    if loss_scale is None:
        return "dynamic" if compute_dtype == "float16" else 1.0
    if loss_scale == "dynamic":
        return "dynamic"
    if (
        isinstance(loss_scale, numbers.Real)
        and not isinstance(loss_scale, bool)
        and float(loss_scale) > 0
        and jnp.isfinite(float(loss_scale))
    ):
        return float(loss_scale)
    raise ValueError(
        f"loss_scale must be None, 'dynamic' or a finite positive number, got {loss_scale!r}"
    )


def init_loss_scale(mode: str | float) -> LossScale:
    scale = DYNAMIC_INIT if mode == "dynamic" else float(mode)
    return LossScale(jnp.float32(scale), jnp.int32(0))


def update_loss_scale(state: LossScale, finite: jax.Array, mode: str | float) -> LossScale:
    """Next loss-scale state after a step whose gradients were ``finite`` (traceable)."""
    if mode != "dynamic":
        return state
    good = jnp.where(finite, state.good_steps + 1, 0)
    grow = good >= DYNAMIC_PERIOD
    scale = jnp.where(
        finite,
        jnp.where(grow, state.scale * DYNAMIC_FACTOR, state.scale),
        jnp.maximum(state.scale / DYNAMIC_FACTOR, 1.0),
    )
    return LossScale(scale.astype(jnp.float32), jnp.where(grow, 0, good).astype(jnp.int32))


def cast_floating(tree: Any, dtype: Any) -> Any:
    """Cast the floating-point leaves of ``tree`` to ``dtype``; other leaves unchanged."""

    def cast(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(cast, tree)


def all_finite(tree: Any) -> jax.Array:
    """``True`` when every element of every leaf is finite (traceable scalar bool).

    Computed as ``isfinite(sum(x * 0))``: ``x * 0`` is 0 for a finite ``x`` and NaN for an
    infinite or NaN one, so the sum is exact, and XLA fuses it into one reduction per leaf
    (``all(isfinite(x))`` materialised a boolean array first: a third slower per step)."""
    leaves = [jnp.sum(x * jnp.zeros((), x.dtype)) for x in jax.tree.leaves(tree)]
    return jnp.isfinite(sum(leaves)) if leaves else jnp.bool_(True)
