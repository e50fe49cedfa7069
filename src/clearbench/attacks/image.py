"""Attacks through the image: the forget image tasks asked about photos the attacker changed or chose.

- `image-uap`: a universal adversarial perturbation (adversarial.py), optimised white-box on each model
  (target and gold too) on `uap_fraction` of each forget person's photos to raise their true answers'
  likelihood, then added to the person's other photos, which alone are asked (the split is the
  relearning attack's, seeded apart).
- `image-typographic`: the person's name, or the question, written into the photo (typographic.py).
- `image-unseen`: new photos of the forget people that no model trained on (forgetNN_unseen: the
  synthetic world's; data/synth/unseen.py). Its "before" numbers are the clean logs on the rows of the
  same numbers, i.e. other (trained) photos; the verdict is the residual share after, with target and
  gold asked the same unseen photos.

Text tasks do not change under any of them and are left out. Opt-in (`attack.attacks: [..., image]`):
the perturbation costs `uap_steps` forward and backward passes per model.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clearbench import atomic
from clearbench.attacks.base import Attack, Context, Source, Variant
from clearbench.attacks.options import IMAGE_KINDS, AttackOptions
from clearbench.attacks.relearn import person_groups, split_rows
from clearbench.attacks.variants import AttackTask
from clearbench.errors import UserError
from clearbench.evaluate.tasks import TaskItem

PERTURBATION_FILE = "perturbation.npy"  # δ of the uap variant, in the variant's folder (H × W × 3)


def _with_image(item: TaskItem, image) -> TaskItem:
    return dataclasses.replace(item, prompt=dataclasses.replace(item.prompt, image=image))


@dataclass(frozen=True)
class PerturbedTask(AttackTask):
    """A task whose photos get the universal perturbation in `holder["delta"]` (set by `derive`)."""

    holder: dict = field(default_factory=dict, compare=False, repr=False)

    def item(self, row: Mapping[str, Any], index: int, seed: int) -> TaskItem:
        from clearbench.attacks.adversarial import apply_perturbation

        item = super().item(row, index, seed)
        if "delta" not in self.holder:
            raise RuntimeError(f"task {self.name}: the perturbation was not optimised before evaluation")
        return _with_image(item, apply_perturbation(item.prompt.image, self.holder["delta"]))


@dataclass(frozen=True)
class TypographicTask(AttackTask):
    """A task whose photos carry the person's name or the question, written in (typographic.py)."""

    text: str = "name"

    def item(self, row: Mapping[str, Any], index: int, seed: int) -> TaskItem:
        from clearbench.attacks.typographic import draw_text

        item = super().item(row, index, seed)
        words = item.prompt.question if self.text == "question" else row.get("name")
        if not isinstance(words, str) or not words:
            raise UserError(f"task {self.name}, row {index}: the typographic variant needs column 'name'")
        return _with_image(item, draw_text(item.prompt.image, words))


@dataclass(frozen=True)
class PhotoTask(AttackTask):
    """A task asked about the rows of another config (`photos`, a datasets.Dataset)."""

    photos: Any = field(default=None, compare=False, repr=False)

    def select(self, rows):
        return super().select(self.photos)


def unseen_template(task) -> str:
    from clearbench.data.synth.unseen import SUFFIX

    return task.config_template.replace("_perturbed", "") + SUFFIX  # {forget}_perturbed → {forget}_unseen


class ImageAttack(Attack):
    name = "image"

    def __init__(self) -> None:
        self._holders: dict[str, dict] = {}  # variant -> the holder of the tasks made last (see derive)

    def variants(self, options: AttackOptions) -> list[Variant]:
        kinds = options.image_variants
        unknown = [kind for kind in kinds if kind not in IMAGE_KINDS]
        if unknown:
            raise UserError(
                f"image: unknown variant(s) {', '.join(unknown)}; choose from {', '.join(IMAGE_KINDS)}"
            )
        if not kinds:
            raise UserError("image: the list of image variants is empty")
        found = []
        for kind in dict.fromkeys(kinds):
            settings: dict = {"kind": kind}
            if kind == "uap":
                settings |= {
                    "epsilon": options.uap_epsilon,
                    "steps": options.uap_steps,
                    "fraction": options.uap_fraction,
                }
            elif kind == "typographic":
                settings |= {"text": options.typographic_text}
            found.append(Variant(self.name, f"image-{kind}", settings))
        return found

    @staticmethod
    def _image_tasks(context: Context) -> list:
        return [task for task in context.tasks if not task.text_only]

    def split(self, context: Context, task) -> tuple[list[int], list[int]]:
        """(optimisation rows, evaluation rows) of one image task's config: per person, as relearn."""
        config = task.config(context.forget_split)
        rows = context.splits[task.name]
        key = f"{context.seed}:uap:{config}"
        return split_rows(person_groups(rows, []), context.options.uap_fraction, key)

    def check(self, context: Context) -> None:
        from clearbench.data.load import list_configs

        kinds = context.options.image_variants
        tasks = self._image_tasks(context)
        if "unseen" in kinds and tasks:
            available = set(list_configs(context.data))
            for task in tasks:
                config = unseen_template(task).format(forget=context.forget_split)
                if config not in available:
                    raise UserError(
                        f"image: the unseen variant needs config {config!r} (new photos of the forget people), "
                        f"which source {context.data} lacks; only the synthetic world has it. Leave 'unseen' "
                        "out of attack.image_variants"
                    )
        if "uap" in kinds:
            for task in tasks:
                optimise, evaluate = self.split(context, task)
                if not optimise or not evaluate:
                    raise UserError(
                        f"image: the universal perturbation needs forget people with at least 2 photos in "
                        f"{task.config(context.forget_split)!r} (some to optimise on, some to ask)"
                    )

    def tasks(self, variant: Variant, context: Context) -> list[AttackTask]:
        from clearbench.data.load import load_split

        kind, tasks = variant.settings["kind"], self._image_tasks(context)
        if kind == "typographic":
            return [TypographicTask.of(task, text=variant.settings["text"]) for task in tasks]
        if kind == "unseen":
            made = []
            for task in tasks:
                template = unseen_template(task)
                photos = load_split(
                    context.data, template.format(forget=context.forget_split), context.revision
                )
                made.append(dataclasses.replace(PhotoTask.of(task, photos=photos), config_template=template))
            return made
        holder: dict = {}
        self._holders[variant.name] = holder
        return [
            PerturbedTask.of(task, rows=tuple(self.split(context, task)[1]), holder=holder) for task in tasks
        ]

    def derive(self, variant: Variant, source: Source, loaded, folder: Path, context: Context):
        """The uap variant optimises δ on this model (the source itself is asked)."""
        if variant.settings["kind"] != "uap":
            return loaded
        from clearbench.attacks.adversarial import universal_perturbation

        model, processor, adapter = loaded
        samples = []
        for task in self._image_tasks(context):
            rows = context.splits[task.name]
            samples += [task.item(rows[i], i, context.seed).prompt for i in self.split(context, task)[0]]
        settings = variant.settings
        delta = universal_perturbation(
            model, adapter, processor, samples, settings["epsilon"], settings["steps"]
        )
        buffer = io.BytesIO()
        np.save(buffer, delta, allow_pickle=False)
        atomic.write_bytes(folder / PERTURBATION_FILE, buffer.getvalue())
        self._holders[variant.name]["delta"] = delta
        return loaded
