"""The README's examples run as written: profiling, DPA, data larger than memory, and the
multi-host script (2 local processes)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(heading: str, until: str = "\n## ") -> list[str]:
    text = README.read_text()
    start = text.index(heading)
    end = text.find(until, start + len(heading))
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], flags=re.S)


@pytest.mark.parametrize("heading", ["## Profiling a training loop", "### DPA code"])
def test_readme_examples_run(heading, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks(heading)
    assert blocks, f"no Python example under {heading!r}"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, f"<README {heading}>", "exec"), namespace)
    if heading.startswith("## Profiling"):
        assert namespace["stats"]["n_epochs"] == 100 and namespace["stats"]["avg_epoch_time"] > 0
        out = capsys.readouterr().out
        assert "  grad" in out and "(unaccounted)" in out
        assert list(tmp_path.rglob("perfetto_trace.json.gz"))
    else:
        assert len(namespace["params"]["hash"]) == 64 and len(namespace["chunk"]) == 10_000


def _section(heading: str) -> list[str]:
    """The Python blocks of one section (up to the next heading of any level)."""
    lines = README.read_text().splitlines(keepends=True)
    start = lines.index(heading + "\n")
    fenced, end = False, len(lines)
    for i in range(start + 1, len(lines)):
        fenced ^= lines[i].startswith("```")
        if not fenced and re.match(r"#{1,6} ", lines[i]):
            end = i
            break
    return re.findall(r"```python\n(.*?)```", "".join(lines[start:end]), flags=re.S)


def test_readme_linear_models_run():
    (block,) = _section("### Classifiers, multi-output regression, penalty and sample weights")
    namespace: dict = {}
    exec(compile(block, "<README linear models>", "exec"), namespace)
    assert namespace["agree"] >= 0.99 and namespace["clf"].coef_.shape == (10, 64)
    assert namespace["reg"].coef_.shape == (2, 64) and namespace["reg"].score(namespace["X"], namespace["Y"]) > 0.999
    assert namespace["weighted"].converged_


def test_readme_data_larger_than_memory_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _section("### Training on data larger than memory")
    assert len(blocks) == 1
    namespace: dict = {}
    exec(compile(blocks[0], "<README large data>", "exec"), namespace)
    pt, one = namespace["pt"], namespace["one_file"]
    h = pt.history_
    assert h["val_loss"].shape == h["loss"].shape and h["val_loss"][-1] < 0.1 * h["val_loss"][0]
    assert pt.n_features_in_ == 64 and one.coef_.shape == (64,)
    assert np.all(h["data_wait_time"] <= h["step_time"])


@pytest.mark.multiprocess
def test_readme_multi_host_script_runs_as_two_processes(tmp_path):
    (script,) = _section("### On N GPUs / several hosts")
    (tmp_path / "train.py").write_text(script)
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2048, 8)).astype(np.float32)
    np.save(tmp_path / "data" / "X.npy", X)
    np.save(tmp_path / "data" / "y.npy", X @ np.full(8, 0.25, np.float32))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = str(Path(__file__).resolve().parents[1])
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            JAX_NUM_CPU_DEVICES="2",
            ACCEL_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
            ACCEL_NUM_PROCESSES="2",
            ACCEL_PROCESS_ID=str(rank),
            PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "train.py"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        outs = [p.communicate(timeout=240)[0].decode() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(o[-2000:] for o in outs)
    assert "loss per epoch" in outs[0] and "loss per epoch" not in outs[1]
    losses = json.loads(outs[0].split("loss per epoch", 1)[1].strip().splitlines()[0])
    assert len(losses) == 6 and losses[-1] < 0.1 * losses[0]
    assert (tmp_path / "ckpt").is_dir()


def test_readme_augmentation_in_training_example_runs():
    """The example under "Augmentation inside training" trains, and what it says sample 5
    looked like is an augmented image (the contract itself: tests/test_augment_training.py)."""
    (block,) = _blocks("### Augmentation inside training", until="\n### ")
    namespace: dict = {}
    exec(compile(block, "<README augmentation in training>", "exec"), namespace)
    loss = np.asarray(namespace["history"]["loss"])  # train's default: the training pass's
    assert np.isnan(loss[0]) and np.isfinite(loss[1:]).all()
    seen, original = np.asarray(namespace["seen"]), namespace["data"]["image"][[5]]
    assert seen.shape == original.shape and np.abs(seen - original).max() > 0.05
