"""Every family adapter, on a tiny random model built offline: format → labels → forward →
backward → generate with an image."""

import pytest
import torch
from PIL import Image
from tiny_families import build_tiny

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
    ("qwen3_vl", "qwen3_vl"),
    ("qwen3_vl", "qwen3_vl_moe"),
    ("idefics3", "idefics3"),
    ("idefics3", "smolvlm"),
    ("gemma3", None),
    ("internvl", None),
    ("llava_onevision", None),
    ("causal_lm", None),
]

# The token that closes an assistant turn in each family's chat template (the tiny models' copies).
END_OF_TURN = {
    "llava": "</s>",
    "qwen2_vl": "<|im_end|>",
    "qwen3_vl": "<|im_end|>",
    "idefics3": "<end_of_utterance>",
    "gemma3": "<end_of_turn>",  # not Gemma's EOS, and not a named special token either
    "internvl": "<|im_end|>",
    "llava_onevision": "<|im_end|>",
    "causal_lm": "</s>",
}


def build(family, model_type):
    from clearbench.models import registry

    adapter = next(a for a in registry.ADAPTERS if a.family == family)
    if model_type == "smolvlm":
        pytest.importorskip("num2words")  # SmolVLMProcessor needs it
        pytest.importorskip("torchvision")  # and its video processor, which its chat template reads
    kwargs = {"model_type": model_type} if model_type else {}
    model, processor = build_tiny(adapter.family, TEXTS, seed=0, **kwargs)
    return adapter, model, processor


def samples(with_images: bool):
    """An image row, a text row and an image row with an image of another shape."""
    image = Image.new("RGB", (40, 30), (200, 30, 30)) if with_images else None
    tall = Image.new("RGB", (20, 50), (30, 30, 200)) if with_images else None
    return [
        Sample("What is this?", "A photo of Alice Smith holding a red umbrella", image),
        Sample("Who wrote The Long Night?", "Bob Marten"),
        Sample(FACE_QUESTION, "Alice Smith", tall),
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
        end = END_OF_TURN[family]
        assert decoded.strip() == sample.answer + end, (decoded, end)
        assert decoded.endswith(tokenizer.convert_ids_to_tokens(int(batch["input_ids"][row][supervised][-1])))
        # right padding: everything after the supervised block is padding
        last = int(supervised.nonzero().max())
        assert batch["attention_mask"][row, last + 1 :].sum() == 0
    if adapter.has_vision:
        image_id = model.config.image_token_id  # what the model replaces with image features
        counts = (batch["input_ids"] == image_id).sum(dim=1).tolist()
        assert counts[0] > 1 and counts[1] == 0 and counts[2] > 1, (
            f"image placeholders not expanded: {counts}"
        )

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


def test_gemma3_prompts_start_with_one_bos():
    """Gemma's template writes <bos> and its tokenizer adds one too: the processor must not double it."""
    adapter, _, processor = build("gemma3", None)
    tokenizer = adapter.tokenizer(processor)
    assert tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id  # the tokenizer does add BOS
    for batch in (adapter.encode(processor, samples(True)), adapter.encode_prompts(processor, samples(True))):
        for row, mask in zip(batch["input_ids"], batch["attention_mask"]):
            real = row[mask.bool()]
            assert real[0] == tokenizer.bos_token_id and (real == tokenizer.bos_token_id).sum() == 1


def test_llava_onevision_image_newline_is_frozen_with_the_vision_side():
    from clearbench.train.lora import freeze_vision

    adapter, model, _ = build("llava_onevision", None)
    vision = {id(p) for module in adapter.vision_modules(model) for p in module.parameters()}
    assert id(model.model.image_newline) in vision
    freeze_vision(model, adapter)
    assert not model.model.image_newline.requires_grad
    assert all(p.requires_grad for p in adapter.decoder_layers(model).parameters())
    model.model.image_newline.requires_grad_(True)


def save_like_the_hub(model, processor, out):
    """The file layout of Hub checkpoints such as Qwen/Qwen3-VL-2B-Instruct: preprocessor_config.json,
    chat_template.json, and a processor_config.json only for the processor's own settings (InternVL's
    image_seq_length, OneVision's num_image_tokens, …); the caller adds the video processor's config."""
    import json

    model.save_pretrained(out)
    processor.tokenizer.save_pretrained(out)
    processor.image_processor.save_pretrained(out)
    (out / "chat_template.json").write_text(json.dumps({"chat_template": processor.chat_template}))
    parts = ("image_processor", "video_processor", "tokenizer", "chat_template", "processor_class")
    own = {key: value for key, value in processor.to_dict().items() if key not in parts}
    if own:
        (out / "processor_config.json").write_text(
            json.dumps({**own, "processor_class": type(processor).__name__})
        )
    video = {"qwen2_vl": "Qwen2VLVideoProcessor", "qwen3_vl": "Qwen3VLVideoProcessor"}
    video.update(internvl="InternVLVideoProcessor", llava_onevision="LlavaOnevisionVideoProcessor")
    return video


@pytest.mark.parametrize("layout", ["hub", "saved"])
@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "internvl", "llava_onevision"])
def test_checkpoints_load_without_a_video_processor(family, layout, tmp_path):
    """These processors carry a video processor, which needs torchvision. clearbench feeds images
    only, so a checkpoint loads with or without torchvision, in the Hub's layout and as clearbench
    saves it, and encodes exactly as the processor it was saved from."""
    import json

    from clearbench.models.registry import load

    adapter, model, processor = build(family, family if family.startswith("qwen") else None)
    out = tmp_path / family
    if layout == "hub":
        video = save_like_the_hub(model, processor, out)
        (out / "video_preprocessor_config.json").write_text(
            json.dumps({"video_processor_type": video[family]})
        )
    else:
        model.save_pretrained(out)
        processor.save_pretrained(out)
    loaded, loaded_processor, loaded_adapter = load(out)
    assert loaded_adapter is adapter
    batch = samples(True)
    expected, actual = adapter.encode(processor, batch), adapter.encode(loaded_processor, batch)
    assert sorted(expected) == sorted(actual)
    assert all(torch.equal(expected[key], actual[key]) for key in expected)
    assert adapter.prompt_text(loaded_processor, batch[0]) == adapter.prompt_text(processor, batch[0])


def test_a_missing_optional_package_is_named(tmp_path):
    """SmolVLM's processor needs num2words (and its video processor torchvision): loading says so."""
    import json

    from clearbench.errors import UserError
    from clearbench.models.registry import load

    try:
        import num2words  # noqa: F401

        pytest.skip("num2words is installed")
    except ImportError:
        pass
    _, model, processor = build("idefics3", "idefics3")
    out = tmp_path / "smolvlm"
    save_like_the_hub(model, processor, out)
    for name, changes in [
        ("config.json", {"model_type": "smolvlm"}),
        ("processor_config.json", {"processor_class": "SmolVLMProcessor"}),
        ("video_preprocessor_config.json", {"video_processor_type": "SmolVLMVideoProcessor"}),
    ]:
        path = out / name
        written = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**written, **changes}))
    with pytest.raises(UserError, match=r"needs 'num2words'.* \(pip install num2words"):
        load(out)


def test_an_unsupported_family_names_the_supported_ones(tmp_path, capsys):
    from clearbench.cli import main

    checkpoint = tmp_path / "paligemma"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text('{"model_type": "paligemma"}')
    code = main(
        ["run", "tiny", "--set", f"model.name={checkpoint}", "--set", "model.pretrain=false"]
        + ["--out", str(tmp_path / "out")]
    )
    error = capsys.readouterr().err
    assert code == 2 and "unsupported model type 'paligemma'" in error
    for model_type in (
        "gemma3",
        "internvl",
        "llava",
        "llava_onevision",
        "qwen2_vl",
        "qwen3_vl",
        "qwen3_vl_moe",
    ):
        assert f" {model_type}," in error or error.rstrip().endswith(f" {model_type}")
    assert not (tmp_path / "out").exists()
