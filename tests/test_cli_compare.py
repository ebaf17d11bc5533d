"""``accel compare`` end to end: table, JSON, plot, and one-line errors."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

import matplotlib.image
import pytest

from accel.bench._cli import PLOT_DPI, PLOT_SIZE_INCHES
from accel.cli import main

CUPY_INSTALLED = importlib.util.find_spec("cupy") is not None


def test_compare_end_to_end(tmp_path, capsys):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    argv = ["compare", "--op", "matmul", "--sizes", "16,32", "--backends", "numpy,jax,cupy",
            "--dtype", "float32", "--n-runs", "3", "--warmup", "1",
            "--json", str(out_json), "--plot", str(out_png)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("size"))
    for column in ("backend", "median ms", "compile ms", "transfer ms", "GFLOP/s", "speedup"):
        assert column in header
    # Columns are separated by at least two spaces (device names contain single spaces).
    columns = re.split(r"\s{2,}", header.strip())
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines if line[:4].strip().isdigit()]
    assert [(r[0], r[1]) for r in rows] == [
        (n, b) for n in ("16", "32") for b in ("numpy", "jax", "cupy")
    ]

    doc = json.loads(out_json.read_text())
    assert doc["command"] == "accel " + " ".join(argv)
    for key in ("date_utc", "machine", "versions", "op", "dtype", "sizes", "backends",
                "n_runs", "warmup", "seed", "results"):
        assert key in doc, key
    assert (doc["op"], doc["dtype"], doc["sizes"], doc["n_runs"]) == ("matmul", "float32", [16, 32], 3)
    assert [e["size"] for e in doc["results"]] == [16, 32]
    for entry in doc["results"]:
        n = entry["size"]
        assert entry["flops"] == 2 * n**3 and entry["reference"] == "numpy"
        assert list(entry["backends"]) == ["numpy", "jax", "cupy"]
        for name in ("numpy", "jax"):
            r = entry["backends"][name]
            assert r["available"] and r["dtype"] == "float32" and len(r["times"]) == 3
            assert r["median_time"] == sorted(r["times"])[1]
            assert r["gflop_per_s"] == pytest.approx(2 * n**3 / r["median_time"] / 1e9)
            assert r["max_rel_diff"] < 1e-5
            # The table shows the same median (ms, 4 significant digits).
            row = next(x for x in rows if x[:2] == [str(n), name])
            assert float(row[columns.index("median ms")]) == pytest.approx(r["median_time"] * 1e3, rel=1e-3)
        if not CUPY_INSTALLED:
            assert entry["backends"]["cupy"]["available"] is False
            assert "cupy is not installed" in entry["backends"]["cupy"]["reason"]

    image = matplotlib.image.imread(out_png)
    width, height = (round(s * PLOT_DPI) for s in PLOT_SIZE_INCHES)
    assert image.shape == (height, width, 4)
    assert image[..., :3].std() > 0.05  # something was drawn, not a blank canvas
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.png"]


@pytest.mark.skipif(CUPY_INSTALLED, reason="cupy is installed")
def test_plot_when_no_backend_can_run(tmp_path, capsys):
    png = tmp_path / "none.png"
    assert main(["compare", "--sizes", "8,16", "--backends", "cupy", "--plot", str(png)]) == 0
    assert "unavailable: cupy is not installed" in capsys.readouterr().out
    assert matplotlib.image.imread(png).ndim == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--op", "conv"], "unknown operation 'conv'; accepted: matmul"),
        (["--backends", "numpy,torch"], "unknown backend 'torch'; accepted: numpy, jax, cupy"),
        (["--dtype", "int8"], "dtype must be None or one of float16, float32, float64"),
        (["--sizes", "16,-4"], "sizes must be positive integers"),
        (["--sizes", "16,x"], "sizes must be positive integers"),
        (["--sizes", ""], "sizes must be positive integers"),
        (["--n-runs", "0"], "n_runs must be an integer >= 1, got 0"),
        (["--n-runs", "two"], "--n-runs must be an integer, got 'two'"),
        (["--warmup", "-1"], "warmup must be an integer >= 0"),
        (["--json", "/nonexistent-folder/x.json"], "--json: folder '/nonexistent-folder' does not exist"),
    ],
)
def test_bad_input_gives_one_line_error_and_exit_2(args, message, capsys, tmp_path):
    plot = tmp_path / "p.png"
    assert main(["compare", "--sizes", "8", "--plot", str(plot), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("accel compare: error: ")
    assert message in captured.err
    assert not plot.exists()


def test_missing_matplotlib_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out_json = tmp_path / "o.json"
    assert main(["compare", "--sizes", "8", "--json", str(out_json), "--plot", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'accel[plot]'" in err and err.count("\n") == 1
    assert not out_json.exists()  # nothing ran, nothing written


def test_console_entry_point_exit_status():
    proc = subprocess.run(
        [sys.executable, "-m", "accel", "compare", "--op", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "accel compare: error: op: unknown operation 'nope'; accepted: "
        "matmul, matvec, elementwise, reduction, logreg_grad, augment"
    ]


def test_info_still_works(capsys):
    assert main(["info"]) == 0
    assert "jax backend:" in capsys.readouterr().out


@pytest.mark.gpu
def test_compare_on_gpu(tmp_path, capsys):
    out_json = tmp_path / "gpu.json"
    assert main(["compare", "--sizes", "1024", "--n-runs", "5", "--json", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    backends = doc["results"][0]["backends"]
    assert backends["jax"]["device"].startswith(("cuda", "gpu"))
    if CUPY_INSTALLED:
        assert backends["cupy"]["available"], backends["cupy"]["reason"]


def test_noisy_results_are_flagged_in_table_and_json(tmp_path, capsys, monkeypatch):
    """A NumPy timing with std > mean (one run 0.25 s slow on a fake clock): the table notes
    it, a warning names the results, the JSON carries relative_std / noisy / speedup_reliable."""
    from _bench_fakes import FakeClock, sometimes_slow_numpy
    from _helpers import random_matrix

    from accel import compare_backends
    from accel.bench import _cli, _clock

    clock = FakeClock()
    monkeypatch.setattr(_clock, "now", clock)
    monkeypatch.setattr(_clock, "sleep", clock.sleep)

    def noisy_run(op, n, backends, dtype, n_runs, warmup, seed):
        return compare_backends(
            sometimes_slow_numpy(clock, slow_call=3),
            random_matrix(n),
            backends=backends,
            n_runs=n_runs,
            warmup=warmup,
            dtype=dtype,
        )

    monkeypatch.setattr(_cli, "run_operation", noisy_run)
    out_json = tmp_path / "out.json"
    argv = ["compare", "--op", "matmul", "--sizes", "16", "--backends", "numpy,jax",
            "--dtype", "float32", "--n-runs", "3", "--warmup", "1", "--json", str(out_json)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "noisy: std = " in stdout and "speedup unreliable" in stdout
    assert "warning: timings too spread out" in stdout and "16/jax" in stdout
    r = json.loads(out_json.read_text())["results"][0]["backends"]
    assert r["numpy"]["noisy"] is True and r["numpy"]["relative_std"] > 0.5
    assert r["jax"]["speedup_reliable"] is False
