"""The report's privacy section: membership inference per model and attack, ROC curves, and the
cross-modal leakage matrix of the modality study.

Everything is read from the report entries' metric records (`compute_metrics`: the membership
metrics, `membership[scope]` with each attack's AUC and ROC curve, and the per-task scores), so the
section needs no logs and no model. Each function returns None when the entries hold nothing for it.

Orientation, as in docs/metrics.md §8: AUC has the forget rows as the positive class and higher
score = member, so gold (never saw them) ≈ 0.5 and a model that still knows them → 1. PrivLeak is
MUSE's, (AUC'_model − AUC'_gold) / AUC'_gold with AUC' = 1 − AUC: 0 ideal, negative = the forget
people still stand out (under-unlearning), positive = over-unlearning.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure

from clearbench.evaluate.leakage import DEFAULT_MIN_GAP, LeakageMatrix, leakage_matrices
from clearbench.evaluate.metric_table import ATTACK_LABELS, ATTACKS, HEADLINE_ATTACK
from clearbench.evaluate.stronger import STRONGER_ATTACKS
from clearbench.report.entries import ReportEntry, as_number
from clearbench.report.tables import Table, format_number

SCOPES = {"images": "images", "text": "text"}  # membership scope -> column suffix
STRONGER_LABELS = {
    "gradnorm": "GradNorm",
    "reference": "reference (base)",
    "exact_memorization": "exact memorization",
    "extraction_strength": "extraction strength",
}
REFERENCE_ORDER = ("target", "gold", "base")
ORIENTATION = (
    "AUC: forget rows positive, higher score = member; gold ≈ 0.5. PrivLeak (MUSE): "
    "(AUC'_model − AUC'_gold) / AUC'_gold with AUC' = 1 − AUC; 0 is ideal, negative = the forget people "
    "still stand out as members (under-unlearning), positive = over-unlearning."
)


def membership_of(entry: ReportEntry, scope: str) -> Mapping | None:
    """The entry's membership results of one scope (`compute_metrics`' `membership[scope]`), or None."""
    found = (entry.metrics or {}).get("membership")
    found = found.get(scope) if isinstance(found, Mapping) else None
    return found if isinstance(found, Mapping) and isinstance(found.get("attacks"), Mapping) else None


def ordered(entries: list[ReportEntry]) -> list[ReportEntry]:
    """Target, gold (and base) first, then the unlearned models in their order; completed ones only."""
    done = [entry for entry in entries if entry.status == "completed" and entry.metrics]
    references = sorted(
        (e for e in done if e.kind in REFERENCE_ORDER), key=lambda e: REFERENCE_ORDER.index(e.kind)
    )
    return references + [e for e in done if e.kind not in REFERENCE_ORDER]


def attack_label(attack: str) -> str:
    return ATTACK_LABELS.get(attack) or STRONGER_LABELS[attack]


def all_attacks(entry: ReportEntry, scope: str) -> dict:
    """A model's membership results on one half: the four attacks and the stronger ones, by name."""
    found = membership_of(entry, scope) or {}
    return {**((found.get("stronger") or {}).get("attacks") or {}), **(found.get("attacks") or {})}


def scored_attacks(models: list[ReportEntry], scope: str) -> list[str]:
    """The four attacks, then the stronger ones (issue 26) any model was scored on."""
    scored = [
        a
        for a in STRONGER_ATTACKS
        if any(all_attacks(e, scope).get(a, {}).get("auc") is not None for e in models)
    ]
    return [*ATTACKS, *scored]


def membership_interval(entry: ReportEntry, scope: str, attack: str, name: str) -> list | None:
    """The bootstrap-over-people interval of one membership value (auc, gold_auc, privleak, auc_gap)."""
    found = ((entry.metrics or {}).get("intervals") or {}).get("membership") or {}
    span = ((found.get(scope) or {}).get(attack) or {}).get(name)
    return span if isinstance(span, list) and len(span) == 2 else None


def _with_interval(value, span) -> str:
    text = format_number(as_number(value))
    return (
        f"{text} [{format_number(span[0])}, {format_number(span[1])}]" if span and value is not None else text
    )


def privacy_table(entries: list[ReportEntry]) -> Table | None:
    """Per model and attack (the four, then the stronger ones any model was scored on): AUC, gold's
    AUC, PrivLeak and |AUC − AUC_gold| on each half that has membership results, with
    bootstrap-over-people intervals where the model has them; "†" where gold's own AUC interval
    excludes 0.5 (that attack's columns are unreliable)."""
    models = ordered(entries)
    scopes = [scope for scope in SCOPES if any(membership_of(e, scope) for e in models)]
    if not scopes:
        return None
    header = ["model", "attack"]
    for scope in scopes:
        header += [f"AUC {scope} (→ gold)", f"gold AUC {scope} (→ 0.5)", f"PrivLeak {scope} (→ 0)"]
        header += [f"AUC distance to gold {scope} (→ 0)"]
    attacks = list(dict.fromkeys(a for scope in scopes for a in scored_attacks(models, scope)))
    rows, flagged = [], set()
    for entry in models:
        for attack in attacks:
            cells = [entry.name, attack_label(attack)]
            for scope in scopes:
                cells += _privacy_cells(entry, scope, attack, flagged)
            rows.append(cells)
    note = (
        f"{ORIENTATION} The leaderboard's MIA AUC and PrivLeak are {ATTACK_LABELS[HEADLINE_ATTACK]}'s "
        "(one attack for every model); * = the model's highest-AUC attack among the four (a per-model "
        "maximum, biased upward: not a column of its own). After the four, the stronger attacks the "
        "models were scored on: GradNorm (when logged), the loss calibrated by the base model "
        "(reference), exact memorization and extraction strength. In brackets: 95 % intervals, "
        "bootstrap over people (forget and holdout people drawn, candidate and gold the same)."
    )
    if flagged:
        note += (
            f" † Gold's AUC interval excludes 0.5 ({', '.join(sorted(flagged))}): gold never saw either set, "
            "so those forget and holdout people differ beyond training, and that attack's columns are "
            "unreliable."
        )
    return Table("privacy", "Membership inference: forget vs holdout people", header, rows, note)


def _privacy_cells(entry: ReportEntry, scope: str, attack: str, flagged: set) -> list[str]:
    """One model's AUC, gold's AUC, PrivLeak and AUC distance under one attack on one half, each with
    its interval; adds "attack on scope" to `flagged` where gold's AUC interval excludes 0.5."""
    found = all_attacks(entry, scope).get(attack) or {}
    best = (membership_of(entry, scope) or {}).get("best_attack") == attack
    auc = _with_interval(found.get("auc"), membership_interval(entry, scope, attack, "auc"))
    gold_span = membership_interval(entry, scope, attack, "gold_auc")
    if entry.kind == "gold":  # gold against itself: its own AUC is gold's
        gold_span = gold_span or membership_interval(entry, scope, attack, "auc")
    gold = _with_interval(found.get("gold_auc"), gold_span)
    if gold_span and not gold_span[0] <= 0.5 <= gold_span[1]:
        gold += " †"
        flagged.add(f"{attack_label(attack)} on {scope}")
    return [
        auc + (" *" if best else ""),
        gold,
        _with_interval(found.get("privleak"), membership_interval(entry, scope, attack, "privleak")),
        _with_interval(found.get("auc_gap"), membership_interval(entry, scope, attack, "auc_gap")),
    ]


def strongest_attack(entries: list[ReportEntry], scope: str = "images") -> str | None:
    """The attack the ROC plot shows: the one that tells the target's members best beyond what gold
    (a non-member model) already separates, max AUC_target − AUC_gold; without gold, the target's
    highest AUC (without a target, the first model's)."""
    models = [e for e in ordered(entries) if membership_of(e, scope)]
    if not models:
        return None
    reference = next((e for e in models if e.kind == "target"), models[0])
    gold = next((e for e in models if e.kind == "gold"), None)
    ours = membership_of(reference, scope)["attacks"]
    theirs = membership_of(gold, scope)["attacks"] if gold is not None and gold is not reference else {}

    def auc(attacks: Mapping, attack: str) -> float | None:
        return as_number((attacks.get(attack) or {}).get("auc"))

    scored = [a for a in ATTACKS if auc(ours, a) is not None]
    return max(scored, key=lambda a: auc(ours, a) - (auc(theirs, a) or 0.0)) if scored else None


def roc_figure(entries: list[ReportEntry], scope: str = "images") -> Figure | None:
    """ROC curves of the target, gold and every method for the strongest attack (`strongest_attack`)."""
    from clearbench.report.plots import colours

    attack = strongest_attack(entries, scope)
    if attack is None:
        return None
    models = [e for e in ordered(entries) if membership_of(e, scope)]
    palette = colours(models)
    figure = Figure(figsize=(5.2, 4.6))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", linewidth=1, label="chance")
    for entry in models:
        found = membership_of(entry, scope)["attacks"].get(attack) or {}
        roc = found.get("roc") or {}
        if not roc.get("fpr"):
            continue
        auc = format_number(as_number(found.get("auc")), digits=2)
        width = 2.2 if entry.kind in ("target", "gold") else 1.3
        axes.plot(
            roc["fpr"], roc["tpr"], color=palette[entry.name], linewidth=width, label=f"{entry.name} ({auc})"
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false-positive rate (holdout called member)")
    axes.set_ylabel("true-positive rate (forget called member)")
    axes.set_title(
        f"Membership inference, {scope}: {ATTACK_LABELS[attack]} (strongest: target vs gold)", fontsize=9
    )
    axes.legend(fontsize=7, loc="lower right", title="model (AUC)", title_fontsize=7)
    return figure


def leakage_of(
    entries: list[ReportEntry], score: str = "prob", min_gap: float = DEFAULT_MIN_GAP
) -> list[LeakageMatrix]:
    """The leakage matrices of the modality study; [] unless some model forgot one modality alone."""
    models = ordered(entries)
    target = next((e for e in models if e.kind == "target"), None)
    gold = next((e for e in models if e.kind == "gold"), None)
    unlearned = [e for e in models if e.kind == "unlearned" and e.modality]
    if target is None or gold is None or not any(e.modality != "both" for e in unlearned):
        return []
    return leakage_matrices(
        target.metrics,
        gold.metrics,
        [(e.method or e.name, e.modality, e.metrics) for e in unlearned],
        score=score,
        min_gap=min_gap,
    )


def leakage_table(matrices: list[LeakageMatrix]) -> Table | None:
    """One row per method and forget modality, one column per probe: the fraction removed."""
    if not matrices:
        return None
    probes = list(dict.fromkeys(probe for matrix in matrices for probe in matrix.probes))
    kept = list(dict.fromkeys(probe for m in matrices for row in m.retain.values() for probe in row))
    header = ["method", "forgot through", *[f"removed: {probe}" for probe in probes]]
    header += [f"retain kept: {probe}" for probe in kept]
    rows, reasons = [], set()
    for matrix in matrices:
        for modality in matrix.modalities:
            cells = [matrix.method, modality]
            for probe in probes:
                value = matrix.cells[modality].get(probe)
                cells.append(format_number(value, digits=2))
                if probe in matrix.reasons[modality]:
                    reasons.add(f"{probe}: {matrix.reasons[modality][probe]}")
            cells += [format_number(matrix.retain.get(modality, {}).get(probe), digits=2) for probe in kept]
            rows.append(cells)
    note = (
        f"Fraction of the forget people's knowledge removed, (m_target − m_model) / (m_target − m_gold) on "
        f"{matrices[0].score} of each forget task: 1 = as gone as in gold, 0 = as known as in the target. "
        "Retain kept: the same model's m_model / m_target on the retain people's probes (1 = kept all, "
        "0 = lost all): a model that forgot everyone removes ≈ 1 everywhere, and only these say so."
    )
    if reasons:
        note += " n/a: " + "; ".join(sorted(reasons)) + "."
    return Table("leakage", "Cross-modal leakage: knowledge removed per probe", header, rows, note)


def leakage_figure(matrices: list[LeakageMatrix]) -> Figure | None:
    """A heat map per method: forget modality (rows) × probe (columns), the fraction removed."""
    if not matrices:
        return None
    probes = list(dict.fromkeys(probe for matrix in matrices for probe in matrix.probes))
    figure = Figure(figsize=(1.5 + 3.0 * len(matrices), 3.0), layout="constrained")
    grid = figure.subplots(1, len(matrices), squeeze=False)[0]
    image = None
    for axes, matrix in zip(grid, matrices):
        modalities = matrix.modalities
        values = [[matrix.cells[m].get(p) for p in probes] for m in modalities]
        shown = [[float("nan") if v is None else v for v in row] for row in values]
        image = axes.imshow(shown, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                axes.text(j, i, format_number(value, digits=2), ha="center", va="center", fontsize=7)
        axes.set_xticks(range(len(probes)), probes, rotation=30, ha="right", fontsize=7)
        axes.set_yticks(range(len(modalities)), [f"forgot {m}" for m in modalities], fontsize=7)
        axes.set_title(matrix.method, fontsize=9)
    figure.colorbar(image, ax=list(grid), shrink=0.8, label="fraction removed (1 = gold)")
    return figure


def privacy_section(entries: list[ReportEntry]) -> tuple[list[Table], list[tuple[str, str, Figure]]]:
    """Everything this module adds to a report: its tables and its (file name, caption, figure)s.

    Empty lists when the entries hold no membership results and no modality study.
    """
    matrices = leakage_of(entries)
    tables = [table for table in (privacy_table(entries), leakage_table(matrices)) if table is not None]
    figures = []
    for scope in SCOPES:
        figure = roc_figure(entries, scope)
        if figure is not None:
            attack = ATTACK_LABELS[strongest_attack(entries, scope)]
            caption = (
                f"ROC curves of membership inference on the {scope} half ({attack}: the largest AUC gap "
                "between target and gold)."
            )
            figures.append((f"roc_{scope}.png", caption, figure))
    figure = leakage_figure(matrices)
    if figure is not None:
        figures.append(
            ("leakage.png", "Cross-modal leakage: fraction of knowledge removed per probe.", figure)
        )
    return tables, figures
