"""Checkpoints of a ParallelTrainer run and the fingerprints that guard its resumption.

The training driver (``accel.train.drive``) writes a checkpoint at multiples of
``checkpoint_every`` optimizer steps (any position in an epoch), on stopping and at the end;
``resume=True`` reads the latest one back. A checkpoint holds the program's whole carry (parameters, optimizer and loss-scale state,
step, the last evaluation, the stopping flags) except the cached epoch orders (they are a
function of the seed and the epoch), plus the history so far and two fingerprints:

* ``fingerprint``: the run's structure (rows, batch, accumulation, steps per epoch, seed,
  shards) and a digest of the data (:func:`data_digest`): a checkpoint of another run or
  of other data is refused;
* ``hyperparameters``: optimizer, learning rate and its hyperparameters, loss, precision,
  ``tol``: a difference is refused unless the caller allows new hyperparameters.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

from accel import _keys
from accel import distributed as _dist
from accel import train as engine
from accel.parallel import _checkpoint

__all__ = [
    "any_digest",
    "data_digest",
    "hyperparameter_fingerprint",
    "restore",
    "save",
    "source_digest",
]

_DIGEST_BLOCK_BYTES = 16 << 20  # bytes per hashed block: the unit of the parallel hash
_DIGEST_KIND = "sha256 of every byte, in blocks of 16 MiB of rows"


def _block_rows(row_bytes: int) -> int:
    """Rows per hashed block: a function of the row size only, so the digest of the same
    data is the same however it is held (arrays in memory, files, a source)."""
    return max(1, _DIGEST_BLOCK_BYTES // max(1, row_bytes))


def _sha256(parts: list[np.ndarray]) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(np.ascontiguousarray(part).reshape(-1).view(np.uint8))  # no copy when contiguous
    return h.digest()


def _digest(header: str, n_rows: int, row_bytes: int, block: Any) -> str:
    """SHA-256 over ``header`` and the digests of the row blocks ``block(start, stop)`` (a
    list of arrays), hashed by a thread per core (hashlib releases the GIL) with at most two
    blocks per thread in flight; summed over the processes of a multi-process run, so every
    process computes the same value."""
    rows = _block_rows(row_bytes)
    starts = range(0, n_rows, rows)
    workers = max(1, min(os.cpu_count() or 1, 8, len(starts)))
    digests: list[bytes] = []
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Any] = deque()
        for start in starts:
            pending.append(pool.submit(_sha256, block(start, min(start + rows, n_rows))))
            if len(pending) >= 2 * workers:
                digests.append(pending.popleft().result())
        digests.extend(f.result() for f in pending)
    h = hashlib.sha256(f"{_DIGEST_KIND}|{header}".encode())
    for d in digests:
        h.update(d)
    local = np.frombuffer(h.digest(), np.uint8)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        local = np.asarray(multihost_utils.process_allgather(local)).reshape(-1)
        local = np.frombuffer(hashlib.sha256(local.tobytes()).digest(), np.uint8)
    return local.tobytes().hex()


def data_digest(data: Any) -> str:
    """A digest of every byte of a pytree of arrays, with its structure, shapes and dtypes.

    The leaves are hashed together a block of rows at a time (leaves without a row axis go
    into the header), at the speed of SHA-256 on every core: any changed value, row order or
    leaf changes the digest. Costs one read of the data (measured in BENCHMARKS.md)."""
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(data)]
    n = next((a.shape[0] for a in leaves if a.ndim), 0)
    rowed = [a for a in leaves if a.ndim and a.shape[0] == n]
    header = repr(jax.tree.structure(data)) + "".join(f"{a.shape}{a.dtype.str}" for a in leaves)
    header += "".join(a.tobytes().hex() for a in leaves if not (a.ndim and a.shape[0] == n))
    row_bytes = sum(a.nbytes // max(1, a.shape[0]) for a in rowed)
    return _digest(header, n, row_bytes, lambda i, j: [a[i:j] for a in rowed])


def source_digest(source: Any) -> str:
    """:func:`data_digest` of a data source's columns, read a block of rows at a time (one
    sequential pass over the source); equal to the digest of the same columns as arrays."""
    spec = source.spec()
    n = len(source)
    shapes = {k: (n, *shape) for k, (shape, _) in spec.items()}
    header = repr(jax.tree.structure(dict.fromkeys(spec, 0))) + "".join(
        f"{shapes[k]}{np.dtype(spec[k][1]).str}" for k in sorted(spec)
    )
    row_bytes = sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize for shape, dt in spec.values())

    def block(i: int, j: int) -> list[np.ndarray]:
        cols = source.read(np.arange(i, j, dtype=np.int64))
        return [cols[k] for k in sorted(spec)]

    return _digest(header, n, row_bytes, block)


def any_digest(data: Any) -> str:
    """:func:`source_digest` of a source, :func:`data_digest` of arrays."""
    return source_digest(data) if hasattr(data, "read") else data_digest(data)


def _tree(carry: engine.Carry) -> engine.Carry:
    """The checkpointed part of the carry (without the cached epoch orders)."""
    return carry._replace(orders=(), orders_first=())


def save(directory: str, carry: engine.Carry, hist: engine.RunHistory, S: int, seed: int,
         fingerprint: dict, hyperparameters: dict, keep: int, early: Any = None) -> None:  # fmt: skip
    """Write ``carry`` (host arrays) and the history as one atomic checkpoint (process 0);
    with validation data also the early-stopping state ``early`` and its best parameters."""
    step = int(carry.step)
    if _dist.is_main_process():
        done = step // S
        meta = {
            "epoch": done,
            "position": step % S,
            "seed": int(seed),
            "key_impl": _keys.DEFAULT_IMPL,
            "key_data": np.asarray(jax.random.key_data(_keys.seed_key(seed))).tolist(),
            "fingerprint": fingerprint,
            "hyperparameters": hyperparameters,
            "losses": hist.losses[: done + 1].tolist(),
            "grad_norms": hist.grad_norms[: done + 1].tolist(),
            "counter": hist.counter[: done + 1].tolist(),
            "epoch_time": hist.epoch_time[: math.ceil(step / S)].tolist(),
            "wait_time": hist.wait_time[: math.ceil(step / S)].tolist(),
            "val_losses": hist.val_losses[: done + 1].tolist(),
        }
        tree: Any = _tree(carry)
        if early is not None:
            meta["early_stopping"] = early.state()
            tree = (tree, early.best_params)
        _checkpoint.save(directory, step, tree, meta, keep=keep)
    _dist.barrier(f"accel-checkpoint-{step}")


def hyperparameter_fingerprint(params: dict[str, Any], hyper: dict, loss_fn: Any) -> dict[str, Any]:
    """What changes a run's trajectory beyond its structure (JSON-able): ``params`` are the
    trainer's parameters, ``hyper`` the optimizer's full hyperparameters."""
    optimizer = params["optimizer_type"]
    rate = params["learning_rate"]
    rate = engine.learning_rate_in_effect(optimizer, rate)
    linear = getattr(loss_fn, "linear_model", None)
    model = getattr(loss_fn, "__qualname__", type(loss_fn).__name__)
    if linear:  # [loss, fit_intercept], and alpha when set (the checkpoints before alpha read)
        loss, fit_intercept, alpha = linear
        model = [loss, fit_intercept, alpha] if alpha else [loss, fit_intercept]
    return {
        "optimizer_type": optimizer if isinstance(optimizer, str) else "optax",
        "learning_rate": repr(rate) if callable(rate) else float(rate),
        **{k: float(v) for k, v in sorted(hyper.items())},
        "model": model,
        **{k: params[k] for k in ("compute_dtype", "loss_scale", "nan_policy", "tol", "strategy")},
    }


def _differences(saved: dict, now: dict) -> list[str]:
    keys = sorted(set(saved) | set(now))
    return [f"{k}: checkpoint {saved.get(k)!r}, now {now.get(k)!r}" for k in keys
            if saved.get(k) != now.get(k)]  # fmt: skip


def restore(directory: str, fresh: engine.Carry, hist: engine.RunHistory, fingerprint: dict,
            hyperparameters: dict, allow_new_hyperparameters: bool,
            early: Any = None) -> engine.Carry:  # fmt: skip
    """The latest checkpoint's carry (``fresh`` if there is none); fills ``hist`` (and the
    early-stopping state ``early``, with validation data) from it.

    Raises ``ValueError`` saying what differs when the checkpoint belongs to another run or
    other data, or (unless ``allow_new_hyperparameters``) was trained with other
    hyperparameters."""
    step = _checkpoint.latest_step(directory)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        step = int(multihost_utils.broadcast_one_to_all(np.int64(-1 if step is None else step)))
        step = None if step < 0 else step
    if step is None:
        return fresh
    meta = _checkpoint.read_meta(directory, step)
    differ = _differences(meta.get("fingerprint", {}), fingerprint)
    if differ:
        raise ValueError(
            f"checkpoint in {directory!r} was written by a different run or on other data; "
            f"it cannot be resumed: {'; '.join(differ)}"
        )
    differ = _differences(meta.get("hyperparameters", {}), hyperparameters)
    if differ and not allow_new_hyperparameters:
        raise ValueError(
            f"checkpoint in {directory!r} was trained with other hyperparameters: "
            f"{'; '.join(differ)}. Pass allow_new_hyperparameters=True to continue it with "
            "the new values"
        )
    template: Any = _tree(fresh) if early is None else (_tree(fresh), fresh.train.params)
    tree, meta = _checkpoint.restore(directory, template, step)
    if early is not None:
        tree, best = tree
        early.load(meta["early_stopping"], best)
    for name in ("losses", "grad_norms", "counter", "epoch_time", "wait_time", "val_losses"):
        if name not in meta:
            raise ValueError(
                f"checkpoint {step} in {directory!r} has no {name!r} in its meta.json: it was "
                "not written by this version's ParallelTrainer"
            )
        dst = getattr(hist, name)
        src = np.asarray(meta[name], dtype=dst.dtype)[: len(dst)]
        dst[: len(src)] = src
    return tree._replace(orders=fresh.orders, orders_first=fresh.orders_first)
