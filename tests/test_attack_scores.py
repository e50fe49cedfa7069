"""Recovered knowledge and the forget metrics under attack, against hand computations and scipy."""

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from clearbench.attacks.scores import (
    forget_metrics,
    on_rows,
    recovered_knowledge,
    recovery,
    residual_share,
    subset_log,
    survival_verdict,
    task_scores,
)


def test_recovered_knowledge_is_the_share_of_the_gap_closed():
    assert recovered_knowledge(0.5, 0.1, 0.9, 0.1) == pytest.approx(0.4 / 0.8)  # 0.5
    assert recovered_knowledge(0.05, 0.1, 0.9, 0.1) == pytest.approx(-0.05 / 0.8)  # forgot more
    assert recovered_knowledge(1.3, 0.1, 0.9, 0.1) == pytest.approx(1.2 / 0.8)  # beyond the target
    # A target that knows less than gold flips the sign of the gap, and so of the ratio.
    assert recovered_knowledge(0.2, 0.1, 0.1, 0.3) == pytest.approx(0.1 / -0.2)


def test_recovered_knowledge_is_none_without_a_gap_or_a_value():
    assert recovered_knowledge(0.5, 0.1, 0.3, 0.3) is None
    assert recovered_knowledge(0.5, 0.1, 0.3 + 5e-7, 0.3) is None  # below NEAR_ZERO
    assert recovered_knowledge(0.5, 0.1, 0.3 + 1e-4, 0.3) == pytest.approx(0.4 / 1e-4)
    assert recovered_knowledge(None, 0.1, 0.9, 0.1) is None
    assert recovered_knowledge(math.nan, 0.1, 0.9, 0.1) is None


def test_recovery_per_task_and_pooled_by_hand():
    attacked = {"forget_captions": 0.5, "tofu_forget": 0.2}
    unlearned = {"forget_captions": 0.1, "tofu_forget": 0.1}
    target = {"forget_captions": 0.9, "tofu_forget": 0.3}
    gold = {"forget_captions": 0.1, "tofu_forget": 0.3}
    found = recovery(attacked, unlearned, target, gold)
    assert found["per_task"]["forget_captions"]["recovered"] == pytest.approx(0.5)
    assert found["per_task"]["tofu_forget"]["recovered"] is None  # target = gold on this task
    pooled = found["pooled"]
    # Means over the two tasks: attacked 0.35, unlearned 0.1, target 0.6, gold 0.2 → 0.25 / 0.4.
    assert (pooled["attacked"], pooled["target"]) == pytest.approx((0.35, 0.6))
    assert pooled["recovered"] == pytest.approx(0.625)
    # A task the attack did not ask (text tasks under an image perturbation) is left out.
    only_images = recovery({"forget_captions": 0.5}, unlearned, target, gold)
    assert only_images["pooled"]["tasks"] == ["forget_captions"]
    assert only_images["pooled"]["recovered"] == pytest.approx(0.5)


def _log(task, losses, paraphrased, perturbed, forget=True):
    rows = [str(i) for i in range(len(losses))]
    return {
        "task": task,
        "forget": forget,
        "prob_kind": "answer",
        "mia_k": 0.2,
        "avg_gt_loss": dict(zip(rows, losses)),
        "avg_paraphrased_loss": dict(zip(rows, paraphrased)),
        "average_perturb_loss": dict(zip(rows, perturbed)),
        "rougeL_recall": dict(zip(rows, [0.5] * len(rows))),
    }


def test_subset_log_keeps_the_header_and_the_asked_rows():
    log = _log("forget_captions", [1.0, 2.0, 3.0], [1, 1, 1], [[2, 2]] * 3)
    cut = subset_log(log, ["0", "2"])
    assert cut["avg_gt_loss"] == {"0": 1.0, "2": 3.0}
    assert cut["average_perturb_loss"] == {"0": [2, 2], "2": [2, 2]}
    assert (cut["task"], cut["forget"], cut["mia_k"]) == ("forget_captions", True, 0.2)
    attacked = {"forget_captions": subset_log(log, ["1"])}
    assert on_rows({"forget_captions": log, "tofu_forget": log}, attacked) == {
        "forget_captions": subset_log(log, ["1"])
    }


def test_task_scores_prob_is_the_mean_probability_of_the_answer():
    log = _log("forget_captions", [0.0, math.log(4)], [1, 1], [[2], [2]])
    assert task_scores({"forget_captions": log})["forget_captions"] == pytest.approx((1 + 0.25) / 2)


def test_forget_quality_under_attack_is_scipys_ks_against_gold_asked_the_same_way():
    # log R_i = mean perturbed loss − paraphrased loss.
    ours_para, ours_pert = [0.1, 0.5, 0.9, 1.3, 0.2], [[2.0], [2.0], [2.5], [3.0], [1.0]]
    gold_para, gold_pert = [1.0, 1.1, 0.9, 1.5, 2.0], [[1.0], [1.2], [1.1], [1.0], [1.9]]
    ours = {"forget_captions": _log("forget_captions", [1] * 5, ours_para, ours_pert)}
    gold = {"forget_captions": _log("forget_captions", [1] * 5, gold_para, gold_pert)}
    ratios = [p[0] - q for p, q in zip(ours_pert, ours_para)]
    gold_ratios = [p[0] - q for p, q in zip(gold_pert, gold_para)]
    found = forget_metrics(ours, gold)
    assert found["forget_quality"] == pytest.approx(ks_2samp(ratios, gold_ratios).pvalue)
    assert found["forget_quality_text"] is None  # no text task was asked
    assert forget_metrics(ours, None)["forget_quality"] is None


def _forget_logs(level, people=8, rows=5, spread=0.005, seed=0):
    """forget_captions of a model whose Prob is about `level` for every person (people differ a bit)."""
    rng = np.random.default_rng(seed)
    probs = np.clip(
        level + spread * rng.normal(size=(people, 1)) + 0.001 * rng.normal(size=(people, rows)), 1e-4, 1
    )
    n = people * rows
    log = {
        "avg_gt_loss": {str(i): float(-np.log(p)) for i, p in enumerate(probs.ravel())},
        "avg_paraphrased_loss": {str(i): 1.0 for i in range(n)},
        "average_perturb_loss": {str(i): [1.5] for i in range(n)},
        "rougeL_recall": {str(i): 0.5 for i in range(n)},
        "person": {str(i): f"p{i // rows}" for i in range(n)},
    }
    return {"forget_captions": log}


def _verdict(model, target, gold, spread=0.005, **options):
    logs = [_forget_logs(level, spread=spread, seed=seed) for seed, level in enumerate((model, target, gold))]
    found = residual_share(*logs, **options)
    return found, survival_verdict(found, 0.2)[0]


def test_residual_share_by_hand_and_its_interval():
    found, _ = _verdict(0.5, 0.9, 0.1, resamples=200)
    assert found["share"] == pytest.approx(
        (found["model"] - found["gold"]) / (found["target"] - found["gold"])
    )
    assert found["share"] == pytest.approx(0.5, abs=0.01)
    low, high = found["interval"]
    assert low <= found["share"] <= high and high - low < 0.05 and found["measurable"]


def test_a_model_knowing_less_than_attacked_gold_is_never_not_survived():
    # collapsed (0.02), relearned to 0.35 while gold relearns to 0.40: share (0.35 − 0.40) / 0.5 < 0
    found, verdict = _verdict(0.35, 0.9, 0.40, resamples=200)
    assert found["share"] < 0 and verdict == "survived"


def test_an_attack_lowering_every_score_cannot_hide_a_rising_share():
    before, _ = _verdict(0.164, 0.9, 0.1, resamples=200)  # share 0.08 before
    after, verdict = _verdict(0.145, 0.30, 0.05, resamples=200)  # every score lower, share 0.38
    assert before["share"] == pytest.approx(0.08, abs=0.01) and after["share"] == pytest.approx(
        0.38, abs=0.02
    )
    assert verdict == "not survived"
    # the old measure read it as nothing recovered: (0.145 − 0.164) / (0.9 − 0.1) < 0
    assert recovered_knowledge(after["model"], before["model"], before["target"], before["gold"]) < 0


def test_a_gap_within_its_noise_is_not_measurable():
    # a 0.001 target–gold gap with people spread by 0.02: the old guard let 0.01 read as "recovered 10"
    found, verdict = _verdict(0.111, 0.101, 0.100, spread=0.02, resamples=200)
    assert verdict == "not measurable" and found["share"] is None
    assert "within its noise" in found["reason"]
