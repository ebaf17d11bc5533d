"""The sections that measure operations: augmentation parameters, image ops, augmentation
in training, and NumPy vs JAX vs CuPy (the contract of a section: :mod:`benchmarks.gpu._plan`).

Example:
    >>> sorted(__all__)
    ['augment_params', 'augment_training', 'compare_backends', 'image_ops']
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.gpu._plan import (
    TOL_DEFAULT_PRECISION,
    TOL_HIGHEST_PRECISION,
    device_memory,
    rounded,
    table,
)
from benchmarks.gpu._timing import time_calls

__all__ = ["augment_params", "augment_training", "compare_backends", "image_ops"]


# ------------------------------------------------------------------ augmentation


def augment_params(ctx: Any) -> dict[str, Any]:
    """Augmentation parameters per second for each algorithm, on the GPU and (same process,
    same ids) on the host CPU. The CPU runs here lack the CPU-only compiler option of the DPA
    kernel (512-bit vectors, chosen when the default backend is the CPU): ~1.1-1.3x slower
    than on a CPU-only machine."""
    import jax

    from accel.augment import ALGORITHMS, gen_augmentation_batch

    ctx.require_jax_gpu()
    p = ctx.plan
    algorithms = p.augment_algorithms or ALGORITHMS
    out, rows, skipped = [], [], []
    for algorithm in algorithms:
        ids = np.arange(p.dpa_ids if algorithm == "dpa" else p.augment_ids, dtype=np.uint64)

        def generate(ids: np.ndarray = ids, algorithm: str = algorithm) -> list[Any]:
            return list(gen_augmentation_batch(ids, algorithm=algorithm).values())

        if ctx.left() <= 0:
            skipped.append(f"{algorithm}: section budget spent")
            continue
        t = time_calls(generate, repeats=p.repeats, budget_s=ctx.left())
        entry = {"algorithm": algorithm, "ids": int(ids.size), "device": str(jax.devices()[0]),
                 **t.to_dict(), "samples_per_s": ids.size / t.median_s}  # fmt: skip
        cpu_rate = None
        if p.augment_cpu_baseline and ctx.left() > 0:
            with jax.default_device(jax.devices("cpu")[0]):
                tc = time_calls(generate, repeats=p.repeats, budget_s=ctx.left())
            cpu_rate = ids.size / tc.median_s
            entry["cpu"] = {**tc.to_dict(), "samples_per_s": cpu_rate}
        elif p.augment_cpu_baseline:
            skipped.append(f"{algorithm}: CPU baseline, section budget spent")
        out.append(entry)
        rows.append([algorithm, int(ids.size), rounded(t.first_s), rounded(t.median_s * 1e3), rounded(entry["samples_per_s"]),
                     rounded(cpu_rate), rounded(entry["samples_per_s"] / cpu_rate, 3) if cpu_rate else None])  # fmt: skip
    headers = ["algorithm", "ids", "compile+first s", "median ms", "samples/s", "CPU samples/s", "x CPU"]
    return {"results": out, "skipped_steps": skipped, "device_memory": device_memory(),
            "tables": [table("gen_augmentation_batch (default config)", headers, rows)]}  # fmt: skip


def image_ops(ctx: Any) -> dict[str, Any]:
    """Images per second of each augmentation image op on an NHWC batch already on the device."""
    import jax

    from accel import augment
    from benchmarks.bench_image_ops import op_cases

    ctx.require_jax_gpu()
    p = ctx.plan
    n, s = p.image_batch, p.image_size
    host = np.random.default_rng(0).random((n, s, s, 3), dtype=np.float32)
    images = jax.block_until_ready(jax.device_put(host))
    images_u8 = jax.block_until_ready(jax.device_put((host * 255).round().astype(np.uint8)))
    ids = np.arange(n, dtype=np.uint64)
    batch = augment.gen_augmentation_batch(ids, seed=0, epoch=0)
    keys = augment.noise_keys(ids, 0, 0)
    ops = op_cases(images, images_u8, batch, keys)  # the same calls as benchmarks/bench_image_ops.py
    out, rows, skipped = [], [], []
    for name in p.image_ops:
        if ctx.left() <= 0:
            skipped.append(f"{name}: section budget spent")
            continue
        t = time_calls(ops[name], repeats=p.repeats, budget_s=ctx.left())
        out.append({"op": name, **t.to_dict(), "images_per_s": n / t.median_s})
        rows.append([name, rounded(t.first_s), rounded(t.median_s * 1e3), rounded(n / t.median_s)])
    return {"shape": [n, s, s, 3], "results": out, "skipped_steps": skipped, "device_memory": device_memory(),
            "tables": [table(f"image ops, batch {n} x {s} x {s} x 3", ["op", "compile+first s", "median ms", "images/s"], rows)]}  # fmt: skip


def augment_training(ctx: Any) -> dict[str, Any]:
    """A small CNN on 28x28x1 digits, 1 device: ``ParallelTrainer.train`` without and with
    ``augment='moderate'`` (on the device, inside the step) and the same augmentation applied
    per batch by a host loop (``benchmarks/bench_augment_train.py``'s three cases)."""
    import argparse

    from benchmarks import bench_augment_train as bench
    from benchmarks.datasets import load_digit_images

    ctx.require_jax_gpu()
    p = ctx.plan
    args = argparse.Namespace(epochs=p.augment_train_epochs, batch=p.augment_train_batch)
    images, labels, meta = load_digit_images("auto", p.augment_train_rows, seed=0)
    data, params = {"image": images, "label": labels}, bench.init_params()
    out, rows, skipped = [], [], []
    for case in bench.CASES:
        if ctx.left() <= 0:
            skipped.append(f"{case}: section budget spent")
            continue
        t = time_calls(bench.build(case, 1, args, data, params), repeats=p.repeats, budget_s=ctx.left())
        trained = len(labels) if case != "host" else (len(labels) // args.batch) * args.batch
        rate = trained * args.epochs / t.median_s
        out.append({"case": case, **t.to_dict(), "samples_per_s": rate})
        rows.append([case, rounded(t.first_s), rounded(t.median_s * 1e3), rounded(rate)])
    rates = {r["case"]: r["samples_per_s"] for r in out}
    ratios = {}
    if len(rates) == 3:
        ratios = {"augmented_over_plain": rates["augmented"] / rates["plain"],
                  "augmented_over_host": rates["augmented"] / rates["host"]}  # fmt: skip
    return {"data": meta["source"], "rows": len(labels), "results": out, "ratios": ratios, "skipped_steps": skipped,
            "device_memory": device_memory(),
            "tables": [table(f"augmentation in training, CNN, batch {args.batch}, {args.epochs} epochs",
                             ["case", "compile+first s", "median ms", "samples/s"], rows)]}  # fmt: skip


# ------------------------------------------------------------------ backends


def _accel_compare(op: str, size: int, backends: str, runs: int, warmup: int, folder: Path) -> dict[str, Any]:
    """One ``accel compare`` run (the CLI over compare_backends' built-in operations); its JSON."""
    from accel.cli import main

    path = folder / f"{op}_{backends.replace(',', '_')}.json"
    argv = ["compare", "--op", op, "--sizes", str(size), "--backends", backends, "--dtype", "float32",
            "--n-runs", str(runs), "--warmup", str(warmup), "--json", str(path)]  # fmt: skip
    printed = io.StringIO()  # its table is in the kit's summary; keep the kit's output short
    with contextlib.redirect_stdout(printed):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"accel {' '.join(argv)} exited {code}: {printed.getvalue()[-2000:]}")
    return json.loads(path.read_text())["results"][0]


def compare_backends(ctx: Any) -> dict[str, Any]:
    """NumPy vs JAX vs CuPy for matmul and logreg_grad in float32 (``accel compare``); results
    must agree: ``max_rel_diff <= TOL_DEFAULT_PRECISION`` at XLA's default precision and, for
    JAX rerun under ``jax.default_matmul_precision('highest')``, ``<= TOL_HIGHEST_PRECISION``."""
    import jax

    p = ctx.plan
    rows, problems, out = [], [], []
    with tempfile.TemporaryDirectory(prefix="accel-gpu-compare-") as tmp:
        for op in p.compare_ops:
            if ctx.left() <= 0:
                problems.append(f"{op}: section budget spent before it ran")
                continue
            runs = [("default", "numpy,jax,cupy", TOL_DEFAULT_PRECISION)]
            runs.append(("highest", "numpy,jax", TOL_HIGHEST_PRECISION))
            for precision, backends, tol in runs:
                with jax.default_matmul_precision(None if precision == "default" else precision):
                    res = _accel_compare(op, p.compare_size, backends, p.compare_runs, p.compare_warmup, Path(tmp))
                out.append({"op": op, "precision": precision, "tolerance": tol, **res})
                for name, b in res["backends"].items():
                    agrees = None if not b["available"] or name == "numpy" else b["max_rel_diff"] <= tol
                    rows.append([op, precision, name, b["device"], rounded(b["median_time"] and b["median_time"] * 1e3),
                                 rounded(b["compile_time"] and b["compile_time"] * 1e3), rounded(b["speedup_vs_numpy"], 3),
                                 rounded(b["max_rel_diff"], 3), agrees, "" if b["available"] else b["reason"]])  # fmt: skip
                    if agrees is False:
                        problems.append(f"{op} ({precision} precision): {name} max_rel_diff "
                                        f"{b['max_rel_diff']:.3g} > {tol:g}")  # fmt: skip
                    if ctx.mode == "gpu" and name != "numpy" and not b["available"]:
                        problems.append(f"{op}: {name} cannot run on this GPU machine: {b['reason']}")
                    if ctx.mode == "gpu" and name == "jax" and b["available"] and "cpu" in str(b["device"]):
                        problems.append(f"{op}: JAX ran on {b['device']}, not on the GPU")
    headers = ["op", "jax precision", "backend", "device", "median ms", "compile ms", "x numpy",
               "max rel diff", "agrees", "note"]  # fmt: skip
    return {"size": p.compare_size, "dtype": "float32", "results": out, "problems": problems,
            "notes": [f"agreement: max|out - numpy| / max|numpy| <= {TOL_DEFAULT_PRECISION:g} at the "
                      f"default precision (TF32 allowed), <= {TOL_HIGHEST_PRECISION:g} at 'highest'",
                      f"CUPY_TF32={os.environ.get('CUPY_TF32', '(unset)')}"],
            "tables": [table(f"accel compare, n = {p.compare_size}, float32", headers, rows)]}  # fmt: skip
