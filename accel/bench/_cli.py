"""``accel compare``: validate the request, run a built-in operation per size, report.

All arguments are checked before anything runs (one-line errors, no partial files); the
JSON file and the plot are written atomically.

Example:
    >>> from accel.bench._cli import CompareRequest
    >>> r = CompareRequest.from_strings(op="matvec", sizes="8,16", backends="numpy",
    ...                                 dtype="float32", n_runs="2", warmup="0")
    >>> r.sizes, r.backends, r.n_runs
    ((8, 16), ('numpy',), 2)
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import os
import platform
from pathlib import Path
from typing import Any

from accel._info import jax_devices, package_versions
from accel._report import dump_json, format_table, optional_import, write_atomic
from accel.bench._compare import check_backends, check_dtype, check_n_runs, check_warmup
from accel.bench._operations import OPERATIONS, get_operation, parse_sizes, run_operation
from accel.bench._results import _TABLE_HEADERS, NOISY_RELATIVE_STD, Comparison, _table_row

__all__ = ["CompareRequest", "plot_comparisons", "run"]

PLOT_SIZE_INCHES = (8.0, 5.0)
PLOT_DPI = 100


def _int_arg(flag: str, text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError(f"{flag} must be an integer, got {text!r}") from None


def _output_path(flag: str, path: str | None, suffix: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.parent.is_dir():
        raise ValueError(f"{flag}: folder {str(p.parent)!r} does not exist")
    if p.is_dir():
        raise ValueError(f"{flag}: {path!r} is a folder, expected a {suffix} file path")
    return p


@dataclasses.dataclass(frozen=True)
class CompareRequest:
    """A validated ``accel compare`` request."""

    op: str
    sizes: tuple[int, ...]
    backends: tuple[str, ...]
    dtype: str
    n_runs: int = 10
    warmup: int = 3
    seed: int = 0
    json_path: Path | None = None
    plot_path: Path | None = None

    @classmethod
    def from_strings(
        cls,
        *,
        op: str,
        sizes: str,
        backends: str,
        dtype: str,
        n_runs: str = "10",
        warmup: str = "3",
        seed: str = "0",
        json_path: str | None = None,
        plot_path: str | None = None,
    ) -> CompareRequest:
        get_operation(op)
        names = check_backends([b.strip() for b in backends.split(",")])
        dt = check_dtype(dtype)
        if plot_path is not None:
            optional_import("matplotlib", "plot", "--plot")
        return cls(
            op=op,
            sizes=parse_sizes(sizes),
            backends=names,
            dtype=dt.name,
            n_runs=check_n_runs(_int_arg("--n-runs", n_runs)),
            warmup=check_warmup(_int_arg("--warmup", warmup)),
            seed=_int_arg("--seed", seed),
            json_path=_output_path("--json", json_path, ".json"),
            plot_path=_output_path("--plot", plot_path, ".png"),
        )


def _gflops(op: str, size: int, median: float | None) -> float | None:
    flops = OPERATIONS[op].flops
    if flops is None or not median:
        return None
    return flops(size) / median / 1e9


def render_table(request: CompareRequest, comparisons: dict[int, Comparison]) -> str:
    headers = ("size", *_TABLE_HEADERS[:-1], "GFLOP/s", _TABLE_HEADERS[-1])
    rows = []
    for size, comp in comparisons.items():
        for r in comp.values():
            row = _table_row(r)
            g = _gflops(request.op, size, r.median_time)
            rows.append([size, *row[:-1], None if g is None else float(f"{g:.4g}"), row[-1]])
    return format_table(headers, rows)


def to_document(request: CompareRequest, comparisons: dict[int, Comparison], command: str | None) -> dict[str, Any]:
    backend, devices = jax_devices()
    op = OPERATIONS[request.op]
    results = []
    for size, comp in comparisons.items():
        d = comp.to_dict()
        entry: dict[str, Any] = {
            "size": size,
            "flops": op.flops(size) if op.flops else None,
            "reference": d["reference"],
            "backends": d["results"],
        }
        for name, r in comp.items():
            entry["backends"][name]["gflop_per_s"] = _gflops(request.op, size, r.median_time)
        results.append(entry)
    return {
        "command": command,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "jax_backend": backend,
            "jax_devices": devices,
        },
        "versions": package_versions(),
        "op": request.op,
        "description": op.description,
        "dtype": request.dtype,
        "sizes": list(request.sizes),
        "backends": list(request.backends),
        "n_runs": request.n_runs,
        "warmup": request.warmup,
        "seed": request.seed,
        "results": results,
    }


def plot_comparisons(request: CompareRequest, comparisons: dict[int, Comparison], path: Path) -> None:
    """Log-log median time against size, one line per backend that ran; PNG via Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    fig = Figure(figsize=PLOT_SIZE_INCHES, dpi=PLOT_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(f"accel compare: {request.op}, {request.dtype}")
    plotted = False
    for name in request.backends:
        points = [(n, c[name].median_time) for n, c in comparisons.items() if c[name].available]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=name)
            plotted = True
        else:
            ax.plot([], [], label=f"{name} (unavailable)")
    ax.legend()
    if plotted:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(list(request.sizes), labels=[str(n) for n in request.sizes])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("size n")
        ax.set_ylabel("median time per call [s]")
        ax.grid(True, which="both", alpha=0.3)
    else:
        ax.text(0.5, 0.5, "no backend could run (see the table or JSON for why)",
                transform=ax.transAxes, ha="center", va="center")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_atomic(path, buf.getvalue())


def run(request: CompareRequest, command: str | None = None) -> dict[int, Comparison]:
    """Run, print the table, write JSON and plot as requested; ``command`` is recorded in
    the JSON so that the numbers can be reproduced."""
    comparisons = {
        n: run_operation(request.op, n, request.backends, request.dtype,
                         request.n_runs, request.warmup, request.seed)
        for n in request.sizes
    }
    print(f"accel compare: {request.op} ({OPERATIONS[request.op].description}), "
          f"n_runs={request.n_runs}, warmup={request.warmup}; times in ms")
    print(render_table(request, comparisons))
    unreliable = [f"{n}/{r.backend}" for n, c in comparisons.items() for r in c.values()
                  if r.speedup_reliable is False and r.backend != "numpy"]  # fmt: skip
    if unreliable:
        print(f"warning: timings too spread out (std > {NOISY_RELATIVE_STD} x mean) for a "
              f"meaningful speedup: {', '.join(unreliable)}; rerun on an idle machine or with "
              "more --n-runs")  # fmt: skip
    if request.json_path is not None:
        dump_json(to_document(request, comparisons, command), request.json_path)
        print(f"wrote {request.json_path}")
    if request.plot_path is not None:
        plot_comparisons(request, comparisons, request.plot_path)
        print(f"wrote {request.plot_path}")
    return comparisons
