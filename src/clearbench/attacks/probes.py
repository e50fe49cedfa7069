"""Probes of residual knowledge as an attack: a linear truth probe on a frozen model's hidden
layers, fitted on the retain people's biography questions and asked about the forget people's (the
method is in evaluate/probes.py). A model that only suppressed its output still shows the facts here.

The text half (TOFU-style QA, `tofu_retainNN` and `tofu_forgetNN`): each question's candidates are
its true answer and up to WRONG answers other retain people gave to the same question form, with
the name swapped in ("Kamau Wekesa is Peruvian."). Up to RETAIN_QUESTIONS retain questions train
the probe (drawn with the seed; they bound the cost on a large world). The image tasks' own
alternatives are too few to fit a probe on (40 questions with alternatives in the default world,
against a 128-wide hidden state), so they are not probed.

The attack derives nothing and asks no task: it measures, and its result is written as the
variant's summary; records.json puts the model beside target (the ceiling) and gold (the reference)
and gives per layer the residual share (acc_model − acc_gold) / (acc_target − acc_gold) where target
and gold are apart (their intervals do not overlap). Opt-in (`attack.attacks: [..., probe]`): one
forward pass per candidate.
"""

from __future__ import annotations

import random

from clearbench.attacks.base import Attack, Context, Source, Variant
from clearbench.attacks.options import AttackOptions
from clearbench.errors import UserError
from clearbench.evaluate import probes

TASK = "tofu_forget"  # the forget task whose people the probe is asked about
WRONG = 3
RETAIN_QUESTIONS = 300


class Probe(Attack):
    name = "probe"
    measures = True

    def variants(self, options: AttackOptions) -> list[Variant]:
        return [Variant(self.name, "probe", {"layers": list(options.probe_layers)})]

    def check(self, context: Context) -> None:
        self._rows(context)  # a source without the biography questions is named now

    def check_models(self, sources, context: Context) -> None:
        for source in sources:
            where = f"model {source.name} ({source.path})"
            try:
                available = probes.decoder_layers(source.path, context.trust_remote_code)
            except (OSError, ValueError, AttributeError) as error:
                raise UserError(f"probe: cannot read the layer count of {where}: {error}") from None
            probes.check_layers(context.options.probe_layers, available, where)

    def measure(self, variant: Variant, source: Source, loaded, context: Context) -> dict:
        from clearbench.data.format import Sample

        model, processor, adapter = loaded
        available = probes.decoder_layers(source.path, context.trust_remote_code)
        layers = probes.check_layers(variant.settings["layers"], available, source.name)
        retain, forget = self._rows(context)
        drawn = random.Random(f"{context.seed}:probe").sample(retain, min(RETAIN_QUESTIONS, len(retain)))
        sets = {
            "train": probes.swapped_candidates(drawn, retain, WRONG, f"{context.seed}:train"),
            "test": probes.swapped_candidates(forget, retain, WRONG, f"{context.seed}:test"),
        }
        features, truth, question = {}, {}, {}
        for name, found in sets.items():
            asked = drawn if name == "train" else forget
            samples = [
                Sample(asked[found["rows"][q]]["question"], text) for q, text, _ in found["candidates"]
            ]
            features[name] = probes.hidden_features(model, adapter, processor, samples, layers)
            truth[name] = [t for _, _, t in found["candidates"]]
            question[name] = [q for q, _, _ in found["candidates"]]
        people = [forget[i]["person"] for i in sets["test"]["rows"]]
        if not people:
            raise UserError("probe: no forget question shares its form with a retain person's question")
        result = probes.layer_results(
            features["train"], truth["train"], features["test"], truth["test"], question["test"], people,
            seed=context.seed,
        )  # fmt: skip
        result["train_questions"] = len(sets["train"]["rows"])
        return {"tasks": {TASK: result}}

    @staticmethod
    def _rows(context: Context) -> tuple[list[dict], list[dict]]:
        """The retain and forget people's biography questions, each with its person."""
        from clearbench.data.load import load_split, quiet
        from clearbench.data.split_names import retain_split
        from clearbench.evaluate.people import known_people, rows_people

        retain_config = retain_split(context.forget_split)
        found = []
        with quiet():
            try:
                named = [
                    load_split(context.data, c, context.revision)
                    for c in (retain_config, context.forget_split)
                ]
                for config in (f"tofu_{retain_config}", f"tofu_{context.forget_split}"):
                    rows = load_split(context.data, config, context.revision)
                    people = rows_people(rows, known_people(named))
                    found.append(
                        [
                            {"question": q, "answer": a, "person": p}
                            for q, a, p in zip(rows["question"], rows["answer"], people)
                        ]
                    )
            except UserError as error:
                raise UserError(f"probe: the people's biography questions are needed ({error})") from None
        return found[0], found[1]


def probe_record(model: dict | None, target: dict | None, gold: dict | None) -> dict:
    """The three models' results side by side (without the per-resample draws), and per task and
    layer the residual share of the model's accuracy in the target–gold gap (`layer_share`)."""
    shares: dict = {}
    if model and target and gold:
        for task, found in model["tasks"].items():
            shares[task] = {
                layer: layer_share(
                    mine,
                    target["tasks"].get(task, {}).get("layers", {}).get(layer),
                    gold["tasks"].get(task, {}).get("layers", {}).get(layer),
                )
                for layer, mine in found["layers"].items()
            }
    shown = {
        role: _without_draws(found) for role, found in (("model", model), ("target", target), ("gold", gold))
    }
    return shown | {"residual_share": shares}


def layer_share(mine: dict, ceiling: dict | None, reference: dict | None) -> dict:
    """(acc_model − acc_gold) / (acc_target − acc_gold) with a 95 % interval from the paired draws
    (the same people resampled for the three models), as attacks.scores.residual_share: "not
    measurable" when the gap's own interval holds 0."""
    import numpy as np

    from clearbench.evaluate.bootstrap import _percentiles

    if ceiling is None or reference is None:
        return {"share": None, "interval": None, "reason": "target or gold not probed at this layer"}
    draws = [np.asarray(found.get("draws") or []) for found in (mine, ceiling, reference)]
    if not len(draws[0]) or any(len(d) != len(draws[0]) for d in draws):
        return {"share": None, "interval": None, "reason": "no paired resamples (fewer than 2 people)"}
    gap = ceiling["accuracy"] - reference["accuracy"]
    low, high = _percentiles(draws[1] - draws[2])
    if low <= 0 <= high or gap == 0:
        return {
            "share": None,
            "interval": None,
            "reason": f"the target–gold gap {gap:.3g} is within its noise ([{low:.3g}, {high:.3g}] over people)",
        }
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = (draws[0] - draws[2]) / (draws[1] - draws[2])
    return {
        "share": (mine["accuracy"] - reference["accuracy"]) / gap,
        "interval": _percentiles(shares[np.isfinite(shares)]),
        "reason": None,
    }


def _without_draws(found: dict | None) -> dict | None:
    if found is None:
        return None
    tasks = {
        task: result | {"layers": {layer: _drop(values) for layer, values in result["layers"].items()}}
        for task, result in found["tasks"].items()
    }
    return found | {"tasks": tasks}


def _drop(values: dict) -> dict:
    return {key: value for key, value in values.items() if key != "draws"}
