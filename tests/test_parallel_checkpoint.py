"""ParallelTrainer checkpoints: bitwise resume, SIGKILL mid-training, atomic directories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _parallel_worker import CONFIG, make_data

from accel import ParallelTrainer
from accel.parallel import _checkpoint

WORKER = Path(__file__).with_name("_parallel_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def _env(n_devices: int) -> dict:
    env = dict(os.environ)
    env["JAX_NUM_CPU_DEVICES"] = str(n_devices)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_resume_20_to_50_epochs_is_bitwise_identical(tmp_path):
    X, y = make_data()
    common = dict(CONFIG, n_devices=2, checkpoint_dir=str(tmp_path), checkpoint_every=9)
    first = ParallelTrainer(epochs=20, **common).fit(X, y)
    steps = _checkpoint.list_steps(tmp_path)
    S = 6  # 96 rows / 16
    assert steps == [108, 117, 120]  # every 9 steps and at the end; the last 3 kept
    meta = json.loads((tmp_path / "step_0000000117" / "meta.json").read_text())
    assert (meta["step"], meta["epoch"], meta["position"]) == (117, 19, 3)  # mid-epoch
    assert meta["seed"] == CONFIG["random_state"] and len(meta["key_data"]) == 2

    resumed = ParallelTrainer(epochs=50, **common).fit(X, y, resume=True)
    assert resumed.compile_time_ == 0.0  # same program as the 20-epoch run
    straight = ParallelTrainer(epochs=50, **CONFIG, n_devices=2).fit(X, y)
    assert straight.compile_time_ == 0.0  # the same program again: bitwise comparisons hold
    np.testing.assert_array_equal(resumed.coef_, straight.coef_)
    assert resumed.intercept_ == straight.intercept_
    assert resumed.history_["loss"] == straight.history_["loss"]
    assert resumed.history_["loss"][:21] == first.history_["loss"]
    assert resumed.step_ == 50 * S and resumed.n_epochs_ == 50


def test_resume_rejects_a_different_run(tmp_path):
    X, y = make_data()
    ParallelTrainer(epochs=1, n_devices=2, checkpoint_dir=str(tmp_path), **CONFIG).fit(X, y)
    other = dict(CONFIG, batch_size=8)
    with pytest.raises(ValueError, match="written by a different run"):
        ParallelTrainer(epochs=2, n_devices=2, checkpoint_dir=str(tmp_path), **other).fit(
            X, y, resume=True
        )


def test_checkpoint_directory_is_atomic_and_pruned(tmp_path):
    state = {"w": np.arange(3, dtype=np.float32), "n": np.int32(4)}
    (tmp_path / ".tmp-step_0000000009-123").mkdir(parents=True)  # a crash mid-write
    (tmp_path / "step_0000000099").mkdir()  # renamed? never: no meta.json -> not complete
    for step in (1, 2, 3, 4):
        _checkpoint.save(tmp_path, step, state, {"epoch": step}, keep=2)
    assert _checkpoint.list_steps(tmp_path) == [3, 4]
    assert not list(tmp_path.glob(".tmp-*"))
    restored, meta = _checkpoint.restore(tmp_path, state)
    np.testing.assert_array_equal(restored["w"], state["w"])
    assert meta["epoch"] == 4 and meta["step"] == 4
    with pytest.raises(ValueError, match=r"leaf 1 is float32\[3\], the train state expects"):
        _checkpoint.restore(tmp_path, {"w": np.zeros(4, np.float32), "n": np.int32(0)})
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        _checkpoint.restore(tmp_path / "empty", state)


def test_sigkill_mid_training_then_resume_gives_the_same_result(tmp_path):
    """A child process trains with a checkpoint every 5 steps (mid-epoch: 6 steps per
    epoch) and is SIGKILLed after its third checkpoint; resuming from what is on disk
    (a kill during a write leaves only a .tmp directory) ends bitwise where an
    uninterrupted run ends."""
    epochs = 150
    ckpt = tmp_path / "ckpt"
    log = tmp_path / "child.log"
    cmd = [sys.executable, str(WORKER), "fit", str(tmp_path / "killed.npz"), "--epochs",
           str(epochs), "--n-devices", "2", "--checkpoint-dir", str(ckpt),
           "--checkpoint-every", "5"]  # fmt: skip
    t0 = time.monotonic()
    with open(log, "wb") as out:
        child = subprocess.Popen(cmd, env=_env(4), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while len(_checkpoint.list_steps(ckpt)) < 3:
            assert child.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no checkpoints within 90 s"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    print(f"killed after {time.monotonic() - t0:.1f} s")
    at_kill = _checkpoint.latest_step(ckpt)
    assert 0 < at_kill < epochs * 6, "the child finished before it was killed"
    X, y = make_data()
    common = dict(CONFIG, n_devices=2, epochs=epochs)
    resumed = ParallelTrainer(checkpoint_dir=str(ckpt), **common).fit(X, y, resume=True)
    straight = ParallelTrainer(**common).fit(X, y)
    np.testing.assert_array_equal(resumed.coef_, straight.coef_)
    assert resumed.history_["loss"] == straight.history_["loss"]
