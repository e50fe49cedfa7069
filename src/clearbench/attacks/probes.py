"""Probes of residual knowledge as an attack: linear probes on a frozen model's hidden layers,
fitted on the retain people's biography facts and scored on the forget people's (the method is in
evaluate/probes.py). A model that only suppressed its output still shows the facts here.

The attack derives nothing and asks no task: it measures. Its result (per layer: accuracy with an
interval over forget people, and chance) is written as the variant's summary; records.json puts the
model beside target (the ceiling) and gold (the reference) and gives per layer the residual share
(acc_model − acc_gold) / (acc_target − acc_gold). Opt-in (`attack.attacks: [..., probe]`): one
forward pass per retain and forget question, then a small logistic regression per question form.
"""

from __future__ import annotations

from clearbench.attacks.base import Attack, Context, Source, Variant
from clearbench.attacks.options import AttackOptions
from clearbench.errors import UserError
from clearbench.evaluate import probes


def text_configs(forget_split: str) -> tuple[str, str]:
    """(retain, forget) configs holding the biography questions."""
    from clearbench.data.split_names import retain_split

    return f"tofu_{retain_split(forget_split)}", f"tofu_{forget_split}"


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
        model, processor, adapter = loaded
        retain, forget = self._rows(context)
        planned = probes.plan(retain, forget)
        available = probes.decoder_layers(source.path, context.trust_remote_code)
        layers = probes.check_layers(variant.settings["layers"], available, source.name)
        questions = [row["question"] for row in retain] + [row["question"] for row in forget]
        features = probes.hidden_features(model, adapter, processor, questions, layers)
        return probes.layer_results(features, retain, forget, planned, seed=context.seed)

    @staticmethod
    def _rows(context: Context) -> tuple[list[dict], list[dict]]:
        """The retain and forget people's question rows, each with its person."""
        from clearbench.data.load import load_split, quiet
        from clearbench.data.split_names import retain_split
        from clearbench.evaluate.people import known_people, rows_people

        found = []
        with quiet():
            named = [
                load_split(context.data, config, context.revision)
                for config in (retain_split(context.forget_split), context.forget_split)
            ]
            for config in text_configs(context.forget_split):
                try:
                    rows = load_split(context.data, config, context.revision)
                except UserError as error:
                    raise UserError(f"probe: the biography questions are needed ({error})") from None
                people = rows_people(rows, known_people(named))
                found.append(
                    [
                        {"question": q, "answer": a, "person": p}
                        for q, a, p in zip(rows["question"], rows["answer"], people)
                    ]
                )
        return found[0], found[1]


def probe_record(model: dict | None, target: dict | None, gold: dict | None) -> dict:
    """The three models' layers side by side, and per layer the residual share of the model's
    accuracy in the target–gold gap (None where the gap is 0 or a model is missing)."""
    shares = {}
    if model and target and gold:
        for layer, found in model["layers"].items():
            ceiling, reference = target["layers"].get(layer), gold["layers"].get(layer)
            if ceiling is None or reference is None:
                continue
            gap = ceiling["accuracy"] - reference["accuracy"]
            shares[layer] = None if gap == 0 else (found["accuracy"] - reference["accuracy"]) / gap
    return {"model": model, "target": target, "gold": gold, "residual_share": shares}
