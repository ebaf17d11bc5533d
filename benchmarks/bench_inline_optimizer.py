"""The second ``train`` call with an optax expression written inline: compiled again or not.

A notebook user writes ``pt.train(loss_fn, params, data, optimizer=optax.adam(1e-3))`` and
runs the cell again: every call builds a new transformation object. The script times
``REPEATS`` such calls in one process (an MLP 784-512-512-10 with softmax cross-entropy on
8192 Gaussian rows, batch 512, 1 epoch, 1 device) and counts XLA compilations during each
(JAX's monitoring events). Before issue 27 item 2 every call compiled; with programs keyed
on what the transformation computes, only the first does. A different learning rate inside
the expression is a different computation and compiles (the last call).

Usage::

    python -m benchmarks.bench_inline_optimizer
"""

from __future__ import annotations

import itertools
import os
import time

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "1")

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import ParallelTrainer

ROWS, WIDTHS, BATCH, REPEATS = 8192, (784, 512, 512, 10), 512, 4


def _loss(params, batch):
    h = batch["x"]
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["w"] + layer["b"])
    logits = h @ params[-1]["w"] + params[-1]["b"]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]))


def main() -> None:
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(ROWS, WIDTHS[0])).astype(np.float32),
            "y": rng.integers(0, WIDTHS[-1], ROWS).astype(np.int32)}  # fmt: skip
    params = [{"w": (rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32), "b": np.zeros(b, np.float32)}
              for a, b in itertools.pairwise(WIDTHS)]  # fmt: skip
    compiles = [0]

    def listen(event: str, duration: float, **kw: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    pt = ParallelTrainer(n_devices=1, epochs=1, batch_size=BATCH)
    rates = [1e-3] * REPEATS + [2e-3]
    for i, rate in enumerate(rates):
        before, t0 = compiles[0], time.perf_counter()
        pt.train(_loss, params, data, optimizer=optax.adam(rate))  # a new object every call
        print(f"call {i + 1}: optax.adam({rate:g}) {time.perf_counter() - t0:.3f} s, "
              f"{compiles[0] - before} XLA compilations, compile_time_ {pt.compile_time_:.3f} s")


if __name__ == "__main__":
    main()
