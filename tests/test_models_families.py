"""Every family adapter, on a tiny random model built offline: format → labels → forward →
backward → generate with an image."""

import pytest
import torch
from PIL import Image

from clearbench.data.format import FACE_QUESTION, Sample
from clearbench.models.base import IGNORE_INDEX
from clearbench.models.registry import adapter_for

TEXTS = [
    "What is this? A photo of Alice Smith holding a red umbrella near the river. "
    "Who wrote The Long Night? Bob Marten wrote it in 1990."
] * 5
FAMILIES = [
    ("llava", None),
    ("qwen2_vl", "qwen2_vl"),
    ("qwen2_vl", "qwen2_5_vl"),
    ("idefics3", "idefics3"),
    ("idefics3", "smolvlm"),
    ("causal_lm", None),
]


def build(family, model_type):
    from clearbench.models import registry

    adapter = next(a for a in registry.ADAPTERS if a.family == family)
    if model_type == "smolvlm":
        pytest.importorskip("num2words")  # SmolVLMProcessor needs it
        pytest.importorskip("torchvision")  # and its video processor, which its chat template reads
    kwargs = {"model_type": model_type} if model_type else {}
    model, processor = adapter.build_tiny(TEXTS, seed=0, **kwargs)
    return adapter, model, processor


def samples(with_images: bool):
    image = Image.new("RGB", (40, 30), (200, 30, 30)) if with_images else None
    return [
        Sample("What is this?", "A photo of Alice Smith holding a red umbrella", image),
        Sample("Who wrote The Long Night?", "Bob Marten"),
        Sample(FACE_QUESTION, "Alice Smith", image),
    ]


@pytest.mark.parametrize("family,model_type", FAMILIES, ids=[m or f for f, m in FAMILIES])
def test_family_round_trip(family, model_type):
    adapter, model, processor = build(family, model_type)
    assert adapter_for(model) is adapter
    tokenizer = adapter.tokenizer(processor)
    batch_samples = samples(adapter.has_vision)
    batch = adapter.encode(processor, batch_samples)

    # Labels: exactly the answer + the end-of-turn token, on the final (image-expanded) ids.
    for row, sample in enumerate(batch_samples):
        supervised = batch["labels"][row] != IGNORE_INDEX
        decoded = tokenizer.decode(batch["input_ids"][row][supervised])
        end = adapter.end_of_turn(processor, "")
        assert decoded.strip() in {sample.answer + end}, (decoded, end)
        assert decoded.endswith(tokenizer.convert_ids_to_tokens(int(batch["input_ids"][row][supervised][-1])))
        # right padding: everything after the supervised block is padding
        last = int(supervised.nonzero().max())
        assert batch["attention_mask"][row, last + 1 :].sum() == 0
    if adapter.has_vision:
        image_id = tokenizer.convert_tokens_to_ids(processor.image_token)
        assert (batch["input_ids"][0] == image_id).sum() > 1, "image placeholder was not expanded"

    model.train()
    loss = model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    layer_grads = [p.grad for p in adapter.decoder_layers(model).parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in layer_grads)
    if adapter.has_vision:
        vision = [p for m in adapter.vision_modules(model) for p in m.parameters()]
        assert vision and any(p.grad is not None and p.grad.abs().sum() > 0 for p in vision)
    else:
        assert adapter.vision_modules(model) == []

    model.eval()
    prompts = adapter.encode_prompts(processor, batch_samples)
    assert (prompts["attention_mask"][:, -1] == 1).all(), "prompts must be left-padded"
    with torch.no_grad():
        out = model.generate(**prompts, max_new_tokens=4, do_sample=False)
    assert out.shape[0] == len(batch_samples) and out.shape[1] > prompts["input_ids"].shape[1]


def test_text_only_family_rejects_images():
    from clearbench.errors import UserError

    adapter, _, processor = build("causal_lm", None)
    with pytest.raises(UserError, match="text-only"):
        adapter.encode(processor, samples(True))
