"""The GPU kit (``python -m benchmarks.gpu``, issue 15) on the CPU: orchestration, deadline,
files and their schema, with the GPU parts replaced by the dry run or by stand-in sections."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from accel._info import Probe
from benchmarks.gpu import _cli, _device, _document, _plan, _pytest, _requirements, _runner
from benchmarks.gpu._device import GpuProbe
from benchmarks.gpu._runner import SectionSpec, Watchdog, run_kit

ROOT = Path(__file__).resolve().parents[1]
MODULES = [
    "benchmarks.gpu",
    "benchmarks.gpu._cli",
    "benchmarks.gpu._device",
    "benchmarks.gpu._document",
    "benchmarks.gpu._pytest",
    "benchmarks.gpu._requirements",
    "benchmarks.gpu._runner",
    "benchmarks.gpu._plan",
    "benchmarks.gpu._sections",
    "benchmarks.gpu._sections_ops",
    "benchmarks.gpu._timing",
]
NO_GPU = GpuProbe(False, "test: no GPU here", None)


def _load(folder: Path) -> dict:
    doc = json.loads((folder / "gpu_check.json").read_text())
    assert _document.validate(doc) == []
    return doc


def _stub(name: str, result=None, *, budget_s: float = 5, min_s: float = 0, error: Exception | None = None):
    def fn(ctx):
        if error is not None:
            raise error
        return result if result is not None else {"tables": [], "left": ctx.left()}

    return SectionSpec(name, fn, budget_s=budget_s, min_s=min_s)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0


# ----------------------------------------------------------------------------- whole runs


def test_dry_run_runs_every_real_section_and_writes_valid_files(tmp_path):
    """The real sections with tiny sizes on the CPU; a one-test pytest run stands in for -m gpu."""
    test_file = tmp_path / "test_one.py"
    test_file.write_text("def test_one():\n    assert 1 + 1 == 2\n")
    plan = dataclasses.replace(
        _plan.TINY,
        repeats=1,
        augment_algorithms=("threefry2x32",),
        mlp_dtypes=("float32",),
        image_ops=("adjust_brightness",),
        augment_cpu_baseline=False,
    )
    out = tmp_path / "results"
    doc = run_kit(out, dry_run=True, plan=plan, pytest_args=["-q", str(test_file)], deadline_s=300, root=ROOT)
    assert _load(out) == json.loads(json.dumps(doc))
    assert doc["mode"] == "dry-run" and doc["status"] == "ok", doc["sections"]
    assert list(doc["sections"]) == [s.name for s in _runner.SECTIONS]
    assert all(s["status"] == "ok" for s in doc["sections"].values())
    sections = {name: s["results"] for name, s in doc["sections"].items()}
    assert sections["tests"]["counts"] == {"tests": 1, "failures": 0, "errors": 0, "skipped": 0, "passed": 1}
    assert sections["tests"]["summary"].startswith("1 passed")
    assert (out / "pytest_gpu.log").read_text().count("1 passed") == 1
    assert doc["files"] == {"json": "gpu_check.json", "markdown": "gpu_check.md", "pytest_gpu": "pytest_gpu.log"}
    cases = sections["jax_optimizer"]["cases"]
    assert [c["epochs"] for c in cases] == [*plan.linear_epochs, plan.minibatch_epochs]
    measured = sections["device"]["copy"]["bandwidth_bytes_per_s"]
    for c in cases:  # the floor is the formula, against the measured copy bandwidth
        floor = c["epochs"] * c["passes"] * plan.linear_rows * plan.linear_features * 4 / measured
        assert c["floor_measured_s"] == pytest.approx(floor) and c["floor_spec_s"] is None
        assert c["engine_passes"] == (2 if c["batch_size"] is None else 3)  # the engine's dots
        engine = floor * c["engine_passes"] / c["passes"]
        assert c["ratio_to_engine_floor_measured"] == pytest.approx(c["median_s"] / engine)
        assert c["median_s"] > 0 and c["compile_and_first_fit_s"] > 0
    assert sections["parallel_trainer"]["train"][0]["samples_per_s"] > 0
    assert sections["parallel_trainer"]["fit_streamed"]["throughput_vs_resident"] > 0
    assert sections["parallel_trainer"]["hand_written"]["samples_per_s"] > 0
    assert sections["parallel_trainer"]["train"][0]["throughput_vs_hand_written"] > 0
    assert [r["algorithm"] for r in sections["augment_params"]["results"]] == ["threefry2x32"]
    assert [r["op"] for r in sections["image_ops"]["results"]] == ["adjust_brightness"]
    trained = sections["augment_training"]
    assert [r["case"] for r in trained["results"]] == ["plain", "augmented", "host"]
    assert trained["ratios"]["augmented_over_plain"] > 0 and trained["rows"] == plan.augment_train_rows
    compared = sections["compare_backends"]["results"]
    assert [(r["op"], r["precision"]) for r in compared] == [
        ("matmul", "default"), ("matmul", "highest"), ("logreg_grad", "default"), ("logreg_grad", "highest")]
    assert all(r["backends"]["jax"]["max_rel_diff"] <= r["tolerance"] for r in compared)
    markdown = (out / "gpu_check.md").read_text()
    assert markdown.startswith("# GPU check: ok")
    assert all(f"## {name}" in markdown for name in doc["sections"])


def test_without_a_gpu_it_writes_a_skipped_record_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_runner, "detect_gpu", lambda: NO_GPU)
    assert _cli.main(["--output", str(tmp_path)]) == 0
    doc = _load(tmp_path)
    assert (doc["status"], doc["mode"], doc["sections"]) == ("skipped", "none", {})
    assert doc["reason"] == "no NVIDIA GPU: test: no GPU here"
    assert "skipped: no NVIDIA GPU" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_check.json", "gpu_check.md"]


def test_the_command_line_runs_as_a_module(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gpu",
            "--dry-run",
            "--sections",
            "requirements",
            "--output",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = _load(tmp_path)
    assert doc["command"] == f"python -m benchmarks.gpu --dry-run --sections requirements --output {tmp_path}"
    assert doc["sections"]["requirements"]["status"] == "ok"
    assert {s["status"] for n, s in doc["sections"].items() if n != "requirements"} == {"not_selected"}
    assert doc["environment"]["env"]["JAX_PLATFORMS"] == "cpu"


def test_a_missing_package_is_named_before_anything_runs(tmp_path):
    hide = (
        "import runpy, sys; sys.modules['array_api_compat'] = None; "
        "runpy.run_module('benchmarks.gpu', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", hide, "--output", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == _cli.EXIT_MISSING_PACKAGE == 4
    assert "missing Python package(s): array-api-compat" in proc.stderr
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- budgets, failures


def test_a_section_that_raises_is_recorded_and_the_run_goes_on(tmp_path):
    specs = [_stub("broken", error=ZeroDivisionError("boom")), _stub("fine")]
    doc = run_kit(tmp_path, dry_run=True, specs=specs, deadline_s=60)
    broken = doc["sections"]["broken"]
    assert (broken["status"], broken["reason"]) == ("failed", "ZeroDivisionError: boom")
    assert "ZeroDivisionError" in broken["error"] and broken["results"] is None
    assert doc["sections"]["fine"]["status"] == "ok" and doc["status"] == "failed"
    assert _cli.EXIT_CODES[_load(tmp_path)["status"]] == 1


def test_results_that_json_cannot_hold_fail_their_section_not_the_files(tmp_path):
    doc = run_kit(tmp_path, dry_run=True, specs=[_stub("odd", {"tables": [], "x": object()})], deadline_s=60)
    assert doc["sections"]["odd"]["status"] == "failed"
    assert doc["sections"]["odd"]["reason"].startswith("TypeError: Object of type object is not JSON serializable")
    assert _load(tmp_path)["status"] == "failed"


def test_sections_skipped_for_lack_of_time_make_the_run_incomplete(tmp_path):
    specs = [
        _stub("first", budget_s=1000),
        _stub("needs_time", min_s=100),
        _stub("skips_itself", error=_plan.SectionSkipped("nothing to do here")),
    ]
    doc = run_kit(tmp_path, dry_run=True, specs=specs, deadline_s=60)
    first = doc["sections"]["first"]
    assert first["budget_s"] == pytest.approx(60 - _runner.RESERVE_S, abs=1)  # capped by the deadline
    assert first["results"]["left"] <= first["budget_s"] + 0.05  # budget_s is rounded to 0.1 s
    assert doc["sections"]["needs_time"]["status"] == "skipped"
    assert re.fullmatch(
        r"run budget gone: \d+ s left, the section needs at least 100 s",
        doc["sections"]["needs_time"]["reason"],
    )
    assert doc["sections"]["skips_itself"]["reason"] == "nothing to do here"
    assert doc["status"] == "incomplete" and _cli.EXIT_CODES["incomplete"] == 3


def test_only_runs_the_selected_sections_and_rejects_unknown_names(tmp_path):
    specs = [_stub("a"), _stub("b")]
    doc = run_kit(tmp_path, dry_run=True, specs=specs, only=["b"], deadline_s=60)
    assert doc["sections"]["a"]["status"] == "not_selected" and doc["sections"]["b"]["status"] == "ok"
    assert doc["status"] == "ok"
    with pytest.raises(ValueError, match=r"unknown section\(s\) \['c'\]; sections are \['a', 'b'\]"):
        run_kit(tmp_path, dry_run=True, specs=specs, only=["c"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--deadline", "-5"], "--deadline must be a number of seconds > 0, got -5.0"),
        (["--sections", "tests,gpu"], "--sections: unknown ['gpu']; sections are requirements,tests,"),
        (["--sections", ","], "--sections: unknown empty list"),
        (["--output", ""], "--output must name a folder"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"deadline_s": 0}, ValueError, "deadline_s must be > 0, got 0.0"),
        ({"only": "tests"}, TypeError, "only must be a sequence of section names, got the string 'tests'"),
        ({"output": None}, TypeError, "output must be a non-empty str or os.PathLike path, got None"),
    ],
)
def test_run_kit_checks_its_arguments(kwargs, error, match, tmp_path):
    with pytest.raises(error, match=re.escape(match)):
        run_kit(**{"output": tmp_path, **kwargs}, dry_run=True, specs=[_stub("a")])


def test_watchdog_fires_once_unless_cancelled():
    """No fixed sleep: the test waits for the firing it expects (load can only delay it) and
    gives the cancelled watchdog a deadline (60 s) that no load can make pass before cancel()."""
    fired = []
    done = threading.Event()
    Watchdog(0.05, lambda: (fired.append("a"), done.set())).start()
    cancelled = Watchdog(60.0, lambda: fired.append("b")).start()
    cancelled.cancel()
    cancelled._timer.join(timeout=60)  # a cancelled timer's thread ends without calling
    assert not cancelled._timer.is_alive()
    assert done.wait(timeout=60)
    assert fired == ["a"]


def test_at_the_deadline_the_running_section_is_recorded_as_timeout(tmp_path, monkeypatch):
    """The watchdog's action, called directly: files written, the process ended with 3."""
    exits = []
    monkeypatch.setattr(os, "_exit", lambda code: exits.append(code))
    doc = _document.new_document(mode="gpu", deadline_s=1, started_utc="2026-01-01T00:00:00+00:00", command="x")
    doc["sections"]["slow"] = _runner._record("running", None, 5.0)
    run = _runner._Run(doc, tmp_path, time.monotonic())
    run.current = "slow"
    run.on_deadline()
    assert exits == [3]
    written = _load(tmp_path)
    assert written["sections"]["slow"]["status"] == "timeout" and written["status"] == "incomplete"
    run.finished = True
    run.on_deadline()  # after the run finished, the watchdog does nothing
    assert exits == [3]


def test_pytest_subprocess_is_killed_at_its_timeout(tmp_path):
    (tmp_path / "test_sleep.py").write_text("import time\n\ndef test_sleeps():\n    time.sleep(60)\n")
    t0 = time.monotonic()
    res = _pytest.run_pytest(["-q", str(tmp_path / "test_sleep.py")], cwd=tmp_path, timeout_s=3)
    assert res["timed_out"] and res["returncode"] != 0 and res["counts"] is None
    assert time.monotonic() - t0 < 30


# ----------------------------------------------------------------------------- pieces


def test_parse_junit_counts_and_failures(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(textwrap.dedent("""\
        <?xml version="1.0" encoding="utf-8"?>
        <testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6">
          <testcase classname="tests.test_gpu" name="test_a"/>
          <testcase classname="tests.test_gpu" name="test_b"><failure message="assert 1 == 2">...</failure></testcase>
          <testcase classname="tests.test_gpu" name="test_c"><error message="fixture broke">...</error></testcase>
        </testsuite></testsuites>"""))
    got = _pytest.parse_junit(report)
    assert got["counts"] == {"tests": 6, "failures": 1, "errors": 1, "skipped": 2, "passed": 2}
    assert got["failures"] == [
        {"test": "tests.test_gpu::test_b", "kind": "failure", "message": "assert 1 == 2"},
        {"test": "tests.test_gpu::test_c", "kind": "error", "message": "fixture broke"},
    ]


@pytest.mark.parametrize(
    ("output", "summary"),
    [
        ("....\n4 passed in 1.00s\n", "4 passed in 1.00s"),
        ("x\n==== 1 failed, 2 passed, 3 skipped, 9 deselected in 5.1s ====\n",
         "1 failed, 2 passed, 3 skipped, 9 deselected in 5.1s"),
        ("== no tests ran in 0.01s ==", "no tests ran in 0.01s"),
        ("collecting ...\n", None),
    ],
)
def test_parse_summary_line(output, summary):
    assert _pytest.parse_summary_line(output) == summary


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("NVIDIA H200", {"bus_width_bits": 6144, "max_memory_clock_mhz": 3201}, (4.917e12, "nvml")),
        ("NVIDIA H100 80GB HBM3", {"bus_width_bits": 5120, "max_memory_clock_mhz": 2619}, (3.352e12, "nvml")),
        ("NVIDIA H200", {}, (4.8e12, "datasheet table")),
        ("NVIDIA H200 NVL", {"bus_width_bits": None}, (4.8e12, "datasheet table")),
        ("NVIDIA H100 80GB HBM3", {}, (3.35e12, "datasheet table")),
        ("NVIDIA H100 PCIe", {}, (2.0e12, "datasheet table")),
        ("NVIDIA H100 NVL", {}, (3.9e12, "datasheet table")),
        ("NVIDIA A100-SXM4-80GB", {}, (None, None)),
        (None, {}, (None, None)),
    ],
)
def test_spec_bandwidth(name, fields, expected):
    bandwidth, source = _device.spec_bandwidth(name, **fields)
    assert source == expected[1]
    assert bandwidth == (None if expected[0] is None else pytest.approx(expected[0], rel=1e-3))


def test_detect_gpu_without_nvml_or_nvidia_smi(monkeypatch):
    monkeypatch.setattr(_device, "nvidia_gpu_status", lambda: Probe(False, "no NVML"))
    monkeypatch.setattr(_device.shutil, "which", lambda name: None)
    assert _device.detect_gpu() == GpuProbe(False, "no NVML", None)


def test_requirements_cuda_pins_one_cuda_major_and_exact_versions():
    """Item 3 of issue 15: jax[cudaNN] and cupy-cudaNNx name the same CUDA major, and jax and
    CuPy are pinned exactly (the versions of the GPU image, see the file's comments)."""
    lines = _requirements.read_requirements(ROOT / "requirements-cuda.txt")
    jax_line = next(line for line in lines if line.startswith("jax["))
    cupy_line = next(line for line in lines if line.startswith("cupy-cuda"))
    jax_major = re.match(r"jax\[cuda(\d+)\]==\d+\.\d+\.\d+$", jax_line)
    cupy_major = re.match(r"cupy-cuda(\d+)x==\d+\.\d+\.\d+$", cupy_line)
    assert jax_major and cupy_major and jax_major.group(1) == cupy_major.group(1)
    rows = _requirements.check_requirements(lines)
    names = [r["name"] for r in rows]
    assert names[:3] == ["jax", f"jax-cuda{jax_major.group(1)}-plugin", f"jax-cuda{jax_major.group(1)}-pjrt"]
    assert all(r["requirement"] in lines for r in rows)


def test_image_ops_plan_names_the_benchmark_script_cases():
    from benchmarks.bench_image_ops import op_cases

    assert tuple(op_cases(None, None, None, None)) == _plan.IMAGE_OPS == _plan.FULL.image_ops


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"schema_version": 2}, "schema_version: 2 is not one of (1,)"),
        ({"status": "great"}, "status: 'great' is not one of"),
        ({"mode": "tpu"}, "mode: 'tpu' is not one of"),
        ({"wall_s": "1 s"}, "wall_s: expected Real, got str"),
        ({"sections": {"x": {"status": "ok"}}}, "sections.x.reason: missing"),
        (
            {
                "sections": {
                    "x": {
                        "status": "done",
                        "reason": None,
                        "budget_s": 1,
                        "wall_s": 1,
                        "results": None,
                        "error": None,
                    }
                }
            },
            "sections.x.status: 'done' is not one of",
        ),
        (
            {
                "sections": {
                    "x": {
                        "status": "ok",
                        "reason": None,
                        "budget_s": 1,
                        "wall_s": 1,
                        "error": None,
                        "results": {"tables": [{"title": "t", "headers": ["a"], "rows": [[1, 2]]}]},
                    }
                }
            },
            "sections.x.results.tables[0]",
        ),
        ({"files": {}}, "files.json: missing"),
    ],
)
def test_validate_names_what_is_wrong(change, error):
    doc = _document.new_document(mode="gpu", deadline_s=480, started_utc="t", command="c")
    errors = _document.validate({**doc, **change})
    assert len(errors) >= 1 and errors[0].startswith(error), errors
    assert _document.validate(doc) == []
