"""The newer families through the real unlearning engine, from a saved checkpoint: loading (the
processor without a video processor, as saved without torchvision), LoRA targets, the adapters-off
reference, RMU's decoder layer, a SalUn mask, vision freezing, and the saved result loading back."""

import functools
import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from tiny_families import build_tiny

from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION
from clearbench.models import registry
from clearbench.train.lora import LoraOptions
from clearbench.train.options import UnlearnOptions
from clearbench.train.unlearn import unlearn

NEW_FAMILIES = [("qwen3_vl", None), ("gemma3", None), ("internvl", None), ("llava_onevision", None)]
FAST = UnlearnOptions(max_steps=2, learning_rate=1e-3, batch_size=2)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from clearbench.data.synth import generate

    return str(generate(tmp_path_factory.mktemp("synth") / "data", persons=4, seed=0, image_size=16))


@functools.cache
def _checkpoint(source, family, root):
    from clearbench.data.load import load_split

    rows = load_split(source, "full+tofu")
    texts = list(CAPTION_QUESTIONS) + [FACE_QUESTION]
    texts += [t for c in ("caption", "question", "answer") for t in rows[c] if t]
    adapter = next(a for a in registry.ADAPTERS if a.family == family)
    model, processor = build_tiny(adapter.family, texts, seed=0)
    out = root / family
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def checkpoint(source, tmp_path_factory):
    root = tmp_path_factory.mktemp("targets")
    return lambda family: _checkpoint(source, family, root)


@pytest.mark.parametrize("family,model_type", NEW_FAMILIES, ids=[f for f, _ in NEW_FAMILIES])
def test_rmu_with_lora_and_a_salun_mask(family, model_type, source, checkpoint, tmp_path):
    """RMU steers one decoder layer's output; the reference is the same model, adapters off."""
    target = checkpoint(family)
    out = tmp_path / "rmu"
    options = replace(FAST, lora=LoraOptions(r=4, alpha=8), saliency=0.5)
    result = unlearn(target, source, "forget10+tofu", "retain90+tofu", "rmu", out, options)
    assert result["status"] == "completed" and result["steps"] == 2
    run = json.loads((out / "run.json").read_text())
    assert run["reference"] == "adapters disabled" and run["trainable_parameters"] > 0
    before, after = load_file(target / "model.safetensors"), load_file(out / "model.safetensors")
    assert not any("lora" in name for name in after)  # merged into a standard checkpoint
    changed = [name for name in after if not torch.equal(before[name], after[name])]
    assert changed and all("language_model" in name for name in changed), changed[:5]
    model, _, adapter = registry.load(out)
    assert adapter.family == family


@pytest.mark.parametrize("family,model_type", NEW_FAMILIES, ids=[f for f, _ in NEW_FAMILIES])
def test_npo_on_full_weights_with_the_vision_side_frozen(family, model_type, source, checkpoint, tmp_path):
    target = checkpoint(family)
    out = tmp_path / "npo"
    options = replace(FAST, lora=LoraOptions(r=0), freeze_vision=True)
    result = unlearn(target, source, "forget10+tofu", "retain90+tofu", "npo", out, options)
    assert result["status"] == "completed"
    before, after = load_file(target / "model.safetensors"), load_file(out / "model.safetensors")
    model, _, adapter = registry.load(target)
    vision = {id(p) for module in adapter.vision_modules(model) for p in module.parameters()}
    vision_names = {name for name, p in model.named_parameters() if id(p) in vision}
    assert vision_names
    changed = {name for name in after if not torch.equal(before[name], after[name])}
    assert changed and not changed & vision_names, sorted(changed & vision_names)[:5]
