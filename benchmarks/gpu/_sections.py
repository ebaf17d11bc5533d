"""The kit's sections: each checks or measures one thing and returns JSON-ready results.

A section is ``fn(ctx) -> dict`` (``ctx``: :class:`benchmarks.gpu._runner.SectionContext`).
Its results hold numbers, ``tables`` (title, headers, rows: the Markdown summary prints
them), ``notes`` and ``problems``: a non-empty ``problems`` list marks the section failed
(a check did not hold). Raising :class:`SectionSkipped` skips it with the reason; any other
exception fails it. Every timing follows :mod:`benchmarks.gpu._timing` (first call apart,
``block_until_ready``, median) or is made by the project's own harness
(``benchmark_optimizer``, ``accel compare``), which follows the same rules.

Sizes come from a :class:`Plan`: :data:`FULL` on a GPU, :data:`TINY` for the CPU dry run.

Example:
    >>> FULL.linear_rows, FULL.linear_features, TINY.linear_rows < FULL.linear_rows
    (60000, 784, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.gpu._timing import hbm_floor_seconds, time_calls

__all__ = [
    "FULL",
    "IMAGE_OPS",
    "TINY",
    "TOL_DEFAULT_PRECISION",
    "TOL_HIGHEST_PRECISION",
    "Plan",
    "SectionSkipped",
]

# compare_backends agreement, max|out - numpy| / max|numpy| in float32:
# XLA's default precision on NVIDIA GPUs runs float32 dots on TF32 matrix units (10-bit
# significand, unit roundoff 2**-11 = 4.9e-4); for n = 4096 standard-normal inputs that is
# about 3e-4 (estimate), so 1e-2 flags wrong results, not TF32.
TOL_DEFAULT_PRECISION = 1e-2
# With jax.default_matmul_precision('highest') (true float32): about 1e-6 expected.
TOL_HIGHEST_PRECISION = 1e-4
# the keys of benchmarks.bench_image_ops.op_cases
IMAGE_OPS = ("rotate_and_scale", "adjust_brightness", "adjust_contrast", "add_noise",
             "apply_augmentations", "apply_augmentations_uint8")  # fmt: skip


class SectionSkipped(Exception):
    """Raised by a section that cannot run here; the message is the recorded reason."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """Problem sizes and repeat counts of every section."""

    repeats: int = 5
    copy_floats: int = 1 << 27  # 512 MiB float32: far beyond any L2
    linear_rows: int = 60000
    linear_features: int = 784
    linear_epochs: tuple[int, int] = (100, 500)  # full batch, two lengths: per-epoch slope
    minibatch_size: int = 1024
    minibatch_epochs: int = 20
    trainer_epochs: int = 5
    mlp_widths: tuple[int, ...] = (784, 1024, 1024, 10)
    mlp_epochs: int = 2
    mlp_dtypes: tuple[str, ...] = ("float32", "bfloat16")
    augment_algorithms: tuple[str, ...] | None = None  # None: every one in accel.augment.ALGORITHMS
    augment_ids: int = 1 << 22
    dpa_ids: int = 1 << 17  # 8 kernel chunks of 16384
    augment_cpu_baseline: bool = True
    image_batch: int = 256
    image_size: int = 224
    image_ops: tuple[str, ...] = IMAGE_OPS
    compare_ops: tuple[str, ...] = ("matmul", "logreg_grad")
    compare_size: int = 4096
    compare_runs: int = 10
    compare_warmup: int = 3


FULL = Plan()
TINY = Plan(
    repeats=2, copy_floats=1 << 16, linear_rows=512, linear_features=16, linear_epochs=(5, 20),
    minibatch_size=64, minibatch_epochs=2, trainer_epochs=2, mlp_widths=(16, 32, 4),
    mlp_epochs=1, augment_ids=4096, dpa_ids=64, image_batch=4, image_size=16,
    compare_size=64, compare_runs=2, compare_warmup=1,
)  # fmt: skip


def _table(title: str, headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"title": title, "headers": headers, "rows": rows}


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


def _device_memory() -> dict[str, Any] | None:
    """The default device's allocator statistics (GPU: peak bytes in use so far)."""
    import jax

    stats = jax.devices()[0].memory_stats()
    if not stats:
        return None
    keys = ("peak_bytes_in_use", "bytes_in_use", "bytes_limit")
    return {k: int(stats[k]) for k in keys if k in stats}


# ------------------------------------------------------------------ requirements, tests, device


def requirements(ctx: Any) -> dict[str, Any]:
    """``requirements-cuda.txt`` against the installed versions."""
    from benchmarks.gpu._requirements import check_requirements, read_requirements

    path = ctx.root / "requirements-cuda.txt"
    if not path.is_file():
        raise SectionSkipped(f"no {path.name} next to the package (run from a source checkout)")
    rows = check_requirements(read_requirements(path))
    bad = [r for r in rows if not r["satisfied"]]
    notes, problems = [], []
    message = [f"{r['name']} {r['installed'] or '(not installed)'} does not satisfy "
               f"{r['requirement']}" for r in bad]  # fmt: skip
    if ctx.mode == "gpu":
        problems = message
    elif message:
        notes.append("not a GPU run: mismatches are informational: " + "; ".join(message))
    table = _table(path.name, ["requirement", "package", "installed", "satisfied", "note"],
                   [[r["requirement"], r["name"], r["installed"], r["satisfied"], r["note"]] for r in rows])  # fmt: skip
    return {"file": path.name, "checks": rows, "tables": [table], "notes": notes, "problems": problems}


def tests(ctx: Any) -> dict[str, Any]:
    """The gpu-marked tests in a pytest subprocess (before this process touches the GPU)."""
    from benchmarks.gpu._pytest import run_pytest

    if not (ctx.root / "tests").is_dir():
        raise SectionSkipped("no tests/ folder next to the package (run from a source checkout)")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ctx.root), env.get("PYTHONPATH")) if p)
    result = run_pytest(list(ctx.pytest_args), cwd=ctx.root, timeout_s=ctx.left(), env=env)
    log_name = ctx.write_file("pytest_gpu.log", result.pop("log"))
    counts = result["counts"]
    problems = []
    if result["timed_out"]:
        problems.append(f"pytest did not finish within {result['timeout_s']:.0f} s (killed)")
    elif result["returncode"] != 0:
        problems.append(f"pytest exited {result['returncode']}: {result['summary']}")
    if ctx.mode == "gpu" and counts is not None and counts["passed"] == 0:
        problems.append("no gpu-marked test passed: the test process saw no usable GPU")
    tables = []
    if counts is not None:
        tables.append(_table("pytest " + " ".join(ctx.pytest_args), list(counts), [list(counts.values())]))
    if result["failures"]:
        tables.append(_table("failures", ["test", "kind", "message"],
                             [[f["test"], f["kind"], f["message"][:200]] for f in result["failures"]]))  # fmt: skip
    return {**result, "log_file": log_name, "tables": tables, "problems": problems}


def device(ctx: Any) -> dict[str, Any]:
    """JAX's devices, NVML's view of the GPU (spec bandwidth) and the measured copy bandwidth."""
    import jax

    from benchmarks.gpu._device import gpu_info, measure_copy_bandwidth

    backend = jax.default_backend()
    devices = [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices()]
    info = gpu_info() if ctx.mode == "gpu" else {"available": False, "reason": "dry run: no GPU"}
    ctx.state["spec_bandwidth"] = info.get("spec_bandwidth_bytes_per_s")
    problems = []
    if ctx.mode == "gpu" and backend != "gpu":
        problems.append(f"JAX's default backend is {backend!r} on a GPU machine: its CUDA plugin "
                        "is missing or broken (see requirements-cuda.txt)")  # fmt: skip
    copy = measure_copy_bandwidth(ctx.plan.copy_floats, repeats=4 * ctx.plan.repeats, budget_s=ctx.left())
    ctx.state["measured_bandwidth"] = copy["bandwidth_bytes_per_s"]
    spec = ctx.state["spec_bandwidth"]
    rows = [
        ["spec (" + str(info.get("spec_bandwidth_source")) + ")", _r(spec / 1e9) if spec else None, None],
        [f"measured: y = x + 1, {copy['bytes_per_call'] / 2**30:.3g} GiB moved per call",
         _r(copy["bandwidth_bytes_per_s"] / 1e9), _r(copy["median_s"] * 1e3)],
    ]  # fmt: skip
    return {
        "jax_backend": backend,
        "jax_devices": devices,
        "gpu": info,
        "copy": copy,
        "device_memory": _device_memory(),
        "tables": [_table("memory bandwidth", ["source", "GB/s", "median ms"], rows)],
        "problems": problems,
    }


# ------------------------------------------------------------------ training


def _linear_data(ctx: Any) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped float32 regression data (values in [0, 1)), made once per run."""
    if "linear_data" not in ctx.state:
        n, d = ctx.plan.linear_rows, ctx.plan.linear_features
        rng = np.random.default_rng(0)
        X = rng.random((n, d), dtype=np.float32)
        w = (rng.standard_normal(d) / np.sqrt(d)).astype(np.float32)
        y = X @ w + np.float32(0.01) * rng.standard_normal(n, dtype=np.float32)
        ctx.state["linear_data"] = (X, y)
    return ctx.state["linear_data"]


def jax_optimizer(ctx: Any) -> dict[str, Any]:
    """JAXOptimizer on 60000 x 784 float32 (X already on the device) against the HBM floor.

    Floor of a fit of ``E`` epochs: ``E * passes * n * d * 4 / B`` (``_timing.hbm_floor_seconds``),
    ``B`` the spec bandwidth (``_device``) or the measured copy bandwidth. Full batch: each
    epoch evaluates the loss and the gradient at the new parameters, ``z = X @ w`` and
    ``X.T @ (z - y)``; row ``i`` of the residual needs only row ``i`` of X, so one streaming
    pass suffices (``passes = 1``; the n + d vectors are negligible). Mini-batch: every row once
    for the steps, and once more for the full-data loss that ``history_`` records after each
    epoch (``passes = 2``). XLA's program reads X once per matrix-vector product (two passes
    per evaluation), so a perfect two-pass program measures 2x the full-batch floor and 1.5x
    the mini-batch one. The per-epoch slope between the two full-batch lengths removes the
    fixed cost of a fit (dispatch, the initial evaluation, copying coef_ and history_ back).
    """
    import jax

    from accel import JAXOptimizer, benchmark_optimizer

    ctx.require_jax_gpu()
    X_host, y_host = _linear_data(ctx)
    n, d = X_host.shape
    X, y = jax.block_until_ready(jax.device_put((X_host, y_host)))
    spec, measured = ctx.state.get("spec_bandwidth"), ctx.state.get("measured_bandwidth")
    cases = [("full batch", None, e) for e in ctx.plan.linear_epochs]
    cases.append((f"mini-batch {ctx.plan.minibatch_size}", ctx.plan.minibatch_size, ctx.plan.minibatch_epochs))
    out, rows, problems, skipped = [], [], [], []
    for label, batch_size, epochs in cases:
        if ctx.left() <= 0:
            skipped.append(f"{label}, {epochs} epochs: section budget spent")
            continue
        config = {"optimizer_type": "adam", "learning_rate": 1e-3, "epochs": epochs, "batch_size": batch_size}
        r = benchmark_optimizer(JAXOptimizer, X, y, config=config, n_runs=ctx.plan.repeats)
        passes = 1 if batch_size is None else 2
        floor = {
            name: hbm_floor_seconds(epochs=epochs, passes=passes, rows=n, features=d, itemsize=4, bandwidth=b)
            for name, b in (("spec", spec), ("measured", measured)) if b
        }  # fmt: skip
        entry = {
            "case": label, "batch_size": batch_size, "epochs": r.epochs, "passes": passes,
            "compile_and_first_fit_s": r.warmup_time, "median_s": r.median_time,
            "times_s": list(r.times), "final_loss": r.final_loss,
            "floor_spec_s": floor.get("spec"), "floor_measured_s": floor.get("measured"),
            "ratio_to_spec_floor": r.median_time / floor["spec"] if "spec" in floor else None,
            "ratio_to_measured_floor": r.median_time / floor["measured"] if "measured" in floor else None,
            "effective_bandwidth_bytes_per_s": epochs * passes * n * d * 4 / r.median_time,
        }  # fmt: skip
        if r.epochs != epochs or not np.isfinite(r.final_loss):
            problems.append(f"{label}: ran {r.epochs} of {epochs} epochs, final loss {r.final_loss}")
        out.append(entry)
        rows.append([label, epochs, _r(r.warmup_time), _r(r.median_time * 1e3),
                     _r(r.median_time / epochs * 1e3), _r(entry["floor_spec_s"] and entry["floor_spec_s"] * 1e3),
                     _r(entry["ratio_to_spec_floor"], 3), _r(entry["ratio_to_measured_floor"], 3),
                     _r(entry["effective_bandwidth_bytes_per_s"] / 1e9)])  # fmt: skip
    slope = None
    full = [e for e in out if e["batch_size"] is None]
    if len(full) == 2 and full[1]["epochs"] > full[0]["epochs"]:
        per_epoch = (full[1]["median_s"] - full[0]["median_s"]) / (full[1]["epochs"] - full[0]["epochs"])
        slope = {
            "per_epoch_s": per_epoch,
            "floor_spec_per_epoch_s": n * d * 4 / spec if spec else None,
            "floor_measured_per_epoch_s": n * d * 4 / measured if measured else None,
        }
        rows.append(["full batch, per-epoch slope", f"{full[0]['epochs']}->{full[1]['epochs']}", None,
                     None, _r(per_epoch * 1e3), _r(slope["floor_spec_per_epoch_s"] and slope["floor_spec_per_epoch_s"] * 1e3),
                     _r(per_epoch / slope["floor_spec_per_epoch_s"], 3) if spec else None,
                     _r(per_epoch / slope["floor_measured_per_epoch_s"], 3) if measured else None,
                     _r(n * d * 4 / per_epoch / 1e9) if per_epoch > 0 else None])  # fmt: skip
    headers = ["case", "epochs", "compile+first s", "median ms", "ms/epoch", "floor ms (spec)",
               "x spec floor", "x measured floor", "effective GB/s"]  # fmt: skip
    return {
        "rows": n, "features": d, "dtype": "float32", "optimizer": "adam",
        "cases": out, "full_batch_slope": slope, "skipped_steps": skipped,
        "device_memory": _device_memory(),
        "tables": [_table(f"JAXOptimizer, {n} x {d} float32, X on the device", headers, rows)],
        "notes": ["floor = epochs x passes x n x d x 4 bytes / bandwidth; passes = 1 (full batch), "
                  "2 (mini-batch); XLA's program reads X twice per evaluation: 2x (full batch) and "
                  "1.5x (mini-batch) the floor is what two perfect passes would take",
                  "adam, learning_rate 1e-3, float32; median of the timed fits after one warm-up fit "
                  "(compile + first fit, reported apart)"],
        "problems": problems,
    }  # fmt: skip


def _softmax_head(out: Any, batch: Any) -> Any:
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(out, batch["label"]).mean()


def parallel_trainer(ctx: Any) -> dict[str, Any]:
    """ParallelTrainer on one GPU: the linear ``fit`` and an MLP ``train`` (float32, bfloat16).

    Model FLOP/s of the MLP: ``6 * sum(in * out)`` per sample and epoch (forward 2, backward
    4 multiply-adds per weight), over the median time of ``train``.
    """
    from accel import ParallelTrainer, benchmark_optimizer
    from accel.parallel import init_mlp, mlp_loss

    ctx.require_jax_gpu()
    X, y = _linear_data(ctx)
    n, d = X.shape
    p = ctx.plan
    rows, problems = [], []
    config = {"n_devices": 1, "epochs": p.trainer_epochs, "batch_size": p.minibatch_size,
              "optimizer_type": "adam", "learning_rate": 1e-3}  # fmt: skip
    fit = benchmark_optimizer(ParallelTrainer, X, y, config=config, n_runs=p.repeats)
    if not np.isfinite(fit.final_loss):
        problems.append(f"fit: final loss {fit.final_loss}")
    result: dict[str, Any] = {"fit": {**fit.to_dict(), "batch_size": p.minibatch_size}, "train": []}
    rows.append([f"fit, linear {n} x {d}", "float32", p.trainer_epochs, _r(fit.warmup_time),
                 _r(fit.median_time * 1e3), _r(fit.throughput_samples_per_sec), None])  # fmt: skip
    widths = (d, *p.mlp_widths[1:])
    layers = init_mlp(list(widths), seed=0)
    labels = np.random.default_rng(1).integers(0, widths[-1], n).astype(np.int32)
    data = {"x": X, "label": labels}
    loss_fn = mlp_loss(_softmax_head, activation="relu")
    flops_per_sample = 6 * sum(a * b for a, b in itertools.pairwise(widths))
    for dtype in p.mlp_dtypes:
        if ctx.left() <= 0:
            result.setdefault("skipped_steps", []).append(f"train {dtype}: section budget spent")
            continue
        trainer = ParallelTrainer(n_devices=1, epochs=p.mlp_epochs, batch_size=p.minibatch_size,
                                  compute_dtype=dtype, learning_rate=1e-3)  # fmt: skip
        losses: list[float] = []

        def train(trainer: Any = trainer, losses: list[float] = losses) -> Any:
            params, history = trainer.train(loss_fn, layers, data)
            losses.append(history["loss"][-1])
            return params

        t = time_calls(train, repeats=p.repeats, budget_s=ctx.left())
        if not np.isfinite(losses[-1]):
            problems.append(f"train {dtype}: final loss {losses[-1]}")
        rate = n * p.mlp_epochs / t.median_s
        result["train"].append({"compute_dtype": dtype, "widths": list(widths), "epochs": p.mlp_epochs,
                                "batch_size": p.minibatch_size, **t.to_dict(), "samples_per_s": rate,
                                "model_flop_per_s": rate * flops_per_sample, "final_loss": losses[-1]})  # fmt: skip
        rows.append([f"train, MLP {'-'.join(map(str, widths))} relu", dtype, p.mlp_epochs, _r(t.first_s),
                     _r(t.median_s * 1e3), _r(rate), _r(rate * flops_per_sample / 1e12)])  # fmt: skip
    headers = ["case", "compute dtype", "epochs", "compile+first s", "median ms", "samples/s", "model TFLOP/s"]
    result.update(device_memory=_device_memory(), problems=problems,
                  tables=[_table(f"ParallelTrainer, 1 device, batch {p.minibatch_size}", headers, rows)])
    return result


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
        rows.append([algorithm, int(ids.size), _r(t.first_s), _r(t.median_s * 1e3), _r(entry["samples_per_s"]),
                     _r(cpu_rate), _r(entry["samples_per_s"] / cpu_rate, 3) if cpu_rate else None])  # fmt: skip
    headers = ["algorithm", "ids", "compile+first s", "median ms", "samples/s", "CPU samples/s", "x CPU"]
    return {"results": out, "skipped_steps": skipped, "device_memory": _device_memory(),
            "tables": [_table("gen_augmentation_batch (default config)", headers, rows)]}  # fmt: skip


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
        rows.append([name, _r(t.first_s), _r(t.median_s * 1e3), _r(n / t.median_s)])
    return {"shape": [n, s, s, 3], "results": out, "skipped_steps": skipped, "device_memory": _device_memory(),
            "tables": [_table(f"image ops, batch {n} x {s} x {s} x 3", ["op", "compile+first s", "median ms", "images/s"], rows)]}  # fmt: skip


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
                    rows.append([op, precision, name, b["device"], _r(b["median_time"] and b["median_time"] * 1e3),
                                 _r(b["compile_time"] and b["compile_time"] * 1e3), _r(b["speedup_vs_numpy"], 3),
                                 _r(b["max_rel_diff"], 3), agrees, "" if b["available"] else b["reason"]])  # fmt: skip
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
            "tables": [_table(f"accel compare, n = {p.compare_size}, float32", headers, rows)]}  # fmt: skip
