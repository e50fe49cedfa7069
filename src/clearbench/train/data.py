"""From dataset rows to model batches: a torch Dataset of `Sample`s and the adapter's collate."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

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


# Added to an image row's length so that every image row sorts above every text-only row.
IMAGE_ROW_LENGTH = 1_000_000
TEXT_COLUMNS = ("caption", "question", "answer")


def row_lengths(rows) -> list[int]:
    """Each row's characters of text, plus IMAGE_ROW_LENGTH when it has an image (not decoded)."""
    if hasattr(rows, "column_names"):  # a datasets.Dataset: read the image column as bytes
        from datasets import Image

        present = [column for column in (*TEXT_COLUMNS, "image") if column in rows.column_names]
        rows = rows.select_columns(present)
        if "image" in present:
            rows = rows.cast_column("image", Image(decode=False))
    return [
        sum(len(row.get(column) or "") for column in TEXT_COLUMNS)
        + (IMAGE_ROW_LENGTH if row.get("image") is not None else 0)
        for row in rows
    ]


class GroupedSampler(LengthGroupedSampler):
    """transformers' length-grouped order, drawn anew each epoch from (seed, epoch).

    A batch then holds rows of one modality and similar length, as LLaVA's trainer groups them
    (`group_by_modality_length`): a text-only batch is neither padded to an image row's length nor
    sent through the vision tower (2.3 times cheaper a step on the tiny model; a shuffled batch
    almost always holds an image row). `set_epoch` is called by the loop and by accelerate.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        draw = random.Random(f"{self.seed}/{epoch}").getrandbits(63)
        self.generator = torch.Generator().manual_seed(draw)


def sample_loader(
    rows, adapter, processor, *, batch_size: int, seed: int = 0, shuffle: bool = True
) -> torch.utils.data.DataLoader:
    """A DataLoader of training batches over `rows`: grouped by modality and length in an order drawn
    from `seed` and the epoch, or in row order when not `shuffle`."""
    sampler = GroupedSampler(row_lengths(rows), batch_size, seed) if shuffle else None
    return torch.utils.data.DataLoader(
        SampleDataset(rows, seed),
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate(adapter, processor),
    )
