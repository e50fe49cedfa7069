"""Probes of residual knowledge as an attack: a linear truth probe on a frozen model's hidden
layers, fitted on the retain people's questions and asked about the forget people's (the method is
in evaluate/probes.py). A model that only suppressed its output still shows the facts here.

One probe per forget task that has a retain counterpart (TOFU forget QA ← TOFU retain QA, forget
captions ← retain captions, forget face recognition ← retain face recognition), per layer of
`probe_layers`. At most MAX_RETAIN_QUESTIONS retain questions per task are used (drawn with the
seed), which bounds the cost on a large world. The attack derives nothing and asks no task: it
measures, and its result is written as the variant's summary; records.json puts the model beside
target (the ceiling) and gold (the reference) and gives per task and layer the residual share
(acc_model − acc_gold) / (acc_target − acc_gold) when target and gold are apart (their intervals
do not overlap). Opt-in (`attack.attacks: [..., probe]`): one forward pass per candidate answer.
"""

from __future__ import annotations

import random
from dataclasses import replace

from clearbench.attacks.base import Attack, Context, Source, Variant
from clearbench.attacks.options import AttackOptions
from clearbench.errors import UserError
from clearbench.evaluate import probes

RETAIN_OF = {
    "tofu_forget": "tofu_retain",
    "forget_captions": "retain_captions",
    "forget_facerec": "retain_facerec",
}
MAX_RETAIN_QUESTIONS = 300


class Probe(Attack):
    name = "probe"
    measures = True

    def variants(self, options: AttackOptions) -> list[Variant]:
        return [Variant(self.name, "probe", {"layers": list(options.probe_layers)})]

    def check(self, context: Context) -> None:
        from clearbench.data.load import load_split, quiet
        from clearbench.evaluate.tasks import TASKS

        paired = [task for task in context.tasks if task.name in RETAIN_OF]
        if not paired:
            raise UserError(f"probe: none of the forget tasks {', '.join(RETAIN_OF)} is evaluated")
        with quiet():
            for task in paired:  # a source without the retain questions is named now
                load_split(
                    context.data, TASKS[RETAIN_OF[task.name]].config(context.forget_split), context.revision
                )

    def check_models(self, sources, context: Context) -> None:
        for source in sources:
            where = f"model {source.name} ({source.path})"
            try:
                available = probes.decoder_layers(source.path, context.trust_remote_code)
            except (OSError, ValueError, AttributeError) as error:
                raise UserError(f"probe: cannot read the layer count of {where}: {error}") from None
            probes.check_layers(context.options.probe_layers, available, where)

    def measure(self, variant: Variant, source: Source, loaded, context: Context) -> dict:
        from clearbench.data.load import load_split, quiet
        from clearbench.evaluate.people import known_people, rows_people
        from clearbench.evaluate.tasks import TASKS

        model, processor, adapter = loaded
        available = probes.decoder_layers(source.path, context.trust_remote_code)
        layers = probes.check_layers(variant.settings["layers"], available, source.name)
        names = known_people(context.splits.values())
        found = {}
        for task in (task for task in context.tasks if task.name in RETAIN_OF):
            retain_task = TASKS[RETAIN_OF[task.name]]
            with quiet():
                retain_rows = load_split(
                    context.data, retain_task.config(context.forget_split), context.revision
                )
            chosen = sorted(random.Random(f"{context.seed}:probe:{task.name}").sample(
                range(len(retain_rows)), min(MAX_RETAIN_QUESTIONS, len(retain_rows))
            ))  # fmt: skip
            retain = _candidates(retain_task.items(retain_rows.select(chosen), context.seed))
            forget_rows = context.splits[task.name]
            forget = _candidates(task.items(forget_rows, context.seed))
            train = probes.hidden_features(model, adapter, processor, retain["samples"], layers)
            test = probes.hidden_features(model, adapter, processor, forget["samples"], layers)
            found[task.name] = probes.layer_results(
                train, retain["truth"], test, forget["truth"], forget["question"],
                rows_people(forget_rows, names), seed=context.seed,
            )  # fmt: skip
        return {"tasks": found, "retain_questions_at_most": MAX_RETAIN_QUESTIONS}


def _candidates(items) -> dict:
    """Every question's candidates: its true answer in the alternatives' form (the paraphrase), then
    the alternatives; their samples, truth (1 / 0) and question index."""
    samples, truth, question = [], [], []
    for number, item in enumerate(items):
        for position, answer in enumerate((item.paraphrase, *item.alternatives)):
            samples.append(replace(item.prompt, answer=answer))
            truth.append(int(position == 0))
            question.append(number)
    return {"samples": samples, "truth": truth, "question": question}


def probe_record(model: dict | None, target: dict | None, gold: dict | None) -> dict:
    """The three models' results side by side, and per task and layer the residual share of the
    model's accuracy in the target–gold gap: None where a model is missing or the target's and
    gold's intervals overlap (the gap is within the noise over people)."""
    shares: dict = {}
    if model and target and gold:
        for task, found in model["tasks"].items():
            shares[task] = {}
            for layer, mine in found["layers"].items():
                ceiling = target["tasks"].get(task, {}).get("layers", {}).get(layer)
                reference = gold["tasks"].get(task, {}).get("layers", {}).get(layer)
                shares[task][layer] = _share(mine, ceiling, reference)
    return {"model": model, "target": target, "gold": gold, "residual_share": shares}


def _share(mine: dict, ceiling: dict | None, reference: dict | None) -> float | None:
    if ceiling is None or reference is None:
        return None
    apart = (
        ceiling.get("interval") is not None
        and reference.get("interval") is not None
        and (
            ceiling["interval"][0] > reference["interval"][1]
            or reference["interval"][0] > ceiling["interval"][1]
        )
    )
    gap = ceiling["accuracy"] - reference["accuracy"]
    return (mine["accuracy"] - reference["accuracy"]) / gap if apart and gap != 0 else None
