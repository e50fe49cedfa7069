"""The headline metrics, declared once: their keys, labels, direction and number format.

`compute_metrics` (metrics.py) emits exactly these keys, in this order, and leaves the `needs_gold`
ones None without gold logs; `clearbench metrics` prints the `headline` ones in this order; the
report's leaderboard and modality table pick their columns from here by key, with headers, ↑ / ↓
and number format taken from the metric. The definitions themselves are in metrics.py's docstring.

No numpy / scipy here: the report reads this table without loading the metric code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str  # the one name: compute_metrics' result, `clearbench metrics`, CSV headers
    label: str  # leaderboard header (Markdown / HTML), and axis label of the figures
    latex: str  # leaderboard header (LaTeX)
    higher_is_better: bool  # the header's ↑ / ↓
    short: str = ""  # modality table header (Markdown / HTML); default: label
    latex_short: str = ""  # modality table header (LaTeX); default: latex
    p_value: bool = False  # printed in scientific notation when small; drawn on a log axis
    needs_gold: bool = False  # None (with the reason in `unavailable`) without gold logs
    headline: bool = True  # printed by `clearbench metrics` (the full result has every metric)
    # An aggregate: harmonic mean of these per-task scores over the tasks `tasks_for` picks for it.
    components: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.short:
            object.__setattr__(self, "short", self.label)
        if not self.latex_short:
            object.__setattr__(self, "latex_short", self.latex)

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    def header(self, *, short: bool = False) -> str:
        """Markdown / HTML header, e.g. "Forget ↓"."""
        return f"{self.short if short else self.label} {self.arrow}"

    def latex_header(self, *, short: bool = False) -> str:
        arrow = r"$\uparrow$" if self.higher_is_better else r"$\downarrow$"
        return f"{self.latex_short if short else self.latex} {arrow}"


UTILITY_SCORES = ("rouge", "prob", "truth_ratio")
PAPER_SCORES = ("prob", "truth_ratio")  # the paper's aggregates leave ROUGE out

METRICS: dict[str, Metric] = {
    metric.key: metric
    for metric in (
        Metric("model_utility", "model utility", r"MU", True, components=UTILITY_SCORES),
        # The paper's aggregates, one per task group; their keys are the group names.
        Metric("real", "Real", "Real", True, components=PAPER_SCORES),
        Metric("retain", "Retain", "Retain", True, components=PAPER_SCORES),
        Metric("forget", "Forget", "Forget", False, components=PAPER_SCORES),
        Metric(
            "forget_quality",
            "forget quality (KS p)",
            r"FQ (KS $p$)",
            True,
            short="FQ (KS p)",
            latex_short="FQ",
            p_value=True,
            needs_gold=True,
        ),
        Metric("forget_quality_log", "ln forget quality (KS)", r"$\ln$ FQ (KS)", True, needs_gold=True),
        Metric(
            "forget_quality_ks_statistic",
            "KS statistic",
            r"KS $D$",
            False,
            needs_gold=True,
            headline=False,
        ),
        Metric("forget_quality_js", "1 − JS", r"$1-\mathrm{JS}$", True, needs_gold=True),
        Metric("forget_quality_js_aligned", "1 − JS", r"$1-\mathrm{JS}$", True, needs_gold=True),
    )
}


def one_minus_js_key(compat: str) -> str:
    """The key of the 1 − JS forget quality that tables show under the definitions `compat`.

    Under "clear-official" the paper's index-aligned variant (its v4 headline number); otherwise the
    histogram variant (metrics.py).
    """
    return "forget_quality_js_aligned" if compat == "clear-official" else "forget_quality_js"
