"""The report's first screen: a headline table of at most 8 columns and a few sentences that state
the result with its uncertainty. Every other number stays in the CSV and the per-area tables.

Columns (a column no row has a value for is left out): method, Forget, Retain, model utility with
its interval, forget quality as an effect size (KS D) with its interval and whether gold-vs-gold
variation reaches it, MIA AUC of the headline attack, the robustness verdict over every attack, and
the status. The numbers are the leaderboard's, on one half of the benchmark: CLEAR's image tasks when
the run evaluated them, else TOFU's text tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clearbench.report.entries import ReportEntry
from clearbench.report.leaderboard import Row
from clearbench.report.seeds import gold_like, interval, noise_floor
from clearbench.report.tables import format_number

# (glossary anchor, header, metric key on the image half, on the text half)
METRIC_COLUMNS = (
    ("forget", "Forget ↓", "forget", "forget_text"),
    ("retain", "Retain ↑", "retain", "retain_text"),
    ("model_utility", "Utility ↑ [95 %]", "model_utility", "model_utility_text"),
    (
        "forget_quality_ks_statistic",
        "FQ: KS D ↓ [95 %]",
        "forget_quality_ks_statistic",
        "forget_quality_text_ks_statistic",
    ),
    ("mia_auc", "MIA AUC → 0.5", "mia_auc", "mia_auc_text"),
)
WITH_INTERVAL = {"model_utility", "forget_quality_ks_statistic"}


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | str | None = None  # the value a click on the header sorts by
    title: str = ""  # shown on hover: the interval, the reason


@dataclass(frozen=True)
class Column:
    anchor: str  # the glossary entry (#g-ANCHOR) the header links to
    header: str


@dataclass
class Headline:
    scope: str
    columns: list[Column]
    rows: list[tuple[Row, list[Cell]]]
    sentences: list[str]


def scope_of(rows: Sequence[Row]) -> str:
    """The half the headline reads: images when any row has the paper's Forget, else text."""
    return "images" if any(row.values.get("forget") is not None for row in rows) else "text"


def metric_key(anchor: str, scope: str) -> str:
    found = next(column for column in METRIC_COLUMNS if column[0] == anchor)
    return found[2] if scope == "images" else found[3]


def build_headline(
    rows: Sequence[Row], seed_runs: Sequence[ReportEntry] = (), attacks: Sequence[Mapping] | None = None
) -> Headline:
    scope, floor = scope_of(rows), noise_floor(list(seed_runs))
    robustness = robustness_verdicts(attacks) if attacks else {}
    columns = [Column("method", "method")]
    shown = [
        (anchor, header)
        for anchor, header, *_ in METRIC_COLUMNS
        if any(row.values.get(metric_key(anchor, scope)) is not None for row in rows)
    ]
    columns += [Column(anchor, header) for anchor, header in shown]
    if robustness:
        columns.append(Column("robustness", "Robustness"))
    columns.append(Column("status", "status"))
    table = []
    for row in rows:
        cells = [Cell(row.entry.name, row.entry.name)]
        for anchor, _ in shown:
            cells.append(metric_cell(row, metric_key(anchor, scope), anchor in WITH_INTERVAL, floor))
        if robustness:
            cells.append(robustness_cell(row, robustness))
        cells.append(status_cell(row))
        table.append((row, cells))
    return Headline(scope, columns, table, summary(rows, scope, floor, robustness))


def metric_cell(row: Row, key: str, with_interval: bool, floor: dict) -> Cell:
    value = row.values.get(key)
    found = interval(row.entry, key) if value is not None else None
    text = format_number(value)
    title = f"95 % interval [{format_number(found[0])}, {format_number(found[1])}]" if found else ""
    if with_interval and found:
        text += f" [{format_number(found[0], digits=2)}, {format_number(found[1], digits=2)}]"
    if key in ("forget_quality_ks_statistic", "forget_quality_text_ks_statistic") and not row.reference:
        verdict = gold_like(row.entry, key, floor)
        if verdict:
            text += " ≈ gold" if verdict.startswith("indistinguishable") else " ≠ gold"
            title = f"{title}; {verdict} (its interval against gold-vs-gold variation)".lstrip("; ")
    if key in ("mia_auc", "mia_auc_text") and value is not None:
        from clearbench.evaluate.metric_table import HEADLINE_ATTACK
        from clearbench.report.privacy import membership_interval

        scope = "images" if key == "mia_auc" else "text"
        span = membership_interval(row.entry, scope, HEADLINE_ATTACK, "auc")
        if span:  # the bootstrap keeps membership intervals per attack, not under `values`
            title = f"95 % interval [{format_number(span[0])}, {format_number(span[1])}]"
        if scope in dict(row.unreliable):
            text += " †"
            title += "; unreliable: gold's own AUC interval excludes 0.5"
    return Cell(text, value, title)


def robustness_verdicts(attacks: Sequence[Mapping]) -> dict[str, tuple[str, float, str]]:
    """Unlearned model -> (cell text, sort value, its survival sentence)."""
    from clearbench.report.robustness import survival_lines, verdicts

    lines = {line.split(": ", 1)[0]: line for line in survival_lines(attacks)}
    found = {}
    for model, outcomes in verdicts(attacks).items():
        line = lines.get(model, "")
        if "did not forget" in line:
            found[model] = ("did not forget", -1.0, line)
            continue
        kept = sum(verdict == "survived" for verdict, _ in outcomes.values())
        found[model] = (f"survived {kept}/{len(outcomes)}", kept / max(len(outcomes), 1), line)
    return found


def robustness_cell(row: Row, robustness: dict) -> Cell:
    if row.entry.name not in robustness:
        return Cell("—", None, "not attacked" if not row.reference else "a reference")
    text, value, line = robustness[row.entry.name]
    return Cell(text, value, line)


def status_cell(row: Row) -> Cell:
    entry = row.entry
    if row.reference and entry.status == "completed":
        return Cell(f"reference ({entry.kind})", f"0 {entry.kind}", row.status)
    if entry.status != "completed":
        return Cell(entry.status, f"3 {entry.status}", row.status)
    if row.fails_on_retain:
        return Cell("under retain line", "2", row.status)
    return Cell("completed", "1", row.status)


# --- the sentences ------------------------------------------------------------------------------


def names(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def summary(rows: Sequence[Row], scope: str, floor: dict, robustness: dict) -> list[str]:
    """2–4 sentences: forget quality against gold, utility against the target's interval, both at once,
    and robustness; each says what its uncertainty rests on."""
    methods = [row for row in rows if not row.reference and row.entry.status == "completed"]
    if not methods:
        return ["No unlearning run completed: the table shows the references only."]
    sentences, powerless = [], False
    ks = metric_key("forget_quality_ks_statistic", scope)
    verdicts = {row.entry.name: gold_like(row.entry, ks, floor) for row in methods}
    like = [name for name, v in verdicts.items() if v and v.startswith("indistinguishable")]
    unlike = [name for name, v in verdicts.items() if v and not v.startswith("indistinguishable")]
    if like or unlike:
        text = f"On forget quality ({scope} half, KS D with 95 % intervals over people), "
        parts = []
        if like:
            parts.append(f"{names(like)} {'is' if len(like) == 1 else 'are'} indistinguishable from gold")
        if unlike:
            parts.append(f"{names(unlike)} {'differs' if len(unlike) == 1 else 'differ'} from gold")
        target = next((row for row in rows if row.entry.kind == "target"), None)
        control = gold_like(target.entry, ks, floor) if target else None
        powerless = bool(control and control.startswith("indistinguishable"))
        if powerless:
            # the model that forgot nothing passes too: the test has no power here, say so
            parts.append(
                "so is the target itself, which forgot nothing: at this forget-set size KS D cannot tell "
                "forgetting from not forgetting"
            )
        sentences.append(text + "; ".join(parts) + ".")
    utility = metric_key("model_utility", scope)
    target = next((row for row in rows if row.entry.kind == "target"), None)
    span = interval(target.entry, utility) if target else None
    keep: list[str] = []
    if span:
        keep = [row.entry.name for row in methods if (row.values.get(utility) or 0) >= span[0]]
        lose = [row.entry.name for row in methods if row.entry.name not in keep]
        text = (
            f"Model utility stays within the target's interval [{format_number(span[0])}, "
            f"{format_number(span[1])}] for {names(keep) or 'no method'}"
        )
        sentences.append(
            text + (f"; {names(lose)} lose{'s' if len(lose) == 1 else ''} utility." if lose else ".")
        )
    if (like or unlike) and span:
        both = [name for name in like if name in keep]
        if not both:
            sentences.append("No method both matches gold on forget quality and keeps the target's utility.")
        elif powerless:
            one = len(both) == 1
            sentences.append(
                f"{names(both)} {'keeps' if one else 'keep'} utility and cannot be told from gold, but "
                f"neither can the target: this run does not show that {'it' if one else 'they'} forgot."
            )
        else:
            sentences.append(f"Forgot as well as gold while keeping utility: {names(both)}.")
    if robustness:
        sentences.append(robustness_sentence(robustness))
    return sentences[:4]


def robustness_sentence(robustness: dict) -> str:
    whole = [m for m, (text, value, _) in robustness.items() if value == 1.0]
    forgot_not = [m for m, (text, *_rest) in robustness.items() if text == "did not forget"]
    lost = [m for m in robustness if m not in whole and m not in forgot_not]
    parts = []
    if whole:
        parts.append(f"the forgetting of {names(whole)} survives every attack")
    if lost:
        parts.append(f"{names(lost)} survive{'s' if len(lost) == 1 else ''} only some (see the matrix)")
    if forgot_not:
        parts.append(f"{names(forgot_not)} did not forget to begin with")
    from clearbench.report.robustness import SURVIVES_BELOW

    rule = f"survived = the residual share's interval stays ≤ {SURVIVES_BELOW:g}"
    return f"Under attack ({rule}): " + "; ".join(parts) + "."
