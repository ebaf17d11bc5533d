"""The DPA baseline of every augmentation ratio, checked against DPA's own code in one run.

DPA v0.2 (github.com/AdrianParedez/dpa, MIT) computes one sample's parameters in pure
Python. :func:`dpa_reference_params` is the same algorithm with the same Python-level
structure, so that it runs at DPA's speed (an earlier stand-in here, with a per-id
``random.Random`` object and without DPA's checks, ran at a different speed):

.. code-block:: text

    h = sha256(str(id)).hexdigest()
    for i in range(depth): h = sha256(h + str(fib(i))).hexdigest()   # fib(i) recomputed, i additions
    random.seed(int(h, 16) % 2**32)                                    # the module-level generator
    {rotation: random.uniform(lo, hi), ..., contrast: ..., hash: h}   # five draws in this order

with DPA's argument checks (negative id, depth < 1, ``config=None``) and one function call
per step as in DPA (``gen_augmentation_params`` -> ``gen_augmentation_seed`` -> ``fib``).
This file holds no DPA code.

Run ``python -m benchmarks.bench_augment_reference`` with ``ACCEL_BENCH_DPA_SRC`` set to a
checkout of DPA (the folder holding its ``src`` package, e.g. ``git clone`` of the
repository above) to time DPA's own ``gen_augmentation_params`` and this reference in one
process, alternating (A/B/B/A), and to check that both give the same dicts. DPA needs
Python >= 3.12 for its optional ``src/benchmark.py``; on 3.11 that one module is skipped
(DPA's package already treats it as optional), the parameter code is unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import statistics
import sys
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: load_dpa must not import JAX (fresh-process timings)
    from accel.augment import AugmentationConfig

ENV_DPA_SRC = "ACCEL_BENCH_DPA_SRC"


# -- the reference ----------------------------------------------------------------------------
def dpa_fib(n: int) -> int:
    """``fib(n)`` by ``n - 1`` additions, from scratch on every call (as DPA does)."""
    if n < 0:
        raise ValueError("n must be non-negative")
    if n < 2:
        return n
    a, b = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return b


def dpa_hash(sample_id: int, depth: int = 10) -> str:
    """DPA's hash chain of one id (hex digest after ``depth`` Fibonacci steps)."""
    if sample_id < 0:
        raise ValueError("sample_id must be non-negative")
    if depth < 1:
        raise ValueError("depth must be >= 1")
    digest = hashlib.sha256(str(sample_id).encode()).hexdigest()
    for step in range(depth):
        try:
            digest = hashlib.sha256((digest + str(dpa_fib(step))).encode()).hexdigest()
        except Exception as exc:  # DPA wraps every step the same way
            raise RuntimeError(f"hash chain failed at step {step}") from exc
    return digest


def dpa_reference_params(sample_id: int, config: AugmentationConfig | None = None) -> dict[str, Any]:
    """DPA v0.2's ``gen_augmentation_params(sample_id, config)``: the same dict, same speed."""
    if sample_id < 0:
        raise ValueError("sample_id must be non-negative")
    if config is None:
        from accel.augment import AugmentationConfig

        config = AugmentationConfig()
    digest = dpa_hash(sample_id, config.augmentation_depth)
    random.seed(int(digest, 16) % 2**32)
    return {
        "rotation": random.uniform(*config.rotation_range),
        "brightness": random.uniform(*config.brightness_range),
        "noise": random.uniform(*config.noise_range),
        "scale": random.uniform(*config.scale_range),
        "contrast": random.uniform(*config.contrast_range),
        "hash": digest,
    }


# -- DPA's own code, when a checkout is named -------------------------------------------------
def load_dpa(path: str | None = None) -> ModuleType | None:
    """DPA's ``src/dpa.py`` module from the checkout at ``path`` (default ``$ACCEL_BENCH_DPA_SRC``).

    Returns ``None`` when no path is given. The package is imported under the name
    ``_dpa_checkout`` so it cannot shadow anything; ``sys.path`` is restored afterwards.
    """
    path = path or os.environ.get(ENV_DPA_SRC)
    if not path:
        return None
    init = os.path.join(path, "src", "__init__.py")
    if not os.path.isfile(init):
        raise FileNotFoundError(f"{ENV_DPA_SRC}={path!r}: no DPA checkout there (expected {init})")
    name = "_dpa_checkout"
    if f"{name}.dpa" in sys.modules:
        return sys.modules[f"{name}.dpa"]
    saved_path = list(sys.path)
    blocked = {}
    if sys.version_info < (3, 12):  # src/benchmark.py uses 3.12 syntax; DPA imports it optionally
        blocked = {f"{name}.benchmark": None, "benchmark": None}
    previous = {k: sys.modules.get(k) for k in blocked}
    sys.modules.update(blocked)
    try:
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[os.path.dirname(init)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
        return importlib.import_module(f"{name}.dpa")
    finally:
        sys.path[:] = saved_path
        for k, v in previous.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def dpa_callable(dpa: ModuleType):
    """``sample_id -> dict`` of DPA's own ``gen_augmentation_params`` with its default config."""
    config = dpa.AugmentationConfig()
    return lambda sample_id: dpa.gen_augmentation_params(sample_id, config)


def time_per_sample(fn, ids) -> tuple[float, float]:
    """Wall and process-CPU seconds to call ``fn`` once per id (a Python loop keeping the results).

    On a shared machine the CPU time of single-threaded Python code is the steadier measure
    (it excludes the time the process waits for a core); both are reported.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = [fn(i) for i in ids]
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    del out
    return elapsed, cpu


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2_000, help="ids per timed run")
    p.add_argument("--repeats", type=int, default=40, help="A/B pairs (order alternates)")
    p.add_argument("--dpa-src", default=None, help=f"DPA checkout (default ${ENV_DPA_SRC})")
    args = p.parse_args(argv)
    dpa = load_dpa(args.dpa_src)
    if dpa is None:
        raise SystemExit(f"set {ENV_DPA_SRC} (or --dpa-src) to a DPA checkout to compare against")
    from accel.augment import AugmentationConfig

    ids = range(10**6, 10**6 + args.n)
    config = AugmentationConfig()
    ours = lambda i: dpa_reference_params(i, config)  # noqa: E731
    theirs = dpa_callable(dpa)
    mismatches = sum(ours(i) != theirs(i) for i in ids[:2000]) + sum(
        ours(i) != theirs(i) for i in (0, 1, 2**32, 2**63, 2**64 - 1)
    )
    load_start = os.getloadavg()
    wall: dict[str, list[float]] = {"reference": [], "dpa": []}
    cpu: dict[str, list[float]] = {"reference": [], "dpa": []}
    for r in range(args.repeats):
        order = [("reference", ours), ("dpa", theirs)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            w, c = time_per_sample(fn, ids)
            wall[name].append(args.n / w)
            cpu[name].append(args.n / c if c > 0 else float("nan"))
    med = statistics.median
    pairs = [a / b for a, b in zip(wall["reference"], wall["dpa"], strict=True)]
    result = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "python": sys.version.split()[0],
        "load_start_end": (round(load_start[0], 2), round(os.getloadavg()[0], 2)),
        "n_per_run": args.n,
        "pairs": args.repeats,
        "dpa_samples_per_s": round(med(wall["dpa"])),
        "reference_samples_per_s": round(med(wall["reference"])),
        "reference_over_dpa_wall": round(med(wall["reference"]) / med(wall["dpa"]), 3),
        "reference_over_dpa_median_of_pairs": round(med(pairs), 3),
        "dpa_samples_per_cpu_s": round(med(cpu["dpa"])),
        "reference_samples_per_cpu_s": round(med(cpu["reference"])),
        "reference_over_dpa_cpu": round(med(cpu["reference"]) / med(cpu["dpa"]), 3),
        "value_mismatches": mismatches,
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    if mismatches:
        raise SystemExit("the reference and DPA disagree")
    return result


if __name__ == "__main__":
    main()
