"""Hostile command lines: wrong paths, names and options are refused in one line, exit 2, and
nothing is written."""

from __future__ import annotations

import pytest


@pytest.fixture
def checkpoint(tmp_path):
    """A model directory with a config only (enough to pick the adapter; no weights are loaded)."""
    path = tmp_path / "checkpoint"
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llava"}')
    return path


def _cases(pristine, tmp_path, checkpoint):
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "no-card").mkdir()
    (tmp_path / "not-a-model").mkdir()
    out = tmp_path / "out"
    finetune = ["finetune", "--model", "tiny-llava", "--data", pristine, "--out", out]
    unlearn = ["unlearn", "--model", checkpoint, "--data", pristine, "--out", out]
    evaluate = ["eval", "--model", checkpoint, "--data", pristine, "--out", out]
    preview = ["data", "preview", pristine, "--out", out / "grid.png"]
    return {
        "check: no such directory": (["data", "check", tmp_path / "nope"], "no such directory"),
        "check: a file": (["data", "check", tmp_path / "a-file"], "is a file, not a dataset directory"),
        "check: no card": (["data", "check", tmp_path / "no-card"], "no README.md"),
        "preview: unknown config": (preview + ["--config", "fulll"], "has no config 'fulll' (it has:"),
        "preview: count 0": (preview + ["--config", "full", "--count", "0"], "--count and --columns"),
        "preview: text config": (
            preview + ["--config", "tofu_full"],
            "config 'tofu_full' has no image column",
        ),
        "eval: missing model": (evaluate[:2] + [tmp_path / "nope"] + evaluate[3:], "unknown model"),
        "eval: not a checkpoint": (
            evaluate[:2] + [tmp_path / "not-a-model"] + evaluate[3:],
            "is not a model checkpoint (no config.json)",
        ),
        "eval: unknown task": (evaluate + ["--tasks", "forget_captions,nope"], "unknown task(s) nope"),
        "eval: max rows 0": (evaluate + ["--max-rows", "0"], "--max-rows must be at least 1"),
        "eval: missing data": (evaluate[:4] + [tmp_path / "nope"] + evaluate[5:], "no such directory"),
        "finetune: missing data": (
            finetune[:4] + [tmp_path / "nope"] + finetune[5:] + ["--split", "full"],
            "no such directory",
        ),
        "finetune: empty split": (finetune + ["--split", ","], "no training config named"),
        "finetune: unknown config": (finetune + ["--split", "full,fulll"], "has no config 'fulll'"),
        "finetune: negative lr": (finetune + ["--lr", "-1"], "--learning-rate must be a positive number"),
        "unlearn: unknown method": (unlearn + ["--method", "forgetall"], "forgetall"),
        "unlearn: unknown forget config": (
            unlearn + ["--method", "ga", "--forget", "forget11"],
            "has no config 'forget11'",
        ),
        "run: unknown preset": (["run", "llava-9b", "--out", out], "unknown preset 'llava-9b'"),
    }


CASES = [
    "check: no such directory",
    "check: a file",
    "check: no card",
    "preview: unknown config",
    "preview: count 0",
    "preview: text config",
    "eval: missing model",
    "eval: not a checkpoint",
    "eval: unknown task",
    "eval: max rows 0",
    "eval: missing data",
    "finetune: missing data",
    "finetune: empty split",
    "finetune: unknown config",
    "finetune: negative lr",
    "unlearn: unknown method",
    "unlearn: unknown forget config",
    "run: unknown preset",
]


@pytest.mark.parametrize("case", CASES)
def test_refused_in_one_line_without_writing(case, pristine, tmp_path, checkpoint, refused):
    argv, message = _cases(pristine, tmp_path, checkpoint)[case]
    refused(argv, message)
    assert not (tmp_path / "out").exists()
