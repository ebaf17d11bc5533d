"""Subprocess entry point for the ParallelTrainer tests (not collected by pytest).

``python tests/_parallel_worker.py fit OUT.npz --epochs E [...]``: one process with
``JAX_NUM_CPU_DEVICES`` devices trains the linear model on :func:`make_data` and writes
``coef_``/``intercept_``/``loss`` to OUT.npz (used by the SIGKILL test); with ``--data-dir
DIR`` it trains from the memory-mapped files ``DIR/X.npy`` and ``DIR/y.npy`` instead
(streamed through the input pipeline, ``accel.data``).

``python tests/_parallel_worker.py multi OUT.npz --process-id P --num-processes N --port PORT
--checkpoint-dir DIR``: one process of a ``jax.distributed`` group on 127.0.0.1 (gloo CPU
collectives). It runs (a) 3 epochs with checkpoints, (b) a resume of that run to 6 epochs,
(c) 6 epochs with ``data_is_local=True`` on its own half of the rows, and writes the
results of (b) and (c) plus the number of checkpoint barriers it passed; with ``--data-dir``
also (d) 6 epochs streamed from the files there, counting the rows this process read.

``python tests/_parallel_worker.py augment OUT.npz --epochs E [--process-id P --num-processes N
--port PORT] [--checkpoint-dir DIR --checkpoint-every K --resume] [--data-dir DIR]``: trains
:func:`image_loss` on :func:`make_images` with augmentation inside the step (``train(...,
augment=AUGMENT)``), in one process or as one of N (``jax.distributed``), from arrays and
also streamed from ``DIR/image.npy`` and ``DIR/label.npy``; writes the parameters and the
loss of each.

``python tests/_parallel_worker.py peer-loss OUT --process-id P --num-processes N --port PORT
--checkpoint-dir DIR --victim V [--kill-after K] [--stuck-exit-s S]``: a long training
inside ``accel.distributed.guard(stuck_exit_s=S)``; process V kills itself with SIGKILL once
K checkpoints exist (training is under way). The others exit as they do.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

N_ROWS, N_FEATURES = 96, 6
CONFIG = {"batch_size": 16, "optimizer_type": "adam", "learning_rate": 0.05, "random_state": 5}


N_IMAGES, SIDE = 40, 8
AUGMENT = "aggressive"
IMAGE_CONFIG = {"batch_size": 8, "optimizer_type": "adam", "learning_rate": 0.05, "random_state": 11}


def make_images() -> dict:
    """Images ``(40, 8, 8, 1)`` in [0, 1] with a binary label (the brighter left half)."""
    rng = np.random.default_rng(3)
    image = rng.random((N_IMAGES, SIDE, SIDE, 1), dtype=np.float32)
    label = (image[:, :, : SIDE // 2].mean(axis=(1, 2, 3)) > image.mean(axis=(1, 2, 3))).astype(np.float32)
    return {"image": image, "label": label}


def image_params() -> dict:
    return {"w": np.zeros((SIDE * SIDE,), np.float32), "b": np.zeros((), np.float32)}


def image_loss(params, batch):
    """Logistic regression on the flattened pixels (mean of per-row terms)."""
    import jax
    import jax.numpy as jnp

    z = batch["image"].reshape(batch["image"].shape[0], -1) @ params["w"] + params["b"]
    return jnp.mean(jax.nn.softplus(z) - batch["label"] * z)


def _augment(args) -> None:
    if args.num_processes > 1:
        import accel.distributed

        accel.distributed.initialize(
            f"127.0.0.1:{args.port}", args.num_processes, args.process_id, initialization_timeout=60
        )
    from accel import ParallelTrainer

    pt = ParallelTrainer(
        n_devices=args.n_devices, epochs=args.epochs, checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every, **IMAGE_CONFIG,
    )
    params, history = pt.train(image_loss, image_params(), make_images(), augment=AUGMENT, resume=args.resume)
    streamed = {}
    if args.data_dir:  # the same run streamed from the files
        files = {k: np.load(os.path.join(args.data_dir, f"{k}.npy"), mmap_mode="r") for k in ("image", "label")}
        p, h = ParallelTrainer(n_devices=args.n_devices, epochs=args.epochs, **IMAGE_CONFIG).train(
            image_loss, image_params(), files, augment=AUGMENT)
        streamed = {"file_w": p["w"], "file_b": p["b"], "file_loss": h["loss"]}
    np.savez(args.out, w=params["w"], b=params["b"], loss=history["loss"], **streamed)


def make_data():
    rng = np.random.default_rng(42)
    X = rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32)
    y = (X @ rng.normal(size=N_FEATURES) + 0.5).astype(np.float32)
    return X, y


def write_data(directory) -> None:
    """The data of :func:`make_data` as ``X.npy`` and ``y.npy`` in ``directory``."""
    X, y = make_data()
    np.save(os.path.join(directory, "X.npy"), X)
    np.save(os.path.join(directory, "y.npy"), y)


def counting_source(directory):
    """A source over the files of :func:`write_data` that counts the rows read through it
    (``rows_read``)."""
    import threading

    from accel.data import ArraySource, WrappedSource

    class Counting(WrappedSource):
        rows_read = 0
        _lock = threading.Lock()

        def read(self, rows):
            with self._lock:
                self.rows_read += len(rows)
            return self.source.read(rows)

    return Counting(
        ArraySource(
            {k: np.load(os.path.join(directory, f"{k}.npy"), mmap_mode="r") for k in ("X", "y")}
        )
    )


def _fit(args) -> None:
    from accel import ParallelTrainer

    X, y = make_data()
    if args.data_dir:
        X, y = os.path.join(args.data_dir, "X.npy"), os.path.join(args.data_dir, "y.npy")
    pt = ParallelTrainer(
        n_devices=args.n_devices,
        epochs=args.epochs,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        **CONFIG,
    )
    pt.fit(X, y, resume=args.resume)
    np.savez(args.out, coef=pt.coef_, intercept=pt.intercept_, loss=pt.history_["loss"])


def _multi(args) -> None:
    import accel.distributed

    accel.distributed.initialize(
        f"127.0.0.1:{args.port}", args.num_processes, args.process_id, initialization_timeout=60
    )
    import jax

    from accel import ParallelTrainer

    assert jax.process_count() == args.num_processes, jax.process_count()
    X, y = make_data()
    common = dict(CONFIG, checkpoint_dir=args.checkpoint_dir, checkpoint_every=5)
    ParallelTrainer(epochs=3, **common).fit(X, y)
    resumed = ParallelTrainer(epochs=6, **common).fit(X, y, resume=True)
    half = N_ROWS // args.num_processes
    rows = slice(args.process_id * half, (args.process_id + 1) * half)
    local = ParallelTrainer(epochs=6, **CONFIG).fit(X[rows], y[rows], data_is_local=True)
    barriers = accel.distributed.barrier_count()
    streamed = {}
    if args.data_dir:
        source = counting_source(args.data_dir)
        pt = ParallelTrainer(epochs=6, **CONFIG).fit(source)
        streamed = {
            "file_coef": pt.coef_,
            "file_loss": pt.history_["loss"],
            "rows_read": source.rows_read,
        }
    np.savez(
        args.out,
        **streamed,
        coef=resumed.coef_,
        intercept=resumed.intercept_,
        loss=resumed.history_["loss"],
        local_coef=local.coef_,
        local_loss=local.history_["loss"],
        barriers=barriers,
        n_devices=jax.device_count(),
    )


def _peer_loss(args) -> None:
    import signal
    import threading
    import time

    import accel.distributed

    accel.distributed.initialize(
        f"127.0.0.1:{args.port}", args.num_processes, args.process_id, initialization_timeout=60
    )
    from pathlib import Path

    from accel import ParallelTrainer

    if args.process_id == args.victim:

        def die_once_training() -> None:
            # after the second checkpoint every group of devices has communicated once; at
            # the first, the others usually wait in the first rendezvous of a barrier
            while len(list(Path(args.checkpoint_dir).glob("step_*"))) < args.kill_after:
                time.sleep(0.01)
            print("killing myself", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=die_once_training, daemon=True).start()
    X, y = make_data()
    print("training", flush=True)
    with accel.distributed.guard(stuck_exit_s=args.stuck_exit_s):
        ParallelTrainer(
            epochs=10**6, checkpoint_dir=args.checkpoint_dir, checkpoint_every=5, **CONFIG
        ).fit(X, y)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["fit", "multi", "peer-loss", "augment"])
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--n-devices", type=int, default=None)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--data-dir", default=None, help="train from the .npy files there")
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--process-id", type=int, default=0)
    p.add_argument("--num-processes", type=int, default=1)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--victim", type=int, default=1)
    p.add_argument("--kill-after", type=int, default=2, help="checkpoints before the kill")
    p.add_argument("--stuck-exit-s", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.mode == "fit":
        _fit(args)
    elif args.mode == "multi":
        _multi(args)
    elif args.mode == "augment":
        _augment(args)
    else:
        _peer_loss(args)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (XLA threads); the results are on disk


if __name__ == "__main__":
    main(sys.argv[1:])
