"""accel's persistent compilation cache (issue 27 item 5): where it lives, that a second
process reads what the first wrote, and every way to turn it off or configure it.

The suite runs with the cache off (conftest); these tests turn it on in subprocesses, each
with its own temporary folder, and count JAX's cache events instead of timing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs

from accel import _compilation_cache as cc

# One fit, then what JAX's monitoring saw: cache hits, and predictions to compare.
_FIT = """
import warnings
from jax._src import monitoring
hits = []
monitoring.register_event_listener(lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from accel import JAXOptimizer
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    est = JAXOptimizer(epochs=3).fit(X, X @ np.arange(3.0, dtype=np.float32))
import jax
print("hits", len(hits))
print("dir", jax.config.jax_compilation_cache_dir)
print("warnings", [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)])
print("pred", est.predict(X[:2]).tolist())
"""


def _run(env_changes: dict[str, str | None]) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    done = subprocess.run(
        [sys.executable, "-c", _FIT], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_folder_policy():
    assert all(
        cc.cache_folder({cc.ENV: value}) is None for value in ("0", "off", "False", " no ", "")
    )
    given = cc.cache_folder({cc.ENV: "~/somewhere"})
    assert given == Path("~/somewhere").expanduser() / cc.cpu_fingerprint()
    default = cc.cache_folder({})
    assert (
        default
        == Path(platformdirs.user_cache_dir("accel", appauthor=False))
        / "xla"
        / cc.cpu_fingerprint()
    )


def test_cpu_fingerprint_is_stable_and_names_the_machine():
    import platform

    fingerprint = cc.cpu_fingerprint()
    assert (
        fingerprint.startswith(platform.machine() + "-") and len(fingerprint.split("-")[-1]) == 16
    )
    cc.cpu_fingerprint.cache_clear()
    assert cc.cpu_fingerprint() == fingerprint


def test_a_second_process_reads_the_programs_the_first_wrote(tmp_path):
    first = _run({cc.ENV: str(tmp_path)})
    folder = tmp_path / cc.cpu_fingerprint()
    assert first["dir"] == str(folder) and first["hits"] == "0"
    written = _files(folder)
    assert written, "the first process wrote nothing"
    second = _run({cc.ENV: str(tmp_path)})
    assert int(second["hits"]) >= 1
    assert second["pred"] == first["pred"]
    assert first["warnings"] == second["warnings"] == "[]"


def test_turned_off_it_writes_nothing(tmp_path):
    out = _run({cc.ENV: "0", "XDG_CACHE_HOME": str(tmp_path)})
    assert out["dir"] == "None" and out["hits"] == "0"
    assert _files(tmp_path) == []


def test_the_default_folder_is_the_users_cache_folder(tmp_path):
    out = _run({cc.ENV: None, "XDG_CACHE_HOME": str(tmp_path)})  # platformdirs reads XDG on Linux
    if sys.platform.startswith("linux"):
        assert out["dir"] == str(tmp_path / "accel" / "xla" / cc.cpu_fingerprint())
        assert _files(tmp_path / "accel")


def test_a_cache_the_user_configured_is_left_alone(tmp_path):
    mine = tmp_path / "mine"
    out = _run({cc.ENV: str(tmp_path / "ours"), "JAX_COMPILATION_CACHE_DIR": str(mine)})
    assert out["dir"] == str(mine)
    assert not (tmp_path / "ours").exists()


def test_a_folder_that_cannot_be_created_leaves_it_off_with_one_warning(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = _run({cc.ENV: str(blocker / "cache")})
    assert out["dir"] == "None"
    assert "accel's compilation cache is off: cannot create" in out["warnings"]
    assert out["warnings"].count("compilation cache is off") == 1


def test_the_augmentation_kernels_use_it_too(tmp_path):
    code = "import accel.augment, jax; print(jax.config.jax_compilation_cache_dir)"
    env = {**os.environ, cc.ENV: str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(tmp_path / cc.cpu_fingerprint())


def test_import_accel_imports_neither_jax_nor_scikit_learn():
    code = "import sys, accel; print(sorted(m for m in ('jax', 'sklearn', 'optax') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
