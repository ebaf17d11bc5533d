"""Sharded device data and the input pipeline (issue 16): memory, prefetch overlap, big files.

    python -m benchmarks.bench_input_pipeline memory     # peak private memory per configuration
    python -m benchmarks.bench_input_pipeline overlap    # step time: resident vs streamed data
    python -m benchmarks.bench_input_pipeline memmap     # a 4 GiB memory-mapped file, 4 devices
    python -m benchmarks.bench_input_pipeline all --quick --out results.json

Every measurement runs in a fresh process (``JAX_NUM_CPU_DEVICES`` set per configuration)
that prints one JSON line; this driver collects them, prints a table and writes ``--out``.

* ``memory``: ``ParallelTrainer(epochs=3, batch_size=4096).fit`` of 200000 x 256 float32
  (196 MiB; issue 16's case) on 1, 2 and 4 host devices with every backend, the same fit
  streamed from ``.npy`` files, and ``JAXOptimizer``. Peak ``RssAnon`` (private memory:
  not the page cache of a memory-mapped file), polled every 2 ms from ``/proc/self/status``
  by a thread, minus nothing: the interpreter, JAX and the data are in it. Targets: 1 device
  <= 2 x data + 250 MiB; 4 devices <= 1.25 x 1 device. ``files+malloc``: the streamed fit
  with ``MALLOC_MMAP_THRESHOLD_=1048576`` (glibc returns freed buffers of the reading
  threads at once).
* ``overlap``: an MLP ``train`` on 65536 x 256 float32 (batch 2048, 32 steps per epoch, 1
  device), its data resident on the device, streamed from memory, and streamed from a
  source slowed to a fixed time per read (a lock: reads served one at a time, like one
  disk) of 0.5x and 2x the resident step time. Reported per step: ``history_['step_time']``
  (the epoch's wall time over its steps, evaluation included), ``data_wait_time`` and
  ``compute_time``; the median over epochs 2.. (the first fills the pipeline). Target: with
  reads faster than the step, streamed step time <= 1.15x resident; slower reads give
  ~max(load, compute), not the sum.
* ``memmap``: writes a float32 file of ``--gib`` GiB (256 features) and its targets in
  chunks, then fits 1 epoch (batch 8192, adam) on 4 devices from the memory-mapped file,
  and the same fit from the data loaded into memory (another process); reports both peak
  ``RssAnon`` and the largest relative difference of the parameters. Target: streamed
  RssAnon < 1 GiB, parameters equal to 1e-6 relative.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

MiB = 2**20


# -- measurement helpers (child processes) -----------------------------------------------------
def _rss_anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status (Linux only)")


class _PeakAnon:
    """Peak RssAnon of this process while the ``with`` block runs (a polling thread)."""

    def __enter__(self):
        self.peak = _rss_anon()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_anon())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon())


def _linear_data(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = (X[:, :8].sum(axis=1) + 0.1 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
    return X, y


def _child_memory(args) -> dict:
    from accel import JAXOptimizer, ParallelTrainer

    X, y = _linear_data(args.rows, 256)
    files = None
    if args.which == "files":
        files = Path(tempfile.mkdtemp(prefix="accel-bench-"))
        np.save(files / "X.npy", X)
        np.save(files / "y.npy", y)
        del X, y
    base = _rss_anon()
    t0 = time.perf_counter()
    with _PeakAnon() as peak:
        if args.which == "jax_optimizer":
            JAXOptimizer(epochs=3, batch_size=4096).fit(X, y)
        elif args.which == "files":
            ParallelTrainer(epochs=3, batch_size=4096).fit(str(files / "X.npy"), str(files / "y.npy"))
        else:
            ParallelTrainer(epochs=3, batch_size=4096, backend=args.which).fit(X, y)
    return {"which": args.which, "devices": int(os.environ["JAX_NUM_CPU_DEVICES"]),
            "data_MiB": args.rows * 257 * 4 / MiB, "before_fit_MiB": base / MiB,
            "peak_MiB": peak.peak / MiB, "seconds": time.perf_counter() - t0}  # fmt: skip


def _mlp(d: int, hidden: int):
    import jax.numpy as jnp

    def loss_fn(params, batch):
        h = jnp.tanh(batch["x"] @ params["w1"] + params["b1"])
        h = jnp.tanh(h @ params["w2"] + params["b2"])
        return jnp.mean((h @ params["w3"] - batch["y"]) ** 2)

    rng = np.random.default_rng(0)
    params = {
        "w1": (rng.standard_normal((d, hidden)) / np.sqrt(d)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32),
        "b2": np.zeros(hidden, np.float32),
        "w3": (rng.standard_normal(hidden) / np.sqrt(hidden)).astype(np.float32),
    }
    return loss_fn, params


def _child_overlap(args) -> dict:
    from accel import ParallelTrainer
    from accel.data import ArraySource, Throttled

    n, d, batch = (8192, 64, 512) if args.quick else (65536, 256, 2048)
    X, y = _linear_data(n, d)
    loss_fn, params = _mlp(d, 64 if args.quick else 512)
    data = {"x": X, "y": y}
    if args.which == "resident":
        source = data
    elif args.which == "streamed":
        source = ArraySource(data)
    else:
        source = Throttled(ArraySource(data), args.delay)
    pt = ParallelTrainer(n_devices=1, learning_rate=1e-3)
    pt.train(loss_fn, params, source, epochs=1, batch_size=batch)  # compile, warm caches
    _, h = pt.train(loss_fn, params, source, epochs=args.epochs, batch_size=batch)
    pick = slice(1, None)  # epochs 2..: the first fills the pipeline
    return {"which": args.which, "delay_ms": args.delay * 1e3, "steps_per_epoch": n // batch,
            **{k: 1e3 * statistics.median(h[k][pick].tolist())
               for k in ("step_time", "data_wait_time", "compute_time")}}  # fmt: skip


def _child_write(args) -> dict:
    """``X.npy`` (rows x 256 float32, ``--gib`` GiB) and ``y.npy`` in ``--dir``, in chunks."""
    d = 256
    rows = int(args.gib * 2**30) // (4 * d)
    out = Path(args.dir)
    X = np.lib.format.open_memmap(out / "X.npy", "w+", np.float32, (rows, d))
    y = np.lib.format.open_memmap(out / "y.npy", "w+", np.float32, (rows,))
    rng = np.random.default_rng(0)
    w = rng.standard_normal(d).astype(np.float32) / np.sqrt(d)
    step = 1 << 16
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        X[start:stop] = rng.standard_normal((stop - start, d), dtype=np.float32)
        y[start:stop] = X[start:stop] @ w + 0.1
    X.flush()
    y.flush()
    return {"rows": rows, "GiB": rows * d * 4 / 2**30}


def _child_memmap(args) -> dict:
    from accel import ParallelTrainer

    out = Path(args.dir)
    kw = dict(epochs=1, batch_size=8192, learning_rate=1e-3)
    base = _rss_anon()
    t0 = time.perf_counter()
    if args.which == "streamed":
        with _PeakAnon() as peak:
            pt = ParallelTrainer(**kw).fit(str(out / "X.npy"), str(out / "y.npy"))
    else:
        with _PeakAnon() as peak:
            X, y = np.load(out / "X.npy"), np.load(out / "y.npy")
            pt = ParallelTrainer(**kw).fit(X, y)
    np.save(out / f"coef-{args.which}.npy", np.append(pt.coef_, pt.intercept_))
    return {"which": args.which, "devices": int(os.environ["JAX_NUM_CPU_DEVICES"]),
            "before_fit_MiB": base / MiB, "peak_MiB": peak.peak / MiB,
            "seconds": time.perf_counter() - t0,
            "data_wait_share": float(pt.history_["data_wait_time"].sum() / pt.history_["step_time"].sum())}  # fmt: skip


# -- the driver ----------------------------------------------------------------------------------
def _run_child(mode: str, devices: int, *extra: str, timeout: float = 3600, env: dict | None = None) -> dict:
    env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(devices), **(env or {}))
    cmd = [sys.executable, "-m", "benchmarks.bench_input_pipeline", "_child", mode, *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory(quick: bool) -> list[dict]:
    rows = "20000" if quick else "200000"
    configs = [(1, "pmap"), (1, "jax_optimizer"), (1, "files")]
    configs += [(n, b) for n in (2, 4) for b in ("pmap", "shard_map", "jit")] + [(4, "files")]
    configs += [(1, "files+malloc"), (4, "files+malloc")]
    out = []
    for devices, which in configs:
        env = {"MALLOC_MMAP_THRESHOLD_": "1048576"} if which.endswith("+malloc") else {}
        r = _run_child("memory", devices, "--which", which.removesuffix("+malloc"), "--rows", rows, env=env)
        r["which"] = which
        print(f"memory  {devices} device(s) {which:>13}: peak RssAnon {r['peak_MiB']:7.1f} MiB "
              f"(before fit {r['before_fit_MiB']:.1f}; data {r['data_MiB']:.1f} MiB), {r['seconds']:.1f} s", flush=True)  # fmt: skip
        out.append(r)
    one = next(r for r in out if r["devices"] == 1 and r["which"] == "pmap")
    four = max(r["peak_MiB"] for r in out if r["devices"] == 4 and r["which"] != "files")
    print(f"memory  1 device vs target 2 x data + 250 = {2 * one['data_MiB'] + 250:.0f} MiB: "
          f"{one['peak_MiB']:.0f} MiB; worst 4-device / 1-device = {four / one['peak_MiB']:.3f} (target 1.25)")
    return out


def overlap(quick: bool) -> list[dict]:
    epochs = "4" if quick else "6"
    resident = _run_child("overlap", 1, "--which", "resident", "--epochs", epochs, *(["--quick"] * quick))
    out = [resident]
    c = resident["step_time"]
    runs = [("streamed", 0.0), ("slowed", 0.5 * c / 1e3), ("slowed", 2.0 * c / 1e3)]
    for which, delay in runs:
        r = _run_child("overlap", 1, "--which", which, "--delay", str(delay), "--epochs", epochs,
                       *(["--quick"] * quick))  # fmt: skip
        out.append(r)
    print(f"overlap resident step {c:.2f} ms")
    for r in out[1:]:
        load = r["delay_ms"]
        print(f"overlap {r['which']:>9} load {load:6.2f} ms/read: step {r['step_time']:7.2f} ms "
              f"(wait {r['data_wait_time']:.2f}, compute {r['compute_time']:.2f}) = "
              f"{r['step_time'] / c:.3f}x resident; max(load, compute) {max(load, c):.2f}, "
              f"sum {load + c:.2f}", flush=True)  # fmt: skip
    return out


def memmap(quick: bool, gib: float, directory: str | None) -> list[dict]:
    gib = 0.25 if quick else gib
    with tempfile.TemporaryDirectory(prefix="accel-memmap-", dir=directory) as tmp:
        t0 = time.perf_counter()
        w = _run_child("write", 1, "--dir", tmp, "--gib", str(gib))
        print(f"memmap  wrote {w['GiB']:.2f} GiB ({w['rows']} rows) in {time.perf_counter() - t0:.0f} s", flush=True)
        streamed = _run_child("memmap", 4, "--dir", tmp, "--which", "streamed")
        inmem = _run_child("memmap", 4, "--dir", tmp, "--which", "in_memory")
        a, b = np.load(Path(tmp) / "coef-streamed.npy"), np.load(Path(tmp) / "coef-in_memory.npy")
    rel = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    for r in (streamed, inmem):
        print(f"memmap  {r['which']:>9}: peak RssAnon {r['peak_MiB']:7.1f} MiB, {r['seconds']:.0f} s, "
              f"data wait {100 * r['data_wait_share']:.0f}% of step time", flush=True)  # fmt: skip
    print(f"memmap  max |streamed - in memory| / max |in memory| = {rel:.2e} (target 1e-6)")
    return [w, streamed, inmem, {"max_relative_difference": rel}]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["memory", "overlap", "memmap", "all", "_child"])
    p.add_argument("child", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    p.add_argument("--gib", type=float, default=4.0, help="memmap: file size")
    p.add_argument("--dir", default=None, help="memmap: where to write the file")
    p.add_argument("--out", default=None, help="write the results as JSON")
    p.add_argument("--which", default="pmap", help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, default=200_000, help=argparse.SUPPRESS)
    p.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=6, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.what == "_child":
        fn = {"memory": _child_memory, "overlap": _child_overlap, "write": _child_write,
              "memmap": _child_memmap}[args.child]  # fmt: skip
        print(json.dumps(fn(args)), flush=True)
        os._exit(0)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
               "cpus": os.cpu_count(), "load": os.getloadavg()[0]}  # fmt: skip
    if args.what in ("memory", "all"):
        results["memory"] = memory(args.quick)
    if args.what in ("overlap", "all"):
        results["overlap"] = overlap(args.quick)
    if args.what in ("memmap", "all"):
        results["memmap"] = memmap(args.quick, args.gib, args.dir)
    results["load_after"] = os.getloadavg()[0]
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
