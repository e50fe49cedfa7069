"""Cross-modal leakage: how much of the forget people's knowledge each forget modality removes,
probed through each modality.

The modality study unlearns each method on the forget set of one modality (`unlearn.modalities`:
images, text, both; models named `npo@images`, …). CLEAR's Table 3 scores image tasks only; the
question left open is whether knowledge removed through one modality is gone from the other
("forgot the photos, still answers the biography questions"). For every such model and every forget
probe (forget captions, forget face naming, TOFU forget QA), on one per-task knowledge score m:

    removed = (m_target − m_model) / (m_target − m_gold)

1 = as gone as in gold (which never saw the forget people), 0 = as known as in the target, < 0 =
better known than before, > 1 = pushed below gold. When the target knows the probe no better than
gold (|m_target − m_gold| < `min_gap`) there is nothing to remove and no scale to measure it on: the
cell is None, with the reason, never ±inf. The normalisation follows the removed-fraction scale of
the robustness literature (recovered = (m_attacked − m_unlearned) / (m_target − m_gold)).

Beside each removed fraction, the same model's retain probes (retain captions, retain face naming,
TOFU retain QA) as the share of the target's knowledge it kept, m_model / m_target: a model wrecked
through one modality scores ≈ 1 "removed" on every forget probe, which alone reads as "no leakage";
its retain probes near 0 show it forgot everyone, not the forget people.

The score is a key of the per-task metrics (`tasks` of `compute_metrics`): `prob` by default (the
mean true-answer probability; the share of the true name among the options for face naming),
`truth_preference` or `rouge` on request. Pure arithmetic on metric records: no model, no logs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from clearbench.errors import UserError

# probe label -> the forget task that asks it
PROBES = {"captions": "forget_captions", "face naming": "forget_facerec", "text QA": "tofu_forget"}
# the same probes on the retain people: what the model kept of what it should keep (collateral)
RETAIN_PROBES = {"captions": "retain_captions", "face naming": "retain_facerec", "text QA": "tofu_retain"}
FORGET_MODALITIES = ("images", "text", "both")
SCORES = ("prob", "truth_preference", "rouge")
DEFAULT_MIN_GAP = 0.02


def removed_fraction(
    target: float, model: float, gold: float, min_gap: float = DEFAULT_MIN_GAP
) -> tuple[float | None, str | None]:
    """((m_target − m_model) / (m_target − m_gold), None), or (None, why) when the target–gold gap is
    below `min_gap` in absolute value or a value is missing or not finite."""
    values = {"target": target, "model": model, "gold": gold}
    missing = [name for name, value in values.items() if not _finite(value)]
    if missing:
        return None, f"no finite score for {', '.join(missing)}"
    gap = target - gold
    if abs(gap) < min_gap:
        return None, f"target and gold differ by {gap:.3g} (< {min_gap:g}): nothing to remove"
    return (target - model) / gap, None


@dataclass
class LeakageMatrix:
    """One method's matrix: rows = forget modality of the model, columns = probe."""

    method: str
    score: str
    cells: dict[str, dict[str, float | None]] = field(default_factory=dict)  # modality -> probe -> value
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # where a cell is None: why
    # modality -> probe -> m_model / m_target on the retain people (None where not computable)
    retain: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return [modality for modality in FORGET_MODALITIES if modality in self.cells]

    @property
    def probes(self) -> list[str]:
        return [probe for probe in PROBES if any(probe in row for row in self.cells.values())]


def leakage_matrices(
    target: Mapping,
    gold: Mapping,
    models: Iterable[tuple[str, str, Mapping]],
    *,
    score: str = "prob",
    min_gap: float = DEFAULT_MIN_GAP,
) -> list[LeakageMatrix]:
    """One matrix per method from the metric records of the target, gold and each unlearned model.

    `models` yields (method, forget modality, metrics) for the models of the modality study; a probe
    is a column when the target's record holds its task. Methods keep their first-seen order.
    """
    if score not in SCORES:
        raise UserError(f"leakage score {score!r} is not one of {', '.join(SCORES)}")
    if not _finite(min_gap) or min_gap <= 0:
        raise UserError(f"leakage min_gap must be a positive number, got {min_gap!r}")
    probes = {probe: task for probe, task in PROBES.items() if task in _tasks(target, "target")}
    if not probes:
        raise UserError(
            f"the target's metrics hold none of the forget tasks {', '.join(PROBES.values())}: "
            "no probe to measure leakage on"
        )
    matrices: dict[str, LeakageMatrix] = {}
    for method, modality, metrics in models:
        if modality not in FORGET_MODALITIES:
            raise UserError(
                f"model {method!r}: forget modality {modality!r} is not one of {', '.join(FORGET_MODALITIES)}"
            )
        matrix = matrices.setdefault(method, LeakageMatrix(method, score))
        row, why = matrix.cells.setdefault(modality, {}), matrix.reasons.setdefault(modality, {})
        for probe, task in probes.items():
            value, reason = removed_fraction(
                _score(target, task, score),
                _score(metrics, task, score),
                _score(gold, task, score),
                min_gap,
            )
            row[probe] = value
            if reason is not None:
                why[probe] = reason
        kept = matrix.retain.setdefault(modality, {})
        for probe, task in RETAIN_PROBES.items():
            if task in _tasks(target, "target"):
                kept[probe] = retain_kept(_score(target, task, score), _score(metrics, task, score))
    return list(matrices.values())


def retain_kept(target: float | None, model: float | None) -> float | None:
    """m_model / m_target on a retain probe: 1 = kept all the target knew, 0 = lost it; None when a
    value is missing or the target scores 0."""
    if not _finite(target) or not _finite(model) or target <= 0:
        return None
    return model / target


def _tasks(metrics: Mapping, who: str) -> Mapping:
    tasks = metrics.get("tasks") if isinstance(metrics, Mapping) else None
    if not isinstance(tasks, Mapping):
        raise UserError(f"the {who}'s metrics have no per-task values ('tasks')")
    return tasks


def _score(metrics: Mapping | None, task: str, score: str) -> float | None:
    tasks = metrics.get("tasks") if isinstance(metrics, Mapping) else None
    values = tasks.get(task) if isinstance(tasks, Mapping) else None
    value = values.get(score) if isinstance(values, Mapping) else None
    return float(value) if _finite(value) else None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
