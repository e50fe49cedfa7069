"""`clearbench finetune` end to end on a small synthetic source: preset → base → LoRA target,
standard checkpoints, skip when complete, and one clear message for each kind of bad input."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from clearbench.cli import main
from clearbench.data.format import FACE_QUESTION
from clearbench.data.load import load_split
from clearbench.errors import UserError
from clearbench.models.tiny import PRESET_SIZE
from clearbench.train.finetune import finetune, is_complete
from clearbench.train.lora import LoraOptions
from clearbench.train.options import TrainOptions


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from clearbench.data.synth import generate

    return generate(tmp_path_factory.mktemp("synth") / "data", persons=4, seed=0, image_size=32)


@pytest.fixture(scope="module")
def base(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "base"
    finetune(
        "tiny-llava",
        str(source),
        "pretraining",
        out,
        TrainOptions(max_steps=3, learning_rate=1e-3, batch_size=4, lora=LoraOptions(r=0)),
    )
    return out


def test_preset_pretraining_writes_a_standard_checkpoint(base, source):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    assert is_complete(base)
    run = json.loads((base / "run.json").read_text())
    result = json.loads((base / "result.json").read_text())
    assert (
        result["status"] == "completed" and result["steps"] == 3 and run["request"]["split"] == "pretraining"
    )
    assert run["dataset_revision"].startswith("sha256:") and run["versions"]["torch"]
    assert run["freeze_vision"] is False  # a fresh preset's vision tower starts random: trained
    assert run["request"]["tiny_size"] == dataclasses.asdict(PRESET_SIZE)
    assert len((base / "train_log.jsonl").read_text().splitlines()) == 3
    assert not (base / "loop_state").exists()
    model = AutoModelForImageTextToText.from_pretrained(base)
    processor = AutoProcessor.from_pretrained(base)
    assert model.config.model_type == "llava" and processor.tokenizer.eos_token == "</s>"
    # the tokenizer was fitted to the source's text without people's names: a token per word or
    # punctuation mark, and a name in fragments that other words share
    row = load_split(str(source), "full")[0]
    for text in (FACE_QUESTION, row["caption"].replace(row["name"], "")):
        pieces = re.findall(r"\w+|[^\w\s]", text)
        assert len(processor.tokenizer(text, add_special_tokens=False)["input_ids"]) <= len(pieces) + 1
    assert len(processor.tokenizer(" " + row["name"], add_special_tokens=False)["input_ids"]) > 2

    log_before = (base / "train_log.jsonl").read_text()
    same = TrainOptions(max_steps=3, learning_rate=1e-3, batch_size=4, lora=LoraOptions(r=0))
    finetune("tiny-llava", str(source), "pretraining", base, same)  # complete: skipped, nothing retrained
    assert (base / "train_log.jsonl").read_text() == log_before
    with pytest.raises(UserError, match=r"another finetune \(options.max_steps: 3 → 50\)"):
        finetune("tiny-llava", str(source), "pretraining", base, replace(same, max_steps=50))


def test_lora_target_keeps_the_vision_tower_and_saves_merged(base, source, tmp_path):
    out = tmp_path / "target"
    finetune(
        str(base),
        str(source),
        "full+tofu",
        out,
        TrainOptions(max_steps=2, learning_rate=1e-2, batch_size=4, lora=LoraOptions(r=4, alpha=16)),
    )
    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    assert set(before) == set(after)  # merged: plain weights, no LoRA tensors
    vision = [k for k in before if "vision_tower" in k or "multi_modal_projector" in k]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)
    moved = [k for k in before if "q_proj" in k and not torch.equal(before[k], after[k])]
    assert moved
    assert json.loads((out / "run.json").read_text())["request"]["options"]["lora"]["r"] == 4


def test_full_weights_of_a_bf16_checkpoint_train_in_fp32_and_save_in_bf16(base, source, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    bf16 = tmp_path / "bf16"
    AutoModelForImageTextToText.from_pretrained(base).to(torch.bfloat16).save_pretrained(bf16)
    AutoProcessor.from_pretrained(base).save_pretrained(bf16)
    out = tmp_path / "full"
    options = TrainOptions(max_steps=2, learning_rate=1e-5, batch_size=4, lora=LoraOptions(r=0))
    finetune(str(bf16), str(source), "full+tofu", out, options)
    record = json.loads((out / "run.json").read_text())
    assert record["weights_dtype"] == "bfloat16" and record["train_dtype"] == "float32"
    before, after = load_file(bf16 / "model.safetensors"), load_file(out / "model.safetensors")
    assert {t.dtype for t in after.values()} == {torch.bfloat16}
    assert any(not torch.equal(before[k], after[k]) for k in before)


def cli_error(capsys, *argv):
    code = main(["finetune", *argv])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert code == 2 and "Traceback" not in err, err
    assert len(errors) == 1 and errors[0].startswith("clearbench: error:"), err
    return errors[0]


def test_several_configs_train_together(base, source, tmp_path):
    out = tmp_path / "mixed"
    finetune(
        str(base),
        str(source),
        "full+tofu,pretraining",
        out,
        TrainOptions(max_steps=1, learning_rate=1e-4, batch_size=4, lora=LoraOptions(r=0)),
    )
    run = json.loads((out / "run.json").read_text())
    expected = len(load_split(str(source), "full+tofu")) + len(load_split(str(source), "pretraining"))
    assert run["rows"] == expected and run["request"]["split"] == "full+tofu,pretraining"
    with pytest.raises(Exception, match="real_faces.*lacks column"):
        finetune(
            str(base),
            str(source),
            "full+tofu,real_faces",
            tmp_path / "bad",
            TrainOptions(max_steps=1, batch_size=4, lora=LoraOptions(r=0)),
        )


def test_bad_inputs_give_one_line_and_exit_2(base, source, tmp_path, capsys):
    out = str(tmp_path / "out")
    common = ["--data", str(source), "--out", out, "--max-steps", "1"]
    assert "not-a-model" in cli_error(capsys, "--model", "not-a-model", *common)
    assert "forget42" in cli_error(capsys, "--model", str(base), *common, "--split", "forget42")
    assert "'nope_proj'" in cli_error(capsys, "--model", str(base), *common, "--lora-targets", "nope_proj")
    assert "--batch-size" in cli_error(capsys, "--model", str(base), *common, "--batch-size", "0")

    no_processor = tmp_path / "weights-only"
    no_processor.mkdir()
    for name in ("config.json", "model.safetensors"):
        (no_processor / name).write_bytes((base / name).read_bytes())
    assert "processor" in cli_error(capsys, "--model", str(no_processor), *common)

    custom = tmp_path / "custom-code"
    custom.mkdir()
    (custom / "config.json").write_text(
        json.dumps({"model_type": "fancy_vlm", "auto_map": {"AutoConfig": "configuration_fancy.FancyConfig"}})
    )
    assert "--trust-remote-code" in cli_error(capsys, "--model", str(custom), *common)


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # processes of its own: one such test at a time
def test_two_cpu_processes_with_accelerate_launch(base, source, tmp_path):
    """DDP on CPU (gloo) with the shipped config: both processes train, the main one saves."""
    config = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / "cpu_ddp.yaml"
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "-m",
        "clearbench.cli",
        "finetune",
        "--model",
        str(base),
        "--data",
        str(source),
        "--split",
        "full+tofu",
        "--out",
        str(out),
        "--lora-r",
        "0",
        "--lr",
        "1e-3",
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--save-every",
        "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(out)  # printed once, by the main process
    run = json.loads((out / "run.json").read_text())
    result = json.loads((out / "result.json").read_text())
    assert run["processes"] == 2 and result["steps"] == 2 and is_complete(out)
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2
