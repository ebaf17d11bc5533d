"""benchmarks/bench_streaming.py runs: each case (in memory, ``.npy`` files, Parquet) fits.

A smoke run only (small data, one process per case, one timed fit): no assertion on any
timing or ratio. The three cases train the same model on the same rows in the same order,
so they end at the same loss (float32 rounding).
"""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_streaming


def test_bench_streaming_runs_every_case(tmp_path):
    path = tmp_path / "out.json"
    args = ["--rows", "6000", "--rounds", "1", "--fits", "1", "--devices", "1", "--out", str(path)]
    out = bench_streaming.main(args)
    assert json.loads(path.read_text())["rows"] == 6000
    med = out["results"]["1"]["median"]
    assert set(med) == {"resident", "npy", "parquet"}
    for case in med.values():
        assert case["rows_per_s"] > 0 and case["first_fit_s"] > 0 and case["process_peak_MiB"] > 0
    assert med["parquet"]["convert_s"] > 0 == med["npy"]["convert_s"]
    for streamed in ("npy", "parquet"):
        assert med[streamed]["throughput_vs_resident"] > 0
        assert med[streamed]["final_loss"] == pytest.approx(med["resident"]["final_loss"], rel=1e-4)
