"""The engine trains each method as its authors do: SKU's negation is applied, RMU changes nothing
outside its parameters, SCRUB's max passes fill its first `msteps` epochs, full weights train in fp32
whatever the checkpoint's dtype (and are saved back in it), and runs that start at a stationary
point are reproducible from their seed."""

import json
import math
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from clearbench.cli import main
from clearbench.data.format import CAPTION_QUESTIONS
from clearbench.methods import METHODS
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
FULL = UnlearnOptions(max_steps=2, learning_rate=1e-3, batch_size=4, lora=LoraOptions(r=0))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from clearbench.data.synth import generate

    return str(generate(tmp_path_factory.mktemp("synth") / "data", persons=10, seed=0, image_size=16))


def save_tiny(source, out, dtype=torch.float32):
    from clearbench.data.load import load_split

    rows = load_split(source, "full+tofu")
    texts = list(CAPTION_QUESTIONS) + [t for c in ("caption", "question", "answer") for t in rows[c] if t]
    model, processor = build_tiny_llava(texts, SIZE, seed=0)
    model.to(dtype).save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def target(source, tmp_path_factory):
    return save_tiny(source, tmp_path_factory.mktemp("target") / "target")


def weights(checkpoint):
    """{parameter name: tensor} of a saved checkpoint, in its saved dtype (names as the model has them;
    the safetensors file may store some under other, legacy names)."""
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype="auto")
    return {name: param.detach() for name, param in model.named_parameters()}


def run(target, source, out, method, options=FULL, hparams=None, forget="forget10", **kwargs):
    result = unlearn(target, source, forget, "retain90", method, out, options, hparams=hparams, **kwargs)
    assert result["status"] == "completed", result
    return weights(out)


def log_of(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


# ---- SKU: stage 2 negates what stage 1 learned --------------------------------------------------
def test_sku_saves_the_negated_task_vector(source, target, tmp_path, monkeypatch):
    harmful = {}
    finalize = METHODS["sku"].finalize

    def spy(self, model, ref):
        harmful.update({n: p.detach().clone() for n, p in model.named_parameters()})
        finalize(self, model, ref)

    monkeypatch.setattr(METHODS["sku"], "finalize", spy)
    saved = run(target, source, tmp_path / "sku", "sku", hparams={"negation": "0.5"})
    start = weights(target)
    assert harmful, "the engine never ran SKU's negation step"
    moved = 0
    for name, theta0 in start.items():
        expected = theta0 - 0.5 * (harmful[name] - theta0)
        torch.testing.assert_close(saved[name], expected, rtol=0, atol=1e-6)
        moved += int(not torch.equal(harmful[name], theta0))
    assert moved > len(start) / 2  # stage 1 really trained


# ---- RMU: only the MLP down-projections of layers ℓ-2..ℓ move -----------------------------------
def test_rmu_leaves_every_other_parameter_byte_identical(source, target, tmp_path):
    saved = run(target, source, tmp_path / "rmu", "rmu", hparams={"layer": "2"})
    start = weights(target)
    trained = {f"model.language_model.layers.{i}.mlp.down_proj.weight" for i in (0, 1, 2)}
    assert trained <= set(start)
    for name, theta0 in start.items():
        if name in trained:
            assert not torch.equal(saved[name], theta0), f"{name} did not train"
        else:
            assert torch.equal(saved[name], theta0), f"{name} changed"
    record = json.loads((tmp_path / "rmu" / "run.json").read_text())
    assert record["trainable_parameters"] == sum(start[name].numel() for name in trained)


def test_rmu_clear_variant_trains_every_weight(source, target, tmp_path):
    saved = run(target, source, tmp_path / "rmu", "rmu", hparams={"variant": "clear", "layer": "1"})
    start = weights(target)
    # every projection up to the steered layer 1 (later layers do not reach its output)
    layers = [
        n
        for n in start
        if "language_model.layers." in n and n.endswith("proj.weight") and int(n.split(".")[3]) <= 1
    ]
    assert len(layers) == 14 and all(not torch.equal(saved[n], start[n]) for n in layers)


# ---- SCRUB: max passes in the first msteps epochs, then min passes only -------------------------
def test_scrub_max_passes_fill_the_first_msteps_epochs(source, target, tmp_path, monkeypatch):
    seen = []
    loss = METHODS["scrub"].loss

    def spy(self, model, batch, ref, step):
        seen.append((step, tuple(sorted(batch))))
        return loss(self, model, batch, ref, step)

    monkeypatch.setattr(METHODS["scrub"], "loss", spy)
    out = tmp_path / "scrub"
    options = UnlearnOptions(epochs=3, learning_rate=1e-3, batch_size=8, grad_accum=2, lora=LoraOptions(r=0))
    run(target, source, out, "scrub", options, hparams={"msteps": "2"})
    forget_rows = json.loads((out / "run.json").read_text())["forget_rows"]
    steps_per_pass = math.ceil(math.ceil(forget_rows / 8) / 2)  # batches of 8, 2 accumulated
    kinds = ["forget", "retain", "forget", "retain", "retain"]  # epochs: max+min, max+min, min
    expected = [1.0 if kind == "forget" else 0.0 for kind in kinds for _ in range(steps_per_pass)]
    assert [line["max_step"] for line in log_of(out)] == expected
    steps = sorted({step for step, _ in seen})
    assert steps == list(range(len(expected)))
    for step, batch_kinds in seen:  # each batch holds its pass's data only
        assert batch_kinds == (kinds[step // steps_per_pass],)
    assert json.loads((out / "run.json").read_text())["passes"] == [[k] for k in kinds]


# ---- full weights train in fp32 and are saved in the checkpoint's dtype -------------------------
@pytest.fixture(scope="module")
def bf16_target(source, tmp_path_factory):
    return save_tiny(source, tmp_path_factory.mktemp("bf16") / "target", torch.bfloat16)


def test_a_bf16_checkpoint_trains_every_weight_in_fp32(source, bf16_target, tmp_path, monkeypatch):
    trained = {}
    finalize = METHODS["ga"].finalize

    def spy(self, model, ref):  # the weights as training left them, before saving
        trained.update({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
        finalize(self, model, ref)

    monkeypatch.setattr(METHODS["ga"], "finalize", spy)
    options = replace(FULL, max_steps=3, learning_rate=1e-5)
    saved = run(bf16_target, source, tmp_path / "ga", "ga", options)
    start = weights(bf16_target)
    assert {t.dtype for t in trained.values()} == {torch.float32}
    changed = sum(int((trained[n] != start[n].float()).sum()) for n in trained)
    total = sum(trained[n].numel() for n in trained)
    assert changed / total > 0.95  # in bf16, updates of ~1e-5 round away: most would stay put
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}  # saved as loaded
    for name, values in trained.items():  # rounded once, at the end
        assert torch.equal(saved[name], values.to(torch.bfloat16)), name
    record = json.loads((tmp_path / "ga" / "run.json").read_text())
    assert record["weights_dtype"] == "bfloat16" and record["train_dtype"] == "float32"


def test_unlearn_dtype_flag_reaches_the_model_and_the_checkpoint(source, target, tmp_path):
    out = tmp_path / "cli"
    argv = ["unlearn", "--model", str(target), "--data", source, "--forget", "forget10", "--retain"]
    argv += ["retain90", "--method", "ga", "--out", str(out), "--max-steps", "1", "--lora-r", "0"]
    assert main([*argv, "--dtype", "bfloat16"]) == 0
    assert {t.dtype for t in load_file(out / "model.safetensors").values()} == {torch.bfloat16}
    record = json.loads((out / "run.json").read_text())
    assert record["weights_dtype"] == "bfloat16" and record["train_dtype"] == "float32"


def test_lora_on_a_bf16_checkpoint_keeps_the_base_and_trains_fp32_adapters(source, bf16_target, tmp_path):
    out = tmp_path / "lora"
    run(bf16_target, source, out, "ga", replace(FULL, lora=LoraOptions(r=4, alpha=8)))
    record = json.loads((out / "run.json").read_text())
    assert record["weights_dtype"] == "float32" and record["train_dtype"] == "float32"  # the adapters
    assert {t.dtype for t in load_file(out / "model.safetensors").values()} == {torch.bfloat16}


# ---- stationary starts: seeded runs are reproducible -------------------------------------------
@pytest.mark.parametrize(
    "method,hparams",
    [("gd", {"forget_term": "kl", "retain_term": "kl"}), ("scrub", {"msteps": "1"})],
)
def test_runs_starting_at_a_stationary_point_are_reproducible(source, target, tmp_path, method, hparams):
    options = replace(FULL, max_steps=4, learning_rate=1e-3)
    first = run(target, source, tmp_path / "a", method, options, hparams=hparams, seed=3)
    second = run(target, source, tmp_path / "b", method, options, hparams=hparams, seed=3)
    start = weights(target)
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert any(not torch.equal(first[name], start[name]) for name in first)  # and the run moved


def test_at_the_start_the_all_kl_gradient_is_zero(source, target):
    """Why those runs move slowly at first: −KL(F) + KL(R) and its gradient vanish at π = π_ref."""
    from clearbench.data.load import load_split
    from clearbench.methods import get_method
    from clearbench.models import registry
    from clearbench.train.data import sample_loader
    from clearbench.train.reference import Reference

    model, processor, adapter = registry.load(target)
    encoded = {}
    for kind, config in (("forget", "forget10"), ("retain", "retain90")):
        rows = load_split(source, config).select(range(4))
        encoded[kind] = next(iter(sample_loader(rows, adapter, processor, batch_size=4, shuffle=False)))
    ref = Reference.for_model(model, adapter)
    loss, _ = get_method("gd", forget_term="kl", retain_term="kl").loss(model, encoded, ref, 0)
    loss.backward()
    assert abs(loss.item()) < 1e-6
    assert max(p.grad.abs().max().item() for p in model.parameters() if p.grad is not None) < 1e-6


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # processes of its own: one such test at a time
def test_scrub_passes_are_the_same_on_two_processes(source, target, tmp_path):
    """Under `accelerate launch` both processes are in the same pass at every step: a max step never
    averages with a min step, and the max passes still fill the first msteps epochs."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m"]
    command += ["clearbench.cli", "unlearn", "--model", str(target), "--data", source, "--forget"]
    command += ["forget10", "--retain", "retain90", "--method", "scrub", "--set", "msteps=1", "--out"]
    command += [str(out), "--epochs", "2", "--batch-size", "4", "--grad-accum", "1", "--lora-r", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((out / "run.json").read_text())["forget_rows"]
    steps_per_pass = math.ceil(rows / (4 * 2))  # each process takes every other batch of 4
    expected = [1.0] * steps_per_pass + [0.0] * (2 * steps_per_pass)  # max+min, then min
    assert [line["max_step"] for line in log_of(out)] == expected
