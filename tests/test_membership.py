"""Membership scores, ROC-AUC and PrivLeak: by hand, against scikit-learn, and from logs."""

import math
import zlib

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from clearbench.errors import UserError
from clearbench.evaluate import membership
from clearbench.evaluate import metrics as m
from clearbench.evaluate.scoring import token_z_scores

# ----- AUC -----------------------------------------------------------------------------------------


def test_auc_by_hand_with_ties():
    # Pairs (member, non-member): 3 vs 1 win, 3 vs 3 tie, 3 vs 4 loss; 1 vs 1 tie, 1 vs 3 and 1 vs 4
    # losses. Wins 1 + ties 2 × ½ over 6 pairs = 2/6.
    assert membership.roc_auc([3.0, 1.0], [1.0, 3.0, 4.0]) == pytest.approx(2 / 6)
    assert membership.roc_auc([5.0, 6.0], [1.0, 2.0]) == 1.0  # members always higher
    assert membership.roc_auc([1.0, 2.0], [5.0, 6.0]) == 0.0
    assert membership.roc_auc([2.0, 2.0], [2.0]) == 0.5  # every pair tied


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_scikit_learn_with_forget_as_the_positive_class(seed):
    rng = np.random.default_rng(seed)
    # Rounded, so many scores tie within and across the classes.
    members = np.round(rng.normal(0.4, 1.0, 37), 1)
    strangers = np.round(rng.normal(0.0, 1.0, 23), 1)
    labels = [1] * len(members) + [0] * len(strangers)
    expected = roc_auc_score(labels, np.concatenate([members, strangers]))
    assert membership.roc_auc(members, strangers) == pytest.approx(expected, abs=1e-12)
    fpr, tpr = membership.roc_curve(members, strangers)
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, np.concatenate([members, strangers]), drop_intermediate=False)
    assert fpr == pytest.approx(sk_fpr) and tpr == pytest.approx(sk_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(expected, abs=1e-12)  # the curve's area is the AUC


def test_auc_refuses_empty_or_non_finite_scores():
    with pytest.raises(UserError, match="needs members and non-members; got 0 and 2"):
        membership.roc_auc([], [1.0, 2.0])
    with pytest.raises(UserError, match="not a finite number"):
        membership.roc_auc([float("nan")], [1.0])


def test_privleak_is_museS_relative_difference_of_one_minus_auc():
    # MUSE's AUC' = 1 − AUC. Target that separates perfectly: (0 − 0.5) / 0.5 = −1 (MUSE's −100 %).
    assert membership.privleak(1.0, 0.5) == pytest.approx(-1.0)
    assert membership.privleak(0.5, 0.5) == 0.0
    # Over-unlearned (forget rows now look less familiar than strangers): (0.75 − 0.5) / 0.5 = +0.5.
    assert membership.privleak(0.25, 0.5) == pytest.approx(0.5)
    # Gold 0.6: AUC' 0.4; model 0.7: AUC' 0.3; (0.3 − 0.4) / 0.4 = −0.25. The formula on the plain
    # AUC would give (0.7 − 0.6) / 0.6 = +0.1667: the orientation matters.
    assert membership.privleak(0.7, 0.6) == pytest.approx(-0.25)
    assert membership.privleak(0.9, 1.0) is None


# ----- per-sample scores -----------------------------------------------------------------------------


def test_lowest_k_takes_the_floor_and_at_least_one_token():
    values = [-5.0, -1.0, -3.0, -0.5, -2.0, -4.0, -0.1]
    assert membership.lowest_k_mean(values, 0.2) == -5.0  # ⌊0.2 × 7⌋ = 1 (a ceiling would take 2)
    assert membership.lowest_k_mean(values, 0.3) == pytest.approx(-4.5)  # ⌊2.1⌋ = 2
    assert membership.lowest_k_mean(values, 1.0) == pytest.approx(np.mean(values))
    assert membership.lowest_k_mean([-2.0, -1.0], 0.2) == -2.0  # ⌊0.4⌋ = 0 → one token
    for bad in (0, 1.5, -0.2, True, "0.2"):
        with pytest.raises(UserError, match="membership k must be a fraction"):
            membership.check_k(bad)


def test_sample_scores_are_oriented_member_high():
    answer = "The painter Ann Lee stands by a red door. The painter Ann Lee stands by a red door."
    scores = membership.sample_scores(2.0, answer, [-1.0, -3.0, -2.0], [0.5, -1.5, 0.0], k=0.5)
    assert membership.zlib_length(answer) == len(zlib.compress(answer.encode()))
    assert scores == {
        "mia_loss": -2.0,
        "mia_zlib": pytest.approx(-2.0 / len(zlib.compress(answer.encode()))),
        "mia_min_k": -3.0,  # ⌊0.5 × 3⌋ = 1 lowest
        "mia_min_k_plus_plus": -1.5,
    }
    # A lower loss (a memorised answer) scores higher on every attack.
    better = membership.sample_scores(0.5, answer, [-0.2, -0.9, -0.4], [1.5, 0.5, 1.0], k=0.5)
    assert all(better[key] > scores[key] for key in scores)


def test_min_k_plus_plus_z_by_hand():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    log_probs = torch.log_softmax(logits, dim=-1)
    targets = torch.tensor([1, 2])
    z = token_z_scores(log_probs, log_probs[torch.arange(2), targets])
    # Independently, in float64: μ = Σ p log p, σ² = Σ p (log p)² − μ².
    lp = np.log(np.exp(logits.double().numpy()) / np.exp(logits.double().numpy()).sum(1, keepdims=True))
    p = np.exp(lp)
    mu = (p * lp).sum(1)
    sigma = np.sqrt((p * lp**2).sum(1) - mu**2)
    assert z[0].item() == pytest.approx((lp[0, 1] - mu[0]) / sigma[0], rel=1e-5)
    # A uniform distribution has σ = 0: z is 0, not NaN.
    assert sigma[1] == pytest.approx(0.0, abs=1e-7) and z[1].item() == 0.0


def test_min_k_plus_plus_z_ignores_impossible_tokens():
    logits = torch.tensor([[1.0, 0.0, float("-inf")]])
    log_probs = torch.log_softmax(logits, dim=-1)
    z = token_z_scores(log_probs, log_probs[:, 0])
    p = np.array([math.e, 1.0]) / (math.e + 1)
    mu = (p * np.log(p)).sum()
    sigma = math.sqrt((p * (np.log(p) - mu) ** 2).sum())
    assert z.item() == pytest.approx((math.log(p[0]) - mu) / sigma, rel=1e-5)


# ----- from logs ------------------------------------------------------------------------------------


def log_with(scores: dict[str, list[float]], **extra) -> dict:
    rows = len(next(iter(scores.values())))
    log = {"avg_gt_loss": {str(i): 1.0 for i in range(rows)}, **extra}
    for attack, values in scores.items():
        log[f"mia_{attack}"] = {str(i): v for i, v in enumerate(values)}
    return log


def task_log(rows: int, **scores) -> dict:
    log = log_with(scores)
    log |= {
        "avg_paraphrased_loss": dict.fromkeys(log["avg_gt_loss"], 0.0),
        "average_perturb_loss": {i: [1.0] for i in log["avg_gt_loss"]},
        "rougeL_recall": dict.fromkeys(log["avg_gt_loss"], 0.5),
    }
    return log


ATTACK_SCORES = {
    "forget": {"loss": [3, 1, 2], "zlib": [1, 1, 1], "min_k": [0, 5, 5], "min_k_plus_plus": [9, 9, 9]},
    "holdout": {"loss": [1, 3, 4], "zlib": [1, 1, 1], "min_k": [5, 1, 0], "min_k_plus_plus": [0, 1, 2]},
}


def candidate(forget_scores=None, holdout_scores=None) -> dict:
    return {
        "forget_captions": task_log(3, **(forget_scores or ATTACK_SCORES["forget"])),
        "retain_captions": task_log(3, **(forget_scores or ATTACK_SCORES["forget"])),
        "holdout_captions": log_with(holdout_scores or ATTACK_SCORES["holdout"]),
    }


def test_membership_metrics_from_logs_by_hand_and_against_scikit_learn():
    gold = candidate(
        {"loss": [1, 2, 3], "zlib": [1, 2, 3], "min_k": [1, 2, 3], "min_k_plus_plus": [1, 2, 3]},
        {"loss": [3, 2, 1], "zlib": [1, 2, 4], "min_k": [1, 2, 3], "min_k_plus_plus": [2, 2, 2]},
    )
    result = m.compute_metrics(candidate(), gold)
    # loss: forget {3, 1, 2} vs holdout {1, 3, 4}: wins 3>1, 2>1; ties 3=3, 1=1 → (2 + 1) / 9.
    assert result["mia_auc_loss"] == pytest.approx(3 / 9)
    assert result["mia_auc_zlib"] == 0.5  # all tied
    assert result["mia_auc_min_k_plus_plus"] == 1.0
    for attack in m.ATTACKS:
        forget, holdout = ATTACK_SCORES["forget"][attack], ATTACK_SCORES["holdout"][attack]
        expected = roc_auc_score([1] * 3 + [0] * 3, forget + holdout)
        assert result[f"mia_auc_{attack}"] == pytest.approx(expected)
    found = result["membership"]["images"]
    assert found["best_attack"] == "min_k_plus_plus" and result["mia_auc_best"] == 1.0
    assert result["mia_auc"] == result["mia_auc_min_k_plus_plus"]  # the headline attack
    assert found["rows"] == [3, 3] and found["forget_task"] == "forget_captions"
    # Gold's loss AUC: {1, 2, 3} vs {3, 2, 1} → 0.5; PrivLeak = (AUC' − 0.5) / 0.5 with AUC' = 1 − 3/9.
    assert found["attacks"]["loss"]["gold_auc"] == pytest.approx(0.5)
    assert result["privleak_loss"] == pytest.approx((6 / 9 - 0.5) / 0.5)
    # Min-K %++ (headline and best here): gold's AUC {1, 2, 3} vs {2, 2, 2} = 0.5 → (0 − 0.5) / 0.5.
    assert result["privleak"] == pytest.approx(-1.0)
    assert result["privleak_min_k_plus_plus"] == result["privleak"] == result["privleak_best"]
    # The holdout rows enter no other metric, and are no task of the per-task table.
    assert "holdout_captions" not in result["tasks"]
    assert result["tasks_used"]["retain"] == ["retain_captions"]
    assert result["tasks_used"]["mia_auc"] == ["forget_captions", "holdout_captions"]
    # The text half was not evaluated: its membership metrics say so.
    assert result["mia_auc_text"] is None and "tofu_holdout" in result["unavailable"]["mia_auc_text"]


def test_missing_membership_keys_leave_the_other_metrics_intact():
    logs = candidate()
    del logs["holdout_captions"]["mia_zlib"]
    result = m.compute_metrics(logs)
    assert result["mia_auc"] is None and result["mia_auc_loss"] is None
    assert "no per-sample key 'mia_zlib' for the zlib membership attack" in result["unavailable"]["mia_auc"]
    assert result["retain"] is not None and "retain" not in result["unavailable"]
    assert "images" not in result["membership"]
    # Asked for directly, it is an error naming the key.
    with pytest.raises(UserError, match="no per-sample key 'mia_zlib'"):
        m.membership_auc(logs["forget_captions"], logs["holdout_captions"], "zlib")
    logs["holdout_captions"]["mia_loss"]["1"] = "x"
    with pytest.raises(UserError, match=r"key 'mia_loss' must hold one finite number per sample; row 1"):
        m.attack_scores(m.normalise("holdout_captions", logs["holdout_captions"]), "loss")


def test_privleak_needs_gold():
    result = m.compute_metrics(candidate())
    assert result["mia_auc"] == 1.0 and result["privleak"] is None
    assert result["unavailable"]["privleak"] == "no gold model logs given"
    assert result["membership"]["images"]["attacks"]["loss"]["privleak"] is None


def test_the_headline_is_min_k_plus_plus_for_every_model_the_best_attack_per_model():
    scores = {"loss": [9, 9, 9], "zlib": [1, 1, 1], "min_k": [1, 1, 1], "min_k_plus_plus": [2, 1, 1]}
    result = m.compute_metrics(candidate(forget_scores=scores))
    assert result["membership"]["images"]["best_attack"] == "loss" and result["mia_auc_best"] == 1.0
    # Min-K %++: forget {2, 1, 1} vs holdout {0, 1, 2}: the 2 wins 2 and ties 1 (2.5), each 1 wins 1
    # and ties 1 (1.5): 5.5 of 9 pairs.
    expected = roc_auc_score([1, 1, 1, 0, 0, 0], [2, 1, 1, 0, 1, 2])
    assert result["mia_auc"] == pytest.approx(expected) == pytest.approx(5.5 / 9)
