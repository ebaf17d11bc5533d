"""A PyTorch ``Dataset`` whose samples carry deterministic augmentation parameters.

``AugmentedDataset[i]`` returns ``(image, params)`` where ``params`` depends only on
``(seed, epoch, i)``: the same in every worker process, for any ``DataLoader`` order,
batch size or number of workers. Parameters are computed per batch of indices with
``gen_augmentation_batch`` (``__getitems__``, used by ``DataLoader`` for batched fetching),
or one at a time with ``gen_augmentation_params``. Call ``set_epoch`` each epoch.

torch is optional for ``accel``; install it to run this: ``python examples/torch_dataset.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from accel.augment import PARAM_NAMES, gen_augmentation_batch, gen_augmentation_params, get_preset


class AugmentedDataset(Dataset):
    def __init__(self, images: np.ndarray, *, seed: int = 0, preset: str = "moderate") -> None:
        self.images = images
        self.seed = seed
        self.epoch = 0
        self.config = get_preset(preset)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        p = gen_augmentation_params(index, self.config, seed=self.seed, epoch=self.epoch)
        return torch.from_numpy(self.images[index]), {k: torch.tensor(v) for k, v in p.items()}

    def __getitems__(self, indices: list[int]):
        batch = gen_augmentation_batch(indices, self.config, seed=self.seed, epoch=self.epoch).to_numpy()
        return [
            (torch.from_numpy(self.images[i]), {k: torch.tensor(float(batch[k][j])) for k in PARAM_NAMES})
            for j, i in enumerate(indices)
        ]


def main(num_images: int = 64, epochs: int = 2) -> list[dict[str, torch.Tensor]]:
    images = np.random.default_rng(0).random((num_images, 8, 8), dtype=np.float32)
    ds = AugmentedDataset(images, seed=7)
    loader = DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    seen = []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        for _imgs, params in loader:
            seen.append(params)
        print(f"epoch {epoch}: {len(loader)} batches, last rotation mean {params['rotation'].mean():.3f}")
    return seen


if __name__ == "__main__":
    main()
