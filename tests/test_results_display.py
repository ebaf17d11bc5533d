"""Results that show themselves: notebook tables, ``to_dataframe()``, ``plot()``, and the
profiler's first call (compilation) kept apart from its steady-state statistics.

Results are built from known numbers (no timing), and the profiler runs on a fake clock, so
every assertion is exact.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from _bench_fakes import ManualClock
from IPython.lib.pretty import pretty
from matplotlib.container import BarContainer

from accel._report import ms
from accel.bench import BackendResult, Comparison, OptimizerBenchmark, SpeedBenchmark
from accel.bench._display import NOISY_HATCH, NOISY_RELATIVE_STD
from accel.profile import PerformanceProfiler

SCRIPT = "<script>alert(1)</script>"


def _timed(backend: str, median: float, std: float, *, noisy: bool = False, **kw) -> BackendResult:
    mean = median * 1.25
    return BackendResult(
        backend,
        True,
        "",
        device="cpu:0",
        dtype="float32",
        n_runs=5,
        warmup=1,
        mean_time=mean,
        median_time=median,
        std_time=std,
        min_time=median * 0.5,
        first_call_time=median * 3,
        compile_time=0.25,
        transfer_time=0.0,
        times=(median,) * 5,
        relative_std=std / mean,
        noisy=noisy,
        **kw,
    )


def _comparison(jax_median: float = 0.0002) -> Comparison:
    """NumPy noisy (std 2.4 x mean), JAX steady, CuPy unavailable with a hostile reason."""
    numpy = _timed(
        "numpy", 0.0015, 0.0045, noisy=True, speedup_vs_numpy=1.0, speedup_reliable=False
    )
    jx = _timed(
        "jax", jax_median, 1e-5, speedup_vs_numpy=7.5, max_rel_diff=1e-7, speedup_reliable=False
    )
    cupy = BackendResult("cupy", False, f"cupy is not installed {SCRIPT}")
    return Comparison("matmul", "numpy", {"numpy": numpy, "jax": jx, "cupy": cupy})


def _fit(optimizer: str = "Adam", times: tuple[float, ...] = (0.5, 0.5, 0.5)) -> OptimizerBenchmark:
    s = pd.Series(times)
    return OptimizerBenchmark(
        optimizer=optimizer,
        n_samples=64,
        n_features=3,
        n_runs=len(times),
        epochs=5,
        warmup_time=2.0,
        mean_time=float(s.mean()),
        median_time=float(s.median()),
        std_time=float(s.std()),
        min_time=float(s.min()),
        throughput_samples_per_sec=64 * 5 / float(s.median()),
        final_loss=0.125,
        times=times,
    )


def _body_rows(html: str) -> list[str]:
    return re.findall(r"<tr>.*?</tr>", html.split("<tbody>", 1)[1].split("</tbody>", 1)[0])


class _Printer:
    """Stands in for IPython's RepresentationPrinter: collects ``text()``."""

    def __init__(self) -> None:
        self.out: list[str] = []

    def text(self, s: str) -> None:
        self.out.append(s)


@pytest.fixture
def axes():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


# ----------------------------------------------------------------------------- Comparison


def test_comparison_html_is_the_table_one_row_per_backend_escaped():
    res = _comparison()
    html = res._repr_html_()
    rows = _body_rows(html)
    assert len(rows) == 3
    for row, (name, r) in zip(rows, res.items(), strict=True):
        assert f">{name}</td>" in row
        if r.available:
            assert f">{ms(r.median_time):.4g}</td>" in row
    assert ">1.5</td>" in rows[0] and ">0.2</td>" in rows[1]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in rows[2]
    assert "matmul (reference: numpy)" in html


def test_comparison_text_is_the_table_not_the_dict():
    res = _comparison()
    text = str(res)
    assert text == f"matmul (reference: numpy)\n{res.table()}"
    assert repr(res) == text and "BackendResult(" not in repr(res)
    assert pretty(res) == text
    printer = _Printer()
    res._repr_pretty_(printer, cycle=False)
    assert printer.out == [text]
    assert list(dict(res)) == ["numpy", "jax", "cupy"]  # still a dict


def test_noisy_timing_is_flagged_in_text_and_html_like_table():
    res = _comparison()
    flag = f"noisy: std = {res['numpy'].relative_std:.2g} x mean"
    assert flag in res.table() and flag in str(res)
    rows = _body_rows(res._repr_html_())
    assert flag in rows[0] and "noisy: std" not in rows[1]
    assert "speedup unreliable (numpy timing noisy)" in rows[1]


def test_comparison_dataframe_equals_the_fields():
    res = _comparison()
    df = res.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == ["numpy", "jax", "cupy"] and df.index.name == "backend"
    numeric = (
        "mean_time",
        "median_time",
        "std_time",
        "min_time",
        "first_call_time",
        "compile_time",
        "transfer_time",
        "speedup_vs_numpy",
        "relative_std",
    )
    for name in ("numpy", "jax"):
        r = res[name]
        for field in numeric:
            assert df.loc[name, field] == getattr(r, field), (name, field)
        assert df.loc[name, "noisy"] == r.noisy and df.loc[name, "n_runs"] == r.n_runs
        assert df.loc[name, "speedup_reliable"] == r.speedup_reliable
    assert df.loc["jax", "max_rel_diff"] == 1e-7 and pd.isna(df.loc["numpy", "max_rel_diff"])
    assert not df.loc["cupy", "available"] and SCRIPT in df.loc["cupy", "reason"]
    assert pd.isna(df.loc["cupy", "median_time"]) and df.loc["cupy", "noisy"] is None
    assert "times" not in df.columns and "backend" not in df.columns


def test_comparison_plot_marks_the_noisy_bar(axes):
    res = _comparison()
    assert res.plot(ax=axes) is axes
    bars = axes.patches
    assert [round(b.get_height(), 9) for b in bars] == [1.5, 0.2]  # ms; cupy has no bar
    assert [b.get_hatch() for b in bars] == [NOISY_HATCH, None]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["numpy", "jax"]
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert legend == [f"noisy: std > {NOISY_RELATIVE_STD} x mean"]
    assert axes.get_legend().get_patches()[0].get_hatch() == NOISY_HATCH
    assert "unavailable: cupy" in axes.get_title() and axes.get_yscale() == "linear"
    (container,) = [c for c in axes.containers if isinstance(c, BarContainer)]
    (segments,) = [lc.get_segments() for lc in container.errorbar.lines[2]]
    low, high = segments[1][:, 1]  # jax: 0.2 ms +- 0.01 ms
    assert (round(low, 9), round(high, 9)) == (0.19, 0.21)
    assert segments[0][0, 1] == 0.0  # numpy's std (4.5 ms) exceeds its median: clipped at 0


def test_plot_uses_a_log_axis_when_times_span_more_than_100x():
    wide = _comparison(jax_median=0.0015 / 101).plot()
    narrow = _comparison(jax_median=0.0015 / 99).plot()
    try:
        assert wide.get_yscale() == "log" and narrow.get_yscale() == "linear"
    finally:
        plt.close(wide.figure)
        plt.close(narrow.figure)


def test_plot_with_nothing_measured_says_so(axes):
    res = Comparison("op", None, {"cupy": BackendResult("cupy", False, "not installed")})
    res.plot(ax=axes)
    assert len(axes.patches) == 0 and "nothing to plot" in axes.texts[0].get_text()


@pytest.mark.parametrize(
    ("module", "extra", "call"),
    [
        ("pandas", "pandas", lambda r: r.to_dataframe()),
        ("matplotlib", "plot", lambda r: r.plot()),
    ],
)
def test_missing_optional_dependency_names_the_extra(monkeypatch, module, extra, call):
    monkeypatch.setitem(sys.modules, module, None)
    for result in (_comparison(), _fit(), SpeedBenchmark()):
        with pytest.raises(ImportError, match=re.escape(f"pip install 'accel[{extra}]'")):
            call(result)


def test_import_accel_needs_neither_pandas_nor_matplotlib():
    code = textwrap.dedent("""
        import sys
        sys.modules["pandas"] = sys.modules["matplotlib"] = None
        import accel.bench
        res = accel.bench.Comparison("op", None, {})
        assert "op" in res._repr_html_()
        try:
            res.to_dataframe()
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "to_dataframe() needs pandas: pip install 'accel[pandas]'" in out.stdout


# ----------------------------------------------------------------------------- optimizer results


def test_optimizer_benchmark_shows_its_table_and_flags_noise():
    steady, noisy = _fit(), _fit("SGD", (0.25, 0.25, 2.0))
    assert steady.noisy is False and steady.relative_std == 0.0
    assert noisy.noisy is True and noisy.relative_std > NOISY_RELATIVE_STD
    assert repr(steady) == str(steady) == steady.table() == pretty(steady)
    assert "Adam" in steady.table() and "noisy" not in steady.table()
    assert f"noisy: std = {noisy.relative_std:.2g} x mean" in noisy.table()
    rows = _body_rows(noisy._repr_html_())
    assert len(rows) == 1 and ">SGD</td>" in rows[0] and ">250</td>" in rows[0]  # median ms
    assert "noisy: std" in rows[0]
    assert "relative_std" not in noisy.to_dict()  # JSON unchanged: properties, not fields


def test_optimizer_benchmark_dataframe_and_plot(axes):
    fit = _fit("SGD", (0.25, 0.25, 2.0))
    df = fit.to_dataframe()
    assert list(df.index) == ["SGD"] and df.index.name == "optimizer"
    for field in (
        "warmup_time",
        "mean_time",
        "median_time",
        "std_time",
        "min_time",
        "throughput_samples_per_sec",
        "final_loss",
        "n_samples",
        "epochs",
    ):
        assert df.loc["SGD", field] == getattr(fit, field), field
    assert df.loc["SGD", "noisy"] and df.loc["SGD", "relative_std"] == fit.relative_std
    fit.plot(ax=axes)
    assert [b.get_hatch() for b in axes.patches] == [NOISY_HATCH]
    assert axes.patches[0].get_height() == 250.0


def test_speed_benchmark_shows_all_results():
    bench = SpeedBenchmark()
    assert str(bench) == "SpeedBenchmark: nothing recorded yet"
    assert bench.to_dataframe().empty
    bench.results += [_comparison(), _fit(), _fit("SGD", (0.25, 0.25, 2.0))]
    text = pretty(bench)
    assert text == str(bench) == repr(bench)
    assert "matmul (reference: numpy)" in text and "benchmark_optimizer" in text
    assert text.count("noisy: std") == 2  # numpy and SGD
    html = bench._repr_html_()
    assert html.count("<table>") == 2 and "&lt;script&gt;" in html and "<script>" not in html

    df = bench.to_dataframe()
    assert list(df.index) == [(0, "numpy"), (0, "jax"), (0, "cupy"), (1, "Adam"), (2, "SGD")]
    assert df.index.names == ["result", "name"]
    assert list(df["operation"]) == ["matmul"] * 3 + ["fit"] * 2
    assert df.loc[(0, "jax"), "median_time"] == bench.results[0]["jax"].median_time
    assert df.loc[(2, "SGD"), "median_time"] == 0.25 and bool(df.loc[(2, "SGD"), "noisy"])
    assert pd.isna(df.loc[(1, "Adam"), "compile_time"])

    ax = bench.plot()
    try:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == ["#0 matmul: numpy", "#0 matmul: jax", "#1 fit: Adam", "#2 fit: SGD"]
        assert [b.get_hatch() for b in ax.patches] == [NOISY_HATCH, None, None, NOISY_HATCH]
        assert ax.get_yscale() == "log"  # 0.2 ms .. 500 ms
    finally:
        plt.close(ax.figure)


def test_pretty_printer_cycle_does_not_recurse():
    printer = _Printer()
    _comparison()._repr_pretty_(printer, cycle=True)
    assert printer.out == ["Comparison(...)"]


# ----------------------------------------------------------------------------- profiler


def _profiled(steps: int) -> PerformanceProfiler:
    """A step whose first call compiles: 2 s + data 0.5 s + forward 0.25 s, then
    data 1/64 s + forward 1/32 s; dyadic times, so every sum is exact."""
    prof = PerformanceProfiler(sync=False)
    clock = prof.clock = ManualClock()
    for i in range(steps):
        with prof.profile("step"):
            clock.now += 0.5 if i == 0 else 1 / 64  # outside the child: data, Python
            with prof.profile("forward"):
                clock.now += 2.25 if i == 0 else 1 / 32  # compiles on the first call
    return prof


def test_first_call_is_kept_apart_from_steady_statistics():
    rows = _profiled(steps=5).summary()
    step, fwd, rest = rows["step"], rows["step/forward"], rows["step/(unaccounted)"]
    assert list(rows) == ["step", "step/forward", "step/(unaccounted)"]
    assert (step["first_call_s"], fwd["first_call_s"], rest["first_call_s"]) == (2.75, 2.25, 0.5)
    assert step["mean_s"] == step["min_s"] == step["max_s"] == 3 / 64
    assert fwd["mean_s"] == fwd["min_s"] == fwd["max_s"] == 1 / 32
    assert rest["mean_s"] == rest["min_s"] == rest["max_s"] == 1 / 64
    # calls and total count every call, so percentages still add up
    assert step["calls"] == fwd["calls"] == rest["calls"] == 5
    assert step["total_s"] == 2.75 + 4 * 3 / 64 and fwd["total_s"] == 2.25 + 4 / 32
    assert fwd["percent_of_parent"] + rest["percent_of_parent"] == pytest.approx(100.0)


def test_a_single_call_has_no_steady_statistics():
    row = _profiled(steps=1).summary()["step"]
    assert row["calls"] == 1 and row["first_call_s"] == row["total_s"] == 2.75
    assert row["mean_s"] is row["min_s"] is row["max_s"] is None


def test_print_summary_shows_the_first_call_in_its_own_column():
    prof = _profiled(steps=3)
    out = io.StringIO()
    prof.print_summary(file=out)
    text = out.getvalue()
    assert "first call ms (incl. compile)" in text.splitlines()[0]
    step_line = next(line for line in text.splitlines() if line.startswith("step "))
    # calls, first call, mean, min, max (ms), total (ms), % of parent
    assert step_line.split()[1:] == ["3", "2750", "46.88", "46.88", "46.88", "2844", "100"]
    assert "first call: includes XLA compilation" in text
    assert text == str(prof) + "\n" == pretty(prof) + "\n"
    html = prof._repr_html_()
    assert "first call ms (incl. compile)" in html and len(_body_rows(html)) == 3
    assert "white-space: pre\">  forward</td>" in html


def test_profiler_display_when_empty_and_with_memory(cpu_devices):
    prof = PerformanceProfiler(devices=cpu_devices[:1])
    assert str(prof) == "no sections recorded"
    prof.record_device_memory()
    lines = str(prof).splitlines()
    assert lines[0] == "no sections recorded" and "device memory" in lines
    assert "unavailable" in prof._repr_html_()
