"""Calibration of the 1 − JS forget quality: what a gold-like model scores at n = 20 … 400 rows.

Draws candidate and gold truth ratios from one distribution ("gold vs gold": the candidate is as good
as gold) and prints, per row count n, the median and 5–95 % range of
- the calibrated JS distance d (forget_quality_js = 1 − d), with the gold-like range that
  `clearbench metrics` reports beside it (χ² approximation),
- the same distance without the null correction (quartile bins, plug-in), and
- the former default, 1 − JS on 20 fixed bins of s = R / (1 + R),
then the median calibrated score as gold's distribution is shifted by δ standard deviations of log R
(the score must fall as the distributions separate, by the same amount at every n).

Every statistic here depends only on the order of the values, so the distribution drawn from
(standard normal log R) does not matter for the gold-vs-gold rows.

    python benchmarks/js_calibration.py [--draws 2000] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import brentq
from scipy.spatial.distance import jensenshannon
from scipy.special import expit
from scipy.stats import norm

from clearbench.evaluate.metrics import forget_quality_js, js_bins, js_calibration, quantile_histograms

SIZES = (20, 40, 100, 400)
SHIFTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
FIXED_BINS = np.linspace(0.0, 1.0, 21)  # the former default: 20 equal bins of s = R / (1 + R)


def plug_in_distance(candidate, gold) -> float:
    """JS distance (bits) of the quartile counts, without the null correction."""
    ours, theirs = quantile_histograms(candidate, gold, js_bins(len(candidate), len(gold)))
    return float(jensenshannon(ours, theirs, base=2))


def fixed_bins_score(candidate, gold) -> float:
    ours, _ = np.histogram(expit(candidate), bins=FIXED_BINS)
    theirs, _ = np.histogram(expit(gold), bins=FIXED_BINS)
    return float(1.0 - jensenshannon(ours, theirs, base=2))


def spread(values) -> str:
    low, median, high = np.percentile(values, [5, 50, 95])
    return f"{median:6.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000, help="gold-vs-gold draws per row count")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    print(f"gold vs gold, {args.draws} draws per n: median [5 %, 95 %]")
    header = (
        f"{'n':>5} {'calibrated d':>22} {'score 1 − d':>22} {'reported gold-like low':>23} "
        f"{'d without correction':>22} {'old 1 − JS (20 bins)':>22}"
    )
    print(header)
    for n in SIZES:
        distances, plug_in, old = [], [], []
        for _ in range(args.draws):
            candidate, gold = rng.normal(size=n), rng.normal(size=n)
            distances.append(1.0 - forget_quality_js(candidate, gold))
            plug_in.append(plug_in_distance(candidate, gold))
            old.append(fixed_bins_score(candidate, gold))
        scores = 1.0 - np.asarray(distances)
        low = js_calibration(rng.normal(size=n), rng.normal(size=n))["gold_like"][0]
        print(
            f"{n:5d} {spread(distances):>22} {spread(scores):>22} {low:23.3f} "
            f"{spread(plug_in):>22} {spread(old):>22}"
        )

    print(
        f"\nmedian calibrated 1 − JS when gold's log R is shifted by δ standard deviations ({args.draws // 4} draws)"
    )
    print(f"{'n':>5} " + " ".join(f"{'δ = ' + format(shift, 'g'):>9}" for shift in SHIFTS))
    for n in SIZES:
        medians = []
        for shift in SHIFTS:
            draws = [
                forget_quality_js(rng.normal(size=n), rng.normal(shift, size=n))
                for _ in range(args.draws // 4)
            ]
            medians.append(float(np.median(draws)))
        print(f"{n:5d} " + " ".join(f"{value:9.3f}" for value in medians))
    print(
        "\nPopulation value of the score for a shift δ (normal log R, quartiles of the mixture): "
        + ", ".join(f"δ = {shift:g}: {population_score(shift):.3f}" for shift in SHIFTS)
    )


def population_score(shift: float, bins: int = 4) -> float:
    """1 − JS distance of N(0, 1) and N(δ, 1) masses in the quartiles of their mixture: the value the
    score estimates, without sampling noise."""

    def mixture_cdf(x):
        return (norm.cdf(x) + norm.cdf(x - shift)) / 2

    edges = [brentq(lambda x, q=q: mixture_cdf(x) - q, -50, 50) for q in np.arange(1, bins) / bins]
    cuts = np.array([-np.inf, *edges, np.inf])
    ours, theirs = np.diff(norm.cdf(cuts)), np.diff(norm.cdf(cuts - shift))
    return float(1.0 - jensenshannon(ours, theirs, base=2))


if __name__ == "__main__":
    main()
