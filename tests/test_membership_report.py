"""The report's privacy table and ROC figure, from metric records of compute_metrics."""

import pytest

from clearbench.evaluate.metrics import compute_metrics
from clearbench.report.entries import ReportEntry
from clearbench.report.plots import png_bytes
from clearbench.report.privacy import privacy_table, roc_figure, strongest_attack

ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus")


def task_fields(index):
    """What a forget task's log holds besides membership scores (a truth ratio of 1, ROUGE 0.5)."""
    return {
        "avg_paraphrased_loss": dict.fromkeys(index, 0.0),
        "average_perturb_loss": {i: [1.0] for i in index},
        "rougeL_recall": dict.fromkeys(index, 0.5),
    }


def logs(forget: dict[str, list[float]], holdout: dict[str, list[float]]) -> dict:
    def log(scores, full):
        index = [str(i) for i in range(len(scores["loss"]))]
        out = {"avg_gt_loss": dict.fromkeys(index, 1.0)}
        out |= {f"mia_{a}": dict(zip(index, scores[a])) for a in ATTACKS}
        if full:
            out |= task_fields(index)
        return out

    return {"forget_captions": log(forget, True), "holdout_captions": log(holdout, False)}


SPREAD = [1.0, 2.0, 3.0, 4.0]
TARGET = logs(  # loss separates perfectly, the others partly
    {"loss": [5, 6, 7, 8], "zlib": [1, 3, 5, 7], "min_k": SPREAD, "min_k_plus_plus": SPREAD},
    {"loss": SPREAD, "zlib": [2, 4, 6, 8], "min_k": SPREAD, "min_k_plus_plus": SPREAD},
)
GOLD = logs({a: SPREAD for a in ATTACKS}, {a: SPREAD for a in ATTACKS})
NPO = logs(
    {"loss": [1, 2, 3, 5], "zlib": SPREAD, "min_k": [9, 9, 9, 9], "min_k_plus_plus": SPREAD},
    {a: SPREAD for a in ATTACKS},
)


def entries() -> list[ReportEntry]:
    return [
        ReportEntry("npo", "unlearned", "npo", "both", metrics=compute_metrics(NPO, GOLD)),
        ReportEntry("gold", "gold", metrics=compute_metrics(GOLD, GOLD)),
        ReportEntry("target", "target", metrics=compute_metrics(TARGET, GOLD)),
        ReportEntry("broken", "unlearned", "ga", "both", status="failed"),
    ]


def test_privacy_table_per_model_and_attack():
    table = privacy_table(entries())
    assert table.name == "privacy"
    assert table.header == [
        "model",
        "attack",
        "AUC images (→ gold)",
        "gold AUC images (→ 0.5)",
        "PrivLeak images (→ 0)",
        "AUC distance to gold images (→ 0)",
    ]
    rows = {(row[0], row[1]): row[2:] for row in table.rows}
    assert [row[0] for row in table.rows[::4]] == ["target", "gold", "npo"]  # references first
    assert rows["target", "LOSS"] == ["1.000 *", "0.500", "-1.000", "0.500"]  # (0 − 0.5) / 0.5
    assert rows["target", "zlib"] == ["0.375", "0.500", "0.250", "0.125"]  # AUC' 0.625: (0.625 − 0.5) / 0.5
    assert rows["gold", "LOSS"] == ["0.500 *", "0.500", "0.000", "0.000"]  # all tied: the first attack
    assert rows["gold", "Min-K %"] == ["0.500", "0.500", "0.000", "0.000"]
    assert rows["npo", "Min-K %"] == ["1.000 *", "0.500", "-1.000", "0.500"]
    assert "negative = the forget people still stand out" in table.note
    assert privacy_table([ReportEntry("gold", "gold", metrics={"real": 0.5})]) is None


def test_roc_curves_of_the_strongest_attack_on_the_target():
    assert strongest_attack(entries()) == "loss"
    figure = roc_figure(entries())
    axes = figure.axes[0]
    labels = [line.get_label() for line in axes.get_lines()]
    # npo's LOSS: {1, 2, 3, 5} vs {1, 2, 3, 4}: (0.5 + 1.5 + 2.5 + 4) / 16 = 0.531.
    assert labels == ["chance", "target (1.00)", "gold (0.50)", "npo (0.53)"]
    target = axes.get_lines()[1]
    assert list(target.get_xdata())[:2] == [0.0, 0.0] and list(target.get_ydata())[-1] == 1.0
    assert "LOSS" in axes.get_title()
    assert png_bytes(figure).startswith(b"\x89PNG")
    assert roc_figure(entries(), scope="text") is None


@pytest.mark.parametrize("missing", ["membership", "metrics"])
def test_entries_without_membership_results_are_left_out(missing):
    broken = entries()
    if missing == "metrics":
        broken[0].metrics = None
    else:
        broken[0].metrics = {**broken[0].metrics, "membership": {}}
    assert [row[0] for row in privacy_table(broken).rows[::4]] == ["target", "gold"] + (
        ["npo"] if missing == "membership" else []
    )
    assert all(row[2:] == ["n/a"] * 4 for row in privacy_table(broken).rows if row[0] == "npo")


def test_the_whole_section_in_one_call():
    from clearbench.report.privacy import privacy_section

    tables, figures = privacy_section(entries())
    assert [t.name for t in tables] == ["privacy"]  # every unlearned model forgot both: no leakage
    assert [(name, caption.split(" (")[1]) for name, caption, _ in figures] == [
        ("roc_images.png", "LOSS: the largest AUC gap between target and gold).")
    ]


def test_privacy_table_shows_person_intervals_and_flags_a_gold_that_separates_the_sets():
    found = entries()
    spans = {"auc": [0.9, 1.0], "gold_auc": [0.6, 0.8], "privleak": [-1.0, -0.5], "auc_gap": [0.2, 0.4]}
    found[0].metrics["intervals"] = {"membership": {"images": {"loss": spans}}}
    table = privacy_table(found)
    rows = {(row[0], row[1]): row[2:] for row in table.rows}
    assert rows["npo", "LOSS"][1] == "0.500 [0.600, 0.800] †" and rows["npo", "LOSS"][3].endswith(
        "[0.200, 0.400]"
    )
    assert "Gold's AUC interval excludes 0.5 (LOSS on images)" in table.note
    assert "†" not in "".join(rows["npo", "zlib"])


def _people_logs(memorized: tuple[list, list], extracted: tuple[list, list]) -> dict:
    """Forget people A, B and holdout people C, D with 3 rows each; exact memorization and extraction
    strength given per person (forget, holdout); the four attacks score every row alike."""
    from clearbench.evaluate.memorization import LOG_KEYS

    def log(people, em, es, full):
        index = [str(i) for i in range(3 * len(people))]
        out = {"avg_gt_loss": dict.fromkeys(index, 1.0), "person": {i: people[int(i) // 3] for i in index}}
        out |= {f"mia_{a}": dict.fromkeys(index, 0.0) for a in ATTACKS}
        out[LOG_KEYS["exact_memorization"]] = {i: em[int(i) // 3] for i in index}
        out[LOG_KEYS["extraction_strength"]] = {i: es[int(i) // 3] for i in index}
        if full:
            out |= task_fields(index)
        return out

    return {
        "forget_captions": log(["A", "B"], memorized[0], extracted[0], True),
        "holdout_captions": log(["C", "D"], memorized[1], extracted[1], False),
    }


def test_privacy_table_gives_the_stronger_attacks_their_person_intervals_and_flags():
    from clearbench.evaluate.bootstrap import bootstrap_intervals
    from clearbench.report.matrices import privacy_matrix

    # The target memorized A's answers (0.9), not B's (0.1); holdout people sit at 0.5: AUC 0.5, and
    # drawing {A, A}, {A, B} or {B, B} gives 1, 0.5, 0 (95 % interval [0, 1]). Gold's exact
    # memorization separates the sets in every draw (AUC 1): †. Extraction strength ties everywhere.
    flat = ([0.5, 0.5], [0.5, 0.5])
    target, gold = _people_logs(([0.9, 0.1], [0.5, 0.5]), flat), _people_logs(([0.9, 0.8], [0.1, 0.2]), flat)

    def entry(name, kind, logs):
        metrics = compute_metrics(logs, gold)
        metrics["intervals"] = bootstrap_intervals(logs, gold, compat="clearbench", resamples=400)
        return ReportEntry(name, kind, metrics=metrics)

    found = [entry("target", "target", target), entry("gold", "gold", gold)]
    table = privacy_table(found)
    rows = {(row[0], row[1]): row[2:] for row in table.rows}
    assert [attack for model, attack in rows if model == "target"] == [
        "LOSS",
        "zlib",
        "Min-K %",
        "Min-K %++",
        "exact memorization",
        "extraction strength",
    ]  # no base: no reference rows; GradNorm not logged: no rows
    assert rows["target", "exact memorization"] == [
        "0.500 [0.000, 1.000]",
        "1.000 [1.000, 1.000] †",
        "n/a",  # PrivLeak divides by 1 − gold's AUC = 0
        "0.500 [0.000, 1.000]",  # |AUC − 1| of the same draws: 1, 0.5, 0
    ]
    assert rows["gold", "exact memorization"][:2] == ["1.000 [1.000, 1.000]", "1.000 [1.000, 1.000] †"]
    assert rows["target", "extraction strength"][:2] == ["0.500 [0.500, 0.500]", "0.500 [0.500, 0.500]"]
    assert "Gold's AUC interval excludes 0.5 (exact memorization on images)" in table.note
    html = "".join(privacy_matrix(found))
    assert "AUC 0.500 [0.00, 1.00], gold&#x27;s 1.000 [1.00, 1.00] (gold&#x27;s interval excludes 0.5" in html
    assert ">0.50 †</td>" in html and "no intervals yet" not in html
