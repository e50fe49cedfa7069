"""`clearbench unlearn` end to end on a synthetic source and a tiny target: every method through the
engine, outputs and resume, divergence, forget modality, L1 and SalUn, bad input, two processes."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from tiny_families import build_tiny

from clearbench.cli import main
from clearbench.data.format import CAPTION_QUESTIONS
from clearbench.errors import UserError
from clearbench.methods import METHODS
from clearbench.methods.base import Method, forward_logits, nll
from clearbench.models.tiny import TinySize, build_tiny_llava
from clearbench.train.lora import LoraOptions
from clearbench.train.options import UnlearnOptions
from clearbench.train.unlearn import unlearn

SIZE = TinySize(
    image_size=16,
    patch_size=8,
    vision_hidden=32,
    vision_layers=1,
    hidden=32,
    layers=4,
    heads=2,
    vocab_size=1000,
)
FAST = UnlearnOptions(max_steps=2, learning_rate=1e-3, batch_size=2)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from clearbench.data.synth import generate

    return str(generate(tmp_path_factory.mktemp("synth") / "data", persons=10, seed=0, image_size=16))


@pytest.fixture(scope="module")
def target(source, tmp_path_factory):
    """A tiny random LLaVA whose tokenizer is fitted to the source, saved as a checkpoint."""
    from clearbench.data.load import load_split

    rows = load_split(source, "full+tofu")
    texts = list(CAPTION_QUESTIONS) + [t for c in ("caption", "question", "answer") for t in rows[c] if t]
    model, processor = build_tiny_llava(texts, SIZE, seed=0)
    out = tmp_path_factory.mktemp("target") / "target"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def forget_nll(checkpoint, source, config="forget10+tofu"):
    from clearbench.data.load import load_split
    from clearbench.models import registry
    from clearbench.train.data import sample_loader

    model, processor, adapter = registry.load(checkpoint)
    loader = sample_loader(load_split(source, config), adapter, processor, batch_size=32, shuffle=False)
    with torch.no_grad():
        return sum(nll(forward_logits(model, enc), enc["labels"]).item() for enc in loader) / len(loader)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_through_the_engine(method, source, target, tmp_path):
    out = tmp_path / method
    result = unlearn(target, source, "forget10+tofu", "retain90+tofu", method, out, FAST)
    assert result["status"] == "completed" and result["steps"] == 2
    assert json.loads((out / "result.json").read_text()) == result
    run = json.loads((out / "run.json").read_text())
    assert run["method"]["name"] == method and run["forget_modality"] == "both"
    if method == "rmu":  # adaptive c is measured at the first batch: known after training, not before
        assert run["method"]["steering_used"] is None and result["method_info"]["steering_used"] > 0
    assert run["reference"] == ("adapters disabled" if METHODS[method]().needs_reference else None)
    assert run["dataset_revision"].startswith("sha256:") and run["versions"]["peft"]
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2
    weights = load_file(out / "model.safetensors")
    assert not any("lora" in name for name in weights)  # merged into a standard checkpoint


@pytest.mark.parametrize("method", ["rmu", "dpo"])
def test_text_only_track_with_a_causal_lm(method, source, tmp_path):
    from clearbench.data.load import load_split

    rows = load_split(source, "tofu_full")
    model, tokenizer = build_tiny("causal_lm", list(rows["question"]) + list(rows["answer"]), seed=0)
    model.save_pretrained(tmp_path / "llm")
    tokenizer.save_pretrained(tmp_path / "llm")
    result = unlearn(
        tmp_path / "llm",
        source,
        "tofu_forget10",
        "tofu_retain90",
        method,
        tmp_path / "out",
        replace(FAST, lora=LoraOptions(r=4, alpha=8)),
    )
    assert result["status"] == "completed"
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["forget_modality"] == "text" and run["request"]["options"]["lora"]["r"] == 4


def test_ga_forgets_and_a_complete_run_is_skipped(source, target, tmp_path):
    out = tmp_path / "ga"
    start = forget_nll(target, source)
    unlearn(
        target,
        source,
        "forget10+tofu",
        "retain90+tofu",
        "ga",
        out,
        UnlearnOptions(max_steps=4, learning_rate=5e-3, batch_size=4),
    )
    assert forget_nll(out, source) > start + 0.1
    log = (out / "train_log.jsonl").read_text()
    options = UnlearnOptions(max_steps=4, learning_rate=5e-3, batch_size=4)
    again = unlearn(target, source, "forget10+tofu", "retain90+tofu", "ga", out, options)
    assert again["steps"] == 4 and (out / "train_log.jsonl").read_text() == log
    with pytest.raises(UserError, match="max_steps: 4 → 50"):  # another request is not this result
        unlearn(target, source, "forget10+tofu", "retain90+tofu", "ga", out, UnlearnOptions(max_steps=50))


class Exploding(Method):
    name = "exploding"
    description = "test-only: the loss becomes NaN at the second step"

    def loss(self, model, batch, ref, step):
        forget = batch["forget"]
        loss = nll(forward_logits(model, forget), forget["labels"])
        return (loss * float("nan") if step == 1 else loss), {}


def test_a_diverged_run_is_reported_as_such_and_keeps_its_log(source, target, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(METHODS, "exploding", Exploding)
    out = tmp_path / "boom"
    code = main(
        [
            "unlearn",
            "--model",
            str(target),
            "--data",
            source,
            "--method",
            "exploding",
            "--out",
            str(out),
            "--max-steps",
            "4",
            "--batch-size",
            "2",
            "--grad-accum",
            "1",
        ]
    )
    assert code == 1
    assert "unlearning diverged: loss became NaN or infinite at step 2" in capsys.readouterr().err
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "diverged" and result["steps"] == 1
    lines = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert lines[-1]["diverged"] is True and len(lines) == 2
    assert not (out / "config.json").exists()  # no checkpoint: nothing to evaluate as results


class Interrupted(Method):
    name = "interrupted"
    description = "test-only: gradient ascent killed at step 2 on the first attempt"
    attempts = 0

    def loss(self, model, batch, ref, step):
        if step == 2 and Interrupted.attempts == 0:
            Interrupted.attempts += 1
            raise KeyboardInterrupt
        forget = batch["forget"]
        return -nll(forward_logits(model, forget), forget["labels"]), {"step_seen": float(step)}


def test_an_interrupted_run_resumes_from_its_last_state(source, target, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "interrupted", Interrupted)
    monkeypatch.setattr(Interrupted, "attempts", 0)  # the test may run twice in one process
    out = tmp_path / "resume"
    options = UnlearnOptions(max_steps=4, learning_rate=1e-3, save_every=1, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        unlearn(target, source, "forget10+tofu", "retain90+tofu", "interrupted", out, options)
    assert not (out / "result.json").exists() and (out / "loop_state").is_dir()
    result = unlearn(target, source, "forget10+tofu", "retain90+tofu", "interrupted", out, options)
    assert result["status"] == "completed" and result["steps"] == 4
    steps = [json.loads(line)["step_seen"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == [0.0, 1.0, 2.0, 3.0]  # steps 0-1 from the first attempt, 2-3 resumed
    assert not (out / "loop_state").exists() and (out / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "forget,modality,has_images,has_text",
    [("forget10", "images", True, False), ("tofu_forget10", "text", False, True)],
)
def test_forget_modality_follows_the_config(
    source, target, tmp_path, forget, modality, has_images, has_text, monkeypatch
):
    seen = []
    original = METHODS["ga"].loss

    def spy(self, model, batch, ref, step):
        seen.append(batch["forget"])
        return original(self, model, batch, ref, step)

    monkeypatch.setattr(METHODS["ga"], "loss", spy)
    out = tmp_path / forget
    unlearn(target, source, forget, "retain90+tofu", "ga", out, replace(FAST, batch_size=4))
    assert json.loads((out / "run.json").read_text())["forget_modality"] == modality
    assert any("pixel_values" in enc for enc in seen) == has_images
    assert all("pixel_values" not in enc for enc in seen) == has_text


def test_l1_pulls_toward_the_starting_model(source, target, tmp_path):
    def final_distance(l1):
        out = tmp_path / f"l1_{l1}"
        unlearn(
            target,
            source,
            "forget10+tofu",
            "retain90+tofu",
            "ga",
            out,
            UnlearnOptions(max_steps=4, learning_rate=5e-3, batch_size=2, l1=l1),
        )
        lines = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        assert lines[0]["l1_distance"] == 0.0  # LoRA starts exactly at the target
        return lines[-1]["l1_distance"]

    assert final_distance(100.0) < 0.5 * final_distance(1e-6)


def test_saliency_mask_limits_which_weights_move(source, target, tmp_path):
    out = tmp_path / "salun"
    unlearn(
        target,
        source,
        "forget10+tofu",
        "retain90+tofu",
        "ga",
        out,
        UnlearnOptions(
            max_steps=2,
            learning_rate=1e-3,
            weight_decay=0.0,
            batch_size=2,
            lora=LoraOptions(r=0),
            saliency=0.02,
        ),
    )
    before, after = load_file(target / "model.safetensors"), load_file(out / "model.safetensors")
    changed = sum(int((after[k] != before[k]).sum()) for k in before)
    total = sum(v.numel() for v in before.values())
    assert 0 < changed <= 0.025 * total
    run = json.loads((out / "run.json").read_text())
    assert run["request"]["options"]["saliency"] == 0.02 and run["freeze_vision"] is True


def cli_error(capsys, *args):
    assert main(["unlearn", *args]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # datasets may draw progress bars first
    assert last.startswith("clearbench: error: "), last
    return last


def test_bad_input_gets_one_clear_message(source, target, tmp_path, capsys):
    common = ["--model", str(target), "--data", source, "--out", str(tmp_path / "x")]
    assert "unknown method 'forget_everything'" in cli_error(capsys, *common, "--method", "forget_everything")
    assert "method 'npo' has no hyperparameter 'bta'; valid: beta, retain_weight" in cli_error(
        capsys, *common, "--method", "npo", "--set", "bta=1"
    )
    assert "--set expects key=value" in cli_error(capsys, *common, "--method", "npo", "--set", "beta")
    assert "share 1 people" in cli_error(
        capsys, *common, "--method", "ga", "--forget", "forget10", "--retain", "full"
    )
    assert "forget set 'forget10+tofu' and retain set 'full+tofu' share" in cli_error(
        capsys, *common, "--method", "ga", "--retain", "full+tofu"
    )
    empty = tmp_path / "idk.txt"
    empty.write_text("")
    assert "holds no answers" in cli_error(capsys, *common, "--method", "idk", "--idk-file", str(empty))
    assert "no config 'forget99'" in cli_error(capsys, *common, "--method", "ga", "--forget", "forget99")
    assert "--batch-size must be at least 1" in cli_error(
        capsys, *common, "--method", "ga", "--batch-size", "0"
    )
    assert "--saliency must be in (0, 1]" in cli_error(capsys, *common, "--method", "ga", "--saliency", "2")
    assert not (tmp_path / "x").exists()


def test_methods_command_lists_needs_and_reference(capsys):
    assert main(["methods", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["dpo"]["needs"] == ["forget", "idk"] and rows["dpo"]["needs_reference"] is True
    assert rows["ga"]["needs_reference"] is False and rows["sku"]["needs"] == ["forget", "retain", "mismatch"]
    assert rows["npo"]["hparams"] == {"beta": 0.1, "retain_weight": 0.0}
    assert main(["methods"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in rows) and "needs" in table


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # processes of its own: one such test at a time
def test_two_cpu_processes_with_accelerate_launch(source, target, tmp_path):
    """DDP on CPU (gloo): a method with a reference model runs on two processes.

    accelerate 1.x's `--cpu --num_processes 2` starts ONE process unless mpirun is set up; the
    torchrun-based launcher with ACCELERATE_USE_CPU starts two CPU (MULTI_CPU) processes.
    """
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "clearbench.cli",
        "unlearn",
        "--model",
        str(target),
        "--data",
        source,
        "--method",
        "npo",
        "--set",
        "retain_weight=1",
        "--out",
        str(out),
        "--lr",
        "1e-3",
        "--max-steps",
        "2",
        "--batch-size",
        "2",
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "result.json").read_text())["status"] == "completed"
    assert json.loads((out / "run.json").read_text())["processes"] == 2
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2  # written once, by the main process
    assert (out / "model.safetensors").is_file()


def test_an_out_holding_another_runs_result_is_refused_not_reported(source, target, tmp_path, capsys):
    out = tmp_path / "ga"
    unlearn(target, source, "forget10+tofu", "retain90+tofu", "ga", out, FAST)
    common = ["--model", str(target), "--data", source, "--out", str(out), "--max-steps", "2", "--lr", "1e-3"]
    message = cli_error(capsys, *common, "--batch-size", "2", "--method", "npo")
    assert "holds the output of another unlearn" in message and "method: 'ga' → 'npo'" in message
    assert "learning_rate" not in message  # only what differs is named
    message = cli_error(capsys, *common, "--batch-size", "2", "--method", "ga", "--set", "x=1")
    assert "no hyperparameter 'x'" in message
    message = cli_error(capsys, *common, "--batch-size", "4", "--method", "ga")
    assert "options.batch_size: 2 → 4" in message
    # The same request again is the finished run, reported as it was.
    again = unlearn(target, source, "forget10+tofu", "retain90+tofu", "ga", out, FAST)
    assert again == json.loads((out / "result.json").read_text())
