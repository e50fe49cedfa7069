"""Relearning attack: fine-tune the model briefly on a slice of the forget data, then ask it the rest.

Each forget person's rows are split, deterministically for the seed, into an attack part (by
default 20 %) and an evaluation part, in each forget config the forget tasks read (the captions
config, which face recognition shares, and TOFU's QA config). The model is fine-tuned on the attack
rows (captions with their images, and QA pairs) for a few steps, and the forget tasks are then
asked of the evaluation rows only (Hu et al. 2024, "Jogging the memory of unlearned LLMs through
targeted relearning attacks"). Gold gets the same: how fast a model that never knew these people
learns them from the same rows.

A person's caption rows are those with their `name`; a QA row is a person's when their name appears
in its question or answer (TOFU's rows have no name column), and rows naming nobody or several
people form one more group. Within a group of n rows the attack takes round(fraction · n), at least
one when n ≥ 2, and always leaves one row for evaluation.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from clearbench.attacks.base import Attack, Context, Source, Variant
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.variants import AttackTask
from clearbench.errors import UserError

MODEL = "model"  # the relearned checkpoint's folder inside the variant's folder


def person_groups(rows, names: Sequence[str]) -> dict[str, list[int]]:
    """Row indices of each person: by the `name` column, else by the one known name in the text."""
    columns = getattr(rows, "column_names", None) or (list(rows[0]) if len(rows) else [])
    groups: dict[str, list[int]] = {}
    if "name" in columns:
        for index, name in enumerate(rows["name"]):
            groups.setdefault(name, []).append(index)
        return groups
    texts = [f"{q} {a}" for q, a in zip(rows["question"], rows["answer"])]
    for index, text in enumerate(texts):
        found = [name for name in names if name and name in text]
        groups.setdefault(found[0] if len(found) == 1 else "", []).append(index)
    return groups


def split_rows(groups: dict[str, list[int]], fraction: float, key: str) -> tuple[list[int], list[int]]:
    """(attack rows, evaluation rows), each sorted; per group a seeded draw of round(fraction · n)."""
    attack: list[int] = []
    for person in sorted(groups):
        indices = sorted(groups[person])
        count = min(len(indices) - 1, max(1 if len(indices) >= 2 else 0, round(fraction * len(indices))))
        attack += random.Random(f"{key}:{person}").sample(indices, count)
    chosen = set(attack)
    evaluation = [index for group in groups.values() for index in group if index not in chosen]
    return sorted(attack), sorted(evaluation)


def attack_split(context: Context) -> dict[str, tuple[list[int], list[int]]]:
    """Config -> (attack rows, evaluation rows), for every config the forget tasks read."""
    configs = {task.config(context.forget_split): context.splits[task.name] for task in context.tasks}
    names = sorted(
        {name for rows in configs.values() if "name" in rows.column_names for name in rows["name"]}
    )
    split = {}
    for config, rows in configs.items():
        key = f"{context.seed}:relearn:{config}"
        split[config] = split_rows(person_groups(rows, names), context.options.relearn_fraction, key)
    return split


def training_rows(context: Context) -> list[dict]:
    """The attack rows as training rows: captions with their images, QA pairs."""
    rows = []
    for config, (attack, _) in attack_split(context).items():
        data = next(context.splits[t.name] for t in context.tasks if t.config(context.forget_split) == config)
        keep = ["image", "caption"] if "caption" in data.column_names else ["question", "answer"]
        rows += [{column: data[index][column] for column in keep} for index in attack]
    return rows


def relearn(source: Path, rows: list[dict], out: Path, context: Context) -> Path:
    """Fine-tune `source` on `rows` with the attack's settings into `out` (skipped when done there):
    the training recipe's steps (train/recipe.py) with the answers' loss, as fine-tuning."""
    from clearbench.train import recipe, steps
    from clearbench.train.data import sample_loader
    from clearbench.train.finetune import is_complete
    from clearbench.train.lora import LoraOptions
    from clearbench.train.options import TrainOptions

    options = context.options
    train = TrainOptions(
        epochs=1.0,
        max_steps=options.relearn_steps,
        learning_rate=options.relearn_learning_rate,
        batch_size=options.relearn_batch_size,
        lora=LoraOptions(r=options.relearn_lora_r),
    )
    request = {
        "kind": "relearn", "model": str(source), "data": context.data, "forget_split": context.forget_split,
        "fraction": options.relearn_fraction, "rows": len(rows), "options": asdict(train),
        "seed": context.seed, "revision": context.revision,
    }  # fmt: skip
    if steps.claim(out, request) is not None and is_complete(out):
        return out
    accelerator = steps.start(train)
    started = time.time()
    loaded = steps.load_model(
        str(source),
        data=context.data,
        revision=context.revision,
        model_revision=None,
        trust_remote_code=context.trust_remote_code,
        dtype=None,
        seed=context.seed,
    )
    trainee = recipe.make_trainee(*loaded, train, str(source))
    family, frozen = trainee.adapter.family, trainee.frozen
    steps.record_run(out, accelerator, request, family=family, freeze_vision=frozen, rows=len(rows))
    loader = sample_loader(
        rows, trainee.adapter, trainee.processor, batch_size=train.batch_size, seed=context.seed
    )
    label = f"relearn {source.name}"
    outcome = recipe.train(accelerator, trainee, loader, recipe.answer_loss, train, out, context.seed, label)
    result = recipe.result_of(outcome, started)
    if outcome.status != "completed":
        steps.record_result(out, accelerator, result)
        raise UserError(
            f"relearning {source} diverged at step {outcome.steps + 1}; try a lower learning rate"
        )
    recipe.save(accelerator, trainee, outcome, out, train)
    steps.record_result(out, accelerator, result)
    return out


class Relearn(Attack):
    name = "relearn"
    derives_model = True

    def variants(self, options: AttackOptions) -> list[Variant]:
        settings = {
            "fraction": options.relearn_fraction,
            "steps": options.relearn_steps,
            "learning_rate": options.relearn_learning_rate,
            "batch_size": options.relearn_batch_size,
            "lora_r": options.relearn_lora_r,
        }
        return [Variant(self.name, self.name, settings)]

    def check(self, context: Context) -> None:
        for config, (attack, evaluation) in attack_split(context).items():
            if not attack:
                raise UserError(
                    f"relearn: config {config!r} leaves no row to relearn from at fraction "
                    f"{context.options.relearn_fraction} (each person needs at least 2 rows)"
                )
            if not evaluation:
                raise UserError(f"relearn: config {config!r} leaves no row to evaluate")

    def tasks(self, variant: Variant, context: Context) -> list[AttackTask]:
        split = attack_split(context)
        return [
            AttackTask.of(task, rows=tuple(split[task.config(context.forget_split)][1]))
            for task in context.tasks
        ]

    def derive(self, variant: Variant, source: Source, loaded, folder: Path, context: Context):
        from clearbench.models import registry

        checkpoint = relearn(Path(source.path), training_rows(context), folder / MODEL, context)
        model, processor, adapter = registry.load(checkpoint)
        return model.eval(), processor, adapter
