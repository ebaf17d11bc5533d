"""ParallelTrainer checkpoints: bitwise resume, SIGKILL mid-training, atomic directories."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _parallel_worker import (
    AUGMENT,
    CONFIG,
    IMAGE_CONFIG,
    image_loss,
    image_params,
    make_data,
    make_images,
    write_data,
)

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
    np.testing.assert_array_equal(resumed.history_["loss"], straight.history_["loss"])
    np.testing.assert_array_equal(resumed.history_["loss"][:21], first.history_["loss"])
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


@pytest.mark.parametrize("source", ["arrays", "files", "augmented"])
def test_sigkill_mid_training_then_resume_gives_the_same_result(tmp_path, source):
    """A child process trains with a checkpoint every 5 steps (mid-epoch: 6 steps per
    epoch; with ``augmented`` every 7 steps, 5 per epoch) and is SIGKILLed after its third checkpoint; resuming from
    what is on disk (a kill during a write leaves only a .tmp directory) ends bitwise where
    an uninterrupted run ends. With ``files`` the data are streamed from memory-mapped
    ``.npy`` files (the checkpoint keeps the data position: the global step); with
    ``augmented`` a model on images is trained with augmentation inside the step
    (``train(..., augment=...)``): the images depend on (seed, epoch, sample) only."""
    epochs = {"arrays": 150, "files": 40, "augmented": 60}[source]
    steps_per_epoch = 5 if source == "augmented" else 6
    ckpt = tmp_path / "ckpt"
    log = tmp_path / "child.log"
    data = ()
    if source == "files":
        write_data(tmp_path)
        data = ("--data-dir", str(tmp_path))
    cmd = [
        sys.executable,
        str(WORKER),
        "augment" if source == "augmented" else "fit",
        str(tmp_path / "killed.npz"),
        "--epochs",
        str(epochs),
        "--n-devices",
        "2",
        "--checkpoint-dir",
        str(ckpt),
        "--checkpoint-every",
        "5" if source != "augmented" else "7",  # augmented: multiples of 35 end an epoch
        *data,
    ]
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
    assert 0 < at_kill < epochs * steps_per_epoch, "the child finished before it was killed"
    if source == "augmented":
        if at_kill % steps_per_epoch == 0:  # a slow poll let it reach step 35: resume from 28
            shutil.rmtree(ckpt / f"step_{at_kill:010d}")
            at_kill = _checkpoint.latest_step(ckpt)
        assert at_kill % steps_per_epoch, "the resumed checkpoint is not mid-epoch"
        common = dict(IMAGE_CONFIG, n_devices=2, epochs=epochs)
        args = (image_loss, image_params(), make_images())
        resumed, r_hist = ParallelTrainer(checkpoint_dir=str(ckpt), **common).train(*args, augment=AUGMENT, resume=True)
        straight, s_hist = ParallelTrainer(**common).train(*args, augment=AUGMENT)
        for name in ("w", "b"):
            np.testing.assert_array_equal(resumed[name], straight[name])
        # the training pass's loss (train's default history): the epoch's sums so far travel
        # in the mid-epoch checkpoint
        assert np.isfinite(s_hist["loss"][1:]).all()
        np.testing.assert_array_equal(r_hist["loss"], s_hist["loss"])
        return
    X, y = make_data()
    if source == "files":
        X, y = str(tmp_path / "X.npy"), str(tmp_path / "y.npy")
    common = dict(CONFIG, n_devices=2, epochs=epochs)
    resumed = ParallelTrainer(checkpoint_dir=str(ckpt), **common).fit(X, y, resume=True)
    straight = ParallelTrainer(**common).fit(X, y)
    np.testing.assert_array_equal(resumed.coef_, straight.coef_)
    np.testing.assert_array_equal(resumed.history_["loss"], straight.history_["loss"])


# -- unreadable checkpoints, the directory check, dtype check ----------------------------
STATE = {"w": np.arange(3, dtype=np.float32), "n": np.int32(4)}


def _corrupt_meta(text):
    return lambda d: (d / "meta.json").write_text(text)


def _edit_meta(**changes):
    def edit(d):
        meta = json.loads((d / "meta.json").read_text())
        meta.update(changes)
        (d / "meta.json").write_text(json.dumps(meta))

    return edit


def _truncate_arrays(keep):
    def cut(d):
        data = (d / "arrays.npz").read_bytes()
        (d / "arrays.npz").write_bytes(data[: keep if keep >= 0 else len(data) + keep])

    return cut


def _drop_leaf(d):
    with np.load(d / "arrays.npz") as z:
        kept = {k: z[k] for k in z.files if k != "leaf_1"}
    np.savez(d / "arrays.npz", **kept)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_corrupt_meta('{"format_version": 1, "st'), "meta.json is truncated or corrupt"),
        (_corrupt_meta("[1, 2]"), "meta.json holds a list, not an object"),
        (_corrupt_meta('{"format_version": 1, "step": 5}'), "meta.json has n_leaves=None"),
        (_edit_meta(n_leaves="2"), "meta.json has n_leaves='2'"),
        (_edit_meta(step=6), "meta.json says step 6, the directory step 5"),
        (_edit_meta(format_version=99), "has format_version 99, expected 1"),
        (_truncate_arrays(0), "arrays.npz is truncated or corrupt"),
        (_truncate_arrays(-40), "arrays.npz is truncated or corrupt"),
        (_truncate_arrays(100), "arrays.npz is truncated or corrupt"),
        (lambda d: (d / "arrays.npz").write_bytes(b"\x80\x04garbage" * 20), "arrays.npz is truncated or corrupt"),
        (_drop_leaf, "arrays.npz lacks leaf_1"),
    ],
    ids=["meta-truncated", "meta-list", "meta-no-n_leaves", "meta-n_leaves-str", "meta-step",
         "meta-version", "arrays-empty", "arrays-truncated", "arrays-head", "arrays-garbage",
         "arrays-missing-leaf"],
)
def test_unreadable_checkpoint_raises_a_value_error_naming_it(tmp_path, damage, match):
    step_dir = _checkpoint.save(tmp_path, 5, STATE, {"epoch": 1}, keep=2)
    damage(step_dir)
    with pytest.raises(ValueError, match=match) as err:
        _checkpoint.restore(tmp_path, STATE)
    assert str(step_dir) in str(err.value)


def test_restore_rejects_a_leaf_of_the_right_shape_and_another_dtype(tmp_path):
    """A float32 checkpoint must not be restored into a float64 (or int) train state."""
    _checkpoint.save(tmp_path, 1, STATE, {}, keep=1)
    for other in (
        {"w": np.zeros(3, np.float64), "n": np.int32(0)},
        {"w": np.zeros(3, np.float32), "n": np.int64(0)},
    ):
        with pytest.raises(ValueError, match=r"leaf \d is (float32|int32)\[\d*\], the train state expects (float64|int64)"):
            _checkpoint.restore(tmp_path, other)


def test_resume_from_a_corrupt_checkpoint_names_it(tmp_path):
    X, y = make_data()
    common = dict(CONFIG, n_devices=2, epochs=1, checkpoint_dir=str(tmp_path))
    ParallelTrainer(**common).fit(X, y)
    (latest,) = [tmp_path / f"step_{s:010d}" for s in _checkpoint.list_steps(tmp_path)]
    (latest / "arrays.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(f"checkpoint '{latest}' is unreadable: arrays.npz")):
        ParallelTrainer(**common).fit(X, y, resume=True)


def test_checkpoint_dir_is_checked_before_training(tmp_path):
    """A file as checkpoint_dir fails when training starts (before the other arguments of
    the run are looked at: resume='yes' would be reported otherwise), not after training
    when the first save fails."""
    X, y = make_data()
    a_file = tmp_path / "f"
    a_file.write_text("")
    for bad, match in ((a_file, "is a file, not a directory"), (a_file / "sub", "cannot be created")):
        with pytest.raises(ValueError, match=re.escape(f"checkpoint_dir '{bad}' {match}")):
            ParallelTrainer(checkpoint_dir=str(bad), **CONFIG).fit(X, y, resume="yes")
    with pytest.raises(TypeError, match=r"checkpoint_dir must be a non-empty str or os\.PathLike"):
        ParallelTrainer(checkpoint_dir=5, **CONFIG).fit(X, y)
    with pytest.raises(TypeError, match="resume must be True or False"):  # a good directory
        ParallelTrainer(checkpoint_dir=str(tmp_path / "new" / "ckpt"), **CONFIG).fit(X, y, resume="yes")
    assert (tmp_path / "new" / "ckpt").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only directory")
def test_checkpoint_dir_not_writable(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="is not writable"):
            _checkpoint.check_directory(ro)
    finally:
        ro.chmod(0o700)


# -- leftovers of killed writers -------------------------------------------------------------
_BLOCKED_SAVE = """
import shutil, sys, time
import numpy as np
from accel.parallel import _checkpoint

directory, step, where = sys.argv[1], int(sys.argv[2]), sys.argv[3]
state = {"w": np.arange(1000, dtype=np.float32)}

def block(*args, **kwargs):
    print("blocked", flush=True)
    time.sleep(120)

if where == "write":  # block inside np.savez, after part of the file is written
    real_savez = np.savez
    def savez(f, **arrays):
        real_savez(f, **arrays)
        f.flush()
        block()
    np.savez = savez
else:  # "delete": block while pruning old checkpoints, after one file is gone
    real_rmtree = shutil.rmtree
    def rmtree(path, ignore_errors=False):
        if ".del-step_0000000001." not in str(path):
            return real_rmtree(path, ignore_errors=ignore_errors)
        (path / "arrays.npz").unlink()
        block()
    _checkpoint.shutil.rmtree = rmtree
_checkpoint.save(directory, step, state, {"epoch": 0}, keep=1)
"""


def _blocked_saver(directory, step, where):
    child = subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_SAVE, str(directory), str(step), where],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout.readline() == b"blocked\n"
    except BaseException:
        child.kill()
        raise
    return child


def _kill(child):
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()


def test_sigkilled_save_and_cleanup_leave_nothing_behind_after_the_next_save(tmp_path):
    """SIGKILL while pruning old checkpoints leaves a half-deleted directory, SIGKILL during
    a save a temporary one: each following save removes them, but never the temporary
    directory of a writer that is still alive."""
    state = {"w": np.arange(1000, dtype=np.float32)}
    _checkpoint.save(tmp_path, 1, state, {"epoch": 0}, keep=1)
    live = _blocked_saver(tmp_path, 7, "write")

    def names(prefix=""):
        return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(prefix))

    try:
        _kill(_blocked_saver(tmp_path, 9, "delete"))  # step 9 written, step 1 half-deleted
        assert names("step_") == ["step_0000000009"]
        (half,) = names(".del-step_0000000001.accel-")
        assert os.listdir(tmp_path / half) == ["meta.json"]
        assert _checkpoint.list_steps(tmp_path) == [9]

        _kill(_blocked_saver(tmp_path, 8, "write"))  # its sweep removed the half-deleted one
        assert names(".del-") == [] and len(names(".tmp-step_0000000008.accel-")) == 1
        (tmp_path / "step_0000000000").mkdir()  # deleted in place by an earlier version
        (tmp_path / "step_0000000000" / "meta.json").write_text("{}")
        assert _checkpoint.list_steps(tmp_path) == [9]

        _checkpoint.save(tmp_path, 10, state, {"epoch": 1}, keep=2)
        (live_tmp,) = names(".tmp-step_0000000007.accel-")  # alive: kept
        assert names() == sorted([live_tmp, "step_0000000009", "step_0000000010"])
    finally:
        _kill(live)
    _checkpoint.save(tmp_path, 11, state, {"epoch": 1}, keep=2)
    assert names() == ["step_0000000010", "step_0000000011"]


# -- a full disk, and checkpoints that declare more than they hold ------------------------
class _Disk:
    """A disk of ``capacity`` bytes holding every file under ``root``: ``np.savez`` into a
    file there writes what fits, then raises ENOSPC like a full disk."""

    def __init__(self, root, capacity, monkeypatch):
        self.root, self.capacity = root, capacity
        real = np.savez

        def savez(file, **arrays):
            buf = io.BytesIO()
            real(buf, **arrays)
            used = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
            free = max(self.capacity - used, 0)
            file.write(buf.getvalue()[:free])
            if buf.tell() > free:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(np, "savez", savez)


def test_a_save_that_fails_on_a_full_disk_removes_its_temporary_and_names_the_path(tmp_path, monkeypatch):
    """The temporary directory of a failed save was kept while the process lived (the sweep
    spares live writers): its partial file held the space the retry needed."""
    state = {"w": np.arange(20_000, dtype=np.float32)}
    ckpt = tmp_path / "ckpt"
    _checkpoint.save(ckpt, 1, state, {}, keep=1)
    size = (ckpt / "step_0000000001" / "arrays.npz").stat().st_size
    disk = _Disk(ckpt, 2 * size + 4096, monkeypatch)  # room for two checkpoints
    filler = ckpt / "filler"  # another program fills half a checkpoint
    filler.write_bytes(b"\0" * (size // 2))
    with pytest.raises(OSError, match=r"No space left on device: '.*arrays\.npz'") as err:
        _checkpoint.save(ckpt, 2, state, {}, keep=1)
    assert err.value.errno == errno.ENOSPC
    assert str(ckpt / ".tmp-step_0000000002.accel-") in err.value.filename
    assert sorted(os.listdir(ckpt)) == ["filler", "step_0000000001"]
    filler.unlink()  # the disk frees up: the retry fits
    assert disk.capacity - size >= size
    _checkpoint.save(ckpt, 2, state, {}, keep=1)
    assert sorted(os.listdir(ckpt)) == ["step_0000000002"]
    np.testing.assert_array_equal(_checkpoint.restore(ckpt, state)[0]["w"], state["w"])


def test_a_save_with_meta_that_is_not_json_leaves_no_temporary(tmp_path):
    with pytest.raises(TypeError, match="not JSON serializable"):
        _checkpoint.save(tmp_path, 1, STATE, {"epoch": object()}, keep=1)
    assert os.listdir(tmp_path) == []


def _replace_arrays(step_dir, leaves, compress=True):
    (np.savez_compressed if compress else np.savez)(step_dir / "arrays.npz", **leaves)


def _count_opened(monkeypatch):
    opened = []
    real = zipfile.ZipFile.open

    def counting(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting)
    return opened


def test_a_small_compressed_checkpoint_declaring_a_huge_array_is_refused_before_inflating(tmp_path, monkeypatch):
    """64 MB of zeros compress to 64 kB: the size the zip declares is checked against the
    train state before anything is decompressed."""
    step_dir = _checkpoint.save(tmp_path, 5, STATE, {}, keep=1)
    _replace_arrays(step_dir, {"leaf_0": np.int32(4), "leaf_1": np.zeros(16_000_000, np.float32)})
    assert (step_dir / "arrays.npz").stat().st_size < 200_000
    opened = _count_opened(monkeypatch)
    with pytest.raises(ValueError, match=re.escape(
        f"checkpoint {step_dir} leaf 1 declares 64000128 bytes, the train state expects float32[3] (12 bytes)"
    )):
        _checkpoint.restore(tmp_path, STATE)
    assert "leaf_1.npy" not in opened


def test_a_npy_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    """A header of 10**12 float32 (4 TB) with no data: np.load allocated it first."""
    step_dir = _checkpoint.save(tmp_path, 5, STATE, {}, keep=1)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(step_dir / "arrays.npz", "w", zipfile.ZIP_DEFLATED) as z:
        buf = io.BytesIO()
        np.save(buf, np.int32(4))
        z.writestr("leaf_0.npy", buf.getvalue())
        z.writestr("leaf_1.npy", header.getvalue())
    with pytest.raises(ValueError, match=re.escape(
        f"checkpoint {step_dir} leaf 1 is float32[1000000000000], the train state expects float32[3]"
    )):
        _checkpoint.restore(tmp_path, STATE)


def test_a_meta_declaring_a_huge_number_of_leaves_is_refused_before_reading(tmp_path):
    step_dir = _checkpoint.save(tmp_path, 5, STATE, {}, keep=1)
    _edit_meta(n_leaves=10**12)(step_dir)
    with pytest.raises(ValueError, match=re.escape(
        f"checkpoint {step_dir} holds 1000000000000 arrays, the train state has 2"
    )):
        _checkpoint.restore(tmp_path, STATE)


def test_a_leaf_whose_data_is_shorter_than_its_header_is_refused(tmp_path):
    step_dir = _checkpoint.save(tmp_path, 5, STATE, {}, keep=1)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (3,)})
    with zipfile.ZipFile(step_dir / "arrays.npz", "w") as z:
        buf = io.BytesIO()
        np.save(buf, np.int32(4))
        z.writestr("leaf_0.npy", buf.getvalue())
        z.writestr("leaf_1.npy", header.getvalue() + b"\0" * 8)
    with pytest.raises(ValueError, match="leaf_1 holds 8 bytes of data, its header declares 12"):
        _checkpoint.restore(tmp_path, STATE)


def test_restored_leaves_are_writable_and_keep_their_values(tmp_path):
    state = {"a": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "b": np.int64(7)}
    _checkpoint.save(tmp_path, 1, state, {}, keep=1)
    got, _ = _checkpoint.restore(tmp_path, state)
    np.testing.assert_array_equal(got["a"], state["a"])
    assert got["a"].flags.writeable and got["b"] == 7
