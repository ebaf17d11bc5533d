"""The package installs, exposes its CLI and sees the test device configuration."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import jax
import pytest

import accel
from accel import _info
from accel.cli import main


def _run_info(extra_env: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra_env)
    out = subprocess.run(
        [sys.executable, "-m", "accel", "info"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def test_four_cpu_devices_visible(cpu_devices):
    assert len(cpu_devices) == 4
    assert [d.id for d in cpu_devices] == [0, 1, 2, 3]


def test_all_three_packages_import():
    for name in ("accel", "optimizers", "benchmarks", "benchmarks.datasets"):
        assert importlib.util.find_spec(name) is not None, name
    assert accel.__version__ != "0.0.0+unknown", "accel must be installed (pip install .)"


def test_info_in_process_reports_test_devices(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("accel", "jax", "jaxlib", "optax", "numpy", "cupy"):
        assert any(line.startswith(name) for line in out.splitlines()), name
    if jax.default_backend() == "cpu":
        assert "jax devices (4)" in out


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="device count differs on a GPU host")
def test_info_subprocess_one_cpu_device_by_default():
    out = _run_info({}, drop=("JAX_NUM_CPU_DEVICES", "XLA_FLAGS"))
    assert "jax backend: cpu" in out
    assert "jax devices (1): cpu:0" in out


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="device count differs on a GPU host")
def test_info_subprocess_four_cpu_devices_under_test_configuration():
    out = _run_info({"JAX_NUM_CPU_DEVICES": "4"})
    assert "jax devices (4): cpu:0" in out


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="cupy is installed")
def test_info_says_why_cupy_is_unusable():
    probe = _info.cupy_status()
    assert not probe.usable
    assert "cupy is not installed" in probe.detail
    assert "requirements-cuda.txt" in probe.detail


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a GPU backend is present")
def test_info_says_why_jax_gpu_is_unusable():
    probe = _info.jax_gpu_status(jax.default_backend())
    assert not probe.usable
    assert "requirements-cuda.txt" in probe.detail


def test_cli_rejects_unknown_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_marker_runs_only_with_gpu():
    # Only collected-and-run where conftest found a usable GPU.
    assert _info.jax_gpu_status(jax.default_backend()).usable or _info.cupy_status().usable
