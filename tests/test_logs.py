import json
import math

import pytest

from clearbench.errors import UserError
from clearbench.evaluate import logs
from clearbench.evaluate.official import detect_format


def make_log(rows=2, **extra):
    """A minimal valid per-sample log (official keys only, no header)."""
    index = [str(i) for i in range(rows)]
    log = {
        "avg_gt_loss": {i: 0.5 for i in index},
        "avg_paraphrased_loss": {i: 0.7 for i in index},
        "average_perturb_loss": {i: [1.0, 2.0] for i in index},
        "rougeL_recall": {i: 1.0 for i in index},
        "generated_text": {i: ["q", "a", "a"] for i in index},
    }
    return log | extra


def test_write_then_read_round_trip_fills_the_header(tmp_path):
    path = logs.write_task_log(tmp_path, "forget_captions", {"config": "forget10_perturbed", **make_log()})
    written = json.loads(path.read_text())
    assert list(written)[:4] == ["task", "config", "forget", "prob_kind"]
    assert written["forget"] is True and written["prob_kind"] == "answer"
    logs.write_task_log(tmp_path, "real_faces", make_log(rows=3))
    read = logs.read_eval(tmp_path)
    assert set(read) == {"forget_captions", "real_faces"}
    assert read["real_faces"]["prob_kind"] == "choice" and read["real_faces"]["forget"] is False
    assert read["real_faces"]["source"] == str(tmp_path / "real_faces.json")
    assert logs.completed_tasks(tmp_path) == {"forget_captions", "real_faces"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_summary_is_not_a_task(tmp_path):
    logs.write_task_log(tmp_path, "tofu_forget", make_log())
    logs.write_summary(tmp_path, {"tasks": {}})
    assert logs.completed_tasks(tmp_path) == {"tofu_forget"}
    assert set(logs.read_eval(tmp_path)) == {"tofu_forget"}
    assert logs.completed_tasks(tmp_path / "missing") == set()


def test_samples_are_ordered_by_integer_index():
    log = {"task": "x", "avg_gt_loss": {"10": 3.0, "2": 2.0, "0": 1.0}}
    assert logs.samples(log, "avg_gt_loss") == [1.0, 2.0, 3.0]


def test_write_refuses_a_log_missing_a_key(tmp_path):
    log = make_log()
    del log["avg_paraphrased_loss"]
    with pytest.raises(UserError, match="forget_captions.json.*'avg_paraphrased_loss'"):
        logs.write_task_log(tmp_path, "forget_captions", log)
    assert logs.completed_tasks(tmp_path) == set()


def test_unknown_task_needs_its_header(tmp_path):
    with pytest.raises(UserError, match="'forget' and 'prob_kind'"):
        logs.write_task_log(tmp_path, "my_task", make_log())
    logs.write_task_log(tmp_path, "my_task", make_log(forget=False, prob_kind="choice"))
    assert logs.read_eval(tmp_path)["my_task"]["prob_kind"] == "choice"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda log: log.pop("average_perturb_loss"), "missing per-sample key 'average_perturb_loss'"),
        (lambda log: log["avg_paraphrased_loss"].pop("1"), "cover different samples"),
        (lambda log: log["avg_gt_loss"].update({"0": "high"}), "'avg_gt_loss' must hold one finite number"),
        (lambda log: log["avg_gt_loss"].update({"0": math.nan}), "'avg_gt_loss' must hold one finite number"),
        (
            lambda log: log["average_perturb_loss"].update({"0": []}),
            "non-empty list of finite numbers ≥ 0 \\(losses\\) per sample; row 0 holds \\[\\]",
        ),
        (lambda log: log.update(prob_kind="both"), "'prob_kind' must be one of"),
        (lambda log: log.update(task="retain_captions"), "says 'retain_captions'"),
    ],
)
def test_bad_logs_are_named_by_file_and_key(tmp_path, change, message):
    log = {"task": "forget_captions", **make_log()}
    change(log)
    (tmp_path / "forget_captions.json").write_text(json.dumps(log))
    with pytest.raises(UserError, match=message) as error:
        logs.read_eval(tmp_path)
    assert "forget_captions.json" in str(error.value)


@pytest.mark.parametrize("rouge", ["absent", "empty"])
def test_rouge_may_come_from_generated_text_only(tmp_path, rouge):
    # The official CLEAR evaluation writes "rougeL_recall": {} and recomputes ROUGE from the
    # generations: an empty key is no ROUGE, not rows that disagree with the other keys.
    log = make_log()
    if rouge == "absent":
        del log["rougeL_recall"]
    else:
        log["rougeL_recall"] = {}
    logs.write_task_log(tmp_path, "tofu_retain", log)
    assert not logs.has_rouge(logs.read_eval(tmp_path)["tofu_retain"])
    del log["generated_text"]
    with pytest.raises(
        UserError, match="'generated_text' \\(ROUGE is recomputed from it when 'rougeL_recall'"
    ):
        logs.write_task_log(tmp_path, "tofu_forget", log)


def test_unreadable_inputs(tmp_path):
    with pytest.raises(UserError, match="no such eval directory"):
        logs.read_eval(tmp_path / "nope")
    with pytest.raises(UserError, match="holds no task logs"):
        logs.read_eval(tmp_path)
    (tmp_path / "forget_captions.json").write_text("{broken")
    with pytest.raises(UserError, match="forget_captions.json: not valid JSON"):
        logs.read_eval(tmp_path)


TOFU_KEYS = [
    "eval_log.json",
    "eval_real_author_wo_options.json",
    "eval_real_world_wo_options.json",
    "eval_log_forget.json",
]
CLEAR_KEYS = [
    "eval_log.json",
    "eval_log_forget.json",
    "eval_forget_facerec.json",
    "eval_retain_facerec.json",
    "eval_real_faces_wo_options.json",
    "eval_real_world_wo_options.json",
]


def test_official_formats_are_told_apart_by_their_file_names(tmp_path):
    tofu = tmp_path / "tofu.json"
    tofu.write_text(json.dumps({key: make_log() for key in TOFU_KEYS}))
    read = logs.read_eval(tofu)
    assert set(read) == {"tofu_retain", "tofu_real_authors", "tofu_world_facts", "tofu_forget"}
    assert read["tofu_world_facts"]["prob_kind"] == "choice" and read["tofu_forget"]["forget"] is True
    assert "[eval_log_forget.json]" in read["tofu_forget"]["source"]

    clear_dir = tmp_path / "clear_run"
    clear_dir.mkdir()
    (clear_dir / "eval_log_aggregated.json").write_text(json.dumps({key: make_log() for key in CLEAR_KEYS}))
    read = logs.read_eval(clear_dir)
    assert set(read) == {
        "retain_captions",
        "forget_captions",
        "forget_facerec",
        "retain_facerec",
        "real_faces",
        "real_world",
    }
    assert read["real_world"]["prob_kind"] == "choice" and read["forget_captions"]["prob_kind"] == "answer"


def test_official_per_task_files_in_a_directory(tmp_path):
    for key in TOFU_KEYS:
        (tmp_path / key).write_text(json.dumps(make_log()))
    assert "tofu_real_authors" in logs.read_eval(tmp_path)


def test_ambiguous_official_log_needs_a_format(tmp_path):
    shared = tmp_path / "shared.json"
    shared.write_text(json.dumps({"eval_log.json": make_log(), "eval_log_forget.json": make_log()}))
    with pytest.raises(UserError, match="--format"):
        logs.read_eval(shared)
    assert set(logs.read_eval(shared, "clear")) == {"retain_captions", "forget_captions"}
    assert set(logs.read_eval(shared, "tofu")) == {"tofu_retain", "tofu_forget"}


def test_format_detection_errors():
    with pytest.raises(UserError, match="neither format"):
        detect_format(["eval_forget_facerec.json", "eval_real_author_wo_options.json"], "x.json")
    with pytest.raises(UserError, match=r"unknown TOFU task file\(s\) \['eval_extra'\]"):
        detect_format(["eval_real_author_wo_options.json", "eval_extra.json"], "x.json")
    with pytest.raises(UserError, match="unknown log format"):
        detect_format(["eval_log.json"], "x.json", "llava")
