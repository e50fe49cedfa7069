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
