"""benchmarks/bench_linear_models.py runs (a tiny ``--quick`` run on the offline stand-in) and
reports every case, objective and ratio; no timing is asserted."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("sklearn")

from benchmarks import bench_linear_models as bench


def test_standin_has_mnist_layout():
    data = bench.load_data("standin", 50, 20)
    assert data["X"].shape == (50, 784) and data["X_test"].shape == (20, 784)
    assert data["X"].dtype == np.float64 and 0.0 <= data["X"].min() and data["X"].max() <= 1.0
    assert data["Y"].shape == (50, len(np.unique(data["y"])))
    assert "NOT MNIST" in data["source"]


def test_quick_run_reports_every_case(tmp_path, capsys):
    out = tmp_path / "r.json"
    res = bench.main(["--quick", "--data", "standin", "--json", str(out)])
    assert json.loads(out.read_text())["cases"].keys() == res["cases"].keys()
    cases = res["cases"]
    assert list(cases) == ["sklearn_lbfgs_float64", "sklearn_lbfgs_float32", "ours_lbfgs_float32", "sklearn_sgd",
                           "ours_adam"]
    assert res["meta"]["n"] == 600 and "NOT MNIST" in res["meta"]["source"]
    assert math.isclose(res["meta"]["alpha"], 1 / (res["meta"]["C"] * 600))
    for case in cases.values():
        timed = case.get("defaults", case)  # ours' L-BFGS: its "defaults" fit
        for value in (case["first_s"], timed["median_s"], timed["objective"], timed["test_accuracy"]):
            assert math.isfinite(value) and value >= 0
    ours = cases["ours_lbfgs_float32"]
    assert ours["compile_s"] >= 0 and ours["defaults"]["n_iter"] >= 1
    assert ours["matched_epochs"] is None or ours["matched"]["objective"] <= cases["sklearn_lbfgs_float64"]["objective"]
    sk = cases["sklearn_lbfgs_float64"]["objective"]
    # near the same optimum (float32 may stop a little above float64's)
    assert abs(ours["defaults"]["objective"] - sk) <= 1e-3 * sk
    assert set(res["ratios"]) >= {"ours_lbfgs_float32_defaults_over_sklearn_lbfgs_float64",
                                  "ours_lbfgs_float32_defaults_over_sklearn_lbfgs_float32",
                                  "ours_adam_over_sklearn_sgd"}
    printed = capsys.readouterr().out
    assert "| sklearn_lbfgs_float64 |" in printed and "| ours_adam |" in printed


def test_only_prints_one_case_with_peak_memory(capsys):
    res = bench.main(["--quick", "--data", "standin", "--only", "sklearn_sgd"])
    assert res["peak_rss_mib"] > 0 and res["epochs"] == 2
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == res
