"""Rendering of the suite's results: Markdown report, PNG plots, console table, atomic writes.

Every table and plot says what a bare number would hide:

- ``(noisy)``: a time whose repeats spread more than ``accel compare`` allows
  (:func:`timing_spread`, :data:`accel.bench.NOISY_RELATIVE_STD`), and every
  speed-up computed from such a time (the backend's or NumPy's); hatched in the speed-up plot;
- ``(reused)``: a compiled backend's compile time when nothing was compiled during its first
  call (the program was compiled by an earlier fit, see ``program_reused``);
- footnotes say both; the console table is as wide as its longest problem name.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accel.bench import NOISY_RELATIVE_STD, relative_spread

__all__ = ["console_summary", "markdown", "slug", "timing_spread", "write_plots"]

NOISY = " (noisy)"
REUSED = " (reused)"
NOISY_NOTE = (
    f"(noisy): the timed repeats of this fit spread too much: their standard deviation exceeds "
    f"{NOISY_RELATIVE_STD:g} x their mean (the rule of `accel compare`, "
    "`accel.bench.NOISY_RELATIVE_STD`). The machine's load moved them, so such a time, "
    "and a speed-up computed from it (the backend's time or NumPy's), measures the load as much "
    "as the backends; rerun on an idle machine or with more `--repeats`."
)
REUSED_NOTE = (
    "(reused): nothing was compiled during this fit's first call: its program had already been "
    "compiled, by an earlier fit with the same shapes, dtype and settings in this run (whose "
    "compile time includes it) or loaded from JAX's persistent compilation cache, so its "
    "compile time is about zero."
)
ONE_REPEAT_NOTE = (
    "One timed repeat per fit: the spread of the times is not measured, so no time or speed-up "
    "can be flagged (noisy); use `--repeats 3` or more."
)


def timing_spread(times: Sequence[float]) -> tuple[float | None, bool | None]:
    """``(relative_std, noisy)`` of repeated timings, by ``accel compare``'s rule:
    ``relative_std = stdev(times) / mean(times)`` (sample standard deviation) and ``noisy``
    when it exceeds ``NOISY_RELATIVE_STD``; ``(None, None)`` when not measurable (fewer than
    two timings).

    Example:
        >>> timing_spread([0.91, 4.72, 4.71])[1], timing_spread([1.0, 1.1, 0.9])[1]
        (True, False)
    """
    times = [float(t) for t in times]
    if len(times) < 2:
        return None, None
    return relative_spread(statistics.fmean(times), statistics.stdev(times), len(times))


def _noisy(r: dict[str, Any]) -> bool:
    """Whether a result's time is noisy (recomputed from ``times_s`` for older results)."""
    flag = r["time_noisy"] if "time_noisy" in r else timing_spread(r.get("times_s") or [])[1]
    return bool(flag)


def _reused(r: dict[str, Any]) -> bool:
    return r["backend"] != "numpy" and r.get("program_reused") is True


def _compile_cell(r: dict[str, Any], fmt: Any) -> str:
    if r["backend"] == "numpy":
        return "-"
    return fmt(r["compile_time_s"]) + (REUSED if _reused(r) else "")


def _sizes(p: dict[str, Any]) -> list[str]:
    """``n_train``/``n_test``/``n_features`` of the arrays fitted (the metadata's for older
    results)."""
    meta = p["metadata"]
    return [f"{k} {p.get(k, meta.get(k))}" for k in ("n_train", "n_test", "n_features")
            if p.get(k, meta.get(k)) is not None]


def _kappa(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):  # null in JSON when infinite
        return "inf (singular)"
    return _fmt(float(value))


def slug(name: str) -> str:
    """File-name form of a problem name: ``'Extreme kappa=1e+06'`` -> ``'extreme_kappa_1e_06'``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.3e}"


def _speedups(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (problem, optimizer): median times per backend, whether each is noisy, the ratio
    numpy / backend and whether that ratio is reliable (neither time noisy)."""
    times: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    noisy: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for r in data["results"]:
        times[(r["problem"], r["optimizer"])][r["backend"]] = r["time_median_s"]
        noisy[(r["problem"], r["optimizer"])][r["backend"]] = _noisy(r)
    rows = []
    for key, per in times.items():
        row = {"problem": key[0], "optimizer": key[1], "times": per, "noisy": noisy[key]}
        row["speedup"] = {b: per["numpy"] / t for b, t in per.items() if b != "numpy" and "numpy" in per}
        row["reliable"] = {b: not (noisy[key][b] or noisy[key]["numpy"]) for b in row["speedup"]}
        rows.append(row)
    return rows


def _speedup_cell(row: dict[str, Any], backend: str) -> str:
    if backend not in row["speedup"]:
        return "-"
    return f"{row['speedup'][backend]:.2f}x" + ("" if row["reliable"][backend] else NOISY)


def _footnotes(data: dict[str, Any], rows: list[dict[str, Any]], *, compile: bool = True,
               repeats: bool = True) -> list[str]:
    """The notes the marks in ``rows`` need (``compile``: the compile column's too) and, with
    ``repeats``, the caveat of a single timed repeat."""
    notes = []
    if any(_noisy(r) for r in rows):
        notes.append(NOISY_NOTE)
    if compile and any(_reused(r) for r in rows):
        notes.append(REUSED_NOTE)
    if repeats and data.get("repeats", 2) < 2 and rows:
        notes.append(ONE_REPEAT_NOTE)
    return notes


def markdown(data: dict[str, Any], plots: dict[str, list[str]]) -> str:
    """The report: set-up, rule, then one table per problem, speed-ups and plots."""
    out = ["# Large-scale benchmark report", ""]
    out += [
        f"Generated {data['created']} by `{data['command']}`.",
        "",
        f"- versions: {', '.join(f'{k} {v}' for k, v in data['versions'].items() if v)}",
        f"- device: {data['device']['backend']} ({', '.join(data['device']['devices'])})",
        f"- dtype {data['dtype']}, seed {data['seed']}, {data['repeats']} timed repeats per fit "
        "(median reported; compiled backends' first call timed apart as compile time)",
        f"- converged: relative gap to the optimum `(loss - opt)/|opt|` <= {data['rtol']:g}; final "
        "losses are recomputed in float64 from the returned parameters",
        "",
        "## Learning-rate rule",
        "",
        f"- SGD family (sgd, momentum, nesterov): {data['lr_rule']['sgd_family']}.",
        f"- Adaptive (adam, adamw, adagrad, rmsprop): {data['lr_rule']['adaptive']}.",
    ]
    if "line_search" in data["lr_rule"]:
        out.append(f"- Line search (lbfgs, JAXOptimizer only): {data['lr_rule']['line_search']}.")
    out += [
        "",
    ]
    for s in data["skipped"]:
        out.append(f"- backend `{s['backend']}` skipped: {s['reason']}")
    if data["skipped"]:
        out.append("")
    fallbacks = [(p["name"], p["fallback"]) for p in data["problems"] if p["fallback"]]
    if fallbacks:
        out += ["## Fallbacks used", ""] + [f"- **{n}**: {f}" for n, f in fallbacks] + [""]
    for p in data["problems"]:
        meta = p["metadata"]
        out += [f"## {p['name']}", ""]
        facts = ([f"source {meta['source']}"] if "source" in meta else []) + _sizes(p)
        if "condition_number" in meta:
            kappa = meta["condition_number"]  # null in JSON when infinite (singular Hessian)
            fact = "condition number " + _kappa(kappa)
            generated = meta.get("generated") or {}
            if "condition_number" in generated:  # a split of generated data (_problems._split)
                fact += (f" (training rows; {_kappa(generated['condition_number'])} on all "
                         f"{generated.get('n_samples', '?')} generated rows)")
            facts.append(fact)
        penalty = f" + L2 penalty alpha/2 ||w||², alpha = {p['alpha']:g}" if p.get("alpha") else ""
        out.append(f"{p['loss']} loss{penalty}; " + ", ".join(facts))
        if p["fallback"]:
            out.append(f"\n**Fallback:** {p['fallback']}")
        o = p["optimum"]
        out += [
            "",
            f"Optimum (training loss): **{o['loss']:.10g}** by {o['method']} (gradient norm {o['grad_norm']:.1e}); "
            f"L = {_fmt(p['lipschitz'])}.",
            "",
            "Learning rates: " + ", ".join(
                f"{k} {_fmt(v)} ({p['lr_source'][k]})" for k, v in p["learning_rates"].items()
            ),
            "",
        ]
        rows = [r for r in data["results"] if r["problem"] == p["name"]]
        metric = rows[0]["test_metric_name"] if rows else "test_mse"
        metric_title = "Test accuracy" if metric == "accuracy" else "Test MSE"
        out += [
            f"| Optimizer | Backend | Time (s) | Compile (s) | Epochs | Final loss | Gap | {metric_title} | Converged |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            conv = "yes" if r["converged"] else ("diverged" if r["diverged"] else "no")
            out.append(
                f"| {r['optimizer']} | {r['backend']} | "
                f"{_fmt(r['time_median_s'])}{NOISY if _noisy(r) else ''} | {_compile_cell(r, _fmt)} | "
                f"{r['epochs']} | {r['final_train_loss']:.8g} | "
                f"{_fmt(r['gap'])} | {r['test_metric']:.6g} | {conv} |"
            )
        out.append("")
        out += [line for note in _footnotes(data, rows, repeats=False) for line in (note, "")]
        for png in plots.get(p["name"], []):
            out += [f"![{png}]({png})", ""]
    sp = _speedups(data)
    others = sorted({b for r in sp for b in r["speedup"]})
    if others:
        out += [
            "## Backend speed-ups",
            "",
            "Median fit time of the NumPy reference divided by the backend's (same dtype, same epochs; "
            "compile time excluded, reported above).",
            "",
            "| Problem | Optimizer | NumPy (s) | " + " | ".join(f"{b} (s) | {b} speed-up" for b in others) + " |",
            "|---|---|---:|" + "---:|---:|" * len(others),
        ]
        def timed(r: dict[str, Any], b: str) -> str:
            t = r["times"].get(b)
            return "-" if t is None else _fmt(t) + (NOISY if r["noisy"].get(b) else "")

        for r in sp:
            cells = []
            for b in others:
                cells += [timed(r, b), _speedup_cell(r, b)]
            head = f"| {r['problem']} | {r['optimizer']} | {timed(r, 'numpy')} | "
            out.append(head + " | ".join(cells) + " |")
        out.append("")
        notes = _footnotes(data, data["results"], compile=False)
        out += [line for note in notes for line in (note, "")]
        for png in plots.get("__speedup__", []):
            out += [f"![{png}]({png})", ""]
    return "\n".join(out)


def write_plots(data: dict[str, Any], output_dir: Path) -> dict[str, list[str]]:
    """PNG plots per problem (loss vs epoch, loss vs time) and the speed-up chart.

    Returns file names keyed by problem name (``'__speedup__'`` for the chart).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'accel[plot]'") from exc
    output_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = defaultdict(list)
    styles = {"numpy": "-", "jax": "--", "parallel": ":"}
    for p in data["problems"]:
        rows = [r for r in data["results"] if r["problem"] == p["name"]]
        colors = {o: f"C{i}" for i, o in enumerate(dict.fromkeys(r["optimizer"] for r in rows))}
        opt = p["optimum"]["loss"]
        floor = 1e-12 * max(1.0, abs(opt))
        for kind in ("epoch", "time"):
            fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=80)
            for r in rows:
                hist = r["history_loss"]
                gaps = [max(h - opt, floor) if math.isfinite(h) else math.nan for h in hist]
                if kind == "epoch":
                    xs = list(range(len(hist)))
                else:
                    per_epoch = r["time_median_s"] / max(r["epochs"], 1)
                    xs = [i * per_epoch for i in range(len(hist))]
                noisy = ", noisy time" if _noisy(r) else ""
                ax.plot(xs, gaps, styles.get(r["backend"], "-"), color=colors[r["optimizer"]],
                        label=f"{r['optimizer']} ({r['backend']}{noisy})")
            ax.set_yscale("log")
            ax.set_xlabel("epoch" if kind == "epoch" else "seconds (median fit time spread evenly over epochs)")
            ax.set_ylabel("training loss - optimum")
            ax.set_title(f"{p['name']}: loss vs {kind}")
            # Fixed legend place and margins: "best" and tight_layout measure every tick label
            # and made the plots the slowest part of the quick suite.
            ax.legend(fontsize=6, ncol=2, loc="upper right")
            fig.subplots_adjust(left=0.13, right=0.97, top=0.92, bottom=0.12)
            name = f"loss_vs_{kind}_{slug(p['name'])}.png"
            fig.savefig(output_dir / name)
            plt.close(fig)
            written[p["name"]].append(name)
    fig = speedup_figure(data, plt)
    if fig is not None:
        fig.savefig(output_dir / "backend_speedup.png")
        plt.close(fig)
        written["__speedup__"].append("backend_speedup.png")
    return dict(written)


def speedup_figure(data: dict[str, Any], plt: Any) -> Any:
    """The speed-up chart (``None`` without a backend beside NumPy): one bar per (problem,
    optimizer, backend); a ratio from a noisy time is hatched and labelled ``noisy``."""
    from matplotlib.patches import Patch

    sp = _speedups(data)
    others = sorted({b for r in sp for b in r["speedup"]})
    if not others:
        return None
    fig, ax = plt.subplots(figsize=(max(6.4, 0.35 * len(sp)), 5.5), dpi=80)
    width = 0.8 / len(others)
    labels = [f"{r['problem']}\n{r['optimizer']}" for r in sp]
    any_noisy = False
    for i, b in enumerate(others):
        xs = [x + i * width for x in range(len(sp))]
        vals = [r["speedup"].get(b, math.nan) for r in sp]
        bars = ax.bar(xs, vals, width, label=b, color=f"C{i}")
        for bar, r, x, v in zip(bars, sp, xs, vals, strict=True):
            if b in r["reliable"] and not r["reliable"][b]:
                any_noisy = True
                bar.set_hatch("///")
                bar.set_edgecolor("k")
                ax.annotate("noisy", (x, v), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", rotation=90, fontsize=6)
    ax.axhline(1.0, color="k", lw=0.8)
    ticks = [x + width * (len(others) - 1) / 2 for x in range(len(sp))]
    ax.set_xticks(ticks, labels, rotation=90, fontsize=6)
    ax.set_ylabel("speed-up vs NumPy reference (x)")
    ax.set_yscale("log")
    finite = [v for r in sp for v in r["speedup"].values() if math.isfinite(v) and v > 0]
    if finite:  # room above the bars for the "noisy" labels and the legend
        ax.set_ylim(min(0.5, min(finite) / 2), max(2.0, max(finite)) * 8)
    handles, names = ax.get_legend_handles_labels()
    if any_noisy:
        handles.append(Patch(facecolor="white", edgecolor="k", hatch="///"))
        names.append(f"noisy: a time's std > {NOISY_RELATIVE_STD:g} x mean, ratio unreliable")
    ax.legend(handles, names, loc="upper right", fontsize=7)
    ax.set_title("Backend speed-up (median fit time, compile excluded)")
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.4)
    return fig


def _num(v: Any, spec: str) -> str:
    return "null" if v is None else format(v, spec)


def console_summary(data: dict[str, Any]) -> str:
    """A plain-text table for the terminal: every name whole (columns as wide as their longest
    cell), times and speed-ups from noisy timings marked ``(noisy)``, compile times of reused
    programs ``(reused)``, with the notes those marks need."""
    speedups = {(r["problem"], r["optimizer"]): r for r in _speedups(data)}
    header = ["problem", "optimizer", "backend", "time s", "compile s", "speed-up", "gap", "conv"]
    rows = []
    for r in data["results"]:
        sp = speedups[(r["problem"], r["optimizer"])]
        rows.append([
            r["problem"], r["optimizer"], r["backend"],
            _num(r["time_median_s"], ".4f") + (NOISY if _noisy(r) else ""),
            _compile_cell(r, lambda v: _num(v, ".3f")),
            _speedup_cell(sp, r["backend"]) if r["backend"] != "numpy" else "-",
            _num(r["gap"], ".2e"), "yes" if r["converged"] else "no",
        ])  # fmt: skip
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    left = {0, 1, 2, 7}  # names and words left-aligned, numbers right-aligned

    def line(cells: list[str]) -> str:
        return " ".join(c.ljust(w) if i in left else c.rjust(w)
                        for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    lines = [line(header)] + [line(c) for c in rows]
    lines += [f"* {note}" for note in _footnotes(data, data["results"])]
    for p in data["problems"]:
        lines.append(f"optimum {p['name']}: {p['optimum']['loss']:.10g}" + (" (fallback data)" if p["fallback"] else ""))
    return "\n".join(lines)
