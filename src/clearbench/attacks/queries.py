"""Adversarial queries: the forget tasks re-asked in words never trained on, wrapped in a
jailbreak-style prefix and suffix, or about perturbed images (noise, blur, crop, brightness,
occlusion). The model is the source itself; only the inputs change, one variant per kind."""

from __future__ import annotations

from clearbench.attacks.base import Attack, Context, Variant
from clearbench.attacks.options import QUERY_KINDS, AttackOptions
from clearbench.attacks.perturb import PERTURBATIONS
from clearbench.attacks.variants import REWORDED_COLUMN, AttackTask
from clearbench.errors import UserError

# The option holding each perturbation's strength.
STRENGTH_OPTION = {
    "noise": "noise_std",
    "blur": "blur_radius",
    "crop": "crop_keep",
    "brightness": "brightness",
    "occlusion": "occlusion",
}


class Queries(Attack):
    name = "queries"

    def variants(self, options: AttackOptions) -> list[Variant]:
        unknown = [kind for kind in options.queries if kind not in QUERY_KINDS]
        if unknown:
            raise UserError(
                f"queries: unknown variant(s) {', '.join(unknown)}; choose from {', '.join(QUERY_KINDS)}"
            )
        if not options.queries:
            raise UserError("queries: the list of query variants is empty")
        variants = []
        for kind in dict.fromkeys(options.queries):
            if kind == "jailbreak":
                settings = {"prefix": options.jailbreak_prefix, "suffix": options.jailbreak_suffix}
            elif kind in PERTURBATIONS:
                settings = {"strength": getattr(options, STRENGTH_OPTION[kind])}
            else:
                settings = {}
            variants.append(Variant(self.name, f"queries-{kind}", {"kind": kind, **settings}))
        return variants

    def check(self, context: Context) -> None:
        if "reworded" not in context.options.queries:
            return
        for task in context.tasks:
            columns = getattr(context.splits[task.name], "column_names", None) or []
            if task.question == "column" and REWORDED_COLUMN not in columns:
                raise UserError(
                    f"queries: the reworded variant needs column {REWORDED_COLUMN!r} in config "
                    f"{task.config(context.forget_split)!r} (task {task.name}); the source lacks it. "
                    "Leave 'reworded' out of the query variants"
                )

    def tasks(self, variant: Variant, context: Context) -> list[AttackTask]:
        kind, settings = variant.settings["kind"], variant.settings
        if kind in PERTURBATIONS:
            # Only the image tasks change; the text tasks would repeat the clean evaluation.
            return [
                AttackTask.of(task, perturbation=kind, strength=settings["strength"])
                for task in context.tasks
                if not task.text_only
            ]
        if kind == "jailbreak":
            return [
                AttackTask.of(task, wording="jailbreak", prefix=settings["prefix"], suffix=settings["suffix"])
                for task in context.tasks
            ]
        return [AttackTask.of(task, wording="reworded") for task in context.tasks]
