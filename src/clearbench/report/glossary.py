"""What each column of the report means: definition, direction and source, linked from the header cells.

One entry per quantity on the image half (the paper's names); a text (`_text`) or both-halves
(`_both`) column and a membership column of another attack share their quantity's entry, which says
so. Source: "paper" = the CLEAR paper (and TOFU, whose definitions it takes), "MUSE" = the MUSE
benchmark, "this project" = defined by clearbench (docs/metrics.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Term:
    name: str
    definition: str
    direction: str
    source: str


TERMS = {
    "method": Term(
        "method",
        "The unlearning method (METHOD@MODALITY when the forget set was one modality), or a reference: "
        "gold (trained without the forget people), target (the model being unlearned), base (before "
        "fine-tuning). References are what methods are measured against and are never judged.",
        "—",
        "paper",
    ),
    "real": Term(
        "Real",
        "Harmonic mean of Prob and truth-ratio score on the Real Faces and Real World tasks: general "
        "knowledge unlearning should leave alone.",
        "↑ higher is better",
        "paper",
    ),
    "retain": Term(
        "Retain",
        "Harmonic mean of Prob and truth-ratio score on the retain people's captions and face "
        "recognition. The retain line (report.retain_fail_threshold) sets apart methods below it; "
        "references are never judged by it.",
        "↑ higher is better",
        "paper",
    ),
    "forget": Term(
        "Forget",
        "The same harmonic mean on the forget people, with every term falling as the model forgets "
        "(the paper's truth-ratio term rises instead; compat 'clear-official' reproduces that).",
        "↓ lower is better",
        "paper, direction corrected by this project",
    ),
    "forget_quality": Term(
        "forget quality (KS p)",
        "Two-sample Kolmogorov–Smirnov p-value between the per-sample truth ratios of the model and of "
        "gold on the forget set. Shown for comparison with the paper; a p-value is not an effect size "
        "and gets no interval.",
        "↑ higher is better (1 = as gold)",
        "paper (TOFU)",
    ),
    "forget_quality_log": Term(
        "ln forget quality (KS)",
        "Natural log of the KS p-value, readable where the p-value underflows.",
        "↑ higher is better",
        "paper (CLEAR v1)",
    ),
    "forget_quality_ks_statistic": Term(
        "KS statistic D (forget quality as an effect size)",
        "The largest gap between the model's and gold's truth-ratio distributions on the forget set, in "
        "[0, 1] whatever the row count; 0 = as gold. Its 95 % interval resamples people; '≈ gold' when "
        "it reaches the range gold scores against another gold, '≠ gold' when it stays beyond.",
        "↓ lower is better",
        "this project (the statistic of the paper's KS test)",
    ),
    "forget_quality_js": Term(
        "1 − JS",
        "One minus the Jensen–Shannon divergence between the model's and gold's truth-ratio "
        "distributions, calibrated so that gold-like samples score ≈ 1 at any row count.",
        "↑ higher is better",
        "paper (v4); calibration by this project",
    ),
    "model_utility": Term(
        "model utility",
        "Harmonic mean of ROUGE-L recall, Prob and truth-ratio score over the non-forget tasks: what "
        "the model still does well. The first sentences compare it with the target's interval.",
        "↑ higher is better",
        "paper (TOFU)",
    ),
    "mia_auc": Term(
        "MIA AUC",
        "Area under the ROC curve of a membership attack telling the forget people (positive) from "
        "holdout people the model never saw; the leaderboard uses one attack (Min-K %++) for every "
        "row. The privacy table adds the stronger attacks (GradNorm when logged, the loss calibrated by "
        "the base model, exact memorization, extraction strength), each with its interval over people. "
        "Gold ≈ 0.5; † = gold's own interval excludes 0.5, so that attack's columns are unreliable.",
        "→ 0.5 (gold's value)",
        "this project (attacks: LOSS, zlib, Min-K %, Min-K %++, GradNorm, reference model, exact "
        "memorization, extraction strength from the literature)",
    ),
    "privleak": Term(
        "PrivLeak",
        "(AUC'_model − AUC'_gold) / AUC'_gold with AUC' = 1 − AUC: 0 is ideal, negative = the forget "
        "people still stand out (under-unlearning), positive = over-unlearning.",
        "→ 0",
        "MUSE",
    ),
    "mia_auc_gap": Term(
        "AUC distance to gold",
        "|AUC − AUC_gold|: how far the membership attack's AUC is from gold's, either way.",
        "→ 0",
        "this project",
    ),
    "robustness": Term(
        "Robustness",
        "Over every attack (relearning, quantization, reworded queries, perturbed images): after how "
        "many the model keeps at most 20 % of the target–gold gap on the forget set (residual share, "
        "target and gold attacked the same way, interval over people). 'did not forget': it removed "
        "less than half of the gap before any attack.",
        "↑ more attacks survived",
        "this project",
    ),
    "status": Term(
        "status",
        "reference (gold, target, base); completed; under retain line (a method with Retain below the "
        "run's line; the paper greys rows below 0.4); diverged or failed, with the reason on hover and "
        "under Failures.",
        "—",
        "paper (the retain line), this project",
    ),
}
SCOPE_WORDS = {
    "_text": "on TOFU's text QA tasks",
    "_both": "on both halves (forget sets pooled)",
    "_unseen": "on unseen photos of the same people",
}
ATTACK_SUFFIXES = ("_best", "_loss", "_zlib", "_min_k_plus_plus", "_min_k")


def term_of(key: str) -> tuple[str, str]:
    """(anchor of the glossary entry, what the column adds to it) for a metric key or column anchor."""
    base, extra = key, []
    for suffix, words in SCOPE_WORDS.items():
        if suffix in base:
            base = base.replace(suffix, "")
            extra.append(words)
    for suffix in ATTACK_SUFFIXES:
        if base.endswith(suffix) and base[: -len(suffix)] in TERMS:
            base = base[: -len(suffix)]
            extra.append(
                "per-model maximum over attacks (biased up)" if suffix == "_best" else "another attack"
            )
            break
    return (base if base in TERMS else "", "; ".join(extra))


def glossary_title(anchor: str, scope: str = "images") -> str:
    """The header cell's hover text: definition and direction."""
    term = TERMS.get(term_of(anchor)[0])
    if term is None:
        return ""
    where = (
        " (here on TOFU's text QA tasks)" if scope == "text" and anchor not in ("method", "status") else ""
    )
    return f"{term.definition}{where} Direction: {term.direction}."


def glossary_html() -> list[str]:
    rows = "".join(
        f'<tr id="g-{escape(anchor)}"><td>{escape(term.name)}</td><td class="status">{escape(term.definition)}'
        f"</td><td>{escape(term.direction)}</td><td>{escape(term.source)}</td></tr>"
        for anchor, term in TERMS.items()
    )
    note = (
        "A 'text' column is the same quantity on TOFU's text QA tasks, a 'both' column pools the two "
        "halves; a membership column naming another attack is the same quantity under that attack. "
        "Full definitions: docs/metrics.md."
    )
    return [
        '<h2 id="glossary">Glossary</h2>',
        '<table class="glossary"><thead><tr><th>column</th><th class="status">definition</th>'
        f"<th>direction</th><th>source</th></tr></thead><tbody>{rows}</tbody></table>",
        f'<p class="note">{escape(note)}</p>',
    ]
