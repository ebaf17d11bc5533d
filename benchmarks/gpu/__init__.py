"""The GPU kit: one command that checks everything on an NVIDIA GPU, and records its numbers.

``python -m benchmarks.gpu [--output gpu_results] [--deadline 480] [--sections a,b]
[--dry-run] [--pytest-args "..."]``, from the repository root:

1. ``requirements``: ``requirements-cuda.txt`` against the installed versions (jax and its
   CUDA plugin, CuPy, nvidia-ml-py);
2. ``tests``: the ``gpu``-marked tests (``pytest -m gpu tests``) in a subprocess with a
   timeout, before this process touches the GPU; counts, failures and the summary line go to
   the JSON, the whole output to ``pytest_gpu.log``;
3. ``device``: JAX's devices, NVML's view of the GPU, the spec memory bandwidth (NVML, else
   a datasheet table for H100/H200) and a measured device-to-device copy;
4. ``jax_optimizer``: ``JAXOptimizer`` fit on 60000 x 784 float32 against the HBM floor
   ``epochs * passes * n * d * 4 / bandwidth`` (``passes`` = reads of X per epoch: 1 full
   batch: ``z = X @ w`` and ``X.T @ (z - y)`` need row ``i`` of X only for row ``i`` of the
   residual, one streaming pass; 2 mini-batch: every row once for the steps and once more
   for the full-data loss ``history_`` records after each epoch), and against the engine's
   own floor (``engine_passes``: 2 full batch, 3 mini-batch: one dot each way per evaluation);
5. ``parallel_trainer``: ``ParallelTrainer`` on one GPU, the linear ``fit`` (the data in
   memory, and streamed from ``.npy`` files) and an MLP ``train`` (float32 and bfloat16
   compute, against a hand-written loop);
6. ``augment_params``: samples/s of ``gen_augmentation_batch`` for each algorithm of
   ``accel.augment.ALGORITHMS``, GPU and CPU in the same process;
7. ``image_ops``: images/s of each image op and of ``apply_augmentations``;
8. ``augment_training``: a small CNN trained by ``ParallelTrainer.train`` without and with
   ``augment='moderate'`` (inside the step) and with the same augmentation applied per
   batch by a host loop (``benchmarks/bench_augment_train.py``'s cases, 1 device);
9. ``compare_backends``: NumPy vs JAX vs CuPy for ``matmul`` and ``logreg_grad`` (``accel
   compare``), results agreeing within ``max_rel_diff <= 1e-2`` at XLA's default precision
   (TF32) and ``<= 1e-4`` for JAX at ``'highest'``.

Timing rule everywhere: inputs on the device first, compilation (the first call) reported
apart, every call waited for (``block_until_ready``), the median of the timed calls quoted.

The whole run has a deadline (``--deadline``, default 480 s = 8 minutes). Each section has
a budget (``SECTIONS``) and is skipped, with the reason recorded, when the time left is too
short; a watchdog ends a run stuck past the deadline and still writes the files. Results:
``<output>/gpu_check.json`` (schema ``accel.gpu_check`` version 1, written atomically and
last; see ``SCHEMA``, ``SCHEMA_VERSION`` and ``validate``), ``<output>/gpu_check.md`` (the
summary: tables to paste into BENCHMARKS.md) and ``<output>/pytest_gpu.log``.

Without an NVIDIA GPU (neither NVML nor ``nvidia-smi`` sees one) it says so, writes the JSON
and Markdown with ``status: "skipped"`` and the reason (so a caller always finds a record),
runs nothing, and exits 0. ``--dry-run`` rehearses every section on the CPU with tiny sizes
(``TINY``; JAX on the CPU, CuPy and the test process see no GPU): it checks the
orchestration, not the GPU; ``mode`` says ``dry-run`` in the JSON. Exit codes: 0 all
sections ok, or no GPU here (``status: skipped``); 1 a section failed; 2 bad arguments; 3
incomplete (a section skipped for lack of time, or the deadline passed); 4 a required
package is missing.

On a lent GPU machine without a package registry (this project's H200 image has jax, CuPy,
optax, pytest, nvidia-ml-py, but not ``array-api-compat``), bring the missing wheel from a
machine with one, in the repository root, then run with the wheel on the path::

    # here (has PyPI): the wheel goes to the git-ignored .whl/
    python3 -m pip download --no-deps --only-binary=:all: -d .whl array-api-compat==1.16.0
    # there (carry .whl); the run ends by 500 s (deadline 480 s + the watchdog's 20 s):
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
    PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 timeout 560 python3 -m benchmarks.gpu --output "$OUT/gpu_results"

Without the wheel the run stops at once naming the missing package (exit 4). The summary is
printed last, so the end of the output carries it. To rerun only what failed, add
``--sections tests,compare_backends`` (and ``--pytest-args "-m gpu -q tests/test_gpu.py -k dpa"``)
with a shorter ``--deadline``.

Example (the whole orchestration on the CPU, one stand-in section):
    >>> import tempfile, json, pathlib
    >>> from benchmarks.gpu import SectionSpec, run_kit, validate
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> doc = run_kit(out, dry_run=True, deadline_s=60,
    ...               specs=[SectionSpec("hello", lambda ctx: {"tables": []}, budget_s=5, min_s=0)])
    >>> doc["status"], validate(json.loads((out / "gpu_check.json").read_text()))
    ('ok', [])
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FULL",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SECTIONS",
    "TINY",
    "GpuProbe",
    "Plan",
    "SectionSpec",
    "main",
    "run_kit",
    "validate",
]

# Resolved on first use, so that ``python -m benchmarks.gpu`` can check for missing
# packages (``__main__``) before anything imports accel.
_LAZY = {
    "FULL": "_plan", "TINY": "_plan", "Plan": "_plan",
    "SCHEMA": "_document", "SCHEMA_VERSION": "_document", "validate": "_document",
    "SECTIONS": "_runner", "SectionSpec": "_runner", "run_kit": "_runner",
    "GpuProbe": "_device", "main": "_cli",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'benchmarks.gpu' has no attribute {name!r}")
    return getattr(importlib.import_module(f"benchmarks.gpu.{_LAZY[name]}"), name)
