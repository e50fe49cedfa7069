"""Metric functions against values worked out by hand (the arithmetic is spelled out in each test)."""

import math

import numpy as np
import pytest

from clearbench.errors import UserError
from clearbench.evaluate import metrics as m

LN2, LN4 = math.log(2), math.log(4)


def test_answer_prob_is_mean_length_normalised_probability():
    # exp(-0) = 1, exp(-ln 2) = 0.5
    assert m.answer_prob([0.0, LN2]) == pytest.approx(0.75)


def test_choice_prob_shares_the_truth_with_the_wrong_options():
    # row 0: 0.5 / (0.5 + 0.25 + 0.25) = 0.5; row 1: 1 / (1 + 0.5) = 2/3
    assert m.choice_prob([LN2, 0.0], [[LN4, LN4], [LN2]]) == pytest.approx((0.5 + 2 / 3) / 2)
    # Losses far past exp underflow keep the same ratio: 1 / (1 + e^-1)
    assert m.choice_prob([2000.0], [[2001.0]]) == pytest.approx(1 / (1 + math.exp(-1)))


def test_log_truth_ratios_per_sample_and_pooled():
    paraphrased, perturbed = [1.0, 2.0], [[2.0, 4.0], [1.0, 1.0]]
    # per row: mean(2, 4) - 1 = 2; mean(1, 1) - 2 = -1
    np.testing.assert_allclose(m.log_truth_ratios(paraphrased, perturbed), [2.0, -1.0])
    # official: one mean over all 4 perturbed losses = 2
    np.testing.assert_allclose(m.log_truth_ratios(paraphrased, perturbed, pooled=True), [1.0, 0.0])
    # pooled is the mean of all losses (5/4), not the mean of row means (1.5), when K differs by row
    np.testing.assert_allclose(
        m.log_truth_ratios([0.0, 0.0], [[2.0], [1.0, 1.0, 1.0]], pooled=True), [1.25, 1.25]
    )


def test_truth_ratio_scores():
    log_ratios = [LN2, -LN4]  # R = 2 and 1/4
    assert m.truth_ratio_score(log_ratios, forget=True) == pytest.approx((0.5 + 0.25) / 2)  # min(R, 1/R)
    assert m.truth_ratio_score(log_ratios, forget=False) == pytest.approx((0.5 + 0.0) / 2)  # max(0, 1 - 1/R)
    # A destroyed model (huge ratios) gives finite scores, no overflow
    assert m.truth_ratio_score([5000.0], forget=True) == 0.0
    assert m.truth_ratio_score([5000.0], forget=False) == 1.0


def test_harmonic_mean():
    assert m.harmonic_mean([1.0, 0.5]) == pytest.approx(2 / (1 + 2))
    assert m.harmonic_mean([0.9, 0.0, 0.5]) == 0.0


def test_aggregates_match_the_papers_text_table():
    # The authors' notebook values for Llama2-7B Retain FT (spec §3.5) and its row in Tab. 4:
    # Real .50, Retain .26, Forget .42, log FQ -4.92 = H(Prob, TR) per group, ROUGE left out.
    assert round(m.harmonic_mean([0.4566, 0.5877, 0.4357, 0.5447]), 2) == 0.50
    assert round(m.harmonic_mean([0.3177, 0.2188]), 2) == 0.26
    assert round(m.harmonic_mean([0.2942, 0.7574]), 2) == 0.42
    assert round(math.log(0.00731), 2) == -4.92


def test_forget_quality_ks_exact_small_sample():
    # Fully separated samples of 3 and 3: D = 1, exact two-sided p = 2 / C(6, 3) = 0.1
    pvalue, statistic = m.forget_quality_ks([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert statistic == 1.0 and pvalue == pytest.approx(0.1)
    assert m.forget_quality_ks([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])[0] == pytest.approx(1.0)


def test_forget_quality_js_on_histograms():
    logit = lambda s: math.log(s / (1 - s))  # noqa: E731
    # candidate: both s = 0.5 (bin [0.5, 0.55)); gold: one there, one at s = 0.925 (bin [0.9, 0.95))
    # p = (1, 0), q = (1/2, 1/2), mid = (3/4, 1/4); JS divergence in bits:
    kl_p = math.log2(1 / 0.75)
    kl_q = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    expected = 1 - math.sqrt((kl_p + kl_q) / 2)
    assert m.forget_quality_js([0.0, 0.0], [0.0, logit(0.925)]) == pytest.approx(expected)
    assert m.forget_quality_js([0.0], [logit(0.975)]) == pytest.approx(0.0)  # disjoint bins
    assert m.forget_quality_js([0.1, 0.3, -2.0], [0.3, -2.0, 0.1]) == pytest.approx(1.0)  # order-free
    assert m.forget_quality_js([0.0, 0.0], [0.0, 0.0, 0.0]) == pytest.approx(1.0)  # size-free


def test_forget_quality_js_aligned_is_the_papers_index_aligned_variant():
    # R: candidate (1, 1) -> p = (1/2, 1/2); gold (1, 3) -> q = (1/4, 3/4); mid = (3/8, 5/8); natural log
    kl_p = 0.5 * math.log(0.5 / 0.375) + 0.5 * math.log(0.5 / 0.625)
    kl_q = 0.25 * math.log(0.25 / 0.375) + 0.75 * math.log(0.75 / 0.625)
    expected = 1 - math.sqrt((kl_p + kl_q) / 2)
    assert m.forget_quality_js_aligned([0.0, 0.0], [0.0, math.log(3)]) == pytest.approx(expected)
    # Scale-free: a shared factor on R (e.g. the official global perturbed mean) cancels out
    assert m.forget_quality_js_aligned([7.0, 7.0], [-3.0, -3.0 + math.log(3)]) == pytest.approx(expected)
    # Aligned by index: the same values in another order differ
    assert m.forget_quality_js_aligned([0.0, 1.0], [1.0, 0.0]) < 1.0
    with pytest.raises(UserError, match="equal row counts"):
        m.forget_quality_js_aligned([0.0], [0.0, 1.0])


def test_rouge_recalls_use_stemming():
    scores = m.rouge_recalls("the cat sat on the mat", "the cat sat")
    assert scores["rougeL_recall"] == pytest.approx(3 / 6) and scores["rouge1_recall"] == pytest.approx(3 / 6)
    assert m.rouge_recalls("cats running", "cat runs")["rougeL_recall"] == pytest.approx(1.0)


# ----- whole evaluations ---------------------------------------------------------------------------
# Every "answer" task below scores ROUGE 3/4, Prob 1/2, truth ratio 1/2 (R = 2, forget or not);
# every "choice" task ROUGE 3/4, Prob 1/(1 + 1/4) = 4/5, truth ratio 3/4 (R = 4), or 1/4 if forget.

ANSWER = {
    "avg_gt_loss": {"0": LN2, "1": LN2},
    "avg_paraphrased_loss": {"0": 0.0, "1": 0.0},
    "average_perturb_loss": {"0": [LN2], "1": [LN2]},
    "rougeL_recall": {"0": 1.0, "1": 0.5},
}
CHOICE = {
    "avg_gt_loss": {"0": 0.0, "1": 0.0},
    "avg_paraphrased_loss": {"0": 0.0, "1": 0.0},
    "average_perturb_loss": {"0": [LN4], "1": [LN4]},
    "rougeL_recall": {"0": 1.0, "1": 0.5},
}
CLEAR = {
    "forget_captions": ANSWER,
    "retain_captions": ANSWER,
    "forget_facerec": CHOICE,
    "retain_facerec": CHOICE,
    "real_faces": CHOICE,
    "real_world": CHOICE,
}
TOFU = {"tofu_forget": ANSWER, "tofu_retain": ANSWER, "tofu_real_authors": CHOICE, "tofu_world_facts": CHOICE}


def hmean(*values):
    return len(values) / sum(1 / v for v in values)


def test_per_task_values():
    tasks = m.compute_metrics(CLEAR)["tasks"]
    assert tasks["retain_captions"] == pytest.approx(
        {"rouge": 0.75, "prob": 0.5, "truth_ratio": 0.5, "rows": 2}
    )
    assert tasks["real_world"] == pytest.approx({"rouge": 0.75, "prob": 0.8, "truth_ratio": 0.75, "rows": 2})
    assert tasks["forget_facerec"]["truth_ratio"] == pytest.approx(0.25)


def test_clear_aggregates_default_and_official():
    ours = m.compute_metrics(CLEAR)
    # default utility: retain_captions, real_faces, real_world (face-rec left out) = 9 terms
    assert ours["model_utility"] == pytest.approx(hmean(0.75, 0.5, 0.5, *[0.75, 0.8, 0.75] * 2))
    assert ours["real"] == pytest.approx(hmean(0.8, 0.75, 0.8, 0.75))
    assert ours["retain"] == pytest.approx(hmean(0.5, 0.5, 0.8, 0.75))
    assert ours["forget"] == pytest.approx(hmean(0.5, 0.5, 0.8, 0.25))
    official = m.compute_metrics(CLEAR, compat="clear-official")
    # official utility: 12 terms, retain face-rec included
    assert official["model_utility"] == pytest.approx(hmean(0.75, 0.5, 0.5, *[0.75, 0.8, 0.75] * 3))
    assert official["tasks_used"]["model_utility"] == [
        "retain_captions",
        "retain_facerec",
        "real_faces",
        "real_world",
    ]


def test_which_tasks_feed_what_with_both_halves():
    both = {**CLEAR, **TOFU}
    ours = m.compute_metrics(both, both)["tasks_used"]
    assert ours["model_utility"] == [
        "retain_captions",
        "real_faces",
        "real_world",
        "tofu_retain",
        "tofu_real_authors",
        "tofu_world_facts",
    ]
    assert ours["real"] == ["real_faces", "real_world", "tofu_real_authors", "tofu_world_facts"]
    assert ours["forget_quality"] == ["forget_captions", "tofu_forget"]
    official = m.compute_metrics(both, both, compat="clear-official")["tasks_used"]
    assert official["forget_quality"] == ["forget_captions"]
    assert official["retain"] == ["retain_captions", "retain_facerec"]
    tofu_only = m.compute_metrics(TOFU, compat="clear-official")
    assert tofu_only["tasks_used"]["model_utility"] == [
        "tofu_retain",
        "tofu_real_authors",
        "tofu_world_facts",
    ]


def test_official_truth_ratio_is_global_on_image_tasks_only():
    # Row 0 perturbed mean 0, row 1: 2; pooled mean 1. Paraphrase losses 0 -> per-row R = (1, e^2),
    # pooled R = (e, e). Forget scores: (1 + e^-2)/2 per row, e^-1 pooled.
    uneven = {**ANSWER, "average_perturb_loss": {"0": [0.0], "1": [2.0]}}
    for task in ("forget_captions", "tofu_forget"):
        logs = {task: uneven}
        assert m.compute_metrics(logs)["tasks"][task]["truth_ratio"] == pytest.approx((1 + math.exp(-2)) / 2)
    official = m.compute_metrics({"forget_captions": uneven, "tofu_forget": uneven}, compat="clear-official")
    assert official["tasks"]["forget_captions"]["truth_ratio"] == pytest.approx(math.exp(-1))
    assert official["tasks"]["tofu_forget"]["truth_ratio"] == pytest.approx((1 + math.exp(-2)) / 2)


def test_forget_quality_against_gold():
    shifted = {**ANSWER, "avg_paraphrased_loss": {"0": 5.0, "1": 6.0}}  # R far from gold's
    gold = dict(TOFU)
    same = m.compute_metrics(TOFU, gold)
    assert same["forget_quality"] == pytest.approx(1.0) and same["forget_quality_js"] == pytest.approx(1.0)
    assert same["forget_quality_js_aligned"] == pytest.approx(1.0) and same[
        "forget_quality_log"
    ] == pytest.approx(0.0)
    moved = m.compute_metrics({**TOFU, "tofu_forget": shifted}, gold)
    # 2 vs 2 fully separated rows: exact p = 2 / C(4, 2) = 1/3
    assert moved["forget_quality"] == pytest.approx(1 / 3)
    assert moved["forget_quality_ks_statistic"] == 1.0
    assert moved["tasks"]["tofu_forget"]["forget_quality"] == pytest.approx(1 / 3)
    assert moved["gold"] == {"available": True} and moved["unavailable"] == {}


def test_without_gold_forget_quality_is_unavailable_not_invented():
    result = m.compute_metrics(TOFU)
    for key in ("forget_quality", "forget_quality_js", "forget_quality_js_aligned", "forget_quality_log"):
        assert result[key] is None and "no gold" in result["unavailable"][key]
    assert result["gold"] == {"available": False}
    only_forget = m.compute_metrics({"tofu_forget": ANSWER})
    assert only_forget["model_utility"] is None and only_forget["real"] is None
    assert "model_utility" in only_forget["unavailable"]


def test_mismatched_candidate_and_gold_are_refused():
    with pytest.raises(UserError, match=r"different tasks: only in the candidate \['tofu_world_facts'\]"):
        m.compute_metrics(TOFU, {k: v for k, v in TOFU.items() if k != "tofu_world_facts"})
    three_rows = {key: {**value, "2": value["0"]} for key, value in ANSWER.items()}
    with pytest.raises(UserError, match="task 'tofu_forget'.*has 2 rows but.*has 3"):
        m.compute_metrics(TOFU, {**TOFU, "tofu_forget": three_rows})
    with pytest.raises(UserError, match="unknown compat mode 'paper'"):
        m.compute_metrics(TOFU, compat="paper")


@pytest.mark.parametrize("logged", ["absent", "empty"])
def test_rouge_recomputed_from_generations_when_not_logged(logged):
    log = {k: v for k, v in ANSWER.items() if k != "rougeL_recall"}
    if logged == "empty":
        log["rougeL_recall"] = {}  # as the official CLEAR evaluation writes it
    log["generated_text"] = {"0": ["q", "the cat sat", "the cat sat on the mat"], "1": ["q", "dogs", "dog"]}
    assert m.compute_metrics({"tofu_retain": log})["tasks"]["tofu_retain"]["rouge"] == pytest.approx(
        (0.5 + 1.0) / 2
    )


def test_compute_metrics_emits_exactly_the_metric_table():
    from clearbench.evaluate.metric_table import METRICS
    from clearbench.evaluate.tasks import GROUPS

    bookkeeping = ["compat", "gold", "tasks_used", "unavailable", "tasks"]
    both = {**CLEAR, **TOFU}
    for gold in (None, both):
        result = m.compute_metrics(both, gold)
        metric_keys = [key for key in result if key not in bookkeeping]
        assert metric_keys == list(METRICS)  # the table's keys, in the table's order
    # Without gold, exactly the metrics the table says need gold are None, each with a reason.
    without = m.compute_metrics(both)
    needs_gold = {key for key, metric in METRICS.items() if metric.needs_gold}
    assert {key for key in METRICS if without[key] is None} == needs_gold == set(without["unavailable"])
    # Every aggregate of the table reads per-task scores that exist, and one exists per task group.
    assert {c for metric in METRICS.values() for c in metric.components} <= set(
        without["tasks"]["real_faces"]
    )
    assert set(m.GROUPS) == set(GROUPS)
