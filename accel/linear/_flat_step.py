"""``JAXOptimizer``'s step and evaluation on one device, as :class:`~accel.train._loop.Parts`.

The loop is the one training program (``_program.build_loop``); the math is the shared
linear objective (``_objective.LinearObjective.sums``, i.e. ``_model.loss_and_grad_sums``).
What differs from the data-parallel parts of ``_step`` is only how the parameters are held:

* the named optimizers of the table (element-wise update rules) see ONE vector
  ``theta = [w..., b]`` instead of the pytree ``{'w', 'b'}``: the same numbers, but every
  element-wise kernel of the update runs once, not once per leaf (on XLA:CPU a kernel on
  the scalar leaf ``b`` costs about as much as one on the whole vector;
  ``benchmarks/bench_linear_profile.py`` times both layouts);
* a user's optax transformation sees the pytree ``{'w', 'b'}`` it was written for.

Full batch: the step uses the gradient the evaluation at the epoch boundary computed at the
same parameters (one forward and one backward product of ``X`` per epoch). Mini-batch: the
rows of step ``s`` of the epoch's order (``_plan.step_rows``), a padded last batch masked.

``lbfgs`` (optax's L-BFGS with its zoom line search; full batch): the update needs the
objective itself, ``value_fn(theta)`` = the full-data mean loss (``_model.loss_value``,
differentiated by JAX inside the line search). The line search ends at the new parameters
with their loss and gradient in the optimizer state (``optax.value_and_grad_from_state``'s
contract); the epoch boundary reuses them instead of evaluating again, so an L-BFGS epoch
costs the line search's evaluations and nothing more.

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> from accel.linear._flat_step import ParamLayout, single_device_parts
    >>> from accel.train._loop import TrainState
    >>> layout = ParamLayout(d=1, flat=True)
    >>> parts = single_device_parts(layout, "mse", True, jnp.float32, n=4, batch_size=None,
    ...                             make_tx=None)
    >>> data = {"X": jnp.array([[1.0], [2.0], [3.0], [4.0]]), "y": jnp.array([1.0, 2.0, 3.0, 4.0])}
    >>> loss, grad, norm = parts.evaluate(data, TrainState.fresh(jnp.zeros(2), ()))
    >>> float(loss), np.asarray(grad).tolist()     # gradient as [w, b]
    (3.75, [-7.5, -2.5])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from accel import _plan
from accel.linear import _model
from accel.linear._objective import LinearObjective
from accel.train import Parts, StepIndex, TrainState, apply_gradients, gather

__all__ = ["ParamLayout", "single_device_parts"]


class ParamLayout(NamedTuple):
    """How the optimizer holds the parameters of ``z = X @ wᵀ + b`` (``d`` features;
    ``k = 0``: one output, ``w (d,)``, ``b ()``; else ``k`` outputs, ``w (k, d)``, ``b (k,)``)."""

    d: int
    flat: bool  # one vector [w..., b...]; else the pytree {'w', 'b'}
    k: int = 0

    @property
    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The shapes of ``w`` and ``b``."""
        return ((self.d,), ()) if self.k == 0 else ((self.k, self.d), (self.k,))

    def tree(self, params: Any) -> dict[str, Any]:
        """``{'w', 'b'}`` (views of the vector in the flat layout)."""
        if not self.flat:
            return params
        if self.k == 0:
            return {"w": params[: self.d], "b": params[self.d]}
        m = self.k * self.d
        return {"w": params[:m].reshape(self.k, self.d), "b": params[m:]}

    def pack(self, tree: dict[str, Any]) -> Any:
        """The optimizer's form of a ``{'w', 'b'}`` pytree (parameters or gradient)."""
        if not self.flat:
            return tree
        return jnp.concatenate([tree["w"].reshape(-1), tree["b"].reshape(-1)])

    def zeros(self, dtype: Any, xp: Any = jnp) -> Any:
        """Zero parameters (the contract's initial point) in namespace ``xp``."""
        w, b = self.shapes
        if self.flat:
            return xp.zeros(math.prod(w) + math.prod(b), dtype)
        return {"w": xp.zeros(w, dtype), "b": xp.zeros(b, dtype)}


def single_device_parts(
    layout: ParamLayout,
    loss: str,
    fit_intercept: bool,
    dtype: Any,
    *,
    n: int,
    batch_size: int | None,
    make_tx: Callable[[dict], Any],
    line_search: bool = False,
    row_blocks: int = 1,
    alpha: float = 0.0,
) -> Parts:
    """The :class:`Parts` of ``JAXOptimizer`` (module doc): ``n`` rows, ``dtype`` the
    parameters' (the data are cast to it), ``batch_size=None`` full batch; ``line_search``:
    the transformation is optax's L-BFGS (full batch only); ``row_blocks``: see
    ``_model.rmatvec``; ``alpha``: the L2 penalty. The data may hold the normalized sample
    weights as ``'sw'``."""
    objective = LinearObjective(loss, fit_intercept, alpha)
    full = batch_size is None
    if line_search and not full:
        raise ValueError("a line-search optimizer trains on the full batch only")
    lay = _plan.Layout(n_rows=n, n_shards=1, group_devices=1, batch_size=batch_size or n, accum=1)

    def mean(value, grads, count):
        return value / count, layout.pack(jax.tree.map(lambda a: a / count, grads))

    def norm(g):  # the NumPy reference's formula
        t = layout.tree(g)
        return _model.grad_norm(t["w"], t["b"], jnp)

    def full_data(data, params):
        value, grads = objective.sums(layout.tree(params), data["X"], data["y"], None, dtype,
                                      row_blocks=row_blocks, sample_weight=data.get("sw"))  # fmt: skip
        return mean(value, grads, n)

    def value_fn(data):
        def f(params):  # the full-data mean loss, for the line search (b = 0 when not fitted)
            p = layout.tree(params)
            b = p["b"] if fit_intercept else jnp.zeros_like(p["b"])
            sw = data.get("sw")
            return _model.loss_value(data["X"].astype(dtype), data["y"].astype(dtype), p["w"], b, loss=loss,
                                     alpha=alpha, sample_weight=None if sw is None else sw.astype(dtype),
                                     xp=jnp)  # fmt: skip

        return f

    def evaluate(data, train: TrainState):
        if not line_search:
            value, g = full_data(data, train.params)
            return value, g, norm(g)
        # the line search left the loss and gradient at these parameters in its state
        stored = optax.tree_utils.tree_get(train.opt_state, "value")
        ok = jnp.isfinite(stored)
        value, g = jax.lax.cond(
            ok,
            lambda: (stored.astype(dtype), optax.tree_utils.tree_get(train.opt_state, "grad")),
            lambda: full_data(data, train.params),
        )
        return value, g, norm(g)

    def step(tx, data, train: TrainState, ctx, index: StepIndex, boundary):
        if full:  # the evaluation at these parameters gave the loss and the gradient
            value, grads = boundary
        else:
            rows = _plan.step_rows(ctx, index.step, jnp.int32(0), lay)[0]
            batch = gather(data, rows)
            weight = (rows >= 0).astype(dtype)
            count = _plan.step_count(index.step, lay).astype(dtype)
            value, grads = mean(*objective.sums(layout.tree(train.params), batch["X"], batch["y"],
                                                weight, dtype, sample_weight=batch.get("sw")), count)  # fmt: skip
        if line_search:
            updates, opt = tx.update(grads, train.opt_state, train.params, value=value,
                                     grad=grads, value_fn=value_fn(data))  # fmt: skip
            return train._replace(params=optax.apply_updates(train.params, updates), opt_state=opt)
        return apply_gradients(train, grads, value, index, tx, nan_policy=None, loss_scale=1.0)

    return Parts(
        make_tx=make_tx,
        epoch_context=lambda data, order: order,
        step=step,
        evaluate=evaluate,
        grad_template=lambda params: jax.tree.map(jnp.zeros_like, params),
    )
