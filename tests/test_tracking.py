"""--report-to: every training stage's curve and each model's final metrics reach the trackers through
accelerate; TensorBoard's event files, read back with TensorBoard's own reader, hold exactly the values
of train_log.jsonl. A tracker that is not installed is one message before any training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from clearbench.cli import main  # noqa: E402
from clearbench.errors import UserError  # noqa: E402
from clearbench.train import tracking  # noqa: E402

FAST = ["--max-steps", "3", "--lr", "1e-3", "--batch-size", "2", "--grad-accum", "1", "--lora-r", "0"]


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def logged(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_finetune_and_unlearn_curves_reach_tensorboard(world, tmp_path, capsys):
    source, model = world
    target = tmp_path / "target"
    common = ["--data", source, *FAST, "--report-to", "tensorboard"]
    assert (
        main(["finetune", "--model", str(model), "--split", "tofu_full", "--out", str(target), *common]) == 0
    )
    curve = scalars(target / "tracking" / "finetune_tofu_full")
    log = logged(target)
    assert [step for step, _ in curve["train/loss"]] == [1, 2, 3]
    assert [value for _, value in curve["train/loss"]] == pytest.approx(
        [line["loss"] for line in log], rel=1e-6
    )
    assert [value for _, value in curve["train/lr"]] == pytest.approx([line["lr"] for line in log], rel=1e-6)

    unlearned = tmp_path / "npo"
    args = ["unlearn", "--model", str(target), "--forget", "tofu_forget10", "--retain", "tofu_retain90"]
    assert main([*args, "--method", "npo", "--set", "retain_weight=1", "--out", str(unlearned), *common]) == 0
    curve = scalars(unlearned / "tracking" / "unlearn_npo")
    log = logged(unlearned)
    assert {"train/loss", "train/npo", "train/retain_nll", "train/lr"} <= set(curve)
    assert [v for _, v in curve["train/retain_nll"]] == pytest.approx(
        [line["retain_nll"] for line in log], rel=1e-6
    )


def test_a_stage_names_its_runs_and_final_metrics_are_logged(world, tmp_path):
    from clearbench.train.finetune import finetune
    from clearbench.train.options import TrainOptions

    source, model = world
    with tracking.reporting(["tensorboard"], tmp_path / "tb"), tracking.stage("gold"):
        options = TrainOptions(max_steps=2, batch_size=2, learning_rate=1e-3)
        finetune(str(model), source, "tofu_retain90", tmp_path / "gold", options)
        metrics = {
            "images": {"forget_quality_ks": 0.25, "model_utility": 0.5, "note": "text"},
            "nan": float("nan"),
        }
        assert tracking.log_final_metrics("npo both", metrics)
    assert [step for step, _ in scalars(tmp_path / "tb" / "gold")["train/loss"]] == [1, 2]
    final = scalars(tmp_path / "tb" / "metrics-npo_both")
    assert final == {
        "metrics/images/forget_quality_ks": [(0, 0.25)],
        "metrics/images/model_utility": [(0, 0.5)],
    }
    assert not tracking.log_final_metrics("outside", metrics)  # no reporting active: nothing written
    assert tracking.hyperparameters({"lora": {"r": 8, "targets": None}, "lr": 1e-5}) == {
        "lora.r": 8,
        "lora.targets": "none",
        "lr": 1e-5,
    }


@pytest.mark.parametrize(
    ("trackers", "message"),
    [
        (
            ["wandb"],
            "--report-to: wandb is not installed (pip install wandb); tensorboard works offline with no account",
        ),
        (
            ["tensorboard", "comet"],
            "--report-to: unknown tracker 'comet'; choose from tensorboard, wandb, mlflow",
        ),
    ],
)
def test_a_missing_or_unknown_tracker_stops_before_training(
    world, tmp_path, monkeypatch, capsys, trackers, message
):
    monkeypatch.setattr(tracking, "_available", lambda name: name == "tensorboard")
    source, model = world
    out = tmp_path / "out"
    args = ["finetune", "--model", str(model), "--data", source, "--split", "tofu_full", "--out", str(out)]
    assert main([*args, *FAST, "--report-to", *trackers]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"clearbench: error: {message}"
    assert not out.exists()
    with pytest.raises(UserError, match="config key 'report_to': wandb is not installed"):
        tracking.check_trackers(["wandb"], "config key 'report_to'")


@pytest.mark.slow
def test_a_run_reports_every_stage_and_every_model_to_tensorboard(tmp_path):
    from clearbench.run.config import load_config
    from clearbench.run.pipeline import Pipeline

    settings = [
        "data.persons=5",
        "pretrain.max_steps=2",
        "finetune.max_steps=3",
        "unlearn.max_steps=2",
        "unlearn.methods=[ga]",
        "eval.max_rows=2",
        "eval.max_new_tokens=2",
        "eval.bootstrap=0",
        "attack.attacks=[]",
        "report_to=[tensorboard]",
    ]
    Pipeline(load_config(None, settings), tmp_path, log=lambda line: None).run()
    runs = {path.name for path in (tmp_path / "tracking").iterdir()}
    assert {"base", "target", "gold", "ga"} <= runs  # one run per training job, named by it
    assert {"metrics-target", "metrics-gold", "metrics-ga"} <= runs
    assert [step for step, _ in scalars(tmp_path / "tracking" / "ga")["train/loss"]] == [1, 2]
    final = scalars(tmp_path / "tracking" / "metrics-gold")
    assert final["metrics/forget_quality"] == [(0, pytest.approx(1.0))]  # gold against itself
