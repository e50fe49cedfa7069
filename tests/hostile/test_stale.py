"""Nothing stale: saved training state must match its weights (step and hash), an evaluation resumes
only on the same model weights and data, and the data-revision check survives a deleted summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from clearbench import files
from clearbench.errors import UserError


def killed_run(out: Path, *, max_steps: int = 6, warmup: int = 0, kill_at: int | None = 3):
    """A tiny training loop (test_train_loop's model), killed in step `kill_at + 1` after saving."""
    from test_train_loop import Killed, lm_loss, rows, tiny

    from clearbench.train.data import sample_loader
    from clearbench.train.loop import LoopConfig, run_loop

    model, processor, adapter = tiny()
    loader = sample_loader(rows(), adapter, processor, batch_size=4)
    config = LoopConfig(max_steps=max_steps, learning_rate=1e-3, save_every=1, warmup_steps=warmup)

    def loss_fn(model, batch, step):
        if step == kill_at:
            raise Killed
        return lm_loss(model, batch, step)

    try:
        return run_loop(model=model, loader=loader, loss_fn=loss_fn, config=config, out_dir=out)
    except Killed:
        return None


def edit_progress(out: Path, **changes) -> None:
    path = out / "loop_state" / "progress.json"
    progress = json.loads(path.read_text())
    path.write_text(json.dumps(progress | changes))


def test_progress_edited_to_a_later_step_is_refused(tmp_path):
    killed_run(tmp_path)
    edit_progress(tmp_path, step=5)  # the weights beside it were saved after step 3
    with pytest.raises(UserError, match="says step 5, but the weights saved beside it are not"):
        killed_run(tmp_path, kill_at=None)


def test_progress_past_the_end_of_training_is_refused(tmp_path):
    killed_run(tmp_path)
    edit_progress(tmp_path, step=40)
    with pytest.raises(UserError, match="step 40 is past the 6 steps this training runs"):
        killed_run(tmp_path, kill_at=None)


@pytest.mark.parametrize("text", ["{not json", "[" * 5000 + "]" * 5000, '{"step": "3"}'])
def test_malformed_progress_is_named(tmp_path, text):
    killed_run(tmp_path)
    (tmp_path / "loop_state" / "progress.json").write_text(text)
    with pytest.raises(UserError, match="progress.json"):
        killed_run(tmp_path, kill_at=None)


def test_untouched_state_resumes(tmp_path):
    killed_run(tmp_path)
    result = killed_run(tmp_path, kill_at=None)
    assert result.status == "completed" and result.steps == 6


def test_warmup_as_long_as_training_is_warned_naming_both(tmp_path, capsys):
    killed_run(tmp_path, max_steps=3, warmup=20, kill_at=None)
    assert "warmup_steps 20 ≥ the 3 optimizer steps" in capsys.readouterr().err


def test_warmup_that_keeps_the_learning_rate_at_zero_is_refused(tmp_path):
    with pytest.raises(UserError, match="warmup_steps 20 ≥ the 1 optimizer step"):
        killed_run(tmp_path, max_steps=1, warmup=20, kill_at=None)


def test_weights_hash_sees_a_replaced_file_at_the_same_path(tmp_path):
    save_file({"w": np.ones(2, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    before = files.record_weights(tmp_path)
    assert files.weights_hash(tmp_path) == before
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    assert files.weights_hash(tmp_path) != before


# ---- evaluation resume keyed on content --------------------------------------------------------
FAST = dict(max_rows=1, max_new_tokens=2, progress=False, batch_size=1)


@pytest.fixture
def model_copy(world, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(world[1], tmp_path / "model"))


def replace_weights(model: Path) -> None:
    """Other weights at the same path (as a retrained or downloaded model would be)."""
    from safetensors.numpy import load_file

    weights = load_file(str(model / "model.safetensors"))
    save_file({name: value + 0.01 for name, value in weights.items()}, str(model / "model.safetensors"))


def test_eval_resume_refuses_weights_replaced_at_the_same_path(world, model_copy, tmp_path):
    from clearbench.evaluate.runner import evaluate_model

    out = tmp_path / "eval"
    evaluate_model(model_copy, world[0], "forget10", out, tasks=["tofu_forget"], **FAST)
    replace_weights(model_copy)
    with pytest.raises(UserError, match=r"other settings \(model_weights 'sha256:"):
        evaluate_model(model_copy, world[0], "forget10", out, tasks=["tofu_forget", "tofu_retain"], **FAST)
    assert not (out / "tofu_retain.json").exists()


def test_eval_resume_refuses_data_regenerated_at_the_same_path(world, model_copy, tmp_path):
    import shutil

    from clearbench.evaluate.runner import evaluate_model
    from hostile.helpers import read_table, set_value

    data = Path(shutil.copytree(world[0], tmp_path / "data"))
    out = tmp_path / "eval"
    evaluate_model(model_copy, data, "forget10", out, tasks=["tofu_forget"], **FAST)
    answer = read_table(data, "tofu_world_facts_perturbed")["answer"][0]
    set_value(data, "tofu_world_facts_perturbed", "answer", 0, answer + " indeed")
    with pytest.raises(UserError, match=r"other settings \(data_revision 'sha256:"):
        evaluate_model(model_copy, data, "forget10", out, tasks=["tofu_forget", "tofu_retain"], **FAST)


def test_eval_of_a_moved_model_and_run_resumes(world, model_copy, tmp_path):
    from clearbench.evaluate.runner import evaluate_model

    out = tmp_path / "eval"
    evaluate_model(model_copy, world[0], "forget10", out, tasks=["tofu_forget"], **FAST)
    moved_model, moved_out = model_copy.rename(tmp_path / "moved_model"), out.rename(tmp_path / "moved")
    evaluate_model(moved_model, world[0], "forget10", moved_out, tasks=["tofu_forget", "tofu_retain"], **FAST)
    assert (moved_out / "tofu_retain.json").is_file()


def test_deleting_summary_does_not_skip_the_data_revision_check(world, model_copy, tmp_path):
    from clearbench.evaluate import logs
    from clearbench.evaluate.runner import evaluate_model

    out = evaluate_model(model_copy, world[0], "forget10", tmp_path / "eval", tasks=["tofu_forget"], **FAST)
    revision = logs.data_revision(out)
    assert revision.startswith("sha256:")
    (out / "summary.json").unlink()
    assert logs.data_revision(out) == revision
    (out / ".settings.json").unlink()
    assert logs.data_revision(out) == revision  # from the task log itself


def test_eval_out_that_is_the_model_is_refused(world, model_copy):
    from clearbench.evaluate.runner import evaluate_model

    before = sorted(p.name for p in model_copy.iterdir())
    with pytest.raises(UserError, match="would overwrite the input"):
        evaluate_model(model_copy, world[0], "forget10", model_copy, tasks=["tofu_forget"], **FAST)
    assert sorted(p.name for p in model_copy.iterdir()) == before


def test_eval_of_a_corrupt_safetensors_header_names_the_file(world, model_copy, tmp_path):
    from clearbench.evaluate.runner import evaluate_model

    weights = model_copy / "model.safetensors"
    weights.write_bytes(b"\xff" * 8 + weights.read_bytes()[8:])
    with pytest.raises(UserError, match=r"model.safetensors: not a readable safetensors file"):
        evaluate_model(model_copy, world[0], "forget10", tmp_path / "eval", tasks=["tofu_forget"], **FAST)


# ---- a moved or copied run folder resumes ------------------------------------------------------------
def test_a_training_output_in_a_moved_run_is_still_its_requests(tmp_path):
    from types import SimpleNamespace

    from clearbench.train import steps

    accelerator = SimpleNamespace(
        is_main_process=True, num_processes=1, distributed_type=SimpleNamespace(name="NO")
    )

    def request(root: Path) -> dict:
        return {
            "kind": "finetune",
            "model": str(root / "jobs" / "base" / "output"),
            "data": str(root / "data"),
        }

    run = tmp_path / "R"
    for folder in ("data", "jobs/base/output"):
        (run / folder).mkdir(parents=True)
    out = run / "jobs" / "target" / "output"
    assert steps.claim(out, request(run)) is None
    steps.record_run(out, accelerator, request(run))
    moved = run.rename(tmp_path / "R2")
    out = moved / "jobs" / "target" / "output"
    assert steps.claim(out, request(moved)) is None  # resumed, not "another finetune (data: R → R2)"
    with pytest.raises(UserError, match="holds the output of another finetune"):
        steps.claim(out, request(moved) | {"data": str(tmp_path / "elsewhere")})


def test_metrics_still_compare_data_revisions_after_summary_json_is_deleted(tmp_path, refused):
    """Candidate and gold evaluated on other data: found from the task logs when no summary is left."""
    from test_logs import make_log

    for name, revision in (("candidate", "sha256:aaa"), ("gold", "sha256:bbb")):
        folder = tmp_path / name
        folder.mkdir()
        log = {"task": "forget_captions", **make_log(), "data_revision": revision}
        (folder / "forget_captions.json").write_text(json.dumps(log))
    refused(
        ["metrics", "--candidate", tmp_path / "candidate", "--gold", tmp_path / "gold"],
        "was evaluated on data revision sha256:aaa but gold",
    )


@pytest.mark.parametrize(
    "record, says",
    [
        ('{"status": "completed", "final_loss": "low"}', "key 'final_loss': expected a number, found 'low'"),
        ('{"status": "completed", "steps": "6"}', "key 'steps': expected a whole number"),
        ('{"status": ', "result.json: not valid JSON"),
    ],
)
def test_a_malformed_result_is_named_not_taken_as_done(tmp_path, record, says):
    from clearbench.train import steps

    (tmp_path / "result.json").write_text(record)
    with pytest.raises(UserError, match=says):
        steps.finished(tmp_path)


def test_a_non_numeric_loss_in_saved_progress_is_named(tmp_path):
    killed_run(tmp_path)
    edit_progress(tmp_path, loss="low")
    with pytest.raises(UserError, match="progress.json, key 'loss': expected a number, found 'low'"):
        killed_run(tmp_path, kill_at=None)
