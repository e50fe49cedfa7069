"""From dataset rows to model batches: a torch Dataset of `Sample`s and the adapter's collate."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch

from clearbench.data.format import Sample, training_sample


class SampleDataset(torch.utils.data.Dataset):
    """Rows of a `datasets.Dataset` (or any sequence of mappings) as training `Sample`s.

    A caption row's question is drawn from an rng seeded by (seed, epoch, index), so a run, and a
    resumed run, sees the same questions; `set_epoch` (called by the loop) varies them per epoch.
    """

    def __init__(self, rows, seed: int = 0, vary_by_epoch: bool = True):
        self.rows, self.seed, self.vary_by_epoch, self.epoch = rows, seed, vary_by_epoch, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Sample:
        epoch = self.epoch if self.vary_by_epoch else 0
        rng = random.Random(f"{self.seed}/{epoch}/{index}")
        return training_sample(self.rows[index], rng)


def collate(adapter, processor) -> Callable[[Sequence[Sample]], dict[str, torch.Tensor]]:
    """The DataLoader `collate_fn`: the adapter's right-padded batch with answer-only labels."""

    def encode(samples: Sequence[Sample]) -> dict[str, torch.Tensor]:
        return adapter.encode(processor, list(samples))

    return encode


def sample_loader(
    rows, adapter, processor, *, batch_size: int, seed: int = 0, shuffle: bool = True
) -> torch.utils.data.DataLoader:
    """A DataLoader of training batches over `rows` (shuffled reproducibly from `seed`)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        SampleDataset(rows, seed),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=collate(adapter, processor),
    )
