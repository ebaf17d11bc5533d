"""The sections that check the machine and train: requirements, tests, device, JAXOptimizer,
ParallelTrainer (the contract of a section: :mod:`benchmarks.gpu._plan`).

Example:
    >>> sorted(__all__)
    ['device', 'jax_optimizer', 'parallel_trainer', 'requirements', 'tests']
"""

from __future__ import annotations

import itertools
import os
import tempfile
from typing import Any

import numpy as np

from benchmarks.gpu._plan import SectionSkipped, device_memory, rounded, table
from benchmarks.gpu._timing import hbm_floor_seconds, time_calls

__all__ = ["device", "jax_optimizer", "parallel_trainer", "requirements", "tests"]


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
    checks = table(path.name, ["requirement", "package", "installed", "satisfied", "note"],
                   [[r["requirement"], r["name"], r["installed"], r["satisfied"], r["note"]] for r in rows])  # fmt: skip
    return {"file": path.name, "checks": rows, "tables": [checks], "notes": notes, "problems": problems}


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
        tables.append(table("pytest " + " ".join(ctx.pytest_args), list(counts), [list(counts.values())]))
    if result["failures"]:
        tables.append(table("failures", ["test", "kind", "message"],
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
        ["spec (" + str(info.get("spec_bandwidth_source")) + ")", rounded(spec / 1e9) if spec else None, None],
        [f"measured: y = x + 1, {copy['bytes_per_call'] / 2**30:.3g} GiB moved per call",
         rounded(copy["bandwidth_bytes_per_s"] / 1e9), rounded(copy["median_s"] * 1e3)],
    ]  # fmt: skip
    return {
        "jax_backend": backend,
        "jax_devices": devices,
        "gpu": info,
        "copy": copy,
        "device_memory": device_memory(),
        "tables": [table("memory bandwidth", ["source", "GB/s", "median ms"], rows)],
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
    epoch (``passes = 2``). The engine (``accel.linear._flat_step``: one ``X @ w`` and one
    ``r @ X`` per full-data evaluation, each its own XLA dot) reads X twice per evaluation:
    ``engine_passes`` = 2 (full batch: the step reuses the evaluation's gradient) and 3
    (mini-batch: the steps gather every row once, then the evaluation's two products), and
    ``ratio_to_engine_floor_*`` compares with that floor (issue 17's target: <= 1.5x for the
    full batch). The per-epoch slope between the two full-batch lengths removes the fixed
    cost of a fit (dispatch, the initial evaluation, copying coef_ and history_ back).
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
        engine_passes = 2 if batch_size is None else 3
        floor = {
            name: hbm_floor_seconds(epochs=epochs, passes=passes, rows=n, features=d, itemsize=4, bandwidth=b)
            for name, b in (("spec", spec), ("measured", measured)) if b
        }  # fmt: skip
        engine = {k: v * engine_passes / passes for k, v in floor.items()}
        entry = {
            "case": label, "batch_size": batch_size, "epochs": r.epochs, "passes": passes,
            "engine_passes": engine_passes,
            "compile_and_first_fit_s": r.warmup_time, "median_s": r.median_time,
            "times_s": list(r.times), "final_loss": r.final_loss,
            "floor_spec_s": floor.get("spec"), "floor_measured_s": floor.get("measured"),
            "ratio_to_spec_floor": r.median_time / floor["spec"] if "spec" in floor else None,
            "ratio_to_measured_floor": r.median_time / floor["measured"] if "measured" in floor else None,
            "ratio_to_engine_floor_spec": r.median_time / engine["spec"] if "spec" in engine else None,
            "ratio_to_engine_floor_measured": (
                r.median_time / engine["measured"] if "measured" in engine else None),
            "effective_bandwidth_bytes_per_s": epochs * passes * n * d * 4 / r.median_time,
        }  # fmt: skip
        if r.epochs != epochs or not np.isfinite(r.final_loss):
            problems.append(f"{label}: ran {r.epochs} of {epochs} epochs, final loss {r.final_loss}")
        out.append(entry)
        rows.append([label, epochs, rounded(r.warmup_time), rounded(r.median_time * 1e3),
                     rounded(r.median_time / epochs * 1e3), rounded(entry["floor_spec_s"] and entry["floor_spec_s"] * 1e3),
                     rounded(entry["ratio_to_spec_floor"], 3), rounded(entry["ratio_to_measured_floor"], 3),
                     rounded(entry["ratio_to_engine_floor_spec"], 3),
                     rounded(entry["ratio_to_engine_floor_measured"], 3),
                     rounded(entry["effective_bandwidth_bytes_per_s"] / 1e9)])  # fmt: skip
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
                     None, rounded(per_epoch * 1e3), rounded(slope["floor_spec_per_epoch_s"] and slope["floor_spec_per_epoch_s"] * 1e3),
                     rounded(per_epoch / slope["floor_spec_per_epoch_s"], 3) if spec else None,
                     rounded(per_epoch / slope["floor_measured_per_epoch_s"], 3) if measured else None,
                     rounded(per_epoch / slope["floor_spec_per_epoch_s"] / 2, 3) if spec else None,
                     rounded(per_epoch / slope["floor_measured_per_epoch_s"] / 2, 3) if measured else None,
                     rounded(n * d * 4 / per_epoch / 1e9) if per_epoch > 0 else None])  # fmt: skip
    headers = ["case", "epochs", "compile+first s", "median ms", "ms/epoch", "floor ms (spec)",
               "x spec floor", "x measured floor", "x engine floor (spec)", "x engine floor (measured)",
               "effective GB/s"]  # fmt: skip
    return {
        "rows": n, "features": d, "dtype": "float32", "optimizer": "adam",
        "cases": out, "full_batch_slope": slope, "skipped_steps": skipped,
        "device_memory": device_memory(),
        "tables": [table(f"JAXOptimizer, {n} x {d} float32, X on the device", headers, rows)],
        "notes": ["floor = epochs x passes x n x d x 4 bytes / bandwidth; passes = 1 (full batch), "
                  "2 (mini-batch); the engine reads X twice per evaluation (one dot each way): its "
                  "own floor has engine_passes = 2 (full batch) and 3 (mini-batch); 'x engine floor' "
                  "compares with that one (target for the full batch: <= 1.5)",
                  "adam, learning_rate 1e-3, float32; median of the timed fits after one warm-up fit "
                  "(compile + first fit, reported apart)"],
        "problems": problems,
    }  # fmt: skip


def _softmax_head(out: Any, batch: Any) -> Any:
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(out, batch["label"]).mean()


def parallel_trainer(ctx: Any) -> dict[str, Any]:
    """ParallelTrainer on one GPU: the linear ``fit`` (the data in memory, and streamed from
    ``.npy`` files: ``throughput_vs_resident``, issue 27 item 3) and an MLP ``train``
    (float32, bfloat16), against a hand-written loop of the same MLP (``jit`` + ``lax.scan`` over the batches,
    ``optax.adam``, float32: ``benchmarks._scan_loop``, as in ``bench_train_mlp``; issue 27
    item 1).

    Model FLOP/s of the MLP: ``6 * sum(in * out)`` per sample and epoch (forward 2, backward
    4 multiply-adds per weight), over the median time of ``train``. The data are placed on
    the GPU once, before timing, for both.
    """
    import jax
    import optax

    from accel import ParallelTrainer, benchmark_optimizer
    from accel.parallel import init_mlp, mlp_loss
    from benchmarks._scan_loop import batched, scan_epoch

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
    rows.append([f"fit, linear {n} x {d}", "float32", p.trainer_epochs, rounded(fit.warmup_time),
                 rounded(fit.median_time * 1e3), rounded(fit.throughput_samples_per_sec), None])  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="accel-gpu-streamed-") as tmp:  # the same fit from .npy files
        paths = (os.path.join(tmp, "X.npy"), os.path.join(tmp, "y.npy"))
        np.save(paths[0], X)
        np.save(paths[1], y)
        streamed_fit = ParallelTrainer(**config)
        t = time_calls(lambda: streamed_fit.fit(*paths).coef_, repeats=p.repeats, budget_s=ctx.left())
    rate = n * p.trainer_epochs / t.median_s
    result["fit_streamed"] = {**t.to_dict(), "samples_per_s": rate, "batch_size": p.minibatch_size,
                              "throughput_vs_resident": rate / fit.throughput_samples_per_sec}  # fmt: skip
    rows.append([f"fit, linear {n} x {d}, streamed from .npy files", "float32", p.trainer_epochs,
                 rounded(t.first_s), rounded(t.median_s * 1e3), rounded(rate), None])  # fmt: skip
    widths = (d, *p.mlp_widths[1:])
    layers = init_mlp(list(widths), seed=0)
    labels = np.random.default_rng(1).integers(0, widths[-1], n).astype(np.int32)
    data = {"x": X, "label": labels}
    loss_fn = mlp_loss(_softmax_head, activation="relu")
    flops_per_sample = 6 * sum(a * b for a, b in itertools.pairwise(widths))
    placed = jax.block_until_ready(jax.device_put(data))
    batches_host, peer_rows = batched(data, p.minibatch_size)
    batches, start = jax.block_until_ready(jax.device_put((batches_host, layers)))
    tx = optax.adam(1e-3)
    epoch = jax.jit(scan_epoch(tx, jax.value_and_grad(loss_fn)))

    def hand_written() -> Any:
        params, state = start, tx.init(start)
        for _ in range(p.mlp_epochs):
            params, state, _ = epoch(params, state, batches)
        return jax.block_until_ready(params)

    t = time_calls(hand_written, repeats=p.repeats, budget_s=ctx.left())
    peer_rate = peer_rows * p.mlp_epochs / t.median_s
    result["hand_written"] = {"widths": list(widths), "epochs": p.mlp_epochs, "rows_per_epoch": peer_rows,
                              **t.to_dict(), "samples_per_s": peer_rate}  # fmt: skip
    rows.append([f"hand-written jit + lax.scan, MLP {'-'.join(map(str, widths))}", "float32", p.mlp_epochs,
                 rounded(t.first_s), rounded(t.median_s * 1e3), rounded(peer_rate),
                 rounded(peer_rate * flops_per_sample / 1e12)])  # fmt: skip
    for dtype in p.mlp_dtypes:
        if ctx.left() <= 0:
            result.setdefault("skipped_steps", []).append(f"train {dtype}: section budget spent")
            continue
        trainer = ParallelTrainer(n_devices=1, epochs=p.mlp_epochs, batch_size=p.minibatch_size,
                                  compute_dtype=dtype, learning_rate=1e-3)  # fmt: skip
        losses: list[float] = []

        def train(trainer: Any = trainer, losses: list[float] = losses) -> Any:
            params, history = trainer.train(loss_fn, layers, placed)
            losses.append(history["loss"][-1])
            return params

        t = time_calls(train, repeats=p.repeats, budget_s=ctx.left())
        if not np.isfinite(losses[-1]):
            problems.append(f"train {dtype}: final loss {losses[-1]}")
        rate = n * p.mlp_epochs / t.median_s
        result["train"].append({"compute_dtype": dtype, "widths": list(widths), "epochs": p.mlp_epochs,
                                "batch_size": p.minibatch_size, **t.to_dict(), "samples_per_s": rate,
                                "model_flop_per_s": rate * flops_per_sample, "final_loss": float(losses[-1]),
                                "throughput_vs_hand_written": rate / peer_rate})  # fmt: skip
        rows.append([f"train, MLP {'-'.join(map(str, widths))} relu", dtype, p.mlp_epochs, rounded(t.first_s),
                     rounded(t.median_s * 1e3), rounded(rate), rounded(rate * flops_per_sample / 1e12)])  # fmt: skip
    headers = ["case", "compute dtype", "epochs", "compile+first s", "median ms", "samples/s", "model TFLOP/s"]
    result.update(device_memory=device_memory(), problems=problems,
                  tables=[table(f"ParallelTrainer, 1 device, batch {p.minibatch_size}", headers, rows)])
    return result
