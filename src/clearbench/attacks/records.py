"""The attack stage's records: one per variant and model, with its scores, read from the folders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from clearbench.attacks.base import Source, Variant
from clearbench.attacks.layout import CLEAN, EVAL, folder, read_record
from clearbench.attacks.leak import leak_record
from clearbench.attacks.probes import probe_record
from clearbench.attacks.scores import forget_metrics, on_rows, recovery, residual_share, task_scores


def score_all(out: Path, sources: Sequence[Source], variants, score: str = "prob") -> list[dict]:
    """One record per (variant, model): status, the forget metrics before and after (against gold
    asked the same way) and the recovered knowledge (scores.py)."""
    from clearbench.evaluate.logs import read_eval

    def logs_of(variant: Variant, source: Source | None) -> dict | None:
        if source is None:
            return None
        record = read_record(folder(out, variant, source))
        if not record or record.get("status") != "completed":
            return None
        return read_eval(folder(out, variant, source) / EVAL)

    def measured(variant: Variant, source: Source | None) -> dict | None:
        record = read_record(folder(out, variant, source)) if source is not None else None
        if not record or record.get("status") != "completed":
            return None
        path = folder(out, variant, source) / EVAL / "summary.json"
        return json.loads(path.read_text(encoding="utf-8")).get("measured")

    targets = {source.group: source for source in sources if source.kind == "target"}
    golds = {source.group: source for source in sources if source.kind == "gold"}
    clean = {source.name: logs_of(CLEAN, source) for source in sources}
    records = []
    for _, variant in variants:
        asked = variant.attack != "probe"  # a probe asks no task: no logs, only its measure
        gold_attacked = {group: logs_of(variant, gold) for group, gold in golds.items() if asked}
        target_attacked = {group: logs_of(variant, target) for group, target in targets.items() if asked}
        for source in sources:
            target, gold = targets.get(source.group), golds.get(source.group)
            path = folder(out, variant, source)
            stored = read_record(path) or {"status": "failed", "error": "never ran", "seconds": 0.0}
            entry = {
                "attack": variant.attack,
                "variant": variant.name,
                "settings": variant.settings,
                "model": source.name,
                "kind": source.kind,
                "method": source.method,
                "group": source.group,
                "status": stored["status"],
                "error": stored.get("error"),
                "seconds": stored.get("seconds"),
                "folder": str(path),
            }
            if variant.attack == "probe":  # measured, not asked: the three models' layers (probes.py)
                entry["probe"] = probe_record(*(measured(variant, s) for s in (source, target, gold)))
                records.append(entry)
                continue
            attacked = logs_of(variant, source) if stored["status"] == "completed" else None
            if attacked is not None and clean[source.name] is None:
                entry["status"], entry["error"] = "failed", "the model's clean evaluation failed"
                attacked = None
            if attacked is not None:
                entry |= _scores(
                    attacked, clean, source, target, gold, gold_attacked.get(source.group), score
                )
                entry["residual"] = _residual(
                    attacked,
                    clean[source.name],
                    clean.get(target.name) if target else None,
                    clean.get(gold.name) if gold else None,
                    target_attacked.get(source.group),
                    gold_attacked.get(source.group),
                    score,
                )
                if variant.attack == "leak":  # leak@k beside the scores (leak.py)
                    entry["leak"] = leak_record(
                        attacked, target_attacked.get(source.group), gold_attacked.get(source.group)
                    )
            records.append(entry)
    return records


def _scores(attacked, clean, source, target, gold, gold_attacked, score) -> dict:
    own = on_rows(clean[source.name], attacked)
    gold_clean = on_rows(clean[gold.name], attacked) if gold and clean.get(gold.name) else None
    gold_after = {task: log for task, log in (gold_attacked or {}).items() if task in attacked} or None
    reference = {}
    for role, model in (("target", target), ("gold", gold)):
        logs = clean.get(model.name) if model else None
        reference[role] = task_scores(on_rows(logs, attacked), score) if logs else {}
    return {
        "rows": {task: len(log["avg_gt_loss"]) for task, log in attacked.items()},
        "score": score,
        "before": forget_metrics(own, gold_clean),
        "after": forget_metrics(attacked, gold_after),
        "recovery": recovery(
            task_scores(attacked, score), task_scores(own, score), reference["target"], reference["gold"]
        ),
    }


def _residual(attacked, own_clean, target_clean, gold_clean, target_attacked, gold_attacked, score) -> dict:
    """The residual share before the attack (clean logs) and after it (target and gold attacked the
    same way), on the rows the attack asked (scores.residual_share); None where a term is missing."""
    pairs = {
        "before": (own_clean, target_clean, gold_clean),
        "after": (attacked, target_attacked, gold_attacked),
    }
    return {
        when: None
        if any(logs is None for logs in found)
        else residual_share(*(on_rows(logs, attacked) for logs in found), score)
        for when, found in pairs.items()
    }
