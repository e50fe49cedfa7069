"""Seconds a training epoch takes with batches grouped by modality and length (train/data.py) against
plainly shuffled batches, on the default world's target rows (`full+tofu` and `pretraining`) and the
tiny model, timed over the same number of steps of each.

    python benchmarks/grouped_batches.py [--work /tmp/clearbench-grouped] [--steps 60]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from clearbench.data.synth import generate
from clearbench.run.config import load_config, synth_density
from clearbench.train.data import SampleDataset, collate, sample_loader
from clearbench.train.finetune import _training_rows
from clearbench.train.steps import load_model


def seconds_per_step(model, optimizer, loader, steps: int) -> float:
    batches = iter(loader)
    next(batches)  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        loss = model(**next(batches)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", default="/tmp/clearbench-grouped")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    config = load_config(None, [])
    data = Path(args.work) / "data"
    if not data.exists():
        generate(
            data, config.data.persons, config.data.seed, config.data.image_size, synth_density(config.data)
        )
    rows = _training_rows(str(data), "full+tofu,pretraining", None)
    model, processor, adapter = load_model(
        "tiny-llava",
        data=str(data),
        revision=None,
        model_revision=None,
        trust_remote_code=False,
        dtype=None,
        seed=0,
    )
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = config.finetune.batch_size
    shuffled = torch.utils.data.DataLoader(
        SampleDataset(rows),
        batch_size=batch,
        shuffle=True,
        collate_fn=collate(adapter, processor),
        generator=torch.Generator().manual_seed(0),
    )
    grouped = sample_loader(rows, adapter, processor, batch_size=batch)
    plain = seconds_per_step(model, optimizer, shuffled, args.steps)
    fast = seconds_per_step(model, optimizer, grouped, args.steps)
    print(f"{len(rows)} rows, batch {batch}, {args.steps} steps each")
    print(f"shuffled: {plain:.3f} s/step; grouped: {fast:.3f} s/step; grouped/shuffled = {fast / plain:.2f}")


if __name__ == "__main__":
    main()
