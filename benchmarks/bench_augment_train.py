"""Augmentation inside the training step against no augmentation and against augmenting on
the host per batch: a small CNN on 28x28x1 digits, 1 and 4 devices, in one run.

The problem (every size is a flag): MNIST's first ``--rows`` training images when its files
are on disk, else the offline stand-in (scikit-learn's 8x8 digits resized to 28x28,
``benchmarks.datasets.load_digit_images``), float32 in [0, 1], int32 labels; a CNN
``conv 3x3 1->16 stride 2, ReLU, conv 3x3 16->32 stride 2, ReLU, dense 1568->10`` (NHWC,
``lax.conv_general_dilated``), softmax cross-entropy, ``optax.adam(1e-3)`` (the
``ParallelTrainer(optimizer_type='adam', learning_rate=1e-3)`` transformation), batches of
``--batch`` rows, ``--epochs`` epochs, the augmentation preset ``'moderate'`` (rotation,
scale, brightness, contrast, noise), seed 0.

Cases, for each device count of ``--devices`` (host devices on the CPU,
``JAX_NUM_CPU_DEVICES=4``):

* ``plain``: ``ParallelTrainer(n_devices=k, eval_every=0).train(loss, params, data)``;
* ``augmented``: the same with ``augment='moderate'``: the augmentation runs on the
  devices inside the compiled step;
* ``host``: what users write today: a Python loop over the batches of the same shuffled
  order (``accel.internals.epoch_permutation``) that calls
  ``gen_augmentation_batch(ids, config, seed, epoch)`` and
  ``apply_augmentations(images[ids], params, seed=seed)`` per batch (the same
  augmentation, the ops jit-compiled, their inputs and outputs passing through the host), then
  a ``jax.jit`` training step (optax update inside); with k devices the step's batch is
  placed sharded over a 1-D mesh (``NamedSharding``), the parameters replicated, the
  gradient reduced by the partitioner. Its last partial batch is dropped.

``eval_every=0`` in both accel cases: no full-data evaluation (the host loop evaluates
nothing either). A timed call is a whole training run from the same initial parameters,
waited for; the first call of each case (tracing and compiling) is reported apart; then
``--repeats`` interleaved calls (the order reversed on odd repeats), medians. JAX's
persistent compilation cache is off (``ACCEL_COMPILATION_CACHE=0``). Peak memory: each
case once more in a fresh process (``--only``): the peak RSS of a first and a second call,
measured from the point where the data are in memory (Linux: the peak mark reset through
``/proc/self/clear_refs``, read as ``VmHWM``; loading and resizing the images is not
counted).

Ratios (throughput): ``augmented / plain`` (the cost of augmenting; goal >= 0.7) and
``augmented / host`` (goal >= 3).

Run: ``python -m benchmarks.bench_augment_train`` (``--quick`` for a smoke run; ``--json
PATH`` to keep the numbers).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")
os.environ.setdefault("ACCEL_COMPILATION_CACHE", "0")

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from accel import ParallelTrainer
from accel.augment import apply_augmentations, gen_augmentation_batch, get_preset
from accel.internals import epoch_permutation
from accel.parallel import conv2d
from benchmarks._rss import reset_peak_rss, rss_mib
from benchmarks.datasets import load_digit_images

CASES = ("plain", "augmented", "host")
PRESET = "moderate"
SEED = 0


# -- the problem -------------------------------------------------------------------------
def init_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)

    def normal(*shape, fan_in):
        return (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(fan_in)).astype(np.float32)

    return {
        "c1": normal(3, 3, 1, 16, fan_in=9), "b1": np.zeros(16, np.float32),
        "c2": normal(3, 3, 16, 32, fan_in=144), "b2": np.zeros(32, np.float32),
        "w": normal(7 * 7 * 32, 10, fan_in=7 * 7 * 32), "b": np.zeros(10, np.float32),
    }  # fmt: skip


def _lax_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


CONVS = {"conv2d": conv2d, "lax": _lax_conv}
_CONV = {"fn": conv2d}  # --conv


def _conv(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    return jax.nn.relu(_CONV["fn"](x, kernel, 2) + bias)


def loss_fn(params: Any, batch: Any) -> jax.Array:
    """Mean softmax cross-entropy of the CNN on the batch's images."""
    h = _conv(_conv(batch["image"], params["c1"], params["b1"]), params["c2"], params["b2"])
    logits = h.reshape(h.shape[0], -1) @ params["w"] + params["b"]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]))


# -- the cases -----------------------------------------------------------------------------
def accel_run(k: int, args, data, params, augment: str | None):
    pt = ParallelTrainer(n_devices=k, epochs=args.epochs, batch_size=args.batch, eval_every=0,
                         optimizer_type="adam", learning_rate=1e-3, random_state=SEED)  # fmt: skip

    def run():
        out, _ = pt.train(loss_fn, params, data, augment=augment)
        return out

    return run


def host_run(k: int, args, data, params):
    """The hand-written loop (module doc)."""
    tx = optax.adam(1e-3)
    devices = jax.devices()[:k]
    mesh = Mesh(np.array(devices), ("data",))
    batch_sharding = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())
    config = get_preset(PRESET)
    n, B = len(data["label"]), args.batch

    @jax.jit
    def step(p, s, image, label):
        loss, g = jax.value_and_grad(loss_fn)(p, {"image": image, "label": label})
        updates, s = tx.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    def run():
        p = jax.device_put(params, replicated)
        s = jax.device_put(tx.init(params), replicated)
        for epoch in range(args.epochs):
            order = epoch_permutation(SEED, epoch, n)
            for start in range(0, n - B + 1, B):
                ids = order[start : start + B]
                aug = gen_augmentation_batch(ids, config, seed=SEED, epoch=epoch)
                image = apply_augmentations(data["image"][ids], aug, seed=SEED)
                image = jax.device_put(image, batch_sharding)
                label = jax.device_put(data["label"][ids], batch_sharding)
                p, s, _ = step(p, s, image, label)
        return jax.block_until_ready(p)

    return run


def build(case: str, k: int, args, data, params):
    if case == "host":
        return host_run(k, args, data, params)
    return accel_run(k, args, data, params, PRESET if case == "augmented" else None)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def only(case: str, k: int, args, data, params) -> dict[str, float]:
    """One case in this (fresh) process: first call, second call, and the peak RSS of the
    training (from the data in memory on: loading them is not counted where the peak can be
    reset, ``peak_from_start`` False)."""
    reset = reset_peak_rss()
    fn = build(case, k, args, data, params)
    first = _timed(fn)
    second = _timed(fn)
    return {"first_s": first, "second_s": second, "peak_rss_mib": rss_mib("VmHWM"), "peak_from_start": not reset}


def _memory(case: str, k: int, args) -> dict[str, float]:
    cmd = [sys.executable, "-m", "benchmarks.bench_augment_train", "--only", case, "--devices", str(k),
           "--rows", str(args.rows), "--batch", str(args.batch), "--epochs", str(args.epochs),
           "--source", args.source, "--conv", args.conv]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1200)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=8192)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--devices", default="1,4")
    p.add_argument("--source", default="auto", choices=("auto", "mnist", "digits"))
    p.add_argument("--conv", default="conv2d", choices=tuple(CONVS),
                   help="the convolution: accel.parallel.conv2d, or lax.conv_general_dilated")
    p.add_argument("--only", choices=CASES, help="one case in this process (its peak memory)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    p.add_argument("--quick", action="store_true", help="a smoke run: small sizes, 1 repeat")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    _CONV["fn"] = CONVS[args.conv]
    if args.quick:
        args.rows, args.batch, args.epochs, args.repeats, args.no_memory = 512, 128, 1, 1, True
    counts = [int(c) for c in args.devices.split(",")]
    images, labels, meta = load_digit_images(args.source, args.rows, seed=SEED)
    data = {"image": images, "label": labels}
    params = init_params()
    if args.only:
        print(json.dumps(only(args.only, counts[0], args, data, params)))
        return {}
    print(f"# {meta['source']}: {len(labels)} images 28x28x1, batch {args.batch}, {args.epochs} epochs, "
          f"preset {PRESET!r}, convolution {args.conv}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"jax {jax.__version__}")  # fmt: skip
    results: dict[str, Any] = {"meta": {**meta, **vars(args)}, "devices": {}}
    for k in counts:
        fns = {case: build(case, k, args, data, params) for case in CASES}
        first = {case: _timed(fn) for case, fn in fns.items()}
        times: dict[str, list[float]] = {case: [] for case in CASES}
        for r in range(args.repeats):
            for case in CASES if r % 2 == 0 else CASES[::-1]:
                times[case].append(_timed(fns[case]))
        rows_trained = {"plain": len(labels), "augmented": len(labels),
                        "host": (len(labels) // args.batch) * args.batch}  # fmt: skip
        row = {}
        for case in CASES:
            med = statistics.median(times[case])
            row[case] = {"first_s": first[case], "median_s": med, "times_s": times[case],
                         "samples_per_s": rows_trained[case] * args.epochs / med}  # fmt: skip
            if not args.no_memory:
                row[case]["memory"] = _memory(case, k, args)
        aug = row["augmented"]["samples_per_s"]
        row["ratios"] = {"augmented_over_plain": aug / row["plain"]["samples_per_s"],
                         "augmented_over_host": aug / row["host"]["samples_per_s"]}  # fmt: skip
        results["devices"][k] = row
        print(f"\n## {k} device(s)")
        print("| case | samples/s (median) | first call s | peak RSS MiB |")
        print("|---|---|---|---|")
        for case in CASES:
            mem = row[case].get("memory", {}).get("peak_rss_mib")
            print(f"| {case} | {row[case]['samples_per_s']:,.0f} | {row[case]['first_s']:.2f} | "
                  f"{'-' if mem is None else f'{mem:,.0f}'} |")  # fmt: skip
        print(f"augmented / plain = {row['ratios']['augmented_over_plain']:.2f} (goal >= 0.7); "
              f"augmented / host = {row['ratios']['augmented_over_host']:.2f} (goal >= 3)")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
