"""Training batches grouped by modality and length, in an order drawn from (seed, epoch)."""

import random

import datasets
import torch
from PIL import Image

from clearbench.train.data import IMAGE_ROW_LENGTH, GroupedSampler, row_lengths, sample_loader
from clearbench.train.loop import _set_epoch, make_accelerator


def mixed_batches(order, is_image, batch_size):
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(len({is_image[i] for i in batch}) > 1 for batch in batches)


def test_row_lengths_put_image_rows_above_text_rows_for_a_dataset_and_a_list():
    image = Image.new("RGB", (8, 8), (1, 2, 3))
    rows = [
        {"image": image, "caption": "xyz", "question": None, "answer": None},
        {"image": None, "caption": None, "question": "ab", "answer": "cde"},
    ]
    expected = [IMAGE_ROW_LENGTH + 3, 5]
    assert row_lengths(rows) == expected
    assert row_lengths(datasets.Dataset.from_list(rows)) == expected


def test_each_epoch_is_a_permutation_whose_batches_hold_one_modality():
    rng = random.Random(0)
    is_image = [rng.random() < 0.6 for _ in range(320)]
    lengths = [IMAGE_ROW_LENGTH * image + rng.randint(10, 90) for image in is_image]
    sampler = GroupedSampler(lengths, batch_size=8, seed=3)
    orders = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
        assert sorted(orders[-1]) == list(range(320))
        # 4 mega-batches of 80 rows: at most one batch of each straddles the image/text boundary
        assert mixed_batches(orders[-1], is_image, 8) <= 4
    assert orders[0] != orders[1]
    shuffled = list(range(320))
    rng.shuffle(shuffled)
    assert mixed_batches(shuffled, is_image, 8) > 30  # what plain shuffling gives


def test_the_order_depends_on_seed_and_epoch_only():
    lengths = list(range(200))
    first, again, other = (GroupedSampler(lengths, 4, seed) for seed in (1, 1, 2))
    first.set_epoch(5)
    again.set_epoch(4)
    list(again)
    again.set_epoch(5)
    assert list(first) == list(again)  # whatever the sampler drew before
    other.set_epoch(5)
    assert list(first) != list(other)


class IndexAdapter:
    """Collates samples into the indices their questions carry."""

    def encode(self, processor, samples):
        return {"index": torch.tensor([int(sample.question) for sample in samples])}


def test_the_loops_accelerated_loader_reshuffles_per_epoch_and_reproduces_an_epoch():
    rows = [{"question": str(i), "answer": "x" * (i % 7 + 1)} for i in range(96)]

    def epoch_batches(epoch):
        loader = make_accelerator().prepare(sample_loader(rows, IndexAdapter(), None, batch_size=8, seed=0))
        _set_epoch(loader, epoch)
        return [batch["index"].tolist() for batch in loader]

    zero, one = epoch_batches(0), epoch_batches(1)
    assert sorted(i for batch in zero for i in batch) == list(range(96))
    assert zero != one and one == epoch_batches(1)
    # grouped by length: within a mega-batch, answers of one length sit together
    assert sum(len({len(rows[i]["answer"]) for i in batch}) for batch in zero) < 40
