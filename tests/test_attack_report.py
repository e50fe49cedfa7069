"""The robustness table, survival sentences and figure, from attack records built by hand."""

import pytest

from clearbench.errors import UserError
from clearbench.report.robustness import (
    read_records,
    robustness_figure,
    robustness_markdown,
    robustness_rows,
    survival,
    worst_queries,
    write_robustness,
)


def _record(model, kind, variant, recovered, before=0.1, after=0.3, status="completed", fq=0.5, share=None):
    attack = variant.split("-")[0]
    pooled = {"unlearned": before, "attacked": after, "target": 0.9, "gold": 0.1, "recovered": recovered}
    record = {
        "attack": attack,
        "variant": variant,
        "model": model,
        "kind": kind,
        "status": status,
        "error": None if status == "completed" else "boom",
        "recovery": {"pooled": pooled} if status == "completed" else None,
        "before": {"forget_quality_both": 0.9, "forget_quality": 0.8},
        "after": {"forget_quality_both": None, "forget_quality": fq},
    }
    if share is not None:  # (share after, its interval), or a reason it is not measurable
        after_share = (
            {"share": share[0], "interval": list(share[1]), "measurable": True}
            if isinstance(share, tuple)
            else {"share": None, "interval": None, "measurable": False, "reason": share}
        )
        record["residual"] = {"before": {"share": (before - 0.1) / 0.8}, "after": after_share}
    return record


RECORDS = [
    _record("sku", "unlearned", "relearn", 0.0, before=0.7, after=0.7),  # removed (0.9 − 0.7) / 0.8 = 25 %
    _record("gold", "gold", "relearn", 0.30, share=(0.0, (-0.05, 0.05))),
    _record("target", "target", "relearn", -0.05, share=(1.0, (0.95, 1.05))),
    _record("npo", "unlearned", "relearn", 0.45, share=(0.12, (0.05, 0.18))),  # interval ≤ 0.2: survives
    _record("ga", "unlearned", "relearn", 0.55, share=(0.35, (0.25, 0.45))),  # above 0.2: does not
    _record("gold", "gold", "queries-blur", 0.0),
    _record("npo", "unlearned", "queries-blur", 0.02, share=(-0.1, (-0.2, 0.0))),  # less than gold
    _record("gold", "gold", "queries-noise", 0.0),
    _record("npo", "unlearned", "queries-noise", 0.08, share=(0.15, (0.05, 0.3))),  # holds 0.2: undecided
    _record("ga", "unlearned", "queries-noise", None, status="failed"),
    _record(
        "rmu", "unlearned", "relearn", 0.1, before=0.12, share="the target–gold gap 0.001 is within its noise"
    ),
]


def test_rows_carry_the_residual_share_and_its_verdict():
    rows = {(r["model"], r["variant"]): r for r in robustness_rows(RECORDS)}
    assert rows["npo", "relearn"]["share_after"] == 0.12 and rows["npo", "relearn"]["verdict"] == "survived"
    assert rows["ga", "relearn"]["verdict"] == "not survived"
    assert rows["npo", "queries-blur"]["verdict"] == "survived"  # knows less than attacked gold
    assert rows["npo", "queries-noise"]["verdict"] == "undecided"
    assert rows["rmu", "relearn"]["verdict"] == "not measurable" and "noise" in rows["rmu", "relearn"]["why"]
    assert rows["npo", "relearn"]["fq_after"] == 0.5 and rows["npo", "relearn"]["fq_scope"] == "images"
    assert rows["npo", "relearn"]["fq_before"] == 0.8  # the scope the attack's after value has


def test_survival_and_worst_query():
    found = survival(RECORDS)
    assert found["npo"] == {"relearn": True, "queries-blur": True, "queries-noise": None}
    assert found["ga"] == {"relearn": False, "queries-noise": None}
    assert "gold" not in found and "target" not in found
    assert survival(RECORDS, threshold=0.1)["npo"]["relearn"] is None  # [0.05, 0.18] holds 0.1
    assert survival(RECORDS, threshold=0.01)["npo"]["relearn"] is False
    assert worst_queries(RECORDS)["npo"] == ("queries-noise", 0.08)


def test_markdown_lists_every_record_and_says_what_survived():
    text = robustness_markdown(RECORDS)
    assert "- sku: did not forget (25% of the target–gold gap removed before any attack)" in text
    assert text.count("\n| ") == len(RECORDS)  # one table row each (the header starts the text)
    assert "| ga | relearn | 0.100 | 0.300 | 0.55 | 0.00 | 0.35 [0.25, 0.45] | not survived |" in text
    assert "failed: boom" in text
    assert "- npo: survived relearn, queries-blur; undecided for queries-noise" in text
    assert "- ga: survived no attack; not relearn; unknown for queries-noise" in text
    assert "- rmu: survived no attack; not measurable for relearn (the target–gold gap 0.001" in text


def test_figure_and_files(tmp_path):
    assert robustness_figure(RECORDS) is not None
    assert robustness_figure([RECORDS[-2]]) is None  # nothing completed
    written = write_robustness(RECORDS, tmp_path)
    assert written["figure"].read_bytes()[:4] == b"\x89PNG"
    assert "Robustness to attacks" in written["table"].read_text()


def test_missing_or_bad_records_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no attack records"):
        read_records(tmp_path)
    (tmp_path / "attacks").mkdir()
    (tmp_path / "attacks" / "records.json").write_text('{"a": 1}')
    with pytest.raises(UserError, match="expected a list"):
        read_records(tmp_path)
