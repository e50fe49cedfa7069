"""CLEAR / TOFU metrics as pure functions of eval logs (per-sample losses and ROUGE; no model).

Notation (../shared/DESIGN.md §5): ℓ = mean NLL over answer tokens (`avg_gt_loss`), ℓ_para =
`avg_paraphrased_loss`, ℓ'_k = `average_perturb_loss[k]`, p̃ = exp(−ℓ).

Per task
- ROUGE       mean ROUGE-L recall (rouge-score, Porter stemming) of the greedy generation against the
              reference; read from `rougeL_recall`, recomputed from `generated_text` when that key is
              empty or absent (the official CLEAR evaluation writes `rougeL_recall: {}`).
- Prob        "answer" tasks: mean_i p̃(y_i). "choice" tasks: mean_i p̃_true / (p̃_true + Σ_k p̃'_k).
- Truth ratio R_i = exp(mean_k ℓ'_ik − ℓ_para,i) (paraphrase over perturbations). Task score: on forget
              tasks mean_i min(R_i, 1/R_i), elsewhere mean_i max(0, 1 − 1/R_i).

Across tasks (their keys, labels and direction are declared once, in metric_table.py)
- Model utility  harmonic mean of {ROUGE, Prob, truth ratio} over the utility tasks (below).
- Forget quality KS two-sample p-value between the candidate's and the gold model's {R_i} on the
  forget-quality tasks (TOFU's definition); `forget_quality_log` = ln p (the paper's v1 and text-only
  tables). `forget_quality_js` = 1 − Jensen-Shannon distance (base 2, so in [0, 1]) between histograms
  of s_i = R_i / (1 + R_i) on 20 equal bins of [0, 1]. s is a monotone map of R onto (0, 1), so the
  histograms describe the same distributions the KS test compares (KS is invariant under monotone
  maps), s = 0.5 where the model cannot tell the paraphrase from the perturbations, and neither row
  order nor row count has to match. `forget_quality_js_aligned` = 1 − JS (natural log, as scipy
  defaults) between the R vectors themselves, normalised to sum 1 and compared index by index: the
  paper's (v4) Forget Quality; it needs the same rows in the same order for candidate and gold.
- Paper aggregates (as the official tables, ROUGE left out): real / retain / forget = harmonic mean of
  {Prob, truth ratio} over the tasks of that group.

Which tasks feed what
- Utility tasks, default: every non-forget task except face recognition — retain_captions,
  real_faces, real_world and, when the text half was evaluated, tofu_retain, tofu_real_authors,
  tofu_world_facts. With TOFU logs this is TOFU's own 9-term model utility. Retain face-rec rows are
  the retain caption rows asked for the name, so they would count the retain set twice; their scores
  stay in the `retain` aggregate and in `tasks`.
- Aggregates, default: all tasks of the group that were evaluated, both halves: real = real_faces,
  real_world, tofu_real_authors, tofu_world_facts; retain = retain_captions, retain_facerec,
  tofu_retain; forget = forget_captions, forget_facerec, tofu_forget.
- Forget-quality tasks, default: forget_captions and tofu_forget, their R_i pooled into one sample
  (the forget set of a `forget10+tofu` run is both halves; TOFU logs have tofu_forget only, CLEAR logs
  forget_captions only). Face-rec rows are left out: the same persons, but names against perturbed
  names, a different distribution, and neither the paper nor TOFU uses them. Each forget task also gets
  its own KS p-value in `tasks[name]["forget_quality"]`.

compat="clear-official": the official CLEAR code's definitions, for comparison with the paper's tables.
Every difference from the default:
1. Truth ratio on the image tasks uses one global scalar, the mean of all perturbed losses of all rows
   of the task, instead of each row's own perturbations: R_i = exp(mean_jk ℓ'_jk − ℓ_para,i) (spec §3.3,
   §7.10). TOFU text tasks keep the per-row mean, as the official text pipeline does (spec §3.5).
2. Model utility is the 12-term harmonic mean {ROUGE, Prob, TR} × {real_faces, real_world,
   retain_captions, retain_facerec}, i.e. face recognition included (spec §3.3).
3. When any CLEAR image task is present, utility, aggregates and forget quality use the CLEAR tasks
   only (the official multimodal evaluation never scores TOFU QA, spec §7.15); logs holding only TOFU
   tasks get the official text pipeline's definitions (= TOFU's).
4. Forget quality comes from forget_captions alone (tofu_forget for TOFU-only logs); the paper's v4
   headline number is `forget_quality_js_aligned`, v1's is `forget_quality_log` (spec §3.4).
Differences that live in the logs, not here: the official evaluation generates without the image
(ROUGE, spec §7.12), draws a fresh caption question for every pass (§7.13) and keeps only the first
300 rows of each task (§7.14). Metrics use whatever rows and ROUGE values a log holds.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import expit, softmax
from scipy.stats import hmean, ks_2samp

from clearbench.errors import UserError
from clearbench.evaluate.logs import has_rouge, normalise, samples
from clearbench.evaluate.metric_table import METRICS
from clearbench.evaluate.official import COMPAT_MODES
from clearbench.evaluate.tasks import GROUPS as TASK_GROUPS
from clearbench.evaluate.tasks import TASKS

JS_BINS = np.linspace(0.0, 1.0, 21)  # 20 equal bins of s = R / (1 + R)
# The paper aggregates, one per task group, in the metric table's order: real, retain, forget.
GROUPS = tuple(key for key in METRICS if key in TASK_GROUPS)


# ----- per-sample arithmetic -------------------------------------------------------------------


def answer_prob(gt_losses) -> float:
    """Mean length-normalised probability of the answers, mean_i exp(−ℓ_i)."""
    return float(np.mean(np.exp(-np.asarray(gt_losses, dtype=float))))


def choice_prob(gt_losses, perturb_losses) -> float:
    """Mean share of the true answer among true + wrong options, mean_i p̃_true / (p̃_true + Σ_k p̃_k)."""
    shares = [
        softmax(-np.concatenate([[gt], np.asarray(wrong, dtype=float)]))[0]
        for gt, wrong in zip(gt_losses, perturb_losses, strict=True)
    ]
    return float(np.mean(shares))


def log_truth_ratios(paraphrased_losses, perturb_losses, pooled: bool = False) -> np.ndarray:
    """log R_i = mean_k ℓ'_ik − ℓ_para,i; `pooled` replaces each row's mean by the mean over all rows.

    Kept in log space: exp would overflow for a destroyed model, and every use below is either a
    function of log R or invariant under it.
    """
    paraphrased = np.asarray(paraphrased_losses, dtype=float)
    perturbed = [np.asarray(row, dtype=float) for row in perturb_losses]
    if pooled:
        perturbed_mean = np.full(len(perturbed), np.concatenate(perturbed).mean())
    else:
        perturbed_mean = np.array([row.mean() for row in perturbed])
    return perturbed_mean - paraphrased


def truth_ratio_score(log_ratios, forget: bool) -> float:
    """Forget tasks: mean min(R, 1/R) (1 = cannot tell); others: mean max(0, 1 − 1/R) (1 = prefers truth)."""
    log_ratios = np.asarray(log_ratios, dtype=float)
    if forget:
        return float(np.mean(np.exp(-np.abs(log_ratios))))
    return float(np.mean(np.maximum(0.0, -np.expm1(-log_ratios))))


def harmonic_mean(values) -> float:
    """Harmonic mean; 0 when any value is 0 (a failed component sinks the whole score)."""
    values = np.asarray(values, dtype=float)
    return 0.0 if np.any(values <= 0) else float(hmean(values))


def forget_quality_ks(candidate_log_ratios, gold_log_ratios) -> tuple[float, float]:
    """KS two-sample (p-value, statistic) of the truth ratios; log R gives the same test as R."""
    result = ks_2samp(candidate_log_ratios, gold_log_ratios)
    return float(result.pvalue), float(result.statistic)


def forget_quality_js(candidate_log_ratios, gold_log_ratios, bins=JS_BINS) -> float:
    """1 − JS distance (base 2) between histograms of s = R / (1 + R) on fixed bins of [0, 1]."""
    candidate, _ = np.histogram(expit(np.asarray(candidate_log_ratios, dtype=float)), bins=bins)
    gold, _ = np.histogram(expit(np.asarray(gold_log_ratios, dtype=float)), bins=bins)
    return float(1.0 - jensenshannon(candidate, gold, base=2))


def forget_quality_js_aligned(candidate_log_ratios, gold_log_ratios) -> float:
    """The paper's 1 − JS: R vectors normalised to sum 1 and compared index by index (natural log)."""
    candidate = np.asarray(candidate_log_ratios, dtype=float)
    gold = np.asarray(gold_log_ratios, dtype=float)
    if candidate.shape != gold.shape:
        raise UserError(f"index-aligned JS needs equal row counts, got {candidate.size} and {gold.size}")
    # Normalisation makes JS scale-free, so shifting log R by its max changes nothing but avoids overflow.
    return float(1.0 - jensenshannon(np.exp(candidate - candidate.max()), np.exp(gold - gold.max())))


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


def rouge_recalls(reference: str, generation: str) -> dict[str, float]:
    """ROUGE-1 and ROUGE-L recall of a generation against its reference, as TOFU/CLEAR log them."""
    scores = _rouge_scorer().score(reference, generation)
    return {"rouge1_recall": scores["rouge1"].recall, "rougeL_recall": scores["rougeL"].recall}


# ----- from logs --------------------------------------------------------------------------------


def task_log_ratios(log: dict, compat: str = "clearbench") -> np.ndarray:
    """log R_i of one task under `compat` (global perturbed mean only for official image tasks)."""
    known = TASKS.get(log["task"])
    pooled = compat == "clear-official" and known is not None and known.half == "clear"
    return log_truth_ratios(
        samples(log, "avg_paraphrased_loss"), samples(log, "average_perturb_loss"), pooled
    )


def task_rouge(log: dict) -> float:
    """Mean logged ROUGE-L recall; recomputed from the generations when none is logged."""
    if has_rouge(log):
        return float(np.mean(samples(log, "rougeL_recall")))
    return float(
        np.mean([rouge_recalls(ref, gen)["rougeL_recall"] for _, gen, ref in samples(log, "generated_text")])
    )


def task_metrics(log: dict, compat: str = "clearbench") -> dict:
    """ROUGE, Prob, truth-ratio score and row count of one (normalised) task log."""
    gt = samples(log, "avg_gt_loss")
    prob = (
        answer_prob(gt)
        if log["prob_kind"] == "answer"
        else choice_prob(gt, samples(log, "average_perturb_loss"))
    )
    return {
        "rouge": task_rouge(log),
        "prob": prob,
        "truth_ratio": truth_ratio_score(task_log_ratios(log, compat), forget=log["forget"]),
        "rows": len(gt),
    }


def check_comparable(candidate: dict, gold: dict) -> None:
    """Candidate and gold must hold the same tasks over the same rows; errors name both logs."""
    if set(candidate) != set(gold):
        only_candidate, only_gold = sorted(set(candidate) - set(gold)), sorted(set(gold) - set(candidate))
        raise UserError(
            f"candidate ({_origin(candidate)}) and gold ({_origin(gold)}) hold different tasks: "
            f"only in the candidate {only_candidate}, only in the gold {only_gold}"
        )
    for task in candidate:
        rows, gold_rows = set(candidate[task]["avg_gt_loss"]), set(gold[task]["avg_gt_loss"])
        if rows != gold_rows:
            raise UserError(
                f"task {task!r}: {candidate[task].get('source', 'candidate')} has {len(rows)} rows but "
                f"{gold[task].get('source', 'gold')} has {len(gold_rows)}"
                + ("" if len(rows) != len(gold_rows) else " with different indices")
                + "; evaluate both models on the same rows"
            )


def tasks_for(logs: dict, compat: str) -> dict[str, list[str]]:
    """Which tasks feed utility, each paper aggregate and forget quality (see the module docstring)."""
    known = [task for name, task in TASKS.items() if name in logs]  # declaration order
    if compat == "clear-official" and any(task.half == "clear" for task in known):
        known = [task for task in known if task.half == "clear"]
    utility = [task for task in known if not task.forget]
    if compat == "clearbench":
        utility = [task for task in utility if not task.facerec]
    chosen = {"model_utility": utility}
    chosen |= {group: [task for task in known if task.group == group] for group in GROUPS}
    chosen["forget_quality"] = [task for task in known if task.forget and not task.facerec]
    return {key: [task.name for task in used] for key, used in chosen.items()}


def compute_metrics(candidate: dict, gold: dict | None = None, compat: str = "clearbench") -> dict:
    """All metrics of `candidate` ({task: log}, as `read_eval` returns), against `gold` when given.

    The metrics are those of METRICS (metric_table.py), in its order. Metrics that need what is
    missing (no gold logs, no task of a group) are None, with the reason in `unavailable`; nothing
    is invented.
    """
    if compat not in COMPAT_MODES:
        raise UserError(f"unknown compat mode {compat!r}; choose one of {COMPAT_MODES}")
    candidate = {task: normalise(task, log) for task, log in candidate.items()}
    if gold is not None:
        gold = {task: normalise(task, log) for task, log in gold.items()}
        check_comparable(candidate, gold)
    tasks = {task: task_metrics(log, compat) for task, log in candidate.items()}
    chosen = tasks_for(candidate, compat)
    unavailable = {}

    def aggregate(name: str, keys: tuple[str, ...]):
        if not chosen[name]:
            unavailable[name] = "no task of this group was evaluated"
            return None
        return harmonic_mean([tasks[task][key] for task in chosen[name] for key in keys])

    values = {m.key: aggregate(m.key, m.components) for m in METRICS.values() if m.components}
    values |= _forget_quality(candidate, gold, chosen["forget_quality"], compat, tasks, unavailable)
    result = {"compat": compat, "gold": {"available": gold is not None}}
    result |= {key: values.pop(key) for key in METRICS}
    assert not values, f"metrics computed but not declared in METRICS: {sorted(values)}"
    result |= {"tasks_used": chosen, "unavailable": unavailable, "tasks": tasks}
    return result


def _forget_quality(candidate, gold, fq_tasks, compat, tasks, unavailable) -> dict:
    names = [m.key for m in METRICS.values() if m.needs_gold]
    reason = "no gold model logs given" if gold is None else None
    if reason is None and not fq_tasks:
        reason = "no forget caption/QA task (forget_captions, tofu_forget) was evaluated"
    if reason:
        unavailable.update(dict.fromkeys(names, reason))
        return dict.fromkeys(names)
    for task in candidate:
        if candidate[task]["forget"]:
            tasks[task]["forget_quality"] = forget_quality_ks(
                task_log_ratios(candidate[task], compat), task_log_ratios(gold[task], compat)
            )[0]
    ours = np.concatenate([task_log_ratios(candidate[task], compat) for task in fq_tasks])
    theirs = np.concatenate([task_log_ratios(gold[task], compat) for task in fq_tasks])
    pvalue, statistic = forget_quality_ks(ours, theirs)
    if pvalue <= 0:
        unavailable["forget_quality_log"] = "the KS p-value underflows to 0"
    return {
        "forget_quality": pvalue,
        "forget_quality_log": math.log(pvalue) if pvalue > 0 else None,
        "forget_quality_ks_statistic": statistic,
        "forget_quality_js": forget_quality_js(ours, theirs),
        "forget_quality_js_aligned": forget_quality_js_aligned(ours, theirs),
    }


def _origin(logs: dict) -> str:
    sources = {str(log.get("source", "?")).split(" [")[0] for log in logs.values()}
    return ", ".join(sorted(sources)) if len(sources) <= 2 else f"{len(sources)} files"
