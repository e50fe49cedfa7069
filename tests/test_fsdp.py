"""One job at 7B scale, rehearsed on the tiny model: FSDP (2 CPU processes over gloo) trains and saves a
whole checkpoint; LoRA under FSDP / ZeRO-3 is refused with the reason; gradient checkpointing recomputes
each layer in the backward pass without changing the numbers; the attention implementation is chosen
and a missing flash-attn is one message before training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from clearbench.cli import main
from clearbench.errors import UserError
from clearbench.models.base import check_attention, set_attention
from clearbench.train import steps
from clearbench.train.lora import LoraOptions
from clearbench.train.options import TrainOptions

FAST = ["--max-steps", "2", "--lr", "1e-3", "--batch-size", "2", "--grad-accum", "1"]


@pytest.mark.slow
@pytest.mark.xdist_group("two_processes")  # processes of its own: one such test at a time
def test_fsdp_on_two_cpu_processes_trains_and_saves_the_whole_model(world, tmp_path):
    """accelerate shards only on accelerator devices (on CPU it silently runs DDP); the loop turns an
    FSDP launch on CPU processes into torch's FSDP2 over gloo, with accelerate's FSDP settings."""
    source, model = world
    out = tmp_path / "fsdp"
    config = Path(__file__).parents[1] / "configs" / "accelerate" / "cpu_fsdp.yaml"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    command = [*launch, "-m", "clearbench.cli", "finetune", "--model", str(model), "--data", source]
    command += ["--split", "tofu_full", "--out", str(out), *FAST, "--lora-r", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["processes"] == 2 and run["distributed"] == "FSDP"
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 2  # written once, by the main process
    start, trained = load_file(model / "model.safetensors"), load_file(out / "model.safetensors")
    assert trained.keys() == start.keys()
    assert all(trained[key].shape == start[key].shape for key in start)  # gathered, not shards
    assert any(not torch.equal(trained[key], start[key]) for key in start)


@pytest.mark.parametrize(
    ("kind", "zero_stage", "refused"),
    [
        ("FSDP", 0, "FSDP"),
        ("DEEPSPEED", 3, "DeepSpeed ZeRO-3"),
        ("DEEPSPEED", 2, None),
        ("MULTI_GPU", 0, None),
    ],
)
def test_lora_is_refused_where_the_weights_are_sharded(kind, zero_stage, refused):
    accelerator = SimpleNamespace(
        distributed_type=SimpleNamespace(name=kind),
        state=SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=zero_stage)),
    )
    if refused is None:
        steps.check_lora_sharding(TrainOptions(), accelerator)
        return
    with pytest.raises(
        UserError, match=f"LoRA under {refused} is not supported: .* DDP or with DeepSpeed ZeRO-2"
    ):
        steps.check_lora_sharding(TrainOptions(), accelerator)
    steps.check_lora_sharding(TrainOptions(lora=LoraOptions(r=0)), accelerator)  # full weights: fine


def layer_calls(
    model, adapter, checkpointing: bool, lora: bool
) -> tuple[list[int], float, list[torch.Tensor]]:
    """(forward calls of each decoder layer's first module in a forward + backward, the loss, the gradients)."""
    options = TrainOptions(gradient_checkpointing=checkpointing, lora=LoraOptions(r=4 if lora else 0))
    model, _ = steps.make_trainable(model, adapter, options, "llm")
    model.train()
    layers = adapter.decoder_layers(model)
    calls = [0] * len(layers)
    # On a module inside each layer: transformers checkpoints a layer's forward, inside its hooks.
    hooks = [
        next(layer.children()).register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
        for i, layer in enumerate(layers)
    ]
    torch.manual_seed(0)
    ids = torch.randint(5, 100, (2, 12))
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
    loss.backward()
    for hook in hooks:
        hook.remove()
    return calls, loss.item(), [p.grad.clone() for p in model.parameters() if p.requires_grad]


@pytest.mark.parametrize("lora", [False, True])
def test_gradient_checkpointing_recomputes_layers_and_keeps_the_gradients(world, lora):
    from clearbench.models import registry

    results = {}
    for checkpointing in (False, True):
        model, _, adapter = registry.load(str(world[1]))
        results[checkpointing] = layer_calls(model, adapter, checkpointing, lora)
    (plain_calls, plain_loss, plain_grads), (ckpt_calls, ckpt_loss, ckpt_grads) = (
        results[False],
        results[True],
    )
    assert plain_calls == [1, 1] and ckpt_calls == [2, 2]  # each layer runs again in the backward pass
    assert ckpt_loss == pytest.approx(plain_loss, rel=1e-6)
    assert len(ckpt_grads) == len(plain_grads)
    for a, b in zip(plain_grads, ckpt_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_gradient_checkpointing_and_attention_through_the_command(world, tmp_path):
    source, model = world
    args = [
        "finetune",
        "--model",
        str(model),
        "--data",
        source,
        "--split",
        "tofu_full",
        *FAST,
        "--lora-r",
        "0",
    ]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "ckpt"), "--gradient-checkpointing"]) == 0
    assert main([*args, "--out", str(tmp_path / "eager"), "--attn-implementation", "eager"]) == 0

    def losses(name):
        return [
            json.loads(line)["loss"]
            for line in (tmp_path / name / "train_log.jsonl").read_text().splitlines()
        ]

    assert losses("ckpt") == pytest.approx(losses("plain"), rel=1e-5)
    assert losses("eager") == pytest.approx(losses("plain"), rel=1e-4)  # same maths, another kernel
    run = json.loads((tmp_path / "ckpt" / "run.json").read_text())
    assert run["request"]["options"]["gradient_checkpointing"] is True


def test_attention_choices_and_a_missing_flash_attn(world, tmp_path, monkeypatch, capsys):
    from clearbench.models import registry

    model, _, _ = registry.load(str(world[1]))
    assert set_attention(model, "eager") == "eager" and set_attention(model, None) == "eager"
    assert set_attention(model, "sdpa") == "sdpa"
    with pytest.raises(UserError, match="unknown attention 'flash'"):
        check_attention("flash", "config key 'model.attn_implementation'")

    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "flash_attn" else real_find_spec(name, *a),
    )
    source, checkpoint = world
    out = tmp_path / "fa2"
    args = [
        "finetune",
        "--model",
        str(checkpoint),
        "--data",
        source,
        "--split",
        "tofu_full",
        "--out",
        str(out),
    ]
    assert main([*args, "--attn-implementation", "flash_attention_2"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        "clearbench: error: --attn-implementation: flash_attention_2 needs the flash-attn package (pip install flash-attn)"
    )
    assert not out.exists()
