"""Stronger membership attacks and memorization, beside LOSS / zlib / Min-K % / Min-K %++: pure
functions of eval logs (the definitions are in membership.py, gradnorm.py and memorization.py).

For one scope's forget task and holdout task:

    {"forget_task", "holdout_task",
     "attacks": {attack: {"auc", "gold_auc", "privleak", "auc_gap"} | {"reason": why not}},
     "memorization": {"exact_memorization": {"forget", "holdout", "gold_forget"}, "extraction_strength": …}}

AUC, PrivLeak and the gap to gold are read exactly as for the four (membership.roc_auc, privleak):
forget rows positive, higher score = member. An attack whose values a log lacks (GradNorm off, no
base model for the reference, an evaluation older than exact memorization) says why instead of
failing the other metrics. The memorization means are plain row means of the forget task (the
"text half" numbers of OpenUnlearning's EM and ES when the task is the TOFU forget QA), with the
holdout and gold means beside them for scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from clearbench.errors import UserError
from clearbench.evaluate import membership
from clearbench.evaluate.logs import samples
from clearbench.evaluate.memorization import LOG_KEYS as MEMORIZATION_KEYS

STRONGER_ATTACKS = ("gradnorm", "reference", "exact_memorization", "extraction_strength")
LOGGED = {"gradnorm": membership.GRADNORM_LOG_KEY, **MEMORIZATION_KEYS}  # attack -> its per-sample log key


def attack_values(log: Mapping, attack: str, reference: Mapping | None = None) -> list[float]:
    """The per-row scores of one stronger attack in a task log (in index order), or a UserError
    saying why there are none. `reference`: the reference model's log of the same task."""
    if attack == "reference":
        if reference is None:
            raise UserError("no reference (base) model evaluated on this task")
        return membership.reference_scores(dict(log), dict(reference))
    key = LOGGED[attack]
    if not isinstance(log.get(key), Mapping):
        why = " (turn on eval.membership_gradnorm)" if attack == "gradnorm" else ""
        raise UserError(f"task {log.get('task', '?')!r}: no per-sample {key!r}{why}")
    values = [float(value) for value in samples(dict(log), key)]
    if not np.isfinite(values).all():
        raise UserError(f"task {log.get('task', '?')!r}: {key!r} holds a value that is not finite")
    return values


def _auc(logs: Mapping, references: Mapping | None, forget: str, holdout: str, attack: str) -> float:
    def values(task: str) -> list[float]:
        return attack_values(logs[task], attack, None if references is None else references.get(task))

    return membership.roc_auc(values(forget), values(holdout))


def stronger_membership(
    candidate: Mapping[str, Mapping],
    gold: Mapping[str, Mapping] | None,
    forget: str,
    holdout: str,
    reference: Mapping[str, Mapping] | None = None,
) -> dict:
    """The stronger attacks' AUC (and gold's, PrivLeak, |AUC − AUC_gold|) on `forget` vs `holdout`
    rows, and the memorization means; `reference` holds the base model's logs (the reference of
    the `reference` attack, for the candidate and for gold alike)."""
    found: dict = {"forget_task": forget, "holdout_task": holdout, "attacks": {}, "memorization": {}}
    for attack in STRONGER_ATTACKS:
        try:
            auc = _auc(candidate, reference, forget, holdout, attack)
            gold_auc = None if gold is None else _auc(gold, reference, forget, holdout, attack)
        except UserError as error:
            found["attacks"][attack] = {"reason": str(error)}
            continue
        found["attacks"][attack] = {
            "auc": auc,
            "gold_auc": gold_auc,
            "privleak": None if gold_auc is None else membership.privleak(auc, gold_auc),
            "auc_gap": None if gold_auc is None else abs(auc - gold_auc),
        }
    for measure in MEMORIZATION_KEYS:
        try:
            means = {
                "forget": float(np.mean(attack_values(candidate[forget], measure))),
                "holdout": float(np.mean(attack_values(candidate[holdout], measure))),
                "gold_forget": None if gold is None else float(np.mean(attack_values(gold[forget], measure))),
            }
        except UserError as error:
            means = {"reason": str(error)}
        found["memorization"][measure] = means
    return found
