"""Intervals over seeds and rows, significance and the noise floor, against hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from clearbench.evaluate.bootstrap import bootstrap_intervals
from clearbench.report import build_report
from clearbench.report.entries import ReportEntry
from clearbench.report.seeds import aggregate, indistinguishable, paired_p_value, t_interval


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


def test_aggregate_gives_the_mean_and_the_t_interval_of_each_metric():
    runs = [
        _entry("npo~t0", "npo", train=0, forget_quality=0.1, model_utility=0.5),
        _entry("npo~t1", "npo", train=1, forget_quality=0.3, model_utility=0.7),
        _entry("ga", "ga", forget_quality=0.9),
    ]
    npo, ga = aggregate(runs)
    assert (npo.name, ga.name) == ("npo", "ga") and ga is runs[2]
    assert npo.metric("forget_quality") == pytest.approx(0.2)
    # n = 2: half-width t(0.975, 1) · s/√2 = 12.706205 · 0.141421 / 1.414214 = 1.2706205
    low, high = npo.metrics["intervals"]["values"]["forget_quality"]
    assert (low, high) == pytest.approx((0.2 - 1.2706205, 0.2 + 1.2706205), abs=1e-6)
    assert npo.metrics["intervals"]["method"] == "t-interval over 2 seeds, 95 %"


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
    assert ("a", "b") not in pairs  # differences 0.40, 0.41, 0.39: p ≈ 0.0002
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
    runs = [
        _entry(
            "gold~t0",
            "gold",
            kind="gold",
            train=0,
            forget_quality=1.0,
            gold_vs_gold={"gold~t1": {"forget_quality": 0.4}},
        ),
        _entry(
            "gold~t1",
            "gold",
            kind="gold",
            train=1,
            forget_quality=1.0,
            gold_vs_gold={"gold~t0": {"forget_quality": 0.5}},
        ),
        _entry("ga~t0", "ga", train=0, forget_quality=0.1),
        _entry("ga~t1", "ga", train=1, forget_quality=0.2),
        _entry("npo~t0", "npo", train=0, forget_quality=0.15),
        _entry("npo~t1", "npo", train=1, forget_quality=0.1),
    ]
    build_report(runs, tmp_path)
    leaderboard = (tmp_path / "leaderboard.md").read_text()
    assert "| ga | " in leaderboard and "0.150 [-0.485, 0.785]" in leaderboard  # 0.15 ± 12.706 · 0.05
    assert "t-interval over 2 seeds" in leaderboard
    assert "ga,npo,forget_quality,0.795,2" in (tmp_path / "significance.csv").read_text()  # Δ −0.05, 0.05
    assert "gold~t0,gold~t1,0.400" in (tmp_path / "noise_floor.csv").read_text()
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
