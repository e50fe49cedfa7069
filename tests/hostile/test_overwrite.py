"""Outputs never overwrite inputs: finetune and unlearn refuse an --out that is (or holds, or lies in)
the model or the data, and a non-empty folder clearbench did not create; nothing is written there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearbench import files
from clearbench.errors import UserError
from clearbench.train import steps


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A plain Hugging Face checkpoint (no run.json): what a user downloads or trains elsewhere."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "mine"}')
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("command", ["finetune", "unlearn"])
def test_out_equal_to_the_model_is_refused(command, checkpoint, tmp_path, refused):
    before = snapshot(checkpoint)
    data = tmp_path / "data"
    data.mkdir()
    args = [command, "--model", checkpoint, "--data", data, "--out", checkpoint]
    args += ["--method", "ga"] if command == "unlearn" else []
    refused(args, f"--out {checkpoint} would overwrite the input {checkpoint}")
    assert snapshot(checkpoint) == before


def test_out_holding_the_model_is_refused(checkpoint, tmp_path, refused):
    refused(
        ["finetune", "--model", checkpoint, "--data", tmp_path / "data", "--out", tmp_path],
        "would overwrite the input",
    )


def test_out_that_is_the_data_is_refused(checkpoint, tmp_path, refused):
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.md").write_text("my data")
    refused(["finetune", "--model", checkpoint, "--data", data, "--out", data], "would overwrite the input")
    assert (data / "README.md").read_text() == "my data" and not (data / files.MARKER).exists()


def test_out_holding_the_users_own_config_is_refused(checkpoint, tmp_path, refused):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text('{"keep": "me"}')
    refused(
        ["finetune", "--model", "tiny-llava", "--data", checkpoint, "--out", out],
        f"--out {out} is a non-empty folder clearbench did not create",
    )
    assert (out / "config.json").read_text() == '{"keep": "me"}' and not (out / files.MARKER).exists()


def test_an_output_clearbench_made_is_claimed_again(tmp_path):
    out = tmp_path / "out"
    request = {"kind": "finetune", "model": "tiny-llava", "data": str(tmp_path / "nowhere")}
    assert steps.claim(out, request) is None and not out.exists()  # nothing written yet
    files.claim_folder(out, "--out")  # as record_run marks it
    (out / "train_log.jsonl").write_text("")  # an interrupted run's files
    assert steps.claim(out, request) is None  # resumed, not refused


def test_an_output_of_an_older_clearbench_without_the_marker_is_still_resumed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    request = {"kind": "finetune", "model": "tiny-llava", "data": "d"}
    (out / "run.json").write_text(json.dumps({"request": request}))
    assert steps.claim(out, request) is None
    with pytest.raises(UserError, match="holds the output of another finetune"):
        steps.claim(out, request | {"data": "other"})
