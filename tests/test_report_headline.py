"""The report's first screen (headline table and sentences), its matrices and its glossary: pure
functions of hand-made metric records, no model."""

from __future__ import annotations

import re

from clearbench.evaluate.metric_table import ATTACKS
from clearbench.report import ReportEntry, build_report
from clearbench.report.glossary import TERMS, term_of
from clearbench.report.headline import build_headline
from clearbench.report.leaderboard import leaderboard_rows
from clearbench.report.matrices import heat, robustness_matrix


def record(ks, ks_span, utility, utility_span, retain=0.5, forget=0.1):
    return {
        "retain": retain,
        "forget": forget,
        "forget_quality_ks_statistic": ks,
        "model_utility": utility,
        "intervals": {
            "method": "bootstrap over people",
            "values": {"forget_quality_ks_statistic": ks_span, "model_utility": utility_span},
            "gold_floor": {"forget_quality_ks_statistic": [0.0, 0.2]},
        },
    }


def entries():
    return [
        ReportEntry("a", "unlearned", "a", "both", metrics=record(0.1, [0.05, 0.15], 0.45, [0.4, 0.5])),
        ReportEntry("b", "unlearned", "b", "both", metrics=record(0.4, [0.3, 0.5], 0.2, [0.1, 0.3])),
        ReportEntry("target", "target", metrics=record(0.5, [0.4, 0.6], 0.45, [0.4, 0.5], forget=0.4)),
        # gold's Retain 0.3 is under a line of 0.35: a reference, so it is never "failing"
        ReportEntry("gold", "gold", metrics=record(0.0, [0.0, 0.0], 0.44, [0.4, 0.5], retain=0.3)),
    ]


def test_sentences_state_the_result_with_its_uncertainty():
    headline = build_headline(leaderboard_rows(entries(), 0.35))
    # a's KS D interval [0.05, 0.15] reaches gold-vs-gold's [0, 0.2]; b's [0.3, 0.5] stays beyond.
    # Utility: a's 0.45 is inside the target's [0.4, 0.5], b's 0.2 below it.
    assert headline.sentences == [
        "On forget quality (images half, KS D with 95 % intervals over people), a is indistinguishable "
        "from gold; b differs from gold.",
        "Model utility stays within the target's interval [0.400, 0.500] for a; b loses utility.",
        "Forgot as well as gold while keeping utility: a.",
    ]


def test_a_target_that_passes_as_gold_is_said_to_show_the_test_has_no_power():
    found = entries()
    found[2].metrics["intervals"]["values"]["forget_quality_ks_statistic"] = [0.1, 0.6]
    headline = build_headline(leaderboard_rows(found, 0.35))
    assert "so is the target itself, which forgot nothing" in headline.sentences[0]
    assert headline.sentences[2] == (
        "a keeps utility and cannot be told from gold, but neither can the target: this run does not "
        "show that it forgot."
    )


def test_headline_has_at_most_eight_columns_and_references_are_not_failures():
    headline = build_headline(leaderboard_rows(entries(), 0.35))
    assert [c.anchor for c in headline.columns] == [
        "method",
        "forget",
        "retain",
        "model_utility",
        "forget_quality_ks_statistic",
        "status",
    ]
    cells = {row.entry.name: [cell.text for cell in found] for row, found in headline.rows}
    assert cells["gold"][-1] == "reference (gold)"
    assert cells["a"][3:5] == ["0.450 [0.40, 0.50]", "0.100 [0.05, 0.15] ≈ gold"]
    assert cells["b"][4] == "0.400 [0.30, 0.50] ≠ gold"
    assert all(0 < len(c) <= 8 for c in (headline.columns,))


def test_page_puts_the_answer_first_with_a_sortable_table_and_warns_when_gold_is_under_the_line(tmp_path):
    text = build_report(entries(), tmp_path / "report", retain_fail_threshold=0.35).read_text()
    assert text.index('id="headline"') < text.index('id="leaderboard"')
    assert text.index('<p class="answer">On forget quality') < text.index('id="headline"')
    assert "⚠ Gold itself is under the line (Retain 0.300 &lt; 0.35)" in text
    # references in their own body, above the methods the script sorts
    references, methods = re.search(
        r'<tbody class="references">(.*?)</tbody>\s*<tbody class="methods">(.*?)</tbody>', text
    ).groups()
    assert re.findall(r'data-entry="(\w+)"', references) == ["gold", "target"]
    assert re.findall(r'data-entry="(\w+)"', methods) == ["a", "b"]
    assert '<td data-sort="0.45" title="95 % interval [0.400, 0.500]">0.450 [0.40, 0.50]</td>' in text
    assert "<script>" in text and "table.sortable" in text
    # every header links to a glossary entry that exists
    for anchor in re.findall(r'href="#g-(\w+)"', text):
        assert f'id="g-{anchor}"' in text
    quiet = build_report(entries(), tmp_path / "quiet", retain_fail_threshold=0.25).read_text()
    assert "Gold itself" not in quiet


def test_glossary_covers_every_leaderboard_metric():
    from clearbench.report.leaderboard import LEADERBOARD_KEYS, MODALITY_KEYS

    assert all(term_of(key)[0] in TERMS for key in LEADERBOARD_KEYS + MODALITY_KEYS)
    assert term_of("retain_unseen") == ("retain", "on unseen photos of the same people")
    assert term_of("mia_auc_text_loss") == ("mia_auc", "on TOFU's text QA tasks; another attack")
    assert term_of("forget_quality_both_js") == ("forget_quality_js", "on both halves (forget sets pooled)")


def attack_record(model, variant, share, span, kind="unlearned"):
    return {
        "model": model,
        "kind": kind,
        "variant": variant,
        "attack": variant,
        "status": "completed",
        "recovery": {"pooled": {}},
        "residual": {
            "before": {"share": 0.0},
            "after": {"share": share, "interval": span, "measurable": True},
        },
    }


def test_robustness_matrix_marks_each_verdict_and_colours_by_share():
    records = [
        attack_record("a", "relearn", 0.05, [0.0, 0.1]),  # interval ≤ 0.2: survived
        attack_record("a", "quantize", 0.5, [0.3, 0.7]),  # above: not survived
        attack_record("b", "relearn", 0.2, [0.1, 0.3]),  # holds 0.2: undecided
        attack_record("target", "relearn", 1.0, [0.9, 1.0], kind="target"),
    ]
    html = "".join(robustness_matrix(records))
    assert re.findall(r'data-entry="(\w+)"', html) == ["a", "b"]  # references are not rows
    assert (
        f'background:{heat(0.05)}" title="a under relearn: residual share 0.05 [0.00, 0.10]; survived' in html
    )
    assert ">0.05✓</td>" in html and ">0.50✗</td>" in html and ">0.20?</td>" in html
    assert "<td>1/2</td>" in html and "<td>0/2</td>" in html  # survived per model; b's quantize not run
    assert heat(0.0) == "#c6e8c4" and heat(1.0) == "#f2b0a8" and heat(None) == "#eeeeee"
    assert heat(-3) == heat(0.0) and heat(0.5) == "#faecaa"


def test_the_papers_numbers_stand_beside_ours_when_the_run_repeats_its_setup(tmp_path):
    from clearbench.report.paper import paper_table

    found = [
        ReportEntry("gold", "gold", metrics={"real": 0.5, "retain": 0.49, "forget": 0.2}),
        ReportEntry("target", "target", metrics={"real": 0.47}),
        ReportEntry("npo", "unlearned", "npo", "both", metrics={"real": 0.45, "forget_quality_js": 0.8}),
        ReportEntry("npo@text", "unlearned", "npo", "text", metrics={"real": 0.3}),
        ReportEntry("mine", "unlearned", "mine", "both", metrics={"real": 0.3}),  # not in the paper
    ]
    llava = {
        "model": {"name": "llava-hf/llava-1.5-7b-hf"},
        "forget_split": "forget10",
        "data": {"source": "x"},
    }
    table = paper_table(found, llava)
    assert table.rows == [
        ["gold", "", "0.50 / 0.50", "0.49 / 0.51", "0.20 / 0.19", "n/a / 1.00", "CLEAR v4, Table 1"],
        ["target", "", "0.47 / 0.48", "n/a / 0.51", "n/a / 0.35", "n/a / 0.85", "CLEAR v4, Table 1"],
        ["npo", "both", "0.45 / 0.46", "n/a / 0.14", "n/a / 0.11", "0.80 / 0.76", "CLEAR v4, Table 1"],
        [
            "npo@text",
            "text",
            "0.30 / 0.51",
            "n/a / 0.51",
            "n/a / 0.29",
            "n/a / 0.85",
            "CLEAR v4, Table 3 (text)",
        ],
    ]
    assert "compare them with a run under compat 'clear-official'" in table.note
    assert paper_table(found, llava | {"data": {"source": "synthetic"}}) is None  # the tiny world
    assert paper_table(found, llava | {"forget_split": "forget05"}) is None
    assert paper_table(found, {"model": "tiny"}) is None and paper_table(found, None) is None
    text = build_report(found[:3], tmp_path / "report", config=llava).read_text()
    assert 'id="paper"' in text and (tmp_path / "report" / "paper.csv").is_file()


def test_privacy_matrix_has_one_row_per_model_and_colours_each_attack_by_its_distance_from_gold():
    from clearbench.report.matrices import privacy_matrix

    def entry(name, kind, auc, span):
        attacks = {attack: {"auc": auc, "gold_auc": 0.5, "privleak": 0.0} for attack in ATTACKS}
        membership = {"images": {"attacks": attacks}}
        intervals = {"membership": {"images": {"min_k_plus_plus": {"auc": span}}}}
        return ReportEntry(name, kind, metrics={"membership": membership, "intervals": intervals})

    html = "".join(
        privacy_matrix([entry("npo", "unlearned", 0.9, [0.8, 0.95]), entry("gold", "gold", 0.5, None)])
    )
    assert re.findall(r'data-entry="(\w+)"', html) == ["gold", "npo"]  # references first
    assert "<td>0.900 [0.80, 0.95]</td><td>0.000</td>" in html
    # |0.9 − 0.5| · 2 = 0.8 of the way to red; gold's own 0.5 is green
    assert html.count(f"background:{heat(0.8)}") == 4 and html.count(f"background:{heat(0.0)}") == 4
    assert privacy_matrix([ReportEntry("x", "gold", metrics={})]) == []


def test_privacy_matrix_adds_the_stronger_attacks_a_model_was_scored_on():
    from clearbench.report.matrices import privacy_matrix

    def entry(name, kind, reference_auc):
        attacks = {attack: {"auc": 0.5, "gold_auc": 0.5} for attack in ATTACKS}
        stronger = {
            "reference": {"auc": reference_auc, "gold_auc": 0.5},
            "gradnorm": {"reason": "turn on eval.membership_gradnorm"},  # not logged: no column
        }
        membership = {"text": {"attacks": attacks, "stronger": {"attacks": stronger}}}
        return ReportEntry(name, kind, metrics={"membership": membership})

    html = "".join(privacy_matrix([entry("idk", "unlearned", 0.8), entry("gold", "gold", 0.5)]))
    assert "<th>reference (base) text</th>" in html and "GradNorm" not in html.split("</tr>")[0]
    assert 'title="idk, reference (base) on text: AUC 0.800' in html
    assert html.count(f"background:{heat(0.6)}") == 1  # |0.8 − 0.5| · 2, idk's reference cell only
