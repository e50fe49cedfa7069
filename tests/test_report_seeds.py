"""Intervals over seeds and rows, significance and the noise floor, against hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from clearbench.evaluate.bootstrap import bootstrap_intervals
from clearbench.report import build_report
from clearbench.report.entries import ReportEntry
from clearbench.report.seeds import aggregate, holm, indistinguishable, paired_p_value, t_interval


def test_t_interval_by_hand():
    # mean 2, s = 1, n = 3: half-width t(0.975, 2) · 1/√3 = 4.302653 / 1.732051 = 2.484138
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert (low, high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    assert t_interval([5.0]) is None


def test_paired_p_value_by_hand_and_against_scipy():
    a, b = [1.0, 2.0, 4.0], [0.5, 1.0, 2.0]
    # differences 0.5, 1, 2: mean 7/6, s = 0.763763, t = (7/6) / (s/√3) = 2.645751, df 2 → p = 0.118
    assert paired_p_value(a, b) == pytest.approx(2 * stats.t.sf(2.645751, 2), rel=1e-5)
    assert paired_p_value(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert paired_p_value(a, a) == 1.0
    assert paired_p_value([1.0], [2.0]) is None


def _entry(name, group, kind="unlearned", train=0, unlearn=0, **metrics):
    return ReportEntry(
        name,
        kind,
        method=group if kind == "unlearned" else None,
        group=group,
        train_seed=train,
        unlearn_seed=unlearn,
        metrics={"tasks": {}, **metrics},
    )


def test_aggregate_gives_the_mean_and_the_t_interval_cut_to_the_range_and_no_interval_to_p():
    runs = [
        _entry("npo~t0", "npo", train=0, forget_quality=0.1, forget_quality_js=0.5, model_utility=0.5),
        _entry("npo~t1", "npo", train=1, forget_quality=0.3, forget_quality_js=0.7, model_utility=0.7),
        _entry("ga", "ga", forget_quality=0.9),
    ]
    npo, ga = aggregate(runs)
    assert (npo.name, ga.name) == ("npo", "ga") and ga is runs[2]
    assert npo.metric("forget_quality") == pytest.approx(0.2)
    assert "forget_quality" not in npo.metrics["intervals"]["values"]  # a p-value: none
    # n = 2: half-width t(0.975, 1) · s/√2 = 12.706205 · 0.141421 / 1.414214 = 1.2706205, cut to [0, 1]
    assert npo.metrics["intervals"]["values"]["forget_quality_js"] == pytest.approx([0.0, 1.0])
    assert npo.metrics["intervals"]["method"].startswith("t-interval over 2 training seeds")


def test_unlearning_seeds_are_averaged_within_their_training_seed():
    runs = [
        _entry("a~t0~u0", "a", train=0, unlearn=0, model_utility=0.2),
        _entry("a~t0~u1", "a", train=0, unlearn=1, model_utility=0.4),
        _entry("a~t1~u0", "a", train=1, unlearn=0, model_utility=0.6),
        _entry("a~t2~u0", "a", train=2, unlearn=0, model_utility=0.8),
    ]
    (a,) = aggregate(runs)
    # training-seed means 0.3, 0.6, 0.8: mean 0.566667, s = 0.251661, half = 4.302653 · s / √3 = 0.625154
    assert a.metric("model_utility") == pytest.approx(0.566667, abs=1e-6)
    low, high = a.metrics["intervals"]["values"]["model_utility"]
    assert (low, high) == pytest.approx((0.0, 0.566667 + 0.625154), abs=1e-5) or high == 1.0
    assert low == 0.0 and high == pytest.approx(1.0)  # 0.566667 ± 0.625154, cut to [0, 1]


def test_a_group_with_one_completed_run_shows_it_without_interval(tmp_path):
    runs = [
        _entry("npo~t0", "npo", train=0, forget_quality_js=0.4, retain=0.9),
        ReportEntry(
            "npo~t1", "unlearned", method="npo", group="npo", train_seed=1, status="failed", error="oom"
        ),
    ]
    (npo,) = aggregate(runs)
    assert npo.metric("forget_quality_js") == 0.4 and npo.metrics["intervals"]["values"] == {}
    build_report(runs, tmp_path)
    leaderboard = (tmp_path / "leaderboard.md").read_text()
    assert "| npo |" in leaderboard and "one completed run of 2: no interval" in leaderboard


def test_holm_against_hand_values():
    # sorted 0.01, 0.02, 0.03, 0.04 → × 4, 3, 2, 1 = 0.04, 0.06, 0.06, 0.04 → running max 0.04, 0.06, 0.06, 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_a_failed_seed_is_left_out_of_the_mean_and_named():
    runs = [
        _entry("npo~u0", "npo", forget_quality=0.1),
        _entry("npo~u1", "npo", unlearn=1, forget_quality=0.3),
        ReportEntry(
            "npo~u2", "unlearned", method="npo", group="npo", unlearn_seed=2, status="failed", error="oom"
        ),
    ]
    (npo,) = aggregate(runs)
    assert npo.metric("forget_quality") == pytest.approx(0.2) and "npo~u2: failed (oom)" in npo.error


def test_methods_apart_on_every_seed_differ_and_noisy_ones_do_not():
    runs = []
    for seed, (a, b, c) in enumerate([(0.10, 0.50, 0.12), (0.11, 0.52, 0.30), (0.12, 0.51, 0.05)]):
        runs += [
            _entry(f"a~t{seed}", "a", train=seed, forget_quality=a),
            _entry(f"b~t{seed}", "b", train=seed, forget_quality=b),
            _entry(f"c~t{seed}", "c", train=seed, forget_quality=c),
        ]
    pairs = {(p["a"], p["b"]) for p in indistinguishable(runs, ("forget_quality",))}
    assert ("a", "b") not in pairs  # differences 0.40, 0.41, 0.39: p ≈ 0.0002, × 3 (Holm) still < 0.05
    assert ("a", "c") in pairs  # differences −0.02, −0.19, 0.07: p ≈ 0.6


def test_bootstrap_interval_holds_the_estimate_and_is_reproducible(tmp_path):
    from clearbench.evaluate.metrics import compute_metrics

    rng = np.random.default_rng(1)

    def log(shift):
        n = 12
        return {
            "avg_gt_loss": {str(i): float(rng.uniform(0.5, 2) + shift) for i in range(n)},
            "avg_paraphrased_loss": {str(i): float(rng.uniform(0.5, 2) + shift) for i in range(n)},
            "average_perturb_loss": {str(i): [float(x) for x in rng.uniform(1, 3, 3)] for i in range(n)},
            "rougeL_recall": {str(i): float(rng.uniform(0, 1)) for i in range(n)},
        }

    candidate = {"retain_captions": log(0), "real_faces": log(0), "real_world": log(0)}
    first = bootstrap_intervals(candidate, None, compat="clearbench", resamples=50, seed=3)
    again = bootstrap_intervals(candidate, None, compat="clearbench", resamples=50, seed=3)
    assert first == again and first["method"].startswith("bootstrap over rows (the logs name no person), 50")
    point = compute_metrics(candidate)["model_utility"]
    low, high = first["values"]["model_utility"]
    assert low < point < high and high - low > 0.01


def test_report_with_seeds_shows_intervals_significance_and_the_noise_floor(tmp_path):
    floor = {"forget_quality": 0.4, "forget_quality_ks_statistic": 0.2, "forget_quality_js": 0.9}
    runs = [
        _entry("gold~t0", "gold", kind="gold", train=0, forget_quality=1.0, gold_vs_gold={"gold~t1": floor}),
        _entry("gold~t1", "gold", kind="gold", train=1, forget_quality=1.0, gold_vs_gold={"gold~t0": floor}),
        _entry("ga~t0", "ga", train=0, forget_quality=0.1, forget_quality_ks_statistic=0.5),
        _entry("ga~t1", "ga", train=1, forget_quality=0.2, forget_quality_ks_statistic=0.52),
        _entry("npo~t0", "npo", train=0, forget_quality=0.15, forget_quality_ks_statistic=0.15),
        _entry("npo~t1", "npo", train=1, forget_quality=0.1, forget_quality_ks_statistic=0.25),
    ]
    build_report(runs, tmp_path)
    leaderboard = (tmp_path / "leaderboard.md").read_text()
    # D of ga: 0.51 ± 12.706 · 0.01 = [0.383, 0.637]; its KS p has no interval
    assert "| ga | " in leaderboard and "0.510 [0.383, 0.637]" in leaderboard and "0.150 [" not in leaderboard
    assert "t-interval over 2 training seeds" in leaderboard and "Holm-corrected" in leaderboard
    # differences 0.35, 0.27 over 2 seeds: t = 7.75, p = 0.082, one comparison: Holm leaves it
    significance = (tmp_path / "significance.csv").read_text()
    assert "ga,npo,forget_quality_ks_statistic,0.310,0.082" in significance
    assert (
        "cannot be told apart" in significance and "cannot rank" in (tmp_path / "significance.md").read_text()
    )
    noise = (tmp_path / "noise_floor.csv").read_text()
    assert "gold~t0,gold~t1,0.400,0.200" in noise and "gold~t1,gold~t0" not in noise  # a pair once
    gold_like = (tmp_path / "gold_like.csv").read_text()
    assert (
        'ga,KS statistic,"0.510 [0.383, 0.637]",0.200–0.200' in gold_like and "differs from gold" in gold_like
    )
    assert "npo,KS statistic" in gold_like and "indistinguishable from gold" in gold_like  # [0, 0.835]
    assert (tmp_path / "seed_runs.csv").read_text().count("\n") == 7
    html = (tmp_path / "report.html").read_text()
    assert 'id="significance"' in html and 'id="noise_floor"' in html


def test_an_interval_with_a_tiny_p_value_is_typeset_in_latex(tmp_path):
    runs = [
        _entry(
            "npo",
            "npo",
            forget_quality=0.2,
            intervals={"method": "m", "values": {"forget_quality": [1.2e-06, 0.3]}},
        )
    ]
    build_report(runs, tmp_path)
    assert r"0.200 [$1.20\times10^{-6}$, 0.300]" in (tmp_path / "leaderboard.tex").read_text()


def test_membership_columns_are_marked_unreliable_when_gold_s_auc_interval_excludes_half(tmp_path):
    gold_intervals = {"method": "bootstrap over people", "values": {"mia_auc": [0.61, 0.83]}}
    runs = [
        _entry("gold", "gold", kind="gold", mia_auc=0.72, intervals=gold_intervals),
        _entry("ga", "ga", mia_auc=0.9, privleak=-0.6, mia_auc_gap=0.18),
    ]
    build_report(runs, tmp_path)
    leaderboard = (tmp_path / "leaderboard.md").read_text()
    assert "0.900 †" in leaderboard and "0.180 †" in leaderboard and "0.720 [0.610, 0.830] †" in leaderboard
    assert "Unreliable on images: gold's AUC interval [0.610, 0.830] excludes 0.5" in leaderboard
    assert "one attack for every row (Min-K %++)" in leaderboard
    runs[0].metrics["intervals"]["values"]["mia_auc"] = [0.4, 0.6]  # covers 0.5: sound
    build_report(runs, tmp_path)
    assert "†" not in (tmp_path / "leaderboard.md").read_text()


def test_unlearning_seeds_of_one_training_seed_are_not_compared_and_the_table_says_so():
    from clearbench.report.seeds import significance_table

    runs = [
        _entry(f"{m}~u{u}", m, unlearn=u, forget_quality_js=v)
        for m, values in (("a", (0.1, 0.2)), ("b", (0.8, 0.9)))
        for u, v in enumerate(values)
    ]
    table = significance_table(runs)
    assert table.rows == [] and "cannot rank the methods" in table.note


def test_the_legend_says_why_a_shown_column_has_no_interval(tmp_path):
    intervals = {
        "method": "bootstrap over people, 10 resamples",
        "values": {"forget_quality_js": [0.2, 0.4]},
        "no_interval": {
            "forget_quality": "a p-value",
            "privleak": "PrivLeak divides by 1 − gold's AUC, 0 in some resamples",
        },
    }
    build_report([_entry("ga", "ga", forget_quality_js=0.3, privleak=0.1, intervals=intervals)], tmp_path)
    legend = (tmp_path / "leaderboard.md").read_text()
    assert "No interval for PrivLeak (Min-K %++): PrivLeak divides by 1 − gold's AUC" in legend
    assert "FQ (KS p): a p-value" not in legend  # p-values: said once, generally
