"""The attack stage on tiny models: records with scores that match the logs, resume, isolated failures."""

import importlib.util
import json
from dataclasses import asdict

import numpy as np
import pytest
from attack_world import FAST, FAST_EVAL, build_world

from clearbench.attacks import evaluate as attack_evaluate
from clearbench.attacks.base import Source
from clearbench.attacks.stage import attack_all, attack_model
from clearbench.errors import UserError
from clearbench.evaluate.logs import read_eval
from clearbench.evaluate.runner import evaluate_model

ATTACKS = ["relearn", "queries"] + (["quantize"] if importlib.util.find_spec("optimum") else [])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage")
    source, checkpoint = build_world(root, seeds=(0, 1))
    models = [  # the broken one first: the stage reads the model family from the first readable one
        ("broken", "unlearned", root / "missing", "ga"),
        ("target", "target", checkpoint),
        ("gold", "gold", root / "model-1"),
        ("npo", "unlearned", checkpoint, "npo"),
    ]
    lines = []
    records = attack_all(root / "out", source, "forget10", models, ATTACKS, FAST, FAST_EVAL, 0, lines.append)
    return root, source, models, records, lines


def _prob(log, rows):
    return float(np.mean([np.exp(-log["avg_gt_loss"][row]) for row in rows]))


def test_every_variant_of_every_model_has_a_record(run):
    root, _, _, records, _ = run
    variants = {"relearn", "queries-blur"} | ({"quantize-int8"} if "quantize" in ATTACKS else set())
    assert {r["variant"] for r in records} == variants
    for record in records:
        expected = "failed" if record["model"] == "broken" else "completed"
        assert record["status"] == expected, record
    broken = next(r for r in records if r["model"] == "broken")
    assert "loading the model" in broken["error"]
    assert json.loads((root / "out" / "attacks" / "records.json").read_text()) == records


def test_relearn_scores_are_the_logs_arithmetic_on_the_evaluation_rows(run):
    root, _, _, records, _ = run
    attacks = root / "out" / "attacks"
    record = next(r for r in records if r["variant"] == "relearn" and r["model"] == "npo")
    attacked = read_eval(attacks / "relearn" / "npo" / "eval")
    rows = list(attacked["forget_captions"]["avg_gt_loss"])
    assert len(rows) == record["rows"]["forget_captions"] < 15  # the evaluation part only
    clean = {name: read_eval(attacks / "clean" / name / "eval") for name in ("npo", "target", "gold")}
    values = {
        "attacked": _prob(attacked["forget_captions"], rows),
        "unlearned": _prob(clean["npo"]["forget_captions"], rows),
        "target": _prob(clean["target"]["forget_captions"], rows),
        "gold": _prob(clean["gold"]["forget_captions"], rows),
    }
    found = record["recovery"]["per_task"]["forget_captions"]
    assert {key: found[key] for key in values} == pytest.approx(values)
    by_hand = (values["attacked"] - values["unlearned"]) / (values["target"] - values["gold"])
    assert found["recovered"] == pytest.approx(by_hand)
    assert record["after"]["forget_quality_both"] is not None  # against gold relearned the same way


def test_image_perturbations_ask_only_the_image_tasks(run):
    _, _, _, records, _ = run
    record = next(r for r in records if r["variant"] == "queries-blur" and r["model"] == "npo")
    assert set(record["rows"]) == {"forget_captions", "forget_facerec"}
    assert record["after"]["forget_quality"] is not None and record["after"]["forget_quality_text"] is None


def test_a_second_run_reuses_every_completed_folder(run, monkeypatch):
    root, source, models, records, _ = run

    def no_evaluation(*args, **kwargs):
        raise AssertionError("a completed attack was evaluated again")

    monkeypatch.setattr(attack_evaluate, "evaluate_task", no_evaluation)
    done = [m for m in models if m[0] != "broken"]
    again = attack_all(root / "out", source, "forget10", done, ATTACKS, FAST, FAST_EVAL, 0, lambda _: None)
    assert again == [r for r in records if r["model"] != "broken"]


def test_the_clean_variant_adopts_the_run_s_evaluation_and_asks_only_the_variants(run, tmp_path, monkeypatch):
    root, source, models, _, _ = run
    checkpoint = models[1][2]
    evaluated = tmp_path / "evaluated"  # what the run's evaluate job writes, then the attack job reads
    evaluate_model(checkpoint, source, "forget10", evaluated, progress=False, **asdict(FAST_EVAL))
    asked, score = [], attack_evaluate.evaluate_task
    monkeypatch.setattr(
        attack_evaluate,
        "evaluate_task",
        lambda *args, **kwargs: asked.append(args[3].name) or score(*args, **kwargs),
    )
    target = Source("target", "target", checkpoint)
    attack_model(
        tmp_path, source, "forget10", target, ["queries"], FAST, FAST_EVAL, 0, print, clean=evaluated
    )
    assert asked == ["forget_captions", "forget_facerec"]  # the blurred photos only
    scored = root / "out" / "attacks" / "clean" / "target" / "eval"  # the stage's own scoring, above
    adopted = tmp_path / "attacks" / "clean" / "target" / "eval"
    for task in ("forget_captions", "forget_facerec", "tofu_forget"):
        logs = [json.loads((folder / f"{task}.json").read_text()) for folder in (scored, adopted)]
        assert logs[1].pop("data_revision") and logs[0] == logs[1], task  # the same rows, values, keys


def test_a_folder_of_other_settings_is_refused(run):
    root, source, models, _, _ = run
    other = type(FAST)(**{**FAST.__dict__, "relearn_steps": 3})
    with pytest.raises(UserError, match="another attack's output"):
        attack_all(root / "out", source, "forget10", models[1:2], ["relearn"], other, FAST_EVAL, 0, print)


def test_no_readable_model_is_a_user_error(run, tmp_path):
    root, source, models, _, _ = run
    with pytest.raises(UserError, match="no model to attack can be read: broken"):
        attack_all(tmp_path, source, "forget10", models[:1], ["queries"], FAST, FAST_EVAL, 0, print)
    assert not (tmp_path / "attacks").exists()


def test_each_group_is_scored_against_its_own_target_and_gold(run, tmp_path):
    root, source, _, records, _ = run
    checkpoint, other = root / "model", root / "model-1"
    swapped = [  # group 1 swaps target and gold: its recovered knowledge is group 0's over −1 gap
        Source("target", "target", checkpoint, group=0),
        Source("gold", "gold", other, group=0),
        Source("npo", "unlearned", checkpoint, "npo", group=0),
        Source("target~1", "target", other, group=1),
        Source("gold~1", "gold", checkpoint, group=1),
        Source("npo~1", "unlearned", checkpoint, "npo", group=1),
    ]
    options = type(FAST)(queries=["crop"])
    found = attack_all(tmp_path, source, "forget10", swapped, ["queries"], options, FAST_EVAL, 0, print)
    first, second = (next(r for r in found if r["model"] == name) for name in ("npo", "npo~1"))
    ours, theirs = first["recovery"]["pooled"], second["recovery"]["pooled"]
    assert (theirs["target"], theirs["gold"]) == pytest.approx((ours["gold"], ours["target"]))
    assert theirs["recovered"] == pytest.approx(-ours["recovered"])
