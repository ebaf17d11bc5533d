"""Augmentation parameters inside a jitted JAX training step.

Each step receives the ids of its batch; the step derives every sample's parameters from
``(seed, epoch, sample_id)`` with ``accel.augment.augmentation_params`` inside ``jax.jit``,
so they are identical to ``gen_augmentation_batch`` on the host, for any batch order,
batch size, device or process count. Here they drive a toy "augmentation" (brightness and
contrast applied to synthetic features) of a linear regression trained with optax.

The key ``K(seed, epoch)``, the ids' uint32 halves and the epoch's row order come from
``accel.internals`` (the repository's bridge to accel's key derivation, not a stable API):
``accel.augment`` does not export them yet.

Run: ``python examples/jax_training_loop.py``
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel.augment import augmentation_params, gen_augmentation_batch, get_preset
from accel.internals import epoch_key, epoch_permutation, seed_key, split_ids

CONFIG = get_preset("mild")


@functools.partial(jax.jit, static_argnames=("opt",))
def train_step(w, opt_state, key, ids_hi, ids_lo, x, y, *, opt):
    p = augmentation_params(key, ids_hi, ids_lo, CONFIG)
    mean = x.mean(axis=1, keepdims=True)
    x_aug = (mean + (x - mean) * p["contrast"][:, None]) * p["brightness"][:, None]

    def loss(w):
        return 0.5 * jnp.mean((x_aug @ w - y) ** 2)

    value, grad = jax.value_and_grad(loss)(w)
    updates, opt_state = opt.update(grad, opt_state, w)
    return optax.apply_updates(w, updates), opt_state, value, p


def main(num_samples: int = 256, batch_size: int = 32, epochs: int = 3, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_samples, 8)).astype(np.float32)
    y = (x @ rng.normal(size=8)).astype(np.float32)
    opt = optax.sgd(0.05)
    w = jnp.zeros(8, jnp.float32)
    opt_state = opt.init(w)
    losses = []
    for epoch in range(epochs):
        key = epoch_key(seed_key(seed), epoch)  # K(seed, epoch)
        order = epoch_permutation(seed, epoch, num_samples)
        for start in range(0, num_samples, batch_size):
            ids = order[start : start + batch_size]
            hi, lo = split_ids(ids)
            w, opt_state, loss, p = train_step(w, opt_state, key, hi, lo, x[ids], y[ids], opt=opt)
            losses.append(float(loss))
        # the parameters used in the step are exactly the host-side ones
        host = gen_augmentation_batch(ids, CONFIG, seed=seed, epoch=epoch)
        assert np.array_equal(np.asarray(p["contrast"]), np.asarray(host["contrast"]))
        print(f"epoch {epoch}: last loss {losses[-1]:.4f}")
    return losses


if __name__ == "__main__":
    main()
