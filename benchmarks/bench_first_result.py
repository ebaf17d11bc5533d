"""The first result in a fresh process: imports, the first fit, the command line.

What a notebook user feels before any steady-state speed matters. Every number comes from a
new interpreter (``--runs`` of each, medians), in this order per round so that all cases see
the same machine load:

* ``import``: ``import jax``, then ``import accel`` (the difference is accel's own cost),
  then ``from accel import JAXOptimizer``; and scikit-learn's ``import sklearn.linear_model``
  (the peer a notebook user would otherwise import);
* ``first fit``: ``JAXOptimizer().fit(X, y)`` on 1000 x 20 float32 data (its defaults),
  timed after the imports, with accel's persistent compilation cache off
  (``ACCEL_COMPILATION_CACHE=0``), cold (an empty folder: the run that fills it) and warm (a
  folder a previous process filled); the peer is ``SGDRegressor().fit`` on the same data;
* ``accel compare --help``: the whole command, interpreter start included.

Run: ``python -m benchmarks.bench_first_result`` (``--runs 1`` for a smoke run; ``--json
PATH`` to keep the numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

_IMPORTS = """
import time
t0 = time.perf_counter()
import jax
t1 = time.perf_counter()
import accel
t2 = time.perf_counter()
from accel import JAXOptimizer
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""

_SKLEARN_IMPORT = """
import time
t0 = time.perf_counter()
import sklearn.linear_model
print(time.perf_counter() - t0)
"""

_DATA = """
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(1000, 20)).astype(np.float32)
y = (X @ rng.normal(size=20) + 0.1 * rng.normal(size=1000)).astype(np.float32)
"""

_FIRST_FIT = """
import time
from accel import JAXOptimizer
""" + _DATA + """
t0 = time.perf_counter()
JAXOptimizer().fit(X, y)
print(time.perf_counter() - t0)
"""

_SKLEARN_FIT = """
import time
from sklearn.linear_model import SGDRegressor
""" + _DATA + """
t0 = time.perf_counter()
SGDRegressor().fit(X, y)
print(time.perf_counter() - t0)
"""


def _python(code: str, env: dict[str, str] | None = None) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return [float(x) for x in out.stdout.split()]


def _wall(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="fresh processes per case")
    p.add_argument("--json", default=None, help="write the results to this file")
    args = p.parse_args(argv)
    try:
        import sklearn  # noqa: F401  (the peer; only its presence is checked here)

        peer = True
    except ImportError:
        peer = False
    base = {k: v for k, v in os.environ.items() if k != "ACCEL_COMPILATION_CACHE"}
    off = {**base, "ACCEL_COMPILATION_CACHE": "0"}
    warm_dir = tempfile.mkdtemp(prefix="accel-first-warm-")
    warm = {**base, "ACCEL_COMPILATION_CACHE": warm_dir}
    samples: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    load = os.getloadavg()
    try:
        _python(_FIRST_FIT, warm)  # fills the warm folder
        for _ in range(args.runs):
            t_jax, t_accel, t_estimator = _python(_IMPORTS, off)
            add("import jax (s)", t_jax)
            add("import accel after jax (s)", t_accel)
            add("from accel import JAXOptimizer after that (s)", t_estimator)
            if peer:
                add("import sklearn.linear_model (s)", _python(_SKLEARN_IMPORT, base)[0])
            add("first fit, cache off (s)", _python(_FIRST_FIT, off)[0])
            cold_dir = tempfile.mkdtemp(prefix="accel-first-cold-")
            try:
                add("first fit, cache cold (s)", _python(_FIRST_FIT, {**base, "ACCEL_COMPILATION_CACHE": cold_dir})[0])
            finally:
                shutil.rmtree(cold_dir, ignore_errors=True)
            add("first fit, cache warm (s)", _python(_FIRST_FIT, warm)[0])
            if peer:
                add("first fit, scikit-learn SGDRegressor (s)", _python(_SKLEARN_FIT, base)[0])
            add("accel compare --help, whole command (s)", _wall([sys.executable, "-m", "accel", "compare", "--help"]))
    finally:
        shutil.rmtree(warm_dir, ignore_errors=True)
    med = {name: statistics.median(v) for name, v in samples.items()}
    result = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "load_start_end": [round(load[0], 2), round(os.getloadavg()[0], 2)],
        "runs": args.runs,
        "medians_s": {k: round(v, 4) for k, v in med.items()},
        "min_max_s": {k: [round(min(v), 4), round(max(v), 4)] for k, v in samples.items()},
    }
    print(f"# {result['date_utc']} UTC, {result['machine']}, load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}, "
          f"{args.runs} fresh processes per case")
    print(f"{'case':50s} {'median':>8s} {'min':>8s} {'max':>8s}")
    for name, values in samples.items():
        print(f"{name:50s} {med[name]:>8.3f} {min(values):>8.3f} {max(values):>8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
