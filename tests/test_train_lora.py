"""LoRA targets, the vision freeze, and merged checkpoints that load as standard models."""

import pytest
import torch
from PIL import Image

from clearbench.data.format import Sample
from clearbench.errors import UserError
from clearbench.models.registry import adapter_for
from clearbench.models.tiny import TinySize, build_tiny_llava
from clearbench.train.lora import apply_lora, freeze_vision, linear_names, save_merged

SMALL = TinySize(hidden=64, layers=2, heads=2, vocab_size=400)


@pytest.fixture(scope="module")
def tiny():
    model, processor = build_tiny_llava(["Who is on the picture? Ada Lind, a painter."] * 4, SMALL)
    return model, processor, adapter_for(model)


def batch(adapter, processor):
    image = Image.new("RGB", (32, 32), (10, 200, 90))
    return adapter.encode(processor, [Sample("Who is on the picture?", "Ada Lind, a painter.", image)])


def test_default_targets_are_the_language_model_linears(tiny):
    model, _, adapter = tiny
    names = linear_names(model, adapter, include_vision=False)
    # 7 projections (q, k, v, o, gate, up, down) in each of the 2 decoder layers; never lm_head.
    assert len(names) == 7 * SMALL.layers
    assert all(".language_model." in n for n in names) and "lm_head" not in names
    with_vision = linear_names(model, adapter, include_vision=True)
    assert any("vision_tower" in n for n in with_vision) and any(
        "multi_modal_projector" in n for n in with_vision
    )


def test_lora_trains_only_adapters_and_merges_to_the_same_function(tiny, tmp_path):
    base, processor, adapter = tiny
    model = apply_lora(
        build_tiny_llava(["Who is on the picture? Ada Lind, a painter."] * 4, SMALL)[0],
        adapter,
        r=4,
        alpha=8,
        target_modules=["q_proj", "v_proj"],
    )
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert sum("q_proj" in n for n in trainable) == 2 * SMALL.layers  # A and B per layer
    with torch.no_grad():  # B starts at zero; move it so the merge has something to merge
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    inputs = batch(adapter, processor)
    model.eval()
    with torch.no_grad():
        expected = model(**inputs).logits
    save_merged(model, processor, tmp_path / "merged")

    from transformers import AutoModelForImageTextToText, AutoProcessor

    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged").eval()
    AutoProcessor.from_pretrained(tmp_path / "merged")
    assert not any("lora" in n for n, _ in reloaded.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(expected, base.eval()(**inputs).logits)


def test_lora_target_that_matches_nothing_is_named(tiny):
    model, _, adapter = tiny
    with pytest.raises(UserError, match="'qkv_proj'"):
        apply_lora(model, adapter, target_modules=["q_proj", "qkv_proj"])
    # vision modules are not targets unless asked for
    with pytest.raises(UserError, match="'fc1'"):
        apply_lora(model, adapter, target_modules=["fc1"])


def test_freeze_vision_stops_gradients(tiny):
    model, processor, adapter = tiny
    frozen = freeze_vision(model, adapter)
    try:
        assert frozen > 0
        model.zero_grad()
        model(**batch(adapter, processor)).loss.backward()
        for module in adapter.vision_modules(model):
            assert all(p.grad is None and not p.requires_grad for p in module.parameters())
        assert all(p.grad is not None for p in adapter.decoder_layers(model).parameters())
    finally:
        model.requires_grad_(True)
