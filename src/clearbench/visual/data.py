"""Face images grouped by identity, read from a CLEAR-layout source through `clearbench.data.load`.

The pool of identities is the source's `full` config (plus the synthetic world's `holdoutNN` people,
who appear in no training config), names turned into labels by first appearance, as the official
code does. Pretraining identities, disjoint from the pool, are the synthetic world's famous people
(the `pretraining` rows that ask for a face's name), or any config with an image and a name column
(on the Hub, e.g. `tonyassi/celebrity-1000` with `name_column: label`, as the official code uses;
that path is kept but not tested offline).

Each identity's first `enroll` images (in row order) are its enrolment images; the rest are the
queries that accuracy and the membership attacks are measured on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from clearbench.errors import UserError

NORMALISE_MEAN, NORMALISE_STD = 0.5, 0.5


@dataclass
class Identities:
    """Images [N, 3, R, R] (normalised floats) with the index of each one's identity in `names`."""

    images: torch.Tensor
    labels: torch.Tensor  # int64 [N], into names
    names: list[str]

    def of(self, chosen: list[str]) -> Identities:
        """The images of `chosen` identities, relabelled 0..len(chosen)-1 in that order."""
        index = {name: i for i, name in enumerate(self.names)}
        missing = [name for name in chosen if name not in index]
        if missing:
            raise UserError(f"identities not in the data: {', '.join(missing)}")
        old_to_new = torch.full((len(self.names),), -1, dtype=torch.long)
        old_to_new[[index[name] for name in chosen]] = torch.arange(len(chosen))
        keep = old_to_new[self.labels] >= 0
        return Identities(self.images[keep], old_to_new[self.labels[keep]], list(chosen))

    def counts(self) -> dict[str, int]:
        counts = torch.bincount(self.labels, minlength=len(self.names)).tolist()
        return dict(zip(self.names, counts))

    def enrolment_mask(self, enroll: int) -> torch.Tensor:
        """True for each identity's first `enroll` images (in row order)."""
        mask = torch.zeros(len(self.labels), dtype=torch.bool)
        seen = np.zeros(len(self.names), dtype=int)
        for row, label in enumerate(self.labels.tolist()):
            if seen[label] < enroll:
                mask[row] = True
            seen[label] += 1
        return mask


def decode_images(blobs: list, resolution: int, where: str, box: list[float] | None = None) -> torch.Tensor:
    """PNG/JPEG bytes (or {"bytes": ...} records) → [N, 3, R, R], resized square, normalised.

    `box` (left, top, right, bottom, as fractions of the width and height) crops every image first:
    the face, as a face-identification pipeline's detector and alignment would hand it over.
    `where` names the config in the error for an image that does not decode (row numbers from 0)."""
    from PIL import Image, UnidentifiedImageError

    pixels = np.empty((len(blobs), resolution, resolution, 3), dtype=np.uint8)
    for row, blob in enumerate(blobs):
        data = blob.get("bytes") if isinstance(blob, dict) else blob
        try:
            with Image.open(io.BytesIO(data)) as image:
                image = image.convert("RGB")
                if box is not None:
                    w, h = image.size
                    image = image.crop(
                        (round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h))
                    )
                image = image.resize((resolution, resolution), Image.Resampling.BILINEAR)
                pixels[row] = np.asarray(image)
        except (UnidentifiedImageError, OSError, TypeError, ValueError) as error:
            raise UserError(
                f"{where}, row {row}: the image does not decode ({type(error).__name__})"
            ) from None
    tensor = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    return (tensor - NORMALISE_MEAN) / NORMALISE_STD


def by_first_appearance(names: list[str]) -> tuple[torch.Tensor, list[str]]:
    """Labels numbered in order of each name's first row (the official code's naming)."""
    order: dict[str, int] = {}
    labels = [order.setdefault(name, len(order)) for name in names]
    return torch.tensor(labels, dtype=torch.long), list(order)


def read_config(
    source: str,
    config: str,
    resolution: int,
    *,
    name_column: str = "name",
    revision: str | None = None,
    keep=None,
    validate: bool = True,
    box: list[float] | None = None,
) -> Identities:
    """The images of one config with their identities; `keep(row) -> bool` filters rows first."""
    from datasets import Image

    from clearbench.data.load import load_split

    dataset = load_split(source, config, revision, validate=validate)
    for column in ("image", name_column):
        if column not in dataset.column_names:
            raise UserError(
                f"data source '{source}', config '{config}': no column '{column}' "
                f"(it has: {', '.join(dataset.column_names)})"
            )
    dataset = dataset.cast_column("image", Image(decode=False))
    rows = [row for row in dataset if keep is None or keep(row)]
    where = f"data source '{source}', config '{config}'"
    images = decode_images([row["image"] for row in rows], resolution, where, box)
    labels, names = by_first_appearance([str(row[name_column]) for row in rows])
    return Identities(images, labels, names)


def concatenate(parts: list[Identities]) -> Identities:
    """Several configs' identities as one pool, refusing a name that appears in two of them."""
    names: list[str] = []
    for part in parts:
        twice = sorted(set(names) & set(part.names))
        if twice:
            raise UserError(f"identities appear in two configs: {', '.join(twice)}")
        names += part.names
    offsets = np.cumsum([0] + [len(p.names) for p in parts])
    return Identities(
        torch.cat([p.images for p in parts]),
        torch.cat([p.labels + int(offset) for p, offset in zip(parts, offsets)]),
        names,
    )


def pretraining_identities(
    source: str,
    config: str,
    resolution: int,
    name_column: str,
    revision: str | None = None,
    box: list[float] | None = None,
) -> Identities:
    """Identities for pretraining: the synthetic world's famous faces (rows asking for the name on
    the image), or every row of another config with an image and a name column."""
    if config == "pretraining":
        from clearbench.data.format import FACE_QUESTION

        return read_config(
            source,
            config,
            resolution,
            name_column="answer",
            revision=revision,
            keep=lambda row: row.get("question") == FACE_QUESTION and row.get("image") is not None,
            box=box,
        )
    return read_config(
        source, config, resolution, name_column=name_column, revision=revision, validate=False, box=box
    )


def check_enough_images(identities: Identities, needed: int, skip: bool, log=print) -> Identities:
    """Refuse identities with fewer than `needed` images (naming them), or drop them when `skip`."""
    short = {name: n for name, n in identities.counts().items() if n < needed}
    if not short:
        return identities
    shown = ", ".join(f"{name} ({n})" for name, n in sorted(short.items()))
    if not skip:
        raise UserError(
            f"identities with fewer than {needed} images (enrolment + one query): {shown}; "
            "set data.short_identities: skip to leave them out"
        )
    log(f"[visual] skipped {len(short)} identities with fewer than {needed} images: {shown}")
    return identities.of([name for name in identities.names if name not in short])
