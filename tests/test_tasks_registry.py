"""A task is declared once (evaluate/tasks.py); official file maps, log headers, metric groups and
the report's task order are all read off that declaration."""

from __future__ import annotations

import json

import pytest

from clearbench.evaluate import logs, official
from clearbench.evaluate.tasks import GROUPS, HALVES, TASKS, Task, register_task, report_order, select_tasks
from clearbench.report import ReportEntry
from clearbench.report.plots import task_names, tasks_figure

BUILT_IN = list(TASKS)


def make_log(rows=3, paraphrased=0.7):
    """A per-sample log with official keys only: no header."""
    index = [str(i) for i in range(rows)]
    return {
        "avg_gt_loss": {i: 0.5 for i in index},
        "avg_paraphrased_loss": {i: paraphrased * (1 + int(i)) for i in index},
        "average_perturb_loss": {i: [1.0, 2.0] for i in index},
        "rougeL_recall": {i: 1.0 for i in index},
    }


@pytest.fixture
def toy_task():
    """A new retain task on the image half, declared once, and taken out again afterwards."""
    task = register_task(
        Task(
            "toy_retain_scenes",
            half="clear",
            group="retain",
            config_template="retain_perturbed",
            question="caption",
            answer_column="caption",
            paraphrase_column="paraphrased_caption",
            perturbed_column="perturbed_captions",
            prob_kind="answer",
            official_file="eval_toy_scenes",
            label="toy scenes",
        )
    )
    yield task
    TASKS.remove(task.name)
    assert list(TASKS) == BUILT_IN


def test_the_declaration_gives_the_published_tables():
    # Pinned from the official TOFU / CLEAR code: which file holds which task, per format.
    assert official.files("clear") == {
        "eval_log_forget": "forget_captions",
        "eval_log": "retain_captions",
        "eval_forget_facerec": "forget_facerec",
        "eval_retain_facerec": "retain_facerec",
        "eval_real_faces_wo_options": "real_faces",
        "eval_real_world_wo_options": "real_world",
    }
    assert official.files("tofu") == {
        "eval_log_forget": "tofu_forget",
        "eval_log": "tofu_retain",
        "eval_real_author_wo_options": "tofu_real_authors",
        "eval_real_world_wo_options": "tofu_world_facts",
    }
    groups = {
        group: [t.name for t in TASKS.values() if t.group == group and not t.unseen] for group in GROUPS
    }
    assert groups == {
        "forget": ["forget_captions", "forget_facerec", "tofu_forget"],
        "retain": ["retain_captions", "retain_facerec", "tofu_retain"],
        "real": ["real_faces", "real_world", "tofu_real_authors", "tofu_world_facts"],
        "holdout": ["holdout_captions", "tofu_holdout"],
    }
    assert [t.name for t in TASKS.values() if t.facerec and not t.unseen] == [
        "forget_facerec",
        "retain_facerec",
    ]
    assert [t.name for t in TASKS.values() if t.prob_kind == "answer" and not t.unseen] == [
        "forget_captions",
        "retain_captions",
        "tofu_forget",
        "tofu_retain",
        "holdout_captions",
        "tofu_holdout",
    ]
    assert [t.name for t in TASKS.values() if t.text_only] == [n for n in TASKS if n.startswith("tofu_")]
    # The report: per half, forget, retain, real.
    assert report_order(reversed([name for name in BUILT_IN if not TASKS[name].unseen])) == [
        "forget_captions",
        "forget_facerec",
        "retain_captions",
        "retain_facerec",
        "real_faces",
        "real_world",
        "holdout_captions",
        "tofu_forget",
        "tofu_retain",
        "tofu_real_authors",
        "tofu_world_facts",
        "tofu_holdout",
    ]
    assert report_order(["mystery", "tofu_forget", "another"]) == ["tofu_forget", "another", "mystery"]
    assert set(official.FORMATS) == set(HALVES)


def test_a_registered_task_flows_everywhere(toy_task, tmp_path):
    from clearbench.evaluate.metrics import compute_metrics, tasks_for

    # Evaluation: selected by default, after the built-in tasks; images, so not for text-only models.
    assert select_tasks()[-1] is toy_task and toy_task not in select_tasks(has_vision=False)
    assert toy_task.config("forget05") == "retain_perturbed" and not toy_task.forget
    # The official file map of its half, and format detection.
    assert official.files("clear")["eval_toy_scenes"] == "toy_retain_scenes"
    assert "eval_toy_scenes" not in official.files("tofu")
    assert official.detect_format(["eval_toy_scenes.json", "eval_log.json"], "x.json") == "clear"
    # Log header defaults: a log without header gets `forget` and `prob_kind` from the declaration.
    (tmp_path / "toy_retain_scenes.json").write_text(json.dumps(make_log()))
    read = logs.read_eval(tmp_path)["toy_retain_scenes"]
    assert (read["forget"], read["prob_kind"]) == (False, "answer")
    aggregated = tmp_path / "official.json"
    aggregated.write_text(json.dumps({"eval_toy_scenes.json": make_log(), "eval_log.json": make_log()}))
    assert set(logs.read_eval(aggregated)) == {"toy_retain_scenes", "retain_captions"}
    # Metric groups: a retain task feeds the retain aggregate and model utility.
    evaluated = {name: make_log() for name in ("forget_captions", "retain_captions", "toy_retain_scenes")}
    for compat in ("clearbench", "clear-official"):
        chosen = tasks_for(evaluated, compat)
        assert chosen["retain"] == chosen["model_utility"] == ["retain_captions", "toy_retain_scenes"]
        assert chosen["forget_quality"] == ["forget_captions"]
    result = compute_metrics(evaluated, {name: make_log(paraphrased=0.2) for name in evaluated})
    assert result["tasks_used"]["retain"] == ["retain_captions", "toy_retain_scenes"]
    assert result["retain"] is not None and result["forget_quality"] is not None
    # Report order: with the retain tasks of its half, and its label on the figure.
    entry = ReportEntry("m", "target", metrics=result)
    assert task_names([entry]) == ["forget_captions", "retain_captions", "toy_retain_scenes"]
    ticks = [t.get_text() for t in tasks_figure([entry]).axes[-1].get_xticklabels()]
    assert ticks == ["forget\ncaptions", "retain\ncaptions", "toy\nscenes"]
    assert report_order(["tofu_retain", "toy_retain_scenes", "real_faces", "retain_facerec"]) == [
        "retain_facerec",
        "toy_retain_scenes",
        "real_faces",
        "tofu_retain",
    ]


def test_declarations_are_checked(toy_task):
    with pytest.raises(ValueError, match="already declared"):
        register_task(toy_task)
    with pytest.raises(ValueError, match="'eval_toy_scenes' is already 'toy_retain_scenes'"):
        register_task(Task(**{**vars(toy_task), "name": "toy_two"}))
    for field, value in (("half", "audio"), ("group", "kept"), ("prob_kind", "both"), ("question", "ask")):
        with pytest.raises(ValueError, match=f"{field} '{value}' is not one of"):
            Task(**{**vars(toy_task), field: value})
