"""``ParallelTrainer.train`` against hand-written JAX training loops: an MLP, in one run.

The problem (every size is a flag): an MLP 784-512-512-10 (ReLU) trained with softmax
cross-entropy on integer labels (``optax.softmax_cross_entropy_with_integer_labels``, the
mean over the batch) on synthetic data of MNIST's shape: 60000 rows of float32 ``x`` (784
columns) and int32 labels in ``[0, 10)``, drawn from a fixed NumPy ``Generator``; batches of
512 rows, ``optax.adam(1e-3)`` (``ParallelTrainer(optimizer_type='adam',
learning_rate=1e-3)`` is the same transformation: b1 0.9, b2 0.999, eps 1e-8), 2 epochs.
The parameters are a dict ``{w1, b1, w2, b2, w3, b3}`` (weights normal / sqrt(fan-in),
biases zero); every case starts from the same ones.

Cases, for each device count of ``--devices`` (default ``1,4``; on CPU the devices are XLA
host devices emulated on the same cores, ``JAX_NUM_CPU_DEVICES=4``):

* ``ParallelTrainer(n_devices=k).train`` with its default settings (its history's loss is
  the training pass's, ``eval_every=None``), the data on the first device as JAX arrays
  (placed once before timing, as the hand-written loops' data); for k > 1 also with each
  ``backend=`` of ``'pmap'``, ``'shard_map'`` and ``'jit'``;
* the default once more with ``eval_every=1`` (a full-data evaluation at the start and after
  every epoch: a forward pass over all rows each) and once more with NumPy data (every
  call checks the values are finite and places them on the devices);
* 1 device, hand-written: one ``jax.jit`` function runs a whole epoch as ``lax.scan`` over
  the batches (the data placed once as ``(n_batches, 512, ...)``), the optax update inside,
  returning the parameters, the optimizer state and the epoch's mean batch loss; a Python
  loop over epochs calls it. ``shuffled``: the same loop drawing each epoch's permutation
  (``jax.random.permutation``) and gathering each batch's rows inside the scan;
* k devices, hand-written: (a) a ``jax.shard_map`` loop over a 1-D mesh of the k devices
  (each device takes ``512 / k`` rows of every batch, gradients averaged with ``lax.pmean``,
  the epoch a ``lax.scan``, all in one jit), (b) ``jax.jit`` with ``NamedSharding`` (data
  sharded over the batch axis, parameters replicated, the epoch a ``lax.scan``), and (a)
  ``shuffled``: every epoch's rows permuted on the host and placed split over the devices
  before its scan (what an input pipeline does), inside the timed call.

Rows: 60000 is not a multiple of 512 (117 full batches and 96 rows over). The hand-written
loops drop the partial batch: they train on ``117 * 512`` rows per epoch, and their samples/s
count those rows. ``ParallelTrainer`` trains the partial batch too (its padded rows masked):
its samples/s count ``n * epochs``. Its batch order is its own shuffled order (from
``random_state``; there is no option to switch shuffling off); the unshuffled hand-written
loops take the rows in order (less work: no permutation, no gather), so the losses agree
only statistically.

What a timed call is: one whole training run from the initial parameters, ``epochs`` epochs,
waited for (``jax.block_until_ready`` on the returned parameters; ``train`` returns host
arrays, so its time includes bringing them to the host).

Timing: the first call of each case (tracing and compiling) is timed and reported apart;
then ``--repeats`` timed calls, interleaved (every repeat runs every case once, the order
reversed on odd repeats); medians. JAX's persistent compilation cache, which ``accel``
turns on by default, is off here (``ACCEL_COMPILATION_CACHE=0`` unless set), so first calls
are cold compiles on both sides. Two ``ParallelTrainer`` cases that build the same program
(the default backend and its named one) share it within the process: the later one's first call
compiles nothing (its ``compile_time_`` is 0).

Ratios (time per trained sample, accel / peer: above 1 means accel is slower): every accel
case against the fastest unshuffled hand-written loop of its device count (1 device: the
scan; k devices: the faster of (a) and (b)), and against the shuffled one (the same work).
Correctness: one epoch from the same start on 1 device,
accel's and the hand-written loop's full-data losses are printed side by side (no
assertion: the batch orders differ), and the full-data loss after the last timed call of
every case.

Run: ``python -m benchmarks.bench_train_mlp`` (``--quick`` for a smoke run; ``--json PATH``
to keep the numbers).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")
# cold compiles on both sides: accel otherwise turns on JAX's persistent compilation cache
os.environ.setdefault("ACCEL_COMPILATION_CACHE", "0")

import argparse
import itertools
import json
import math
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from accel import ParallelTrainer
from benchmarks._scan_loop import batched, scan_epoch

AXIS = "data"
ACCEL_BACKENDS = ("pmap", "shard_map", "jit", None)  # None: the default, last (see doc)


# -- the problem -------------------------------------------------------------------------
def make_data(n: int, d: int, classes: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((n, d), dtype=np.float32),
        "label": rng.integers(0, classes, n).astype(np.int32),
    }


def init_params(sizes: list[int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    params = {}
    for i, (a, b) in enumerate(itertools.pairwise(sizes), 1):
        params[f"w{i}"] = rng.standard_normal((a, b), dtype=np.float32) / math.sqrt(a)
        params[f"b{i}"] = np.zeros(b, np.float32)
    return params


def loss_fn(params: Any, batch: Any) -> jax.Array:
    """Mean softmax cross-entropy of the batch (module level: one identity for every call)."""
    h = jax.nn.relu(batch["x"] @ params["w1"] + params["b1"])
    h = jax.nn.relu(h @ params["w2"] + params["b2"])
    logits = h @ params["w3"] + params["b3"]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]))


# -- the hand-written loops ---------------------------------------------------------------
def shard_map_grad(p, batch):
    """Each device's gradient of its rows, averaged over the mesh (``lax.pmean``)."""
    local = jax.lax.pcast(p, AXIS, to="varying")  # per-device gradients, reduced below
    loss, g = jax.value_and_grad(loss_fn)(local, batch)
    return jax.lax.pmean(loss, AXIS), jax.lax.pmean(g, AXIS)


@dataclass
class Peer:
    """A hand-written loop: ``init`` (params -> opt_state), ``epoch`` (jitted), the data."""

    init: Callable
    epoch: Callable
    batches: Any
    params: Any
    place_s: float

    def run(self, epochs: int):
        p = self.params
        s = self.init(p)
        for _ in range(epochs):
            p, s, loss = self.epoch(p, s, self.batches)
        return jax.block_until_ready((p, s, loss))


def _place(tree: Any, where: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = jax.block_until_ready(jax.device_put(tree, where))
    return out, time.perf_counter() - t0


@dataclass
class ShuffledPeer:
    """A hand-written loop that shuffles every epoch, as ``accel`` does: ``epoch(params,
    opt_state, data, key)`` draws the permutation and gathers each batch inside the jitted
    scan (one device); or, with ``host_shuffle(epoch) -> batches``, the rows of each epoch
    are permuted on the host and placed before its scan (several devices)."""

    init: Callable
    epoch: Callable
    data: Any
    params: Any
    place_s: float
    host_shuffle: Callable | None = None

    def run(self, epochs: int):
        p = self.params
        s = self.init(p)
        for e in range(epochs):
            if self.host_shuffle is None:
                p, s, loss = self.epoch(p, s, self.data, jax.random.key(e))
            else:
                p, s, loss = self.epoch(p, s, self.host_shuffle(e))
        return jax.block_until_ready((p, s, loss))


def peer_one_device_shuffled(tx, data_host, batch, params_host, device) -> ShuffledPeer:
    """The 1-device loop drawing each epoch's permutation (``jax.random.permutation``) and
    gathering every batch's rows inside its jitted scan (the data on the device once)."""
    data, t = _place(data_host, device)
    params, _ = _place(params_host, device)
    n = data_host["x"].shape[0]
    nb = n // batch
    grad_fn = jax.value_and_grad(loss_fn)

    def epoch(params, opt_state, data, key):
        def step(carry, rows):
            p, s = carry
            loss, g = grad_fn(p, jax.tree.map(lambda a: a[rows], data))
            updates, s = tx.update(g, s, p)
            return (optax.apply_updates(p, updates), s), loss

        idx = jax.random.permutation(key, n)[: nb * batch].reshape(nb, batch)
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
        return params, opt_state, jnp.mean(losses)

    return ShuffledPeer(jax.jit(tx.init), jax.jit(epoch), data, params, t)


def peer_shard_map_shuffled(tx, data_host, batch, params_host, devices, seed) -> ShuffledPeer:
    """The shard_map loop fed a new permutation of the rows every epoch, permuted on the
    host (NumPy) and placed split over the devices (what an input pipeline does)."""
    first, _ = batched(data_host, batch)
    mesh, rows, rep, _, params, t = _on_mesh(first, params_host, devices)
    body = jax.shard_map(scan_epoch(tx, shard_map_grad), mesh=mesh,
                         in_specs=(P(), P(), P(None, AXIS)), out_specs=(P(), P(), P()))  # fmt: skip
    n = data_host["x"].shape[0]

    def host_shuffle(e):
        perm = np.random.default_rng([seed, e]).permutation(n)
        shuffled, _ = batched({k: v[perm] for k, v in data_host.items()}, batch)
        return jax.device_put(shuffled, rows)

    return ShuffledPeer(jax.jit(tx.init, out_shardings=rep), jax.jit(body), None, params, t, host_shuffle)


def peer_one_device(tx, batches_host, params_host, device) -> Peer:
    batches, t = _place(batches_host, device)
    params, _ = _place(params_host, device)
    epoch = jax.jit(scan_epoch(tx, jax.value_and_grad(loss_fn)))
    return Peer(jax.jit(tx.init), epoch, batches, params, t)


def _on_mesh(batches_host, params_host, devices):
    """A 1-D mesh of ``devices``; the batches placed split over it (each batch's rows), the
    parameters replicated; and the seconds the batches took."""
    mesh = Mesh(np.array(devices), (AXIS,))
    rows, rep = NamedSharding(mesh, P(None, AXIS)), NamedSharding(mesh, P())
    batches, t = _place(batches_host, rows)
    params, _ = _place(params_host, rep)
    return mesh, rows, rep, batches, params, t


def peer_shard_map(tx, batches_host, params_host, devices) -> Peer:
    mesh, _, rep, batches, params, t = _on_mesh(batches_host, params_host, devices)
    body = jax.shard_map(
        scan_epoch(tx, shard_map_grad),
        mesh=mesh,
        in_specs=(P(), P(), P(None, AXIS)),
        out_specs=(P(), P(), P()),
    )
    return Peer(jax.jit(tx.init, out_shardings=rep), jax.jit(body), batches, params, t)


def peer_named_sharding(tx, batches_host, params_host, devices) -> Peer:
    _, rows, rep, batches, params, t = _on_mesh(batches_host, params_host, devices)
    epoch = jax.jit(
        scan_epoch(tx, jax.value_and_grad(loss_fn)),
        in_shardings=(rep, rep, rows),
        out_shardings=rep,
    )
    return Peer(jax.jit(tx.init, out_shardings=rep), epoch, batches, params, t)


# -- cases and timing ---------------------------------------------------------------------
@dataclass
class Case:
    name: str
    devices: int
    who: str  # "accel" or "peer"
    rows: int  # rows trained per call
    call: Callable[[], Any]  # one timed training run; returns the params (waited for)
    trainer: ParallelTrainer | None = None
    place_s: float | None = None
    first_s: float = 0.0
    compile_s: float | None = None  # accel: its compile_time_ after the first call
    times: list[float] = field(default_factory=list)
    last: Any = None


def _timed(case: Case) -> float:
    t0 = time.perf_counter()
    case.last = case.call()
    return time.perf_counter() - t0


def accel_case(k, backend, args, params, data, rows, eval_every=None, host_data=False) -> Case:
    """``ParallelTrainer.train``; ``data`` on the first device (as the hand-written loops'
    data are placed before timing) or, with ``host_data``, as NumPy arrays (checked and
    placed by every call)."""
    pt = ParallelTrainer(
        n_devices=k,
        backend=backend,
        optimizer_type="adam",
        learning_rate=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        eval_every=eval_every,
    )
    t0 = time.perf_counter()
    placed = data if host_data else jax.block_until_ready(jax.device_put(data, jax.devices()[0]))
    place_s = None if host_data else time.perf_counter() - t0

    def call():
        out, _ = pt.train(loss_fn, params, placed)
        return jax.block_until_ready(out)

    label = "default" if backend is None else backend
    label += "" if eval_every is None else f", eval_every={eval_every}"
    label += ", NumPy data" if host_data else ""
    return Case(f"{k} dev: accel backend={label}", k, "accel", rows, call, trainer=pt, place_s=place_s)


def peer_case(name, k, peer: Peer | ShuffledPeer, epochs, rows) -> Case:
    return Case(
        f"{k} dev: {name}", k, "peer", rows, lambda: peer.run(epochs)[0], place_s=peer.place_s
    )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=None, help="rows of data (60000; quick 4096)")
    p.add_argument("--features", type=int, default=784)
    p.add_argument("--hidden", type=int, default=None, help="both hidden widths (512; quick 64)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--epochs", type=int, default=None, help="epochs per call (2; quick 1)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--repeats", type=int, default=None, help="timed calls per case (5; quick 1)")
    p.add_argument("--devices", default="1,4", help="device counts, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--json", default=None, help="write the results to this file")
    args = p.parse_args(argv)
    quick = {"rows": 4096, "hidden": 64, "epochs": 1, "repeats": 1}
    full = {"rows": 60_000, "hidden": 512, "epochs": 2, "repeats": 5}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)

    load = os.getloadavg()
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    all_devices = jax.devices()
    machine = (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}"
    )
    sizes = [args.features, args.hidden, args.hidden, args.classes]
    data = make_data(args.rows, args.features, args.classes, args.seed)
    params = init_params(sizes, args.seed)
    batches_host, peer_rows = batched(data, args.batch_size)
    n, E, B = args.rows, args.epochs, args.batch_size
    tx = optax.adam(args.lr)
    counts = [int(c) for c in args.devices.split(",") if c.strip()]
    skipped = [k for k in counts if k > len(all_devices) or (k > 1 and B % k)]
    counts = [k for k in counts if k not in skipped]

    print(f"# {date} UTC, {machine}, load {load[0]:.2f}")
    print(
        f"# jax {jax.__version__}, optax {optax.__version__}, {len(all_devices)} x "
        f"{all_devices[0].device_kind} ({all_devices[0].platform})"
    )
    print(
        f"# MLP {'-'.join(map(str, sizes))} (ReLU), softmax CE, adam({args.lr:g}), "
        f"{n} rows, batch {B}, {E} epochs per call, {args.repeats} interleaved repeats"
    )
    print(
        f"# rows per call: accel {n * E} (partial batch kept, masked), hand-written "
        f"{peer_rows * E} (partial batch dropped)"
    )
    if skipped:
        print(
            f"# skipped device counts {skipped} (more than the {len(all_devices)} devices, "
            f"or batch {B} not divisible)"
        )

    cases: list[Case] = []
    peers: dict[str, Peer] = {}
    for k in counts:
        devs = all_devices[:k]
        backends = (None,) if k == 1 else ACCEL_BACKENDS
        cases += [accel_case(k, b, args, params, data, n * E) for b in backends]
        cases.append(accel_case(k, None, args, params, data, n * E, eval_every=1))
        cases.append(accel_case(k, None, args, params, data, n * E, host_data=True))
        if k == 1:
            peers["1"] = peer_one_device(tx, batches_host, params, devs[0])
            cases.append(peer_case("hand-written jit+scan", 1, peers["1"], E, peer_rows * E))
            shuffled = peer_one_device_shuffled(tx, data, B, params, devs[0])
            cases.append(peer_case("hand-written jit+scan, shuffled", 1, shuffled, E, peer_rows * E))
            continue
        for name, make in (
            ("hand-written shard_map", peer_shard_map),
            ("hand-written jit+NamedSharding", peer_named_sharding),
        ):
            peer = make(tx, batches_host, params, devs)
            cases.append(peer_case(name, k, peer, E, peer_rows * E))
        shuffled = peer_shard_map_shuffled(tx, data, B, params, devs, args.seed)
        cases.append(peer_case("hand-written shard_map, shuffled", k, shuffled, E, peer_rows * E))

    errors: dict[str, str] = {}
    for case in cases:  # first calls: tracing and compiling
        try:
            case.first_s = _timed(case)
            if case.trainer is not None:
                case.compile_s = case.trainer.compile_time_
        except Exception as err:  # report a failing case, time the others
            errors[case.name] = f"{type(err).__name__}: {err}"
            print(f"# FAILED {case.name}: {errors[case.name]}")
    live = [c for c in cases if c.name not in errors]
    for r in range(args.repeats):
        for case in live if r % 2 == 0 else live[::-1]:
            case.times.append(_timed(case))

    # full-data loss of the final parameters of every case (untimed), one device
    eval_data = jax.device_put(data, all_devices[0])
    full_loss = jax.jit(loss_fn)

    def loss_of(tree) -> float:
        return float(full_loss(jax.device_put(jax.device_get(tree), all_devices[0]), eval_data))

    med = statistics.median
    result: dict = {
        "date_utc": date,
        "machine": machine,
        "jax": jax.__version__,
        "devices": f"{len(all_devices)} x {all_devices[0].device_kind} ({all_devices[0].platform})",
        "problem": {
            "sizes": sizes,
            "rows": n,
            "batch_size": B,
            "epochs": E,
            "lr": args.lr,
            "repeats": args.repeats,
            "seed": args.seed,
            "rows_per_call_accel": n * E,
            "rows_per_call_peer": peer_rows * E,
        },
        "initial_loss": loss_of(params),
        "cases": {},
        "ratios": {},
        "errors": errors,
    }
    print(
        f"\n{'case':42s} {'first s':>8s} {'compile s':>9s} {'median s':>9s} "
        f"{'samples/s':>10s} {'loss':>7s}"
    )
    for c in live:
        m = med(c.times) if c.times else c.first_s
        entry = {
            "devices": c.devices,
            "who": c.who,
            "rows_per_call": c.rows,
            "first_call_s": round(c.first_s, 4),
            "median_s": round(m, 4),
            "times_s": [round(t, 4) for t in c.times],
            "samples_per_s": c.rows / m,
            "final_loss": loss_of(c.last),
        }
        if c.compile_s is not None:
            entry["accel_compile_s"] = round(c.compile_s, 4)
        if c.place_s is not None:
            entry["data_placement_s"] = round(c.place_s, 4)
        result["cases"][c.name] = entry
        comp = f"{c.compile_s:9.3f}" if c.compile_s is not None else f"{'-':>9s}"
        rate = f"{entry['samples_per_s']:,.0f}"
        print(
            f"{c.name:42s} {c.first_s:8.3f} {comp} {m:9.4f} {rate:>10s} {entry['final_loss']:7.4f}"
        )
    print(
        "(first s: first call incl. tracing/compiling; compile s: accel's own compile_time_; "
        "loss: full-data loss after the case's last call)"
    )
    for c in live:
        if c.place_s is not None:
            print(f"  {c.name}: data placed once in {c.place_s:.3f} s (not in its calls)")

    print(
        "\nratio accel/peer, time per trained sample (peer samples/s / accel samples/s; "
        ">1: accel slower)"
    )
    cs = result["cases"]
    for k in counts:
        peers_k = [name for name, e in cs.items() if e["devices"] == k and e["who"] == "peer"]
        plain = [name for name in peers_k if "shuffled" not in name]
        shuffled = [name for name in peers_k if "shuffled" in name]
        if not plain:
            continue
        best = max(plain, key=lambda name: cs[name]["samples_per_s"])
        for name, e in cs.items():
            if e["devices"] == k and e["who"] == "accel":
                ratio = cs[best]["samples_per_s"] / e["samples_per_s"]
                entry = {"peer": best, "time_per_sample_ratio": round(ratio, 3)}
                line = f"  {name:44s} {ratio:5.2f} vs {best}"
                if shuffled:  # the same work: a new order of the rows every epoch
                    entry["shuffled_peer"] = shuffled[0]
                    entry["shuffled_ratio"] = round(cs[shuffled[0]]["samples_per_s"] / e["samples_per_s"], 3)
                    line += f"; {entry['shuffled_ratio']:5.2f} vs {shuffled[0]}"
                result["ratios"][name] = entry
                print(line)

    if 1 in counts and "1 dev: accel backend=default, eval_every=1" in cs:
        # one epoch from the same start: accel's full-data loss vs the hand-written loop's
        pt1 = next(c.trainer for c in live if c.name == "1 dev: accel backend=default, eval_every=1")
        p_a, hist = pt1.train(loss_fn, params, data, epochs=1)
        peer = peers["1"]
        p_h, _, mean_h = peer.epoch(peer.params, peer.init(peer.params), peer.batches)
        check = {
            "initial_loss": result["initial_loss"],
            "accel_loss_after_1_epoch": loss_of(p_a),
            "accel_history_loss": [float(v) for v in hist["loss"]],
            "hand_written_loss_after_1_epoch": loss_of(p_h),
            "hand_written_mean_batch_loss": float(mean_h),
        }
        result["one_epoch_check"] = check
        print(
            f"\none epoch, 1 device, full-data loss (initial {check['initial_loss']:.4f}): "
            f"accel {check['accel_loss_after_1_epoch']:.4f} (its history "
            f"{check['accel_history_loss'][-1]:.4f}), hand-written "
            f"{check['hand_written_loss_after_1_epoch']:.4f} (its mean batch loss "
            f"{check['hand_written_mean_batch_loss']:.4f}); batch orders differ"
        )

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS
    end = os.getloadavg()
    result["peak_rss_mib"] = round(peak_mib, 1)
    result["load_start_end"] = [round(load[0], 2), round(end[0], 2)]
    print(
        f"\n# peak RSS {peak_mib:,.0f} MiB; load {load[0]:.2f} -> {end[0]:.2f}; "
        f"ended {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
