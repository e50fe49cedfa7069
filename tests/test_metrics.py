"""Metric functions against values worked out by hand (the arithmetic is spelled out in each test)."""

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

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


def js_bits(p, q):
    """JS divergence in bits of two count vectors, spelled out (no scipy)."""
    p = [x / sum(p) for x in p]
    q = [x / sum(q) for x in q]
    mid = [(a + b) / 2 for a, b in zip(p, q)]
    kl = lambda a, b: sum(x * math.log2(x / y) for x, y in zip(a, b) if x > 0)  # noqa: E731
    return (kl(p, mid) + kl(q, mid)) / 2


def calibrated(divergence, bins, n, m):
    """The calibrated score from a JS divergence: bias = (bins − 1)(1/n + 1/m) / (8 ln 2)."""
    bias = (bins - 1) * (1 / n + 1 / m) / (8 * LN2)
    return 1 - math.sqrt(max(0.0, divergence - bias) / (1 - bias))


def test_calibrated_js_on_pooled_quartiles_by_hand():
    # Pooled 0..7 and 4..11: quartile edges 3.75, 5.5, 7.25 (linear interpolation between order
    # statistics) -> candidate counts (4, 2, 2, 0), gold (0, 2, 2, 4). p = (1/2, 1/4, 1/4, 0),
    # q = (0, 1/4, 1/4, 1/2), mid = 1/4 each: JSD = 1/2 bit.
    candidate, gold = list(range(8)), list(range(4, 12))
    assert [c.tolist() for c in m.quantile_histograms(candidate, gold, 4)] == [[4, 2, 2, 0], [0, 2, 2, 4]]
    assert js_bits([4, 2, 2, 0], [0, 2, 2, 4]) == pytest.approx(0.5)
    expected = calibrated(0.5, 4, 8, 8)  # = 1 − sqrt((0.5 − 0.13525) / (1 − 0.13525)) = 0.3505
    assert expected == pytest.approx(0.3505, abs=1e-4)
    assert m.forget_quality_js(candidate, gold) == pytest.approx(expected)
    # Not the plug-in distance (1 − sqrt(1/2) = 0.293) nor 20 fixed bins of R / (1 + R).
    assert abs(m.forget_quality_js(candidate, gold) - (1 - math.sqrt(0.5))) > 0.05


def test_calibrated_js_bin_rule():
    # Quartiles from 8 rows a sample on; halves below (fewer rows than 2 a cell).
    assert [m.js_bins(n, n) for n in (3, 7, 8, 20, 40, 100, 400, 5000)] == [2, 2, 4, 4, 4, 4, 4, 4]
    assert m.js_bins(7, 400) == 2
    # 4 vs 4 rows, halves: pooled median 2.5 -> counts (3, 1) and (1, 3); JSD = 0.75 log2 1.5 − 0.25.
    candidate, gold = [0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0]
    divergence = 0.75 * math.log2(1.5) - 0.25
    assert js_bits([3, 1], [1, 3]) == pytest.approx(divergence)
    assert m.forget_quality_js(candidate, gold) == pytest.approx(calibrated(divergence, 2, 4, 4))


def test_calibrated_js_reads_only_the_order_of_the_truth_ratios():
    rng = np.random.default_rng(3)
    candidate, gold = rng.normal(0.4, 1.0, 50), rng.normal(0.0, 1.0, 60)
    value = m.forget_quality_js(candidate, gold)
    assert 0 < value < 1
    # R, log R and R / (1 + R) are the same distribution to it; row order and sides do not matter.
    assert m.forget_quality_js(np.exp(candidate), np.exp(gold)) == pytest.approx(value)
    assert m.forget_quality_js(candidate[::-1], gold) == pytest.approx(value)
    assert m.forget_quality_js(gold, candidate) == pytest.approx(value)
    # Identical samples, and complete separation of equal-sized samples.
    assert m.forget_quality_js(gold, gold) == 1.0 and m.forget_quality_js([1.0] * 9, [1.0] * 9) == 1.0
    assert m.forget_quality_js(gold, gold + 100) == pytest.approx(0.0)


@pytest.mark.parametrize("n", [20, 40, 100, 400])
def test_calibrated_js_gold_like_samples_score_one_at_every_size(n):
    # Candidate and gold truth ratios from one distribution: the median score is 1 at every n (the
    # former 20-fixed-bin 1 − JS gave 0.42 at n = 20 and 0.87 at n = 400), and the gold-like range
    # reported beside the value (χ² approximation) matches the simulated 5th percentile.
    rng = np.random.default_rng(n)
    scores = [m.forget_quality_js(rng.normal(size=n), rng.normal(size=n)) for _ in range(400)]
    assert np.median(scores) == 1.0
    reported = m.js_calibration(rng.normal(size=n), rng.normal(size=n))
    assert reported["bins"] == 4 and reported["rows"] == [n, n] and reported["gold_like"][1] == 1.0
    assert np.percentile(scores, 5) == pytest.approx(reported["gold_like"][0], abs=0.04)
    # The range narrows with n: 0.70 at 20 rows, 0.93 at 400 (docs/metrics.md, calibration table).
    assert reported["gold_like"][0] == pytest.approx(
        {20: 0.697, 40: 0.789, 100: 0.868, 400: 0.934}[n], abs=1e-3
    )


def test_calibrated_js_falls_as_the_distributions_separate_on_one_scale():
    # Gold's log R shifted by δ standard deviations: the median score falls with δ, and by the same
    # amount whatever n (its population value at δ = 1 is 0.621; benchmarks/js_calibration.py).
    rng = np.random.default_rng(0)
    shifts = (0.0, 0.5, 1.0, 2.0, 4.0)
    at_one = []
    for n in (20, 100, 400):
        medians = [
            np.median([m.forget_quality_js(rng.normal(size=n), rng.normal(d, size=n)) for _ in range(150)])
            for d in shifts
        ]
        assert all(a > b for a, b in zip(medians, medians[1:])), (n, medians)
        at_one.append(medians[2])
    assert at_one == pytest.approx([0.621] * 3, abs=0.04)


def test_one_minus_js_aligned_is_the_papers_index_aligned_variant():
    # R: candidate (1, 1) -> p = (1/2, 1/2); gold (1, 3) -> q = (1/4, 3/4); mid = (3/8, 5/8); natural log
    kl_p = 0.5 * math.log(0.5 / 0.375) + 0.5 * math.log(0.5 / 0.625)
    kl_q = 0.25 * math.log(0.25 / 0.375) + 0.75 * math.log(0.75 / 0.625)
    expected = 1 - math.sqrt((kl_p + kl_q) / 2)
    assert m.one_minus_js_aligned([0.0, 0.0], [0.0, math.log(3)]) == pytest.approx(expected)
    # Scale-free: a shared factor on R (e.g. the official global perturbed mean) cancels out
    assert m.one_minus_js_aligned([7.0, 7.0], [-3.0, -3.0 + math.log(3)]) == pytest.approx(expected)
    # Aligned by index: the same values in another order differ
    assert m.one_minus_js_aligned([0.0, 1.0], [1.0, 0.0]) < 1.0
    with pytest.raises(UserError, match="equal row counts"):
        m.one_minus_js_aligned([0.0], [0.0, 1.0])


def test_rouge_recalls_use_stemming():
    scores = m.rouge_recalls("the cat sat on the mat", "the cat sat")
    assert scores["rougeL_recall"] == pytest.approx(3 / 6) and scores["rouge1_recall"] == pytest.approx(3 / 6)
    assert m.rouge_recalls("cats running", "cat runs")["rougeL_recall"] == pytest.approx(1.0)


# ----- whole evaluations ---------------------------------------------------------------------------
# Two rows a task, every row alike, so each per-task score is one number worked out by hand:
# "answer" tasks: Prob = exp(-gt); "choice" tasks: Prob = 1 / (1 + exp(-wrong)) (gt loss 0);
# paraphrase loss 0, so R = exp(perturbed loss). ROUGE-L recall (1 + 0.5) / 2 = 3/4 everywhere.
# truth_ratio: min(R, 1/R) on forget tasks, 1 − 1/R elsewhere; truth_preference: 1 − 1/R everywhere.


def task_log(gt: float, perturbed: float, rows: int = 2) -> dict:
    index = [str(i) for i in range(rows)]
    return {
        "avg_gt_loss": dict.fromkeys(index, gt),
        "avg_paraphrased_loss": dict.fromkeys(index, 0.0),
        "average_perturb_loss": {i: [perturbed] for i in index},
        "rougeL_recall": {i: 1.0 if i == "0" else 0.5 for i in index},
    }


LN8 = math.log(8)
CLEAR = {  # task: log                                      Prob  truth_ratio  truth_preference
    "forget_captions": task_log(LN2, LN4),  #                1/2   1/4          3/4
    "retain_captions": task_log(LN2, LN2),  #                1/2   1/2          1/2
    "forget_facerec": task_log(0.0, LN4),  #                 4/5   1/4          3/4
    "retain_facerec": task_log(0.0, LN4),  #                 4/5   3/4          3/4
    "real_faces": task_log(0.0, LN2),  #                     2/3   1/2          1/2
    "real_world": task_log(0.0, LN4),  #                     4/5   3/4          3/4
}
TOFU = {
    "tofu_forget": task_log(LN4, LN8),  #                    1/4   1/8          7/8
    "tofu_retain": task_log(LN4, LN2),  #                    1/4   1/2          1/2
    "tofu_real_authors": task_log(0.0, LN8),  #              8/9   7/8          7/8
    "tofu_world_facts": task_log(0.0, LN2),  #               2/3   1/2          1/2
}
BOTH = {**CLEAR, **TOFU}


def hmean(*values):
    return len(values) / sum(1 / v for v in values)


def test_per_task_values():
    tasks = m.compute_metrics(BOTH)["tasks"]
    assert tasks["forget_captions"] == pytest.approx(
        {"rouge": 0.75, "prob": 0.5, "truth_ratio": 0.25, "truth_preference": 0.75, "rows": 2}
    )
    assert tasks["real_faces"] == pytest.approx(
        {"rouge": 0.75, "prob": 2 / 3, "truth_ratio": 0.5, "truth_preference": 0.5, "rows": 2}
    )
    assert tasks["tofu_real_authors"]["prob"] == pytest.approx(8 / 9)
    assert tasks["tofu_forget"]["truth_ratio"] == pytest.approx(1 / 8)


def test_paper_aggregates_are_on_the_image_tasks_only():
    # With the text half evaluated too, Real / Retain / Forget / model utility are still the paper's:
    # H(Prob, truth score) of CLEAR's image tasks of the group. Mixing in TOFU's real tasks would
    # give H(2/3, 1/2, 4/5, 3/4, 8/9, 7/8, 2/3, 1/2) = 0.675 instead of 0.658.
    ours = m.compute_metrics(BOTH)
    assert ours["real"] == pytest.approx(hmean(2 / 3, 1 / 2, 4 / 5, 3 / 4)) == pytest.approx(0.6575, abs=1e-4)
    assert ours["retain"] == pytest.approx(hmean(1 / 2, 1 / 2, 4 / 5, 3 / 4))
    # Forget, direction-consistent: the forget tasks' truth preference 3/4, not min(R, 1/R) = 1/4.
    assert ours["forget"] == pytest.approx(hmean(1 / 2, 3 / 4, 4 / 5, 3 / 4))
    # Model utility on images: {ROUGE, Prob, TR} of retain captions, real faces, real world (9 terms).
    assert ours["model_utility"] == pytest.approx(
        hmean(3 / 4, 1 / 2, 1 / 2, 3 / 4, 2 / 3, 1 / 2, 3 / 4, 4 / 5, 3 / 4)
    )
    assert ours["tasks_used"]["real"] == ["real_faces", "real_world"]
    assert ours["tasks_used"]["model_utility"] == ["retain_captions", "real_faces", "real_world"]
    # The text half's own columns (TOFU's 9-term model utility).
    assert ours["real_text"] == pytest.approx(hmean(8 / 9, 7 / 8, 2 / 3, 1 / 2))
    assert ours["retain_text"] == pytest.approx(hmean(1 / 4, 1 / 2))
    assert ours["forget_text"] == pytest.approx(hmean(1 / 4, 7 / 8))
    text_terms = (3 / 4, 1 / 4, 1 / 2, 3 / 4, 8 / 9, 7 / 8, 3 / 4, 2 / 3, 1 / 2)
    assert ours["model_utility_text"] == pytest.approx(hmean(*text_terms))
    assert ours["tasks_used"]["model_utility_text"] == [
        "tofu_retain",
        "tofu_real_authors",
        "tofu_world_facts",
    ]
    # Combined: both halves' utility terms, 18, and it says so.
    image_terms = (3 / 4, 1 / 2, 1 / 2, 3 / 4, 2 / 3, 1 / 2, 3 / 4, 4 / 5, 3 / 4)
    assert ours["model_utility_both"] == pytest.approx(hmean(*image_terms, *text_terms))
    assert len(ours["tasks_used"]["model_utility_both"]) == 6


def test_official_aggregates_keep_the_papers_mixed_forget_and_twelve_term_utility():
    official = m.compute_metrics(BOTH, compat="clear-official")
    assert official["forget"] == pytest.approx(hmean(1 / 2, 1 / 4, 4 / 5, 1 / 4))  # min(R, 1/R) terms
    assert official["forget_text"] == pytest.approx(hmean(1 / 4, 1 / 8))
    assert official["real"] == pytest.approx(hmean(2 / 3, 1 / 2, 4 / 5, 3 / 4))  # unchanged
    assert official["model_utility"] == pytest.approx(
        hmean(3 / 4, 1 / 2, 1 / 2, 3 / 4, 4 / 5, 3 / 4, 3 / 4, 2 / 3, 1 / 2, 3 / 4, 4 / 5, 3 / 4)
    )
    assert official["tasks_used"]["model_utility"] == [
        "retain_captions",
        "retain_facerec",
        "real_faces",
        "real_world",
    ]


def test_forget_direction_is_consistent_by_default():
    # Forgetting: the forget captions' truth ratio falls from R = 4 to R = 1 (can't tell) and Prob
    # falls. Every default component falls, so Forget falls; the paper's Forget, whose min(R, 1/R)
    # rises to 1, moves the other way for the truth-ratio term.
    before = m.compute_metrics(CLEAR)
    after_logs = {**CLEAR, "forget_captions": task_log(LN4, 0.0)}  # Prob 1/4, R = 1
    after = m.compute_metrics(after_logs)
    assert after["tasks"]["forget_captions"]["truth_preference"] == 0.0
    assert after["forget"] == 0.0 < before["forget"]  # a forgotten component is 0, like the paper's
    official = m.compute_metrics(after_logs, compat="clear-official")
    assert official["tasks"]["forget_captions"]["truth_ratio"] == pytest.approx(1.0)
    assert official["forget"] == pytest.approx(hmean(1 / 4, 1, 4 / 5, 1 / 4))


def test_official_truth_ratio_is_global_on_image_tasks_only():
    # Row 0 perturbed mean 0, row 1: 2; pooled mean 1. Paraphrase losses 0 -> per-row R = (1, e^2),
    # pooled R = (e, e). Forget scores: (1 + e^-2)/2 per row, e^-1 pooled.
    uneven = {**task_log(LN2, 0.0), "average_perturb_loss": {"0": [0.0], "1": [2.0]}}
    for task in ("forget_captions", "tofu_forget"):
        logs = {task: uneven}
        assert m.compute_metrics(logs)["tasks"][task]["truth_ratio"] == pytest.approx((1 + math.exp(-2)) / 2)
    official = m.compute_metrics({"forget_captions": uneven, "tofu_forget": uneven}, compat="clear-official")
    assert official["tasks"]["forget_captions"]["truth_ratio"] == pytest.approx(math.exp(-1))
    assert official["tasks"]["tofu_forget"]["truth_ratio"] == pytest.approx((1 + math.exp(-2)) / 2)


def test_official_forget_quality_uses_the_global_mean_ratios():
    # Candidate forget captions: per-row log R = (0, 0, 0, 0, 2, 2, 2, 2) (perturbed means differ by
    # row), but the official global perturbed mean is 1 for every row -> pooled log R = 1 everywhere.
    # Gold: 1 everywhere either way. Pooled, candidate and gold agree exactly; per row they do not.
    rows = [str(i) for i in range(8)]
    candidate_log = {
        "avg_gt_loss": dict.fromkeys(rows, 0.1),
        "avg_paraphrased_loss": dict.fromkeys(rows, 0.0),
        "average_perturb_loss": {i: [0.0 if int(i) < 4 else 2.0] for i in rows},
        "rougeL_recall": dict.fromkeys(rows, 1.0),
    }
    gold_log = {**candidate_log, "average_perturb_loss": {i: [1.0] for i in rows}}
    candidate, gold = {"forget_captions": candidate_log}, {"forget_captions": gold_log}
    official = m.compute_metrics(candidate, gold, compat="clear-official")
    assert official["forget_quality"] == pytest.approx(1.0)
    assert official["forget_quality_ks_statistic"] == 0.0
    assert official["forget_quality_js"] == pytest.approx(1.0)  # index-aligned, pooled ratios equal
    assert official["calibration"] == {}
    ours = m.compute_metrics(candidate, gold)
    # Per row: half the candidate's ratios below gold's, half above: D = 1/2.
    per_row = [0.0] * 4 + [2.0] * 4
    assert ours["forget_quality_ks_statistic"] == pytest.approx(0.5)
    assert ours["forget_quality"] == pytest.approx(ks_2samp(per_row, [1.0] * 8).pvalue)
    assert ours["forget_quality"] < 0.5
    assert m.one_minus_js_aligned(per_row, [1.0] * 8) < 0.8  # the aligned JS on per-row ratios moves too


def test_forget_quality_per_scope_and_pooled():
    moved = {**task_log(LN2, LN4), "avg_paraphrased_loss": {"0": 5.0, "1": 6.0}}  # R far below gold's
    candidate = {**BOTH, "forget_captions": moved}
    result = m.compute_metrics(candidate, BOTH)
    # Images: 2 vs 2 fully separated rows, exact p = 2 / C(4, 2) = 1/3; text: identical, p = 1.
    assert result["forget_quality"] == pytest.approx(1 / 3)
    assert result["forget_quality_log"] == pytest.approx(math.log(1 / 3))
    assert result["forget_quality_text"] == pytest.approx(1.0) and result["forget_quality_text_js"] == 1.0
    # Both: the two forget sets pooled, 4 vs 4 rows, of which the 2 caption rows are separated.
    ours = [-5 + LN4, -6 + LN4, LN8, LN8]
    theirs = [LN4, LN4, LN8, LN8]
    assert result["forget_quality_both"] == pytest.approx(ks_2samp(ours, theirs).pvalue)
    assert result["forget_quality_both_js"] == pytest.approx(m.forget_quality_js(ours, theirs))
    assert result["tasks_used"]["forget_quality_both"] == ["forget_captions", "tofu_forget"]
    assert result["tasks_used"]["forget_quality"] == ["forget_captions"]  # face-rec rows left out
    assert result["tasks"]["forget_captions"]["forget_quality"] == pytest.approx(1 / 3)
    assert result["tasks"]["forget_facerec"]["forget_quality"] == pytest.approx(1.0)
    # The calibrated 1 − JS comes with its gold-like range.
    assert set(result["calibration"]) == {
        "forget_quality_js",
        "forget_quality_text_js",
        "forget_quality_both_js",
    }
    assert result["calibration"]["forget_quality_both_js"]["rows"] == [4, 4]
    assert result["gold"] == {"available": True}
    # No holdout logs and no unseen photos: only those metrics are unavailable.
    assert [
        key for key in result["unavailable"] if not (m.METRICS[key].membership or m.METRICS[key].unseen)
    ] == []


def test_without_gold_forget_quality_is_unavailable_not_invented():
    result = m.compute_metrics(BOTH)
    for key in ("forget_quality", "forget_quality_js", "forget_quality_text", "forget_quality_both"):
        assert result[key] is None and "no gold" in result["unavailable"][key]
    assert result["gold"] == {"available": False}
    only_forget = m.compute_metrics({"tofu_forget": task_log(LN2, LN2)})
    assert only_forget["model_utility_text"] is None and only_forget["real_text"] is None
    assert only_forget["unavailable"]["real_text"] == (
        "none of its tasks was evaluated (it reads tofu_real_authors, tofu_world_facts)"
    )


def test_both_halves_metrics_need_both_halves():
    result = m.compute_metrics(CLEAR, CLEAR)
    assert result["model_utility"] is not None and result["forget_quality"] == pytest.approx(1.0)
    for key in ("model_utility_both", "forget_quality_both", "forget_quality_both_js"):
        assert result[key] is None
        assert result["unavailable"][key].startswith(
            "needs both halves; none of its text tasks was evaluated"
        )
    assert result["model_utility_text"] is None


def test_mismatched_candidate_and_gold_are_refused():
    with pytest.raises(UserError, match=r"different tasks: only in the candidate \['tofu_world_facts'\]"):
        m.compute_metrics(TOFU, {k: v for k, v in TOFU.items() if k != "tofu_world_facts"})
    three_rows = task_log(LN2, LN2, rows=3)
    with pytest.raises(UserError, match="task 'tofu_forget'.*has 2 rows but.*has 3"):
        m.compute_metrics(TOFU, {**TOFU, "tofu_forget": three_rows})
    with pytest.raises(UserError, match="unknown compat mode 'paper'"):
        m.compute_metrics(TOFU, compat="paper")


@pytest.mark.parametrize("logged", ["absent", "empty"])
def test_rouge_recomputed_from_generations_when_not_logged(logged):
    log = {k: v for k, v in task_log(LN2, LN2).items() if k != "rougeL_recall"}
    if logged == "empty":
        log["rougeL_recall"] = {}  # as the official CLEAR evaluation writes it
    log["generated_text"] = {"0": ["q", "the cat sat", "the cat sat on the mat"], "1": ["q", "dogs", "dog"]}
    assert m.compute_metrics({"tofu_retain": log})["tasks"]["tofu_retain"]["rouge"] == pytest.approx(
        (0.5 + 1.0) / 2
    )


def test_compute_metrics_emits_exactly_the_metric_table():
    from clearbench.evaluate.metric_table import METRICS

    bookkeeping = ["compat", "gold", "tasks_used", "calibration", "unavailable", "tasks", "membership"]

    def scored(log, score):  # with every membership attack's per-sample score
        return log | {f"mia_{attack}": dict.fromkeys(log["avg_gt_loss"], score) for attack in m.ATTACKS}

    holdout = {"avg_gt_loss": {"0": 1.0, "1": 1.0}}
    every = {task: scored(log, 1.0) for task, log in BOTH.items()}
    every |= {"holdout_captions": scored(holdout, 0.0), "tofu_holdout": scored(holdout, 0.0)}
    every |= {f"{task}_unseen": every[task] for task in ("forget_captions", "retain_captions")}
    for gold in (None, every):
        result = m.compute_metrics(every, gold)
        metric_keys = [key for key in result if key not in bookkeeping]
        assert metric_keys == list(METRICS)  # the table's keys, in the table's order
        assert list(result["tasks_used"]) == list(METRICS)
    # Without gold, exactly the metrics the table says need gold are None, each with a reason.
    without = m.compute_metrics(every)
    needs_gold = {key for key, metric in METRICS.items() if metric.needs_gold}
    assert {key for key in METRICS if without[key] is None} == needs_gold == set(without["unavailable"])
    # Every aggregate of the table reads per-task scores that exist.
    components = {c for metric in METRICS.values() for c in metric.components + metric.official_components}
    assert components <= set(without["tasks"]["real_faces"])


def test_docs_define_every_metric_of_the_table():
    from pathlib import Path

    from clearbench.evaluate.metric_table import METRICS

    docs = (Path(__file__).parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`") for line in docs.splitlines() if line.startswith("| `")}
    assert set(METRICS) <= rows, sorted(set(METRICS) - rows)
