"""Comparing benchmark results and DPA's report layouts (text, markdown, JSON, CSV).

``compare_metrics`` gives each configuration's percent changes against the baseline
(``safe_percentage_change``) and an overall score
``(throughput - latency - memory - cpu) / 4``; ``recommendations`` turns them into DPA's
advice sentences (at most 10, without duplicates).

Example:
    >>> from accel.dpa._comparison import safe_percentage_change
    >>> safe_percentage_change(110.0, 100.0), safe_percentage_change(1.0, 0.0)
    (10.0, inf)
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

import psutil

__all__ = [
    "ComparisonReport",
    "compare_metrics",
    "format_benchmark_result",
    "get_system_info",
    "performance_report",
    "recommendations",
    "safe_percentage_change",
]

_METRICS = ("throughput", "latency", "memory", "cpu")
_FIELDS = ("throughput_samples_per_second", "avg_latency_ms", "memory_usage_mb", "cpu_usage_percent")


def safe_percentage_change(new_value: float, old_value: float) -> float:
    """``100 * (new - old) / old``; from a zero baseline ``inf`` for a positive value, else 0."""
    if old_value == 0:
        return float("inf") if new_value > 0 else 0.0
    return (new_value - old_value) / old_value * 100


@dataclass
class ComparisonReport:
    """Configurations compared with the baseline: changes, scores and advice."""

    baseline_config: str
    comparison_configs: list[str]
    metrics_comparison: dict[str, dict[str, float]]
    performance_improvements: dict[str, float]
    recommendations: list[str] = field(default_factory=list)


def compare_metrics(results: dict[str, Any], baseline: str) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Percent changes of every non-baseline result and its overall improvement score."""
    base = results[baseline]
    comparison: dict[str, dict[str, Any]] = {}
    scores: dict[str, float] = {}
    for name, m in results.items():
        if name == baseline:
            continue
        changes = {f"{k}_change_percent": safe_percentage_change(getattr(m, f), getattr(base, f))
                   for k, f in zip(_METRICS, _FIELDS, strict=True)}
        absolute = {f: getattr(m, f) for f in (*_FIELDS, "total_time_seconds")}
        comparison[name] = {**changes, "absolute_metrics": absolute}
        c = list(changes.values())
        scores[name] = (c[0] - c[1] - c[2] - c[3]) / 4
    return comparison, scores


def _advice(name: str, change: float, good_below: float, bad_above: float, what: str, good: str, bad: str) -> list[str]:
    if change < good_below:
        return [f"Configuration '{name}' {good} {what} by {abs(change):.1f}%"]
    if change > bad_above:
        return [f"Configuration '{name}' {bad} {what} by {change:.1f}%"]
    return []


def recommendations(results: dict[str, Any], comparison: dict[str, dict[str, Any]], scores: dict[str, float]) -> list[str]:
    """DPA's advice for a comparison (first result is the baseline)."""
    out: list[str] = []
    if scores:
        best = max(scores, key=lambda k: scores[k])
        if scores[best] > 10:
            out.append(f"Configuration '{best}' shows significant performance improvement ({scores[best]:.1f}% overall)")
        elif scores[best] > 0:
            out.append(f"Configuration '{best}' shows modest performance improvement ({scores[best]:.1f}% overall)")
    for name, c in comparison.items():
        tp = c["throughput_change_percent"]
        if tp > 20:
            out.append(f"Configuration '{name}' significantly improves throughput by {tp:.1f}%")
        elif tp < -20:
            out.append(f"Configuration '{name}' significantly reduces throughput by {abs(tp):.1f}% - consider alternatives")
        lat = c["latency_change_percent"]
        if lat < -20:
            out.append(f"Configuration '{name}' significantly reduces latency by {abs(lat):.1f}%")
        elif lat > 20:
            out.append(f"Configuration '{name}' increases latency by {lat:.1f}% - may impact responsiveness")
        out += _advice(name, c["memory_change_percent"], -20, 50, "memory usage", "significantly reduces", "increases")
        out += _advice(name, c["cpu_change_percent"], -20, 50, "CPU usage", "significantly reduces", "increases")
    base = next(iter(results.values()))
    if base.memory_usage_mb > 1000:
        out.append("High memory usage detected - consider using batch processing with memory limits")
    if base.avg_latency_ms > 100:
        out.append("High latency detected - consider optimizing augmentation parameters or using streaming")
    if base.throughput_samples_per_second < 100:
        out.append("Low throughput detected - consider batch processing or parameter optimization")
    return list(dict.fromkeys(out))[:10]


def get_system_info() -> dict[str, Any]:
    """CPU counts and frequency, system memory, Python and platform."""
    try:
        freq = psutil.cpu_freq()
        return {
            "cpu": {"cpu_count": psutil.cpu_count(), "cpu_count_logical": psutil.cpu_count(logical=True),
                    "cpu_freq": freq._asdict() if freq else None},
            "memory": psutil.virtual_memory()._asdict(),
            "platform": {"python_version": sys.version, "platform": platform.platform()},
        }
    except Exception as e:  # DPA's contract: a dict saying what failed, never an exception
        return {"error": f"Failed to get system info: {e}"}


def _entries(m: dict[str, Any], score: float) -> tuple[list[tuple[str, float]], list[str]]:
    """``(label, percent)`` rows and the absolute-metric lines of one configuration."""
    labels = ("Throughput Change", "Latency Change", "Memory Change", "CPU Change")
    changes = [(label, m[f"{k}_change_percent"]) for label, k in zip(labels, _METRICS, strict=True)]
    a = m["absolute_metrics"]
    absolute = [
        f"Throughput: {a['throughput_samples_per_second']:.2f} samples/sec",
        f"Latency: {a['avg_latency_ms']:.2f}ms",
        f"Memory: {a['memory_usage_mb']:.2f}MB",
        f"CPU: {a['cpu_usage_percent']:.2f}%",
    ]
    return [*changes, ("Overall Improvement", score)], absolute


def performance_report(report: ComparisonReport, format_type: str, config: Any) -> str:
    """DPA's ``generate_performance_report`` layouts: ``'json'``, ``'markdown'``, else text."""
    if format_type == "json":
        return json.dumps({
            "baseline_config": report.baseline_config,
            "comparison_configs": report.comparison_configs,
            "metrics_comparison": report.metrics_comparison,
            "performance_improvements": report.performance_improvements,
            "recommendations": report.recommendations,
            "system_info": get_system_info(),
            "benchmark_config": {"iterations": config.iterations, "warmup_iterations": config.warmup_iterations,
                                 "measure_memory": config.measure_memory, "measure_cpu": config.measure_cpu},
        }, indent=2)
    numbered = [f"{i}. {r}" for i, r in enumerate(report.recommendations, 1)]
    configs = ", ".join(report.comparison_configs)
    if format_type == "markdown":
        lines = ["# Performance Benchmark Report", "", f"**Baseline Configuration:** {report.baseline_config}",
                 f"**Comparison Configurations:** {configs}", "", "## Performance Comparison", ""]
        for name, m in report.metrics_comparison.items():
            changes, absolute = _entries(m, report.performance_improvements[name])
            lines += [f"### {name}", "", *(f"- **{label}:** {v:+.1f}%" for label, v in changes), "",
                      "**Absolute Metrics:**", *(f"- {line}" for line in absolute), ""]
        if numbered:
            lines += ["## Recommendations", "", *numbered, ""]
        return "\n".join(lines)
    lines = ["Performance Benchmark Report", "=" * 50, f"Baseline Configuration: {report.baseline_config}",
             f"Comparison Configurations: {configs}", "", "Performance Comparison:", "-" * 30]
    for name, m in report.metrics_comparison.items():
        changes, absolute = _entries(m, report.performance_improvements[name])
        lines += [f"\n{name}:", *(f"  {label}: {v:+.1f}%" for label, v in changes), "",
                  "  Absolute Metrics:", *(f"    {line}" for line in absolute)]
    if numbered:
        lines += ["", "Recommendations:", "-" * 20, *numbered]
    return "\n".join(lines)


def format_benchmark_result(result: Any, format_type: str = "text") -> str:
    """One ``BenchmarkResult`` as DPA's ``'json'``, ``'csv'`` or text."""
    std_ms = result.std_dev_seconds * 1000
    if format_type == "json":
        return json.dumps({
            "function_name": result.function_name, "iterations": result.iterations,
            "avg_time_ms": result.avg_time_ms, "min_time_ms": result.min_time_ms, "max_time_ms": result.max_time_ms,
            "std_dev_ms": std_ms, "throughput_ops_per_second": result.throughput_ops_per_second,
            "memory_usage_mb": result.memory_usage_mb, "cpu_usage_percent": result.cpu_usage_percent,
        }, indent=2)
    if format_type == "csv":
        return (f"{result.function_name},{result.iterations},{result.avg_time_ms:.3f},{result.min_time_ms:.3f},"
                f"{result.max_time_ms:.3f},{std_ms:.3f},{result.throughput_ops_per_second:.2f},"
                f"{result.memory_usage_mb:.2f},{result.cpu_usage_percent:.2f}")
    return (f"Function: {result.function_name}\nIterations: {result.iterations}\n"
            f"Average time: {result.avg_time_ms:.3f}ms\nMin time: {result.min_time_ms:.3f}ms\n"
            f"Max time: {result.max_time_ms:.3f}ms\nStd deviation: {std_ms:.3f}ms\n"
            f"Throughput: {result.throughput_ops_per_second:.2f} ops/sec\n"
            f"Memory usage: {result.memory_usage_mb:.2f}MB\nCPU usage: {result.cpu_usage_percent:.2f}%")
