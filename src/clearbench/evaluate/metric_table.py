"""The headline metrics, declared once: key, label, direction, number format, and what each is made of.

`compute_metrics` (metrics.py) emits exactly these keys, in this order, and leaves a metric None
(with the reason in `unavailable`) when its tasks or the gold logs are missing; `clearbench metrics`
prints the `headline` ones in this order, grouped by scope; the report's leaderboard and modality
table pick their columns from here by key, with headers, ↑ / ↓ and number format taken from the
metric. The definitions are in docs/metrics.md (and, briefly, metrics.py's docstring).

Every metric has a scope, the half of the benchmark whose tasks it reads:
- "images": CLEAR's image tasks (captions, face recognition, real faces, real world). The paper's
  quantities carry the paper's names without a suffix: real, retain, forget, forget_quality,
  forget_quality_js, model_utility.
- "text": TOFU's text QA tasks; keys end in `_text` (TOFU's own model utility and forget quality).
- "both": the two halves together; keys end in `_both` (forget quality pools both forget sets).

Membership-inference metrics (`mia_auc*`, `privleak*`, per half) compare the forget rows with the
holdout rows; they have an ideal value instead of a direction (AUC → gold's 0.5, PrivLeak → 0).

No numpy / scipy here: the report reads this table without loading the metric code.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearbench.errors import UserError
from clearbench.registry import Registry

SCOPES = ("images", "text", "both")
# What a forget-quality metric reports about the candidate's and gold's truth ratios.
STATISTICS = ("ks_p", "ks_log", "ks_statistic", "js")
# Membership inference (evaluate/membership.py): the attacks, and what a privacy metric reports.
ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus")
ATTACK_LABELS = {"loss": "LOSS", "zlib": "zlib", "min_k": "Min-K %", "min_k_plus_plus": "Min-K %++"}
# Per model, the attack with the highest AUC: a maximum over attacks, biased upward, and comparing
# rows made with different attacks; kept under its own `_best` keys, labelled so, with no interval.
BEST_ATTACK = "best"
# The leaderboard's attack, the same for every model so the column compares them. Min-K %++ scores
# each token against the model's own next-token distribution, so a model that saw neither set (gold)
# stays near 0.5 even when the forget and holdout answers differ in intrinsic difficulty: on the
# default tiny run gold's AUC is 0.93 with LOSS, 0.88 zlib, 0.68 Min-K %, 0.53 Min-K %++.
HEADLINE_ATTACK = "min_k_plus_plus"
MEMBERSHIP_VALUES = ("auc", "privleak", "auc_gap")
LATEX_SHORT = {"auc": "AUC", "auc_gap": r"$|\mathrm{AUC}-\mathrm{AUC}_\mathrm{gold}|$"}


@dataclass(frozen=True)
class Metric:
    key: str  # the one name: compute_metrics' result, `clearbench metrics`, CSV headers
    label: str  # leaderboard header (Markdown / HTML), and axis label of the figures
    latex: str  # leaderboard header (LaTeX)
    higher_is_better: bool  # the header's ↑ / ↓
    scope: str = "images"  # one of SCOPES: whose tasks it reads
    short: str = ""  # modality table header (Markdown / HTML); default: label
    latex_short: str = ""  # modality table header (LaTeX); default: latex
    p_value: bool = False  # printed in scientific notation when small; drawn on a log axis
    headline: bool = True  # printed by `clearbench metrics` (the full result has every metric)
    # An aggregate: harmonic mean of these per-task scores over the tasks of `group` in the scope
    # (group None: the model-utility tasks, i.e. the non-forget ones).
    components: tuple[str, ...] = ()
    group: str | None = None
    # The components under compat="clear-official", where they differ (the paper's Forget).
    official_components: tuple[str, ...] = ()
    # A forget quality: this statistic (one of STATISTICS) of candidate vs gold truth ratios on the
    # scope's forget caption / QA tasks. Needs gold logs.
    statistic: str = ""
    # A membership metric: this value (one of MEMBERSHIP_VALUES) of `attack` (one of ATTACKS, or
    # BEST_ATTACK) on the scope's forget vs holdout rows. PrivLeak needs gold logs.
    membership: str = ""
    attack: str = ""
    # Where neither direction is better: the ideal value, shown as "→ 0" instead of ↑ / ↓.
    ideal: float | None = None
    # Reads the tasks of unseen photos (tasks.py), and only those.
    unseen: bool = False

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"metric {self.key!r}: scope {self.scope!r} is not one of {SCOPES}")
        if sum(map(bool, (self.components, self.statistic, self.membership))) != 1:
            raise ValueError(f"metric {self.key!r}: needs exactly one of components, statistic, membership")
        if self.statistic and self.statistic not in STATISTICS:
            raise ValueError(f"metric {self.key!r}: statistic {self.statistic!r} is not one of {STATISTICS}")
        if self.membership and (
            self.membership not in MEMBERSHIP_VALUES or self.attack not in (*ATTACKS, BEST_ATTACK)
        ):
            raise ValueError(
                f"metric {self.key!r}: membership {self.membership!r} of attack {self.attack!r} is not one "
                f"of {MEMBERSHIP_VALUES} x {(*ATTACKS, BEST_ATTACK)}"
            )
        if not self.short:
            object.__setattr__(self, "short", self.label)
        if not self.latex_short:
            object.__setattr__(self, "latex_short", self.latex)

    @property
    def needs_gold(self) -> bool:
        """None (with the reason in `unavailable`) without gold logs: forget qualities, PrivLeak."""
        return bool(self.statistic) or self.membership in ("privleak", "auc_gap")

    def components_for(self, compat: str) -> tuple[str, ...]:
        if compat == "clear-official" and self.official_components:
            return self.official_components
        return self.components

    @property
    def arrow(self) -> str:
        if self.ideal is not None:
            return f"→ {self.ideal:g}"
        return "↑" if self.higher_is_better else "↓"

    def header(self, *, short: bool = False) -> str:
        """Markdown / HTML header, e.g. "Forget ↓"."""
        return f"{self.short if short else self.label} {self.arrow}"

    def latex_header(self, *, short: bool = False) -> str:
        arrow = r"$\uparrow$" if self.higher_is_better else r"$\downarrow$"
        if self.ideal is not None:
            arrow = rf"$\to {self.ideal:g}$"
        return f"{self.latex_short if short else self.latex} {arrow}"


UTILITY_SCORES = ("rouge", "prob", "truth_ratio")  # TOFU's model utility terms, per task
# The paper's aggregates leave ROUGE out. By default every component falls as the model forgets:
# `truth_preference` = max(0, 1 − 1/R) on every task. The paper's Forget takes `truth_ratio`, which on
# forget tasks is min(R, 1/R) and rises as the model forgets (a mixed-direction harmonic mean).
PAPER_SCORES = ("prob", "truth_preference")
PAPER_SCORES_OFFICIAL = ("prob", "truth_ratio")


def _aggregate(key, label, latex, higher, scope, group, **extra) -> Metric:
    return Metric(
        key,
        label,
        latex,
        higher,
        scope=scope,
        components=PAPER_SCORES,
        official_components=PAPER_SCORES_OFFICIAL,
        group=group,
        **extra,
    )


def _membership_metrics(scope: str) -> list[Metric]:
    """MIA AUC and PrivLeak of HEADLINE_ATTACK (the headline, unsuffixed keys), of the model's best
    attack (`_best`) and of each attack (JSON and the privacy table). AUC: forget rows positive,
    higher score = member; gold ≈ 0.5. PrivLeak: MUSE's, 0 ideal, negative = forget people still
    detectable (evaluate/membership.py)."""
    suffix = "" if scope == "images" else f"_{scope}"
    on = "" if scope == "images" else f" {scope}"
    metrics = []
    variants = [(HEADLINE_ATTACK, ""), (BEST_ATTACK, "_best"), *((a, f"_{a}") for a in ATTACKS)]
    for attack, tail in variants:
        name = "per-model max over attacks, biased up" if attack == BEST_ATTACK else ATTACK_LABELS[attack]
        latex_name = name.replace("%", r"\%")
        headline = tail == ""
        for kind, key, label, ideal in (
            ("auc", "mia_auc", "MIA AUC", 0.5),
            ("privleak", "privleak", "PrivLeak", 0.0),
            # Beside PrivLeak, which explodes when gold's AUC is far from 0.5: the plain distance.
            ("auc_gap", "mia_auc_gap", "AUC distance to gold", 0.0),  # |AUC − AUC_gold|
        ):
            metrics.append(
                Metric(
                    f"{key}{suffix}{tail}",
                    f"{label}{on} ({name})",
                    f"{label}{on} ({latex_name})",
                    False,
                    scope=scope,
                    short=f"{label}{on}" if headline else "",
                    latex_short=f"{LATEX_SHORT.get(kind, label)}{on}" if headline else "",
                    headline=headline,
                    membership=kind,
                    attack=attack,
                    ideal=ideal,
                )
            )
    return metrics


_DECLARED: dict[str, Metric] = {
    metric.key: metric
    for metric in (
        # --- images: CLEAR's image tasks, the paper's quantities ---------------------------------
        _aggregate("real", "Real", "Real", True, "images", "real"),
        _aggregate("retain", "Retain", "Retain", True, "images", "retain"),
        _aggregate("forget", "Forget", "Forget", False, "images", "forget"),
        Metric(
            "forget_quality",
            "forget quality (KS p)",
            r"FQ (KS $p$)",
            True,
            short="FQ (KS p)",
            latex_short="FQ",
            p_value=True,
            statistic="ks_p",
        ),
        Metric("forget_quality_log", "ln forget quality (KS)", r"$\ln$ FQ (KS)", True, statistic="ks_log"),
        Metric(
            "forget_quality_ks_statistic",
            "KS statistic",
            r"KS $D$",
            False,
            headline=False,
            statistic="ks_statistic",
        ),
        Metric("forget_quality_js", "1 − JS", r"$1-\mathrm{JS}$", True, statistic="js"),
        Metric("model_utility", "model utility", "MU", True, components=UTILITY_SCORES),
        # --- images, unseen photos of the same people (evaluated on request: eval.unseen_photos) ---
        _aggregate(
            "forget_unseen",
            "Forget, unseen photos",
            "Forget unseen",
            False,
            "images",
            "forget",
            unseen=True,
            headline=False,
        ),
        _aggregate(
            "retain_unseen",
            "Retain, unseen photos",
            "Retain unseen",
            True,
            "images",
            "retain",
            unseen=True,
            headline=False,
        ),
        # --- text: TOFU's QA tasks ---------------------------------------------------------------
        _aggregate("real_text", "Real text", "Real text", True, "text", "real"),
        _aggregate("retain_text", "Retain text", "Retain text", True, "text", "retain"),
        _aggregate("forget_text", "Forget text", "Forget text", False, "text", "forget"),
        Metric(
            "forget_quality_text",
            "forget quality text (KS p)",
            r"FQ text (KS $p$)",
            True,
            scope="text",
            short="FQ text (KS p)",
            latex_short="FQ text",
            p_value=True,
            statistic="ks_p",
        ),
        Metric(
            "forget_quality_text_log",
            "ln forget quality text (KS)",
            r"$\ln$ FQ text (KS)",
            True,
            scope="text",
            statistic="ks_log",
        ),
        Metric(
            "forget_quality_text_ks_statistic",
            "KS statistic text",
            r"KS $D$ text",
            False,
            scope="text",
            headline=False,
            statistic="ks_statistic",
        ),
        Metric(
            "forget_quality_text_js",
            "1 − JS text",
            r"$1-\mathrm{JS}$ text",
            True,
            scope="text",
            short="1 − JS on text",
            latex_short=r"$1-\mathrm{JS}$ on text",
            statistic="js",
        ),
        Metric(
            "model_utility_text",
            "model utility text",
            "MU text",
            True,
            scope="text",
            components=UTILITY_SCORES,
        ),
        # --- both halves ---------------------------------------------------------------------------
        Metric(
            "forget_quality_both",
            "forget quality, both forget sets pooled (KS p)",
            r"FQ both pooled (KS $p$)",
            True,
            scope="both",
            short="FQ both pooled (KS p)",
            latex_short="FQ both",
            p_value=True,
            statistic="ks_p",
        ),
        Metric(
            "forget_quality_both_js",
            "1 − JS, both forget sets pooled",
            r"$1-\mathrm{JS}$ both pooled",
            True,
            scope="both",
            statistic="js",
        ),
        Metric(
            "model_utility_both",
            "model utility, both halves",
            "MU both",
            True,
            scope="both",
            components=UTILITY_SCORES,
        ),
        # --- membership inference: forget vs holdout rows, per half --------------------------------
        *_membership_metrics("images"),
        *_membership_metrics("text"),
    )
}


def checked_metric(metric, where: str) -> Metric:
    if not isinstance(metric, Metric):
        raise UserError(f"{where}: {metric!r} is not a clearbench.evaluate.metric_table.Metric")
    return metric


# Installed packages add metric declarations through the `clearbench.metrics` entry-point group.
METRICS: Registry[Metric] = Registry(
    "metric",
    "clearbench.metrics",
    name_of=lambda metric: metric.key,
    check=checked_metric,
    built_in=_DECLARED.values(),
)
METRICS.load_entry_points()
