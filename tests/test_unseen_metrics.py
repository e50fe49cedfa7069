"""Unseen photos in the evaluation: opt-in tasks, read only by the metrics of unseen photos."""

import math

import pytest

from clearbench.evaluate.metrics import compute_metrics
from clearbench.evaluate.tasks import TASKS, select_tasks


def _log(task, losses, forget, prob_kind="answer"):
    rows = [str(i) for i in range(len(losses))]
    return {
        "task": task,
        "forget": forget,
        "prob_kind": prob_kind,
        "avg_gt_loss": dict(zip(rows, losses)),
        "avg_paraphrased_loss": dict(zip(rows, losses)),
        "average_perturb_loss": {row: [loss + math.log(4)] for row, loss in zip(rows, losses)},
        "rougeL_recall": dict.fromkeys(rows, 0.5),
    }


def test_unseen_tasks_are_opt_in_and_read_the_unseen_configs():
    assert not any(task.unseen for task in select_tasks())
    chosen = [task.name for task in select_tasks(unseen=True) if task.unseen]
    assert chosen == [
        "forget_captions_unseen", "retain_captions_unseen", "forget_facerec_unseen", "retain_facerec_unseen",
    ]  # fmt: skip
    assert TASKS["forget_captions_unseen"].config("forget05") == "forget05_unseen"
    assert TASKS["retain_facerec_unseen"].config("forget10") == "retain_unseen"
    assert [t.name for t in select_tasks(["forget_captions_unseen"])] == ["forget_captions_unseen"]


def test_unseen_photos_feed_their_own_forget_and_retain_and_nothing_else():
    # Every row's answer has loss ln 2 (p̃ = 1/2), its perturbation ln 2 + ln 4: R = 4, so
    # truth_preference = 1 − 1/4 = 0.75 and Forget = H(0.5, 0.75) = 0.6 on the trained photos.
    trained = {
        "forget_captions": _log("forget_captions", [math.log(2)] * 4, True),
        "retain_captions": _log("retain_captions", [math.log(2)] * 4, False),
    }
    # On unseen photos p̃ = 1/4: Forget unseen = H(0.25, 0.75) = 0.375.
    unseen = {
        "forget_captions_unseen": _log("forget_captions_unseen", [math.log(4)] * 2, True),
        "retain_captions_unseen": _log("retain_captions_unseen", [math.log(4)] * 2, False),
    }
    alone = compute_metrics(trained)
    both = compute_metrics(trained | unseen)
    assert both["forget"] == alone["forget"] == pytest.approx(0.6)
    assert both["retain"] == alone["retain"] and both["model_utility"] == alone["model_utility"]
    assert both["forget_unseen"] == both["retain_unseen"] == pytest.approx(0.375)
    assert both["tasks_used"]["forget_unseen"] == ["forget_captions_unseen"]
    assert all("unseen" not in task for key, used in both["tasks_used"].items() if "unseen" not in key
               for task in used)  # fmt: skip
    assert alone["forget_unseen"] is None and "eval.unseen_photos" in alone["unavailable"]["forget_unseen"]


def test_unseen_photos_are_evaluated_only_on_request_and_leave_default_jobs_as_they_were(tmp_path):
    from types import SimpleNamespace

    from clearbench.run.config import load_config
    from clearbench.run.pipeline import Pipeline

    run = SimpleNamespace(job=SimpleNamespace(key="k"), snapshot=None, forget_split=None, name="target")
    specs = {}
    for unseen in (False, True):
        config = load_config(None, [f"eval.unseen_photos={str(unseen).lower()}"])
        pipeline = Pipeline(config, tmp_path / str(unseen), log=lambda line: None)
        pipeline.data_revision = "sha256:test"
        pipeline.eval_tasks = select_tasks(unseen=config.eval.unseen_photos)
        specs[unseen] = pipeline._evaluation(run).spec
    assert specs[False]["tasks"] is None  # as before: the default evaluation keeps its job key
    assert [n for n in specs[True]["tasks"] if n.endswith("_unseen")] == [
        "forget_captions_unseen", "retain_captions_unseen", "forget_facerec_unseen", "retain_facerec_unseen",
    ]  # fmt: skip
    assert {k: v for k, v in specs[True].items() if k != "tasks"} == {
        k: v for k, v in specs[False].items() if k != "tasks"
    }
