"""The selection rule ranks on effect sizes: 1 − JS by default, KS D read as 1 − D, a p-value as ln p."""

import math

from clearbench.report.entries import ReportEntry
from clearbench.report.selection import Selection, choose, goodness


def _point(name, utility=0.6, **metrics):
    return ReportEntry(
        name, "unlearned", method="npo", metrics={"model_utility": utility, "tasks": {}, **metrics}
    )


def test_the_default_is_the_calibrated_one_minus_js():
    points = [_point("a", forget_quality_js=0.4, forget_quality=0.9), _point("b", forget_quality_js=0.8)]
    assert Selection().forget_quality == "forget_quality_js"
    assert choose(points, None, Selection())[0].name == "b"  # not a's larger KS p-value


def test_ks_d_lower_is_better_and_p_values_are_compared_as_logs():
    points = [_point("a", forget_quality_ks_statistic=0.6), _point("b", forget_quality_ks_statistic=0.2)]
    assert choose(points, None, Selection(forget_quality="forget_quality_ks_statistic"))[0].name == "b"
    assert goodness(points[1], "forget_quality_ks_statistic") == 0.8
    # mean with utility: 1e-8 vs 1e-2 are far apart as logs, not as raw p (both ≈ 0)
    assert goodness(_point("c", forget_quality=1e-8), "forget_quality") == math.log(1e-8)
    assert goodness(_point("d", forget_quality=0.0), "forget_quality") == -math.inf
