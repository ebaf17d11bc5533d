"""The large-scale suite end to end on tiny problems: JSON, Markdown and PNG content."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import scipy.optimize
from _helpers import classification, regression

from accel.bench._results import NOISY_RELATIVE_STD
from benchmarks import _optimum, _report
from benchmarks.large_scale_benchmark import LargeScaleBenchmark, main

matplotlib_image = pytest.importorskip("matplotlib.image")


def _design(X):
    return np.hstack([X, np.ones((X.shape[0], 1))])


def test_mse_optimum_is_least_squares():
    X, y = regression(120, 5, intercept=0.5, noise=0.1)
    opt = _optimum.solve_optimum(X, y, "mse")
    sol = np.linalg.lstsq(_design(X), y, rcond=None)[0]
    np.testing.assert_allclose(opt.coef, sol[:-1], rtol=1e-10)
    assert opt.loss == pytest.approx(0.5 * np.mean((_design(X) @ sol - y) ** 2), rel=1e-12)
    assert opt.grad_norm < 1e-10


def test_logistic_optimum_matches_scipy():
    X, y = classification(160, 4, seed=1)
    opt = _optimum.solve_optimum(X, y, "logistic")
    A = _design(X)

    def f(w):
        z = A @ w
        return np.mean(np.logaddexp(0, z) - y * z)

    ref = scipy.optimize.minimize(f, np.zeros(A.shape[1]), method="BFGS", options={"gtol": 1e-10})
    assert opt.loss <= ref.fun + 1e-12
    assert opt.loss == pytest.approx(ref.fun, rel=1e-8)
    assert opt.grad_norm < 1e-9


@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_lipschitz_constant_dense_and_matrix_free_agree(monkeypatch, loss):
    X, _ = regression(60, 8, intercept=0.5, noise=0.1)
    A = _design(X)
    expected = np.linalg.norm(A, 2) ** 2 / A.shape[0] / (4 if loss == "logistic" else 1)
    assert _optimum.lipschitz_constant(X, loss) == pytest.approx(expected, rel=1e-10)
    monkeypatch.setattr(_optimum, "_DENSE_LIMIT", 0)
    assert _optimum.lipschitz_constant(X, loss) == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    backends = ("numpy", "jax", "parallel")
    bench = LargeScaleBenchmark(out, backends=backends, repeats=1, progress=False, tune_epochs=20,
                                command="pytest tiny suite")
    Xr, yr = regression(120, 5, intercept=0.5, noise=0.1)
    bench.benchmark_dataset("Tiny regression", Xr[:100], yr[:100], Xr[100:], yr[100:],
                            {"name": "tiny", "source": "test", "n_features": 5}, ["sgd", "adam"], 150)
    Xc, yc = classification(160, 4, seed=1)
    bench.benchmark_dataset("Tiny logistic", Xc[:120], yc[:120], Xc[120:], yc[120:],
                            {"name": "tinyc", "loss": "logistic"}, ["sgd", {"optimizer": "adam", "learning_rate": 0.05}],
                            150, fallback="pretend fallback for the test")
    return bench, bench.save_results(), bench.generate_summary_report()


def test_json_content(tiny_run):
    _, json_path, _ = tiny_run
    data = json.loads(json_path.read_text())
    assert data["schema"] == "accel.large_scale/1"
    assert data["versions"]["jax"] == jax.__version__
    assert data["device"]["devices"] and data["dtype"] == "float32"
    n_backends = 3 if len(jax.local_devices()) > 1 else 2
    assert len(data["results"]) == 2 * 2 * n_backends
    by_problem = {p["name"]: p for p in data["problems"]}
    assert by_problem["Tiny logistic"]["fallback"] == "pretend fallback for the test"
    assert by_problem["Tiny logistic"]["lr_source"] == {"sgd": "1/L", "adam": "given"}
    assert by_problem["Tiny logistic"]["learning_rates"]["adam"] == 0.05
    L = by_problem["Tiny regression"]["lipschitz"]
    assert by_problem["Tiny regression"]["learning_rates"]["sgd"] == pytest.approx(1 / L)
    assert by_problem["Tiny regression"]["learning_rates"]["adam"] in (1e-3, 1e-2, 1e-1, 1.0)
    for r in data["results"]:
        p = by_problem[r["problem"]]
        assert r["optimum_loss"] == p["optimum"]["loss"]
        assert r["final_train_loss"] >= r["optimum_loss"] - 1e-9
        assert r["gap"] == pytest.approx((r["final_train_loss"] - r["optimum_loss"]) / abs(r["optimum_loss"]))
        assert r["converged"] == (r["gap"] <= data["rtol"])
        assert len(r["history_loss"]) == r["epochs"] + 1
        assert r["time_median_s"] > 0 and len(r["times_s"]) == 1
        assert r["test_metric_name"] == ("accuracy" if p["loss"] == "logistic" else "test_mse")
        # one repeat: the spread is not measured
        assert r["time_relative_std"] is None and r["time_noisy"] is None
        if r["backend"] == "numpy":
            assert r["compile_time_s"] == 0.0
            assert r["compile_count"] is None and r["program_reused"] is None
        else:
            assert r["program_reused"] == (r["compile_count"] == 0)
    for p in data["problems"]:
        tiny = p["name"] == "Tiny regression"
        assert (p["n_test"], p["n_features"]) == ((20, 5) if tiny else (40, 4))
    # 1/L gradient descent on a well-conditioned least-squares problem reaches the optimum.
    sgd = [r for r in data["results"] if r["problem"] == "Tiny regression" and r["optimizer"] == "sgd"]
    assert all(r["converged"] for r in sgd)
    # Same batch order, same math: backends agree on the final loss to float32 rounding.
    losses = [r["final_train_loss"] for r in sgd]
    assert max(losses) - min(losses) <= 1e-4 * max(losses)


def test_markdown_content(tiny_run):
    _, json_path, report = tiny_run
    data = json.loads(json_path.read_text())
    text = report.read_text()
    assert text.startswith("# Large-scale benchmark report")
    assert "`pytest tiny suite`" in text
    assert "learning_rate = 1/L" in text and "grid [0.001, 0.01, 0.1, 1.0]" in text
    assert "## Fallbacks used" in text and "pretend fallback for the test" in text
    for p in data["problems"]:
        assert f"## {p['name']}" in text
        assert f"**{p['optimum']['loss']:.10g}**" in text
    assert "| Test accuracy |" in text and "| Test MSE |" in text
    for r in data["results"]:
        assert f"| {r['optimizer']} | {r['backend']} | " in text
        assert f"{r['final_train_loss']:.8g}" in text
    assert "## Backend speed-ups" in text
    assert "jax speed-up" in text
    assert "n_train 100, n_test 20, n_features 5" in text
    assert _report.ONE_REPEAT_NOTE in text  # repeats=1: nothing can be flagged noisy
    for png in Path(report).parent.glob("*.png"):
        assert f"]({png.name})" in text


def test_plots_are_real_images(tiny_run):
    _, _, report = tiny_run
    out = Path(report).parent
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == sorted(
        [f"loss_vs_{k}_{_report.slug(n)}.png" for n in ("Tiny regression", "Tiny logistic") for k in ("epoch", "time")]
        + ["backend_speedup.png"]
    )
    for name in names:
        img = matplotlib_image.imread(out / name)
        assert img.shape[0] >= 200 and img.shape[1] >= 300
        assert float(np.std(img)) > 0.01, f"{name} looks blank"


def test_sanity_check_fails_loudly_when_optimum_is_wrong(monkeypatch, tmp_path):
    X, y = regression(120, 5, intercept=0.5, noise=0.1)
    real = _optimum.solve_optimum

    def wrong(X, y, loss, alpha=0.0):
        o = real(X, y, loss, alpha)
        return _optimum.Optimum(o.loss * 2 + 1, o.coef, o.intercept, "deliberately wrong", 0.0)

    monkeypatch.setattr(_optimum, "solve_optimum", wrong)
    bench = LargeScaleBenchmark(tmp_path, backends=("numpy",), repeats=1, progress=False)
    with pytest.raises(RuntimeError, match=r"sanity check failed.*below the computed optimum"):
        bench.benchmark_dataset("bad", X, y, X, y, {}, ["sgd"], 200)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backends": ("numpy", "torch")}, "backends must be a non-empty subset"),
        ({"backends": ()}, "backends must be a non-empty subset"),
        ({"repeats": 0}, "repeats must be an integer >= 1"),
        ({"dtype": "float16"}, "dtype must be 'float32' or 'float64'"),
    ],
)
def test_bad_constructor_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        LargeScaleBenchmark(tmp_path, **kwargs)


def test_bad_dataset_arguments(tmp_path):
    X, y = regression(120, 5, intercept=0.5, noise=0.1)
    bench = LargeScaleBenchmark(tmp_path, backends=("numpy",), repeats=1, progress=False)
    with pytest.raises(ValueError, match="configs: optimizer must be one of"):
        bench.benchmark_dataset("x", X, y, X, y, {}, ["adamax"], 10)
    with pytest.raises(ValueError, match="max_epochs must be an integer >= 1"):
        bench.benchmark_dataset("x", X, y, X, y, {}, ["sgd"], 0)
    with pytest.raises(ValueError, match="loss must be one of"):
        bench.benchmark_dataset("x", X, y, X, y, {"loss": "hinge"}, ["sgd"], 10)


def test_cli_runs_with_mnist_fallback(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path / "no_data_here"))
    out = tmp_path / "out"
    rc = main(["--problems", "mnist,kappa1e3", "--optimizers", "sgd", "--backends", "numpy,jax",
               "--epochs", "30", "--repeats", "1", "--output", str(out), "--no-progress"])
    assert rc == 0
    data = json.loads((out / "large_scale_results.json").read_text())
    # the fallback problem is named after the data it uses: digits, in every heading, row and plot
    assert [p["name"] for p in data["problems"]] == ["Digits (MNIST stand-in)", "Extreme kappa=1e+03"]
    mnist = data["problems"][0]
    assert mnist["loss"] == "logistic" and "digits" in mnist["fallback"]
    kappa = float(data["problems"][1]["metadata"]["condition_number"])
    assert math.isclose(kappa, 1e3, rel_tol=0.2)
    report = (out / "BENCHMARK_REPORT.md").read_text()
    assert "## Fallbacks used" in report and "MNIST files absent" in report
    assert mnist["metadata"]["condition_number"] is None  # digits has constant pixels
    assert "condition number inf (singular)" in report
    assert "## Digits (MNIST stand-in)" in report and "## MNIST" not in report
    # the synthetic problem's sizes are its 80/20 split's, as fitted and scored
    kappa_problem = data["problems"][1]
    assert (kappa_problem["n_train"], kappa_problem["n_test"]) == (400, 100)
    assert (kappa_problem["metadata"]["n_train"], kappa_problem["metadata"]["n_test"]) == (400, 100)
    assert "n_train 400, n_test 100, n_features 50" in report
    assert "(training rows; 1e+03 on all 500 generated rows)" in report
    assert "| Digits (MNIST stand-in) | sgd |" in report  # the speed-up table row
    assert (out / "loss_vs_epoch_digits_mnist_stand_in.png").exists()
    assert "optimum Digits (MNIST stand-in)" in capsys.readouterr().out


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--backends", "numpy,torch"])
    assert exc.value.code == 2
    assert "--backends: unknown ['torch']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--optimizers", "adamax"])
    assert "--optimizers: unknown" in capsys.readouterr().err


def test_script_entry_point_help():
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "large_scale_benchmark.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--quick" in out.stdout and "--backends" in out.stdout


def test_full_mode_selects_full_only_problems_and_all_seven_optimizers(tmp_path):
    from benchmarks import _problems
    from benchmarks.large_scale_benchmark import FULL_OPTIMIZERS, QUICK_OPTIMIZERS

    assert _problems.problem_names(full=False) == [
        "mnist", "mnist10", "california", "highdim100", "highdim1000", "kappa1e3", "kappa1e6"
    ]
    assert _problems.problem_names(full=True)[-3:] == ["highdim5000", "highdim10000", "kappa1e9"]
    assert set(FULL_OPTIMIZERS) - set(QUICK_OPTIMIZERS) == {"adagrad", "rmsprop", "lbfgs"}
    out = tmp_path / "full"
    rc = main(["--full", "--problems", "kappa1e9", "--optimizers", "adagrad,rmsprop", "--backends", "numpy",
               "--epochs", "10", "--repeats", "1", "--output", str(out), "--no-progress"])
    assert rc == 0
    data = json.loads((out / "large_scale_results.json").read_text())
    assert data["problems"][0]["name"] == "Extreme kappa=1e+09"
    meta = data["problems"][0]["metadata"]
    assert math.isclose(meta["generated"]["condition_number"], 1e9, rel_tol=1e-6)  # all 500 rows
    assert math.isclose(meta["condition_number"], 1e9, rel_tol=0.1)  # the 400 training rows
    assert {r["optimizer"] for r in data["results"]} == {"adagrad", "rmsprop"}
    assert all(r["epochs"] == 10 for r in data["results"])


def test_fallback_problems_are_named_after_their_data(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    from benchmarks import _problems

    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path / "no_data_here"))
    problems = list(_problems.iter_problems(["mnist", "california"], seed=0, download=False))
    assert [p.name for p in problems] == ["Digits (MNIST stand-in)", "Diabetes (California stand-in)"]
    assert "diabetes" in problems[1].fallback and problems[1].X_train.shape[1] == 10


def test_configs_keyed_by_class_name_with_hyperparameters(tmp_path):
    # The 002 document's form: {'Adam': {...}, 'AdamW': {..., 'weight_decay': ...}}
    X, y = regression(120, 5, intercept=0.5, noise=0.1)
    bench = LargeScaleBenchmark(tmp_path, backends=("numpy",), repeats=1, progress=False)
    configs = {"Adam": {"learning_rate": 0.05}, "AdamW": {"learning_rate": 0.05, "weight_decay": 0.5},
               "MomentumSGD": None}
    rows = bench.benchmark_dataset("toy", X, y, X, y, {}, configs, max_epochs=40)
    assert [r["optimizer"] for r in rows] == ["adam", "adamw", "momentum"]
    problem = bench.problems[-1]
    assert problem["hyperparameters"] == {"adam": {}, "adamw": {"weight_decay": 0.5}, "momentum": {}}
    assert problem["lr_source"] == {"adam": "given", "adamw": "given", "momentum": "1/L"}
    # the weight decay reached the estimator: AdamW's loss differs from Adam's at the same rate
    assert rows[0]["final_train_loss"] != rows[1]["final_train_loss"]
    with pytest.raises(ValueError, match=r"\['momentum'\] not settings of adam"):
        bench.benchmark_dataset("toy", X, y, X, y, {}, {"Adam": {"momentum": 0.9}}, 10)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        bench.benchmark_dataset("toy", X, y, X, y, {}, {"LBFGS": {}}, 10)


def test_lbfgs_runs_on_jax_only_and_reaches_the_optimum(tmp_path):
    X, y = regression(120, 5, intercept=0.5, noise=0.1)
    bench = LargeScaleBenchmark(tmp_path, backends=("numpy", "jax"), repeats=1, progress=False)
    rows = bench.benchmark_dataset("toy", X, y, X, y, {}, ["lbfgs", "sgd"], max_epochs=50)
    assert [(r["optimizer"], r["backend"]) for r in rows] == [("lbfgs", "jax"), ("sgd", "numpy"), ("sgd", "jax")]
    assert rows[0]["converged"] and rows[0]["gap"] < 1e-5 and rows[0]["epochs"] <= 50  # its own rules
    assert bench.problems[-1]["lr_source"]["lbfgs"] == "line search"
    assert "lbfgs" in bench.to_dict()["lr_rule"]["line_search"]


def test_ten_class_problem_has_its_exact_optimum(tmp_path, monkeypatch):
    """The 10-class problem (digits offline) with its penalty: the optimum is a stationary
    point of the penalized objective, every estimator is judged against it, L-BFGS reaches it."""
    pytest.importorskip("sklearn")
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path / "no_data_here"))
    out = tmp_path / "out"
    rc = main(["--problems", "mnist10", "--optimizers", "sgd,lbfgs", "--backends", "numpy,jax",
               "--epochs", "100", "--repeats", "1", "--output", str(out), "--no-progress"])
    assert rc == 0
    data = json.loads((out / "large_scale_results.json").read_text())
    (problem,) = data["problems"]
    assert problem["name"] == "Digits 10-class (MNIST stand-in)" and problem["alpha"] == 1e-4
    assert "Newton-CG" in problem["optimum"]["method"] and problem["optimum"]["grad_norm"] < 1e-9
    rows = {(r["optimizer"], r["backend"]): r for r in data["results"]}
    assert set(rows) == {("sgd", "numpy"), ("sgd", "jax"), ("lbfgs", "jax")}
    assert all(r["gap"] >= -1e-9 and r["test_metric_name"] == "accuracy" for r in rows.values())
    assert rows["lbfgs", "jax"]["converged"] and rows["lbfgs", "jax"]["test_metric"] > 0.9
    assert rows["sgd", "numpy"]["final_train_loss"] == pytest.approx(rows["sgd", "jax"]["final_train_loss"], rel=1e-4)
    report = (out / "BENCHMARK_REPORT.md").read_text()
    assert "## Digits 10-class (MNIST stand-in)" in report and "alpha = 0.0001" in report


def test_synthetic_problems_report_their_split_sizes_and_training_spectrum():
    from benchmarks import _problems
    from benchmarks.datasets._conditioning import hessian_spectrum

    for problem in _problems.iter_problems(["highdim100", "kappa1e3"], seed=0, download=False):
        meta = problem.metadata
        n = problem.X_train.shape[0] + problem.X_test.shape[0]
        assert meta["n_train"] == problem.X_train.shape[0]
        assert meta["n_test"] == problem.X_test.shape[0]
        assert meta["n_test"] == round(0.2 * n) and meta["n_test"] > 0
        assert meta["n_features"] == problem.X_train.shape[1] == problem.X_test.shape[1]
        assert meta["generated"]["n_samples"] == n
        # the condition number is the training Hessian's, as the data sets' metadata define it
        assert meta["condition_number"] == hessian_spectrum(problem.X_train)["condition_number"]
    assert (meta["n_train"], meta["n_test"]) == (400, 100)


# -- the report's marks, from fabricated results -------------------------------------------------

LONG_NAME = "A problem whose name is much longer than any column used to be (d=12345)"


def _result(problem, backend, times, *, optimizer="adam", reused=None, spread=True):
    rel, noisy = _report.timing_spread(times)
    r = {
        "problem": problem, "optimizer": optimizer, "backend": backend, "learning_rate": 0.01,
        "epochs": 10, "time_median_s": float(np.median(times)), "times_s": list(times),
        "compile_time_s": 0.0 if backend == "numpy" or reused else 1.25,
        "compile_count": None if backend == "numpy" else (0 if reused else 3),
        "program_reused": None if backend == "numpy" else bool(reused),
        "final_train_loss": 1.5, "optimum_loss": 1.0, "gap": 0.5, "converged": False,
        "diverged": False, "test_metric": 2.0, "test_metric_name": "test_mse",
        "history_loss": [3.0, 2.0, 1.5],
    }
    if spread:  # results written before the flags existed carry only times_s
        r.update(time_relative_std=rel, time_noisy=noisy)
    return r


def _data(results, repeats=3):
    names = list(dict.fromkeys(r["problem"] for r in results))
    return {
        "created": "2026-12-01T00:00:00+00:00", "command": "fabricated", "versions": {"jax": "x"},
        "device": {"backend": "cpu", "devices": ["cpu:0"]}, "dtype": "float32", "seed": 0,
        "repeats": repeats, "rtol": 1e-3, "lr_rule": {"sgd_family": "s", "adaptive": "a"},
        "problems": [{"name": n, "loss": "mse", "n_train": 200, "n_test": 50, "n_features": 100,
                      "metadata": {"source": "fabricated", "n_train": 250, "n_test": 0},
                      "fallback": None,
                      "optimum": {"loss": 1.0, "method": "lstsq", "grad_norm": 0.0},
                      "lipschitz": 1.0, "learning_rates": {"adam": 0.01},
                      "lr_source": {"adam": "grid"},
                      "hyperparameters": {"adam": {}}} for n in names],
        "results": results, "skipped": [],
    }


NOISY_NUMPY = [0.91, 4.72, 4.71]  # the NumPy times: std 0.64 x mean
TIGHT_NUMPY = [0.70, 0.71, 0.69]


@pytest.mark.parametrize("spread", [True, False], ids=["flags_in_json", "from_times_s"])
def test_a_speedup_from_noisy_timings_is_flagged_in_every_table(spread):
    jax_times = [0.0941, 0.0942, 0.0943]  # median 4.71 / 50
    data = _data([_result("P", "numpy", NOISY_NUMPY, spread=spread),
                  _result("P", "jax", jax_times, spread=spread)])
    assert _report.timing_spread(NOISY_NUMPY)[0] > NOISY_RELATIVE_STD  # accel compare's rule
    text = _report.markdown(data, {})
    assert "| P | adam | 4.71 (noisy) | 0.0942 | 50.00x (noisy) |" in text
    assert "| adam | numpy | 4.71 (noisy) |" in text
    assert _report.NOISY_NOTE in text and f"exceeds {NOISY_RELATIVE_STD:g} x their mean" in text
    console = _report.console_summary(data)
    row = next(line for line in console.splitlines() if line.startswith("P ") and " jax " in line)
    assert " 50.00x (noisy) " in row
    assert f"* {_report.NOISY_NOTE}" in console


def test_a_speedup_from_tight_timings_is_not_flagged():
    jax_times = [0.0933, 0.0934, 0.0935]
    data = _data([_result("P", "numpy", TIGHT_NUMPY), _result("P", "jax", jax_times)])
    text, console = _report.markdown(data, {}), _report.console_summary(data)
    assert "| P | adam | 0.7 | 0.0934 | 7.49x |" in text
    assert re.search(r" 7\.49x +5\.00e-01 no$", console, re.M)
    for out in (text, console):
        assert "(noisy)" not in out and _report.NOISY_NOTE not in out


def test_the_speedup_plot_hatches_only_noisy_ratios():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fast = [0.09, 0.09, 0.09]
    data = _data([_result("noisy", "numpy", NOISY_NUMPY), _result("noisy", "jax", fast),
                  _result("tight", "numpy", TIGHT_NUMPY), _result("tight", "jax", fast)])
    fig = _report.speedup_figure(data, plt)
    try:
        ax = fig.axes[0]
        assert [bar.get_hatch() for bar in ax.patches] == ["///", None]
        assert [t.get_text() for t in ax.texts] == ["noisy"]
        assert any("noisy" in t.get_text() for t in ax.get_legend().get_texts())
    finally:
        plt.close(fig)


def test_a_reused_programs_compile_time_is_explained():
    fast = [0.1, 0.1, 0.1]
    data = _data([_result("P", "numpy", TIGHT_NUMPY), _result("P", "jax", fast, reused=True),
                  _result("Q", "numpy", TIGHT_NUMPY), _result("Q", "jax", fast, reused=False)])
    text, console = _report.markdown(data, {}), _report.console_summary(data)
    assert "| adam | jax | 0.1 | 0.0 (reused) |" in text
    assert "| adam | jax | 0.1 | 1.25 |" in text
    assert text.count(_report.REUSED_NOTE) == 1  # under P's table only
    assert re.search(r"^P +adam +jax +0\.1000 +0\.000 \(reused\) ", console, re.M)
    assert re.search(r"^Q +adam +jax +0\.1000 +1\.250 ", console, re.M)
    assert f"* {_report.REUSED_NOTE}" in console


def test_the_suite_records_a_program_reused_from_an_earlier_problem(tmp_path):
    # shapes and epochs no other test uses: the first problem compiles, the second reuses
    X, y = regression(97, 7, seed=4, intercept=0.5, noise=0.1)
    bench = LargeScaleBenchmark(tmp_path, backends=("numpy", "jax"), repeats=1, progress=False)
    for name in ("first", "second"):
        bench.benchmark_dataset(name, X, y, X[:10], y[:10], {},
                                [{"optimizer": "sgd", "learning_rate": 0.05}], 23)
    first, second = [r for r in bench.results if r["backend"] == "jax"]
    assert first["compile_count"] > 0 and first["program_reused"] is False
    assert second["compile_count"] == 0 and second["program_reused"] is True
    text = _report.markdown(bench.to_dict(), {})
    assert text.count(" (reused) |") == 1 and _report.REUSED_NOTE in text
    assert "n_train 97, n_test 10, n_features 7" in text


def test_a_long_problem_name_appears_whole_in_the_console_table():
    data = _data([_result(LONG_NAME, "numpy", TIGHT_NUMPY),
                  _result(LONG_NAME, "jax", [0.1, 0.1, 0.1]),
                  _result("short", "numpy", TIGHT_NUMPY, optimizer="sgd")])
    lines = _report.console_summary(data).splitlines()
    header, rows = lines[0], [line for line in lines[1:4]]
    assert [line.startswith(LONG_NAME + " ") for line in rows] == [True, True, False]
    column = header.index("optimizer")
    assert column > len(LONG_NAME)
    assert [line[column:].split()[0] for line in rows] == ["adam", "adam", "sgd"]  # aligned
