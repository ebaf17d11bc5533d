"""What every section shares: the sizes (:class:`Plan`), the tolerances, the skip signal and
the helpers that shape results for the summary.

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
    >>> table("t", ["a", "b"], [[1, rounded(2.345678)]])
    {'title': 't', 'headers': ['a', 'b'], 'rows': [[1, 2.346]]}
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "FULL",
    "IMAGE_OPS",
    "TINY",
    "TOL_DEFAULT_PRECISION",
    "TOL_HIGHEST_PRECISION",
    "Plan",
    "SectionSkipped",
    "device_memory",
    "rounded",
    "table",
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
    augment_train_rows: int = 16384
    augment_train_batch: int = 256
    augment_train_epochs: int = 2
    compare_ops: tuple[str, ...] = ("matmul", "logreg_grad")
    compare_size: int = 4096
    compare_runs: int = 10
    compare_warmup: int = 3


FULL = Plan()
TINY = Plan(
    repeats=2, copy_floats=1 << 16, linear_rows=512, linear_features=16, linear_epochs=(5, 20),
    minibatch_size=64, minibatch_epochs=2, trainer_epochs=2, mlp_widths=(16, 32, 4),
    mlp_epochs=1, augment_ids=4096, dpa_ids=64, image_batch=4, image_size=16,
    augment_train_rows=128, augment_train_batch=32, augment_train_epochs=1,
    compare_size=64, compare_runs=2, compare_warmup=1,
)  # fmt: skip



def table(title: str, headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """A table of a section's results, as the Markdown summary prints it."""
    return {"title": title, "headers": headers, "rows": rows}


def rounded(x: float | None, digits: int = 4) -> float | None:
    """``x`` to ``digits`` significant digits for a table (``None`` kept)."""
    return None if x is None else float(f"{x:.{digits}g}")


def device_memory() -> dict[str, Any] | None:
    """The default device's allocator statistics (GPU: peak bytes in use so far)."""
    import jax

    stats = jax.devices()[0].memory_stats()
    if not stats:
        return None
    keys = ("peak_bytes_in_use", "bytes_in_use", "bytes_limit")
    return {k: int(stats[k]) for k in keys if k in stats}

