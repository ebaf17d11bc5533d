"""Rendering of the suite's results: Markdown report, PNG plots, console table, atomic writes."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["console_summary", "markdown", "slug", "write_plots"]


def slug(name: str) -> str:
    """File-name form of a problem name: ``'Extreme kappa=1e+06'`` -> ``'extreme_kappa_1e_06'``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return str(v)
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.3e}"


def _speedups(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (problem, optimizer): median times per backend and the ratio numpy / backend."""
    times: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in data["results"]:
        times[(r["problem"], r["optimizer"])][r["backend"]] = r["time_median_s"]
    rows = []
    for (problem, opt), per in times.items():
        row = {"problem": problem, "optimizer": opt, "times": per}
        row["speedup"] = {b: per["numpy"] / t for b, t in per.items() if b != "numpy" and "numpy" in per}
        rows.append(row)
    return rows


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
        facts = [f"{k} {meta[k]}" for k in ("source", "n_train", "n_test", "n_features") if k in meta]
        if "condition_number" in meta:
            kappa = meta["condition_number"]  # null in JSON when infinite (singular Hessian)
            facts.append("condition number " + ("inf (singular)" if kappa is None else _fmt(float(kappa))))
        out.append(f"{p['loss']} loss; " + ", ".join(facts))
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
                f"| {r['optimizer']} | {r['backend']} | {_fmt(r['time_median_s'])} | "
                f"{_fmt(r['compile_time_s']) if r['backend'] != 'numpy' else '-'} | {r['epochs']} | {r['final_train_loss']:.8g} | "
                f"{_fmt(r['gap'])} | {r['test_metric']:.6g} | {conv} |"
            )
        out.append("")
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
        for r in sp:
            cells = []
            for b in others:
                t = r["times"].get(b)
                cells += [_fmt(t) if t else "-", f"{r['speedup'][b]:.2f}x" if b in r["speedup"] else "-"]
            out.append(f"| {r['problem']} | {r['optimizer']} | {_fmt(r['times'].get('numpy', math.nan))} | "
                       + " | ".join(cells) + " |")
        out.append("")
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
                ax.plot(xs, gaps, styles.get(r["backend"], "-"), color=colors[r["optimizer"]],
                        label=f"{r['optimizer']} ({r['backend']})")
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
    sp = _speedups(data)
    others = sorted({b for r in sp for b in r["speedup"]})
    if others:
        fig, ax = plt.subplots(figsize=(max(6.4, 0.35 * len(sp)), 5.5), dpi=80)
        width = 0.8 / len(others)
        labels = [f"{r['problem']}\n{r['optimizer']}" for r in sp]
        for i, b in enumerate(others):
            vals = [r["speedup"].get(b, math.nan) for r in sp]
            ax.bar([x + i * width for x in range(len(sp))], vals, width, label=b)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks([x + width * (len(others) - 1) / 2 for x in range(len(sp))], labels, rotation=90, fontsize=6)
        ax.set_ylabel("speed-up vs NumPy reference (x)")
        ax.set_yscale("log")
        ax.legend(loc="upper right")
        ax.set_title("Backend speed-up (median fit time, compile excluded)")
        fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.4)
        fig.savefig(output_dir / "backend_speedup.png")
        plt.close(fig)
        written["__speedup__"].append("backend_speedup.png")
    return dict(written)


def console_summary(data: dict[str, Any]) -> str:
    """A compact plain-text table for the terminal."""
    lines = [f"{'problem':<24} {'optimizer':<9} {'backend':<8} {'time s':>9} {'gap':>10} conv"]
    for r in data["results"]:
        lines.append(
            f"{r['problem'][:24]:<24} {r['optimizer']:<9} {r['backend']:<8} "
            f"{r['time_median_s']:>9.4f} {r['gap']:>10.2e} {'yes' if r['converged'] else 'no'}"
        )
    for p in data["problems"]:
        lines.append(f"optimum {p['name']}: {p['optimum']['loss']:.10g}" + (" (fallback data)" if p["fallback"] else ""))
    return "\n".join(lines)
