"""Cross-modal leakage: the removed fraction per probe, and one matrix per method."""

import math

import pytest

from clearbench.errors import UserError
from clearbench.evaluate.leakage import leakage_matrices, removed_fraction


def record(captions: float, faces: float, text: float | None, score: str = "prob") -> dict:
    tasks = {"forget_captions": {score: captions}, "forget_facerec": {score: faces}}
    if text is not None:
        tasks["tofu_forget"] = {score: text}
    return {"tasks": tasks}


TARGET = record(0.9, 0.8, 0.7)
GOLD = record(0.1, 0.3, 0.69)  # text QA: the target knows it no better than gold


def test_removed_fraction_by_hand():
    assert removed_fraction(0.9, 0.5, 0.1) == (pytest.approx(0.5), None)  # 0.4 of a 0.8 gap
    assert removed_fraction(0.9, 0.1, 0.1) == (pytest.approx(1.0), None)
    assert removed_fraction(0.9, 0.95, 0.1)[0] == pytest.approx(-0.0625)  # better known than before
    assert removed_fraction(0.9, 0.0, 0.1)[0] == pytest.approx(1.125)  # pushed below gold
    # A score where gold is higher than the target (e.g. a falling-is-forgetting score flipped): the
    # same formula, still 1 at gold.
    assert removed_fraction(0.2, 0.6, 0.6)[0] == pytest.approx(1.0)


def test_a_tiny_or_missing_gap_is_none_with_a_reason_never_inf():
    value, reason = removed_fraction(0.7, 0.2, 0.69)
    assert value is None and reason == "target and gold differ by 0.01 (< 0.02): nothing to remove"
    assert removed_fraction(0.7, 0.2, 0.7)[0] is None  # exactly zero
    assert removed_fraction(0.7, 0.2, 0.69, min_gap=0.005)[0] == pytest.approx(50.0)
    value, reason = removed_fraction(0.7, math.nan, 0.1)
    assert value is None and reason == "no finite score for model"
    assert removed_fraction(None, 0.2, None)[1] == "no finite score for target, gold"


def test_one_matrix_per_method_forget_modality_by_probe():
    models = [
        ("npo", "images", record(0.1, 0.3, 0.7)),  # images gone; text untouched
        ("npo", "text", record(0.85, 0.8, 0.2)),
        ("ga", "both", record(0.5, 0.55, 0.0)),
        ("npo", "both", record(0.1, 0.3, 0.1)),
    ]
    npo, ga = leakage_matrices(TARGET, GOLD, models)
    assert (npo.method, ga.method) == ("npo", "ga") and npo.score == "prob"
    assert npo.modalities == ["images", "text", "both"] and ga.modalities == ["both"]
    assert npo.probes == ["captions", "face naming", "text QA"]
    assert npo.cells["images"]["captions"] == pytest.approx(1.0)
    assert npo.cells["images"]["face naming"] == pytest.approx(1.0)
    assert npo.cells["text"]["captions"] == pytest.approx(0.0625)  # (0.9 − 0.85) / 0.8
    assert ga.cells["both"]["face naming"] == pytest.approx(0.5)  # (0.8 − 0.55) / 0.5
    # Text QA: target 0.7 vs gold 0.69, no gap to measure on.
    assert npo.cells["images"]["text QA"] is None
    assert "nothing to remove" in npo.reasons["images"]["text QA"]
    assert "captions" not in npo.reasons["images"]


def test_probes_are_the_forget_tasks_the_target_was_evaluated_on():
    [matrix] = leakage_matrices(record(0.9, 0.8, None), record(0.1, 0.3, None), [("ga", "images", TARGET)])
    assert matrix.probes == ["captions", "face naming"]
    # Another per-task score on request.
    target, gold = record(0.9, 0.8, 0.7, "rouge"), record(0.1, 0.3, 0.1, "rouge")
    [matrix] = leakage_matrices(target, gold, [("ga", "text", record(0.9, 0.8, 0.4, "rouge"))], score="rouge")
    assert matrix.cells["text"]["text QA"] == pytest.approx(0.5)
    assert matrix.cells["text"]["captions"] == pytest.approx(0.0)


def test_bad_input_is_a_user_error():
    with pytest.raises(UserError, match="leakage score 'loss' is not one of prob, truth_preference, rouge"):
        leakage_matrices(TARGET, GOLD, [], score="loss")
    with pytest.raises(UserError, match="min_gap must be a positive number"):
        leakage_matrices(TARGET, GOLD, [], min_gap=0)
    with pytest.raises(
        UserError, match="none of the forget tasks forget_captions, forget_facerec, tofu_forget"
    ):
        leakage_matrices({"tasks": {"real_faces": {"prob": 1.0}}}, GOLD, [])
    with pytest.raises(UserError, match="the target's metrics have no per-task values"):
        leakage_matrices({}, GOLD, [])
    with pytest.raises(UserError, match="model 'ga': forget modality 'audio' is not one of"):
        leakage_matrices(TARGET, GOLD, [("ga", "audio", TARGET)])


def test_a_collapsed_model_shows_its_collateral_beside_the_removed_fractions():
    def with_retain(record_, captions, faces, text):
        tasks = {"retain_captions": {"prob": captions}, "retain_facerec": {"prob": faces}}
        tasks["tofu_retain"] = {"prob": text}
        return {"tasks": {**record_["tasks"], **tasks}}

    target = with_retain(TARGET, 0.8, 0.5, 0.6)
    collapsed = with_retain(record(0.1, 0.3, 0.69), 0.08, 0.1, 0.3)  # forgot everyone
    careful = with_retain(record(0.1, 0.3, 0.69), 0.8, 0.45, 0.6)
    wrecked, kept = leakage_matrices(target, GOLD, [("ga", "text", collapsed), ("npo", "text", careful)])
    assert wrecked.cells["text"]["captions"] == pytest.approx(1.0) == kept.cells["text"]["captions"]
    # the removed fractions are alike; the retain probes tell them apart (m_model / m_target)
    assert wrecked.retain["text"] == pytest.approx({"captions": 0.1, "face naming": 0.2, "text QA": 0.5})
    assert kept.retain["text"] == pytest.approx({"captions": 1.0, "face naming": 0.9, "text QA": 1.0})
    assert leakage_matrices(TARGET, GOLD, [("ga", "text", collapsed)])[0].retain["text"] == {}  # no probes
