"""A CNN on MNIST on N devices with augmentation inside the training step, resumed after an
interruption, and a plot of what a few samples looked like.

``ParallelTrainer.train(..., augment='moderate')`` augments every batch on the devices inside
the compiled step. What sample ``i`` looks like in epoch ``e`` depends on ``(random_state, e,
i)`` only, so

* the run gives the same result on 1, 2 or 4 devices (or several processes), and a run
  interrupted and resumed from its checkpoint ends exactly where an uninterrupted run ends;
* ``apply_augmentations(images[[i]], gen_augmentation_batch([i], config, seed, epoch),
  seed=seed)`` replays the image the step saw: the plot shows that, for the first samples
  in the first epochs.

The data: MNIST's training images when its files are on disk (``benchmarks.datasets``,
``$ACCEL_DATA_DIR/mnist``), else scikit-learn's 8x8 digits scaled to 28x28. The model:
two stride-2 convolutions (``accel.parallel.conv2d``, which keeps its speed inside the
compiled training loop on CPU) and a dense layer. On a CPU the devices are XLA host devices
(``JAX_NUM_CPU_DEVICES``; set here before JAX starts).

Run: ``python examples/augmented_cnn.py`` (``--devices 4 --epochs 4 --rows 8192``; writes
``augmented_samples.png``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

if __name__ == "__main__":  # the host devices must be asked for before JAX starts
    os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import ParallelTrainer
from accel.augment import apply_augmentations, gen_augmentation_batch, get_preset
from accel.parallel import conv2d
from benchmarks.datasets import load_digit_images

PRESET = "moderate"
SEED = 0


def init_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)

    return {"c1": normal(3, 3, 1, 8), "b1": np.zeros(8, np.float32),
            "c2": normal(3, 3, 8, 16), "b2": np.zeros(16, np.float32),
            "w": normal(7 * 7 * 16, 10), "b": np.zeros(10, np.float32)}  # fmt: skip


def loss_fn(params, batch):
    """Mean softmax cross-entropy of the batch (a mean of per-row terms, as train needs)."""
    h = jax.nn.relu(conv2d(batch["image"], params["c1"], 2) + params["b1"])  # 14x14x8
    h = jax.nn.relu(conv2d(h, params["c2"], 2) + params["b2"])  # 7x7x16
    logits = h.reshape(h.shape[0], -1) @ params["w"] + params["b"]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]))


def accuracy(params, data) -> float:
    h = jax.nn.relu(conv2d(data["image"], params["c1"], 2) + params["b1"])
    h = jax.nn.relu(conv2d(h, params["c2"], 2) + params["b2"])
    logits = h.reshape(h.shape[0], -1) @ params["w"] + params["b"]
    return float(jnp.mean(jnp.argmax(logits, axis=1) == data["label"]))


def plot_samples(images: np.ndarray, path: str, samples: int = 6, epochs: int = 3) -> None:
    """The first ``samples`` images as given and as the step saw them in epochs 0..epochs-1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = np.arange(samples)
    def seen(epoch: int) -> np.ndarray:  # the contract: what the step saw in that epoch
        params = gen_augmentation_batch(ids, get_preset(PRESET), seed=SEED, epoch=epoch)
        return np.asarray(apply_augmentations(images[ids], params, seed=SEED))

    rows = [images[ids]] + [seen(e) for e in range(epochs)]
    fig, axes = plt.subplots(len(rows), samples, figsize=(1.4 * samples, 1.5 * len(rows)))
    for r, row in enumerate(rows):
        for c in range(samples):
            ax = axes[r, c]
            ax.imshow(row[c, ..., 0], cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel("as given" if r == 0 else f"epoch {r - 1}", fontsize=8)
    fig.suptitle(f"what the training step saw (preset {PRESET!r}, seed {SEED})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(rows: int = 8192, epochs: int = 4, devices: int | None = None, batch_size: int = 256,
         plot: str | None = "augmented_samples.png", source: str = "auto") -> dict:  # fmt: skip
    images, labels, meta = load_digit_images(source, rows, seed=SEED)
    data = {"image": images, "label": labels}
    config = dict(n_devices=devices, batch_size=batch_size, optimizer_type="adam",
                  learning_rate=3e-3, random_state=SEED, eval_every=0)  # fmt: skip
    print(f"{meta['source']}: {len(labels)} images; {devices or len(jax.devices())} device(s)")
    with tempfile.TemporaryDirectory() as checkpoints:
        # the run is interrupted after half its epochs (a checkpoint is written at the end
        # of every call; checkpoint_every=k steps writes more often) ...
        ParallelTrainer(epochs=epochs // 2, checkpoint_dir=checkpoints, **config).train(
            loss_fn, init_params(), data, augment=PRESET)  # fmt: skip
        # ... and resumed: the augmentation of the remaining epochs is what it would have been
        resumed, _ = ParallelTrainer(epochs=epochs, checkpoint_dir=checkpoints, **config).train(
            loss_fn, init_params(), data, augment=PRESET, resume=True)  # fmt: skip
    straight, _ = ParallelTrainer(epochs=epochs, **config).train(loss_fn, init_params(), data, augment=PRESET)
    same = all(np.array_equal(resumed[k], straight[k]) for k in straight)
    acc = accuracy(resumed, data)
    print(f"resumed == uninterrupted, bit for bit: {same}; training accuracy {acc:.3f}")
    if plot:
        plot_samples(images, plot)
        print(f"wrote {plot}")
    return {"params": resumed, "identical": same, "accuracy": acc, "source": meta["source"]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="CNN with augmentation inside the training step")
    p.add_argument("--rows", type=int, default=8192)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--devices", type=int, default=None)
    p.add_argument("--plot", default="augmented_samples.png")
    a = p.parse_args()
    main(a.rows, a.epochs, a.devices, plot=a.plot)
    sys.stdout.flush()
