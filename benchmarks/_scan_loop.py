"""The hand-written training loop the benchmarks compare ``ParallelTrainer.train`` with: one
``jit`` epoch as a ``lax.scan`` over pre-batched data, the optax update inside (what an
expert writes; ``benchmarks.bench_train_mlp`` and the GPU kit's ``parallel_trainer``).
A module without side effects (``bench_train_mlp`` sets its environment at import).

Example:
    >>> import jax, jax.numpy as jnp, numpy as np, optax
    >>> data = {"x": np.ones((10, 2), np.float32), "y": np.zeros(10, np.float32)}
    >>> batches, rows = batched(data, 4)
    >>> batches["x"].shape, rows
    ((2, 4, 2), 8)
    >>> loss = lambda p, b: jnp.mean((b["x"] @ p - b["y"]) ** 2)
    >>> epoch = jax.jit(scan_epoch(optax.sgd(0.1), jax.value_and_grad(loss)))
    >>> p, s, mean_loss = epoch(jnp.ones(2), optax.sgd(0.1).init(jnp.ones(2)), batches)
    >>> float(mean_loss) < 4.0
    True
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["batched", "scan_epoch"]


def batched(data: dict[str, np.ndarray], batch: int) -> tuple[dict[str, np.ndarray], int]:
    """The full batches as ``(n_batches, batch, ...)`` (the partial one dropped), and their rows."""
    n = next(iter(data.values())).shape[0]
    nb = n // batch
    if nb == 0:
        raise SystemExit(f"fewer rows ({n}) than one batch ({batch})")
    out = {k: v[: nb * batch].reshape(nb, batch, *v.shape[1:]) for k, v in data.items()}
    return out, nb * batch


def scan_epoch(tx: optax.GradientTransformation, grad_fn: Callable) -> Callable:
    """``epoch(params, opt_state, batches) -> (params, opt_state, mean batch loss)``."""

    def epoch(params, opt_state, batches):
        def step(carry, batch):
            p, s = carry
            loss, g = grad_fn(p, batch)
            updates, s = tx.update(g, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), batches)
        return params, opt_state, jnp.mean(losses)

    return epoch
