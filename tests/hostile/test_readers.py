"""Guarded readers: every JSON a user or another process could have written is read as a regular file
of bounded size and nesting, and a bad one ends in one line naming the file (and key and row)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from safetensors.numpy import save_file

from clearbench import files
from clearbench.errors import UserError


def task_log(rows: int = 2, **changes) -> dict:
    index = [str(i) for i in range(rows)]
    log = {
        "task": "forget_captions",
        "avg_gt_loss": dict.fromkeys(index, 0.5),
        "avg_paraphrased_loss": dict.fromkeys(index, 0.6),
        "average_perturb_loss": {i: [0.9, 1.1] for i in index},
        "rougeL_recall": dict.fromkeys(index, 0.5),
    }
    for key, (row, value) in changes.items():
        log[key][str(row)] = value
    return log


def write_eval(folder, log) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "forget_captions.json").write_text(json.dumps(log))
    return str(folder)


def test_dev_zero_as_an_eval_log_is_refused(tmp_path, refused):
    link = tmp_path / "log.json"
    os.symlink("/dev/zero", link)
    refused(["metrics", "--candidate", link], f"{link}: not a regular file")


def test_dev_zero_as_a_task_log_in_an_eval_folder_is_refused(tmp_path, refused):
    folder = tmp_path / "eval"
    folder.mkdir()
    os.symlink("/dev/zero", folder / "forget_captions.json")
    refused(["metrics", "--candidate", folder], "forget_captions.json: not a regular file")


def test_a_fifo_as_an_eval_log_is_refused_without_blocking(tmp_path, refused):
    fifo = tmp_path / "log.json"
    os.mkfifo(fifo)
    refused(["metrics", "--candidate", fifo], f"{fifo}: not a regular file")


def test_deeply_nested_json_is_refused(tmp_path, refused):
    log = tmp_path / "log.json"
    log.write_text("[" * 100_000 + "]" * 100_000)
    refused(["metrics", "--candidate", log], f"{log}: nested deeper than {files.MAX_DEPTH} levels")


def test_nesting_below_the_recursion_limit_is_refused_too(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("[" * 200 + "]" * 200)
    with pytest.raises(UserError, match="nested deeper than 64"):
        files.read_json(path)
    path.write_text("[" * 64 + "]" * 64)
    assert files.depth(files.read_json(path)) == 64


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(list(range(1000))))
    with pytest.raises(UserError, match=r"big.json: \d+ bytes, more than the 100 allowed"):
        files.read_json(path, limit=100)


def test_malformed_json_in_a_runs_records_is_named(tmp_path, refused):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("{}\n")
    (run / "runs.json").write_text('[{"name": "target", ')
    refused(["report", run], "runs.json: not valid JSON")


@pytest.mark.parametrize(
    "key, row, value, expected",
    [
        ("avg_gt_loss", 1, -2.0, "key 'avg_gt_loss' must hold one finite number ≥ 0 (a loss"),
        ("avg_paraphrased_loss", 0, -0.5, "key 'avg_paraphrased_loss' must hold one finite number ≥ 0"),
        ("average_perturb_loss", 1, [0.9, -49.0], "key 'average_perturb_loss' must hold a non-empty list"),
        ("rougeL_recall", 0, 1.5, "key 'rougeL_recall' must hold one number in [0, 1]"),
        ("avg_gt_loss", 0, "0.5", "key 'avg_gt_loss' must hold one finite number"),
        ("avg_gt_loss", 0, None, "key 'avg_gt_loss' must hold one finite number"),
    ],
)
def test_impossible_values_in_an_eval_log_name_file_key_and_row(tmp_path, refused, key, row, value, expected):
    folder = write_eval(tmp_path / "eval", task_log(**{key: (row, value)}))
    line = refused(["metrics", "--candidate", folder], "forget_captions.json: ", f"; row {row} holds")
    assert expected in line


def test_a_possible_log_is_read(tmp_path):
    from clearbench.evaluate.logs import read_eval

    log = read_eval(write_eval(tmp_path / "eval", task_log(avg_gt_loss=(0, 0.0))))["forget_captions"]
    assert log["avg_gt_loss"] == {"0": 0.0, "1": 0.5}


@pytest.mark.parametrize("header", [b"\xff" * 8, (10**12).to_bytes(8, "little"), b"\x05\x00"])
def test_a_corrupt_safetensors_header_is_named(tmp_path, header):
    path = tmp_path / "model.safetensors"
    save_file({"w": np.ones(4, dtype=np.float32)}, str(path))
    path.write_bytes(header + path.read_bytes()[len(header) :])
    with pytest.raises(UserError, match="model.safetensors: not a"):
        files.check_checkpoint(tmp_path)


def test_a_readable_safetensors_file_passes(tmp_path):
    save_file({"w": np.ones(4, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    files.check_checkpoint(tmp_path)


@pytest.mark.parametrize("value", ["0.5", True, float("nan"), float("inf"), None])
def test_number_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(UserError, match="run.json, key 'loss'"):
        files.number(value, "run.json, key 'loss'")


@pytest.mark.parametrize("name", ["job.json", "run.json"])
def test_malformed_state_of_an_earlier_run_is_named_on_reuse(tmp_path, name):
    from clearbench.run.reuse import adopt_reference_models
    from hostile.test_links import CONFIG, KEY, fake_run

    earlier = fake_run(tmp_path / "earlier")
    path = earlier / "jobs" / KEY / name if name == "job.json" else earlier / name
    path.write_text('{"kind": ')
    with pytest.raises(UserError, match=f"{name}: not valid JSON"):
        adopt_reference_models(earlier, tmp_path / "new", CONFIG, "rev")
