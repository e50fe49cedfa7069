"""The tiny random qwen2_vl model of the offline tests (moved out of src/clearbench/models/qwen2_vl.py)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from clearbench.models.base import image_only_processor

from .dims import decoder_dims

# ChatML with Qwen's vision markers; used only by the tiny test models (Hub checkpoints ship their own).
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


TINY_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


TINY_MERGE = 2  # the tiny models' image processors merge 2x2 patches into one image token


def build(
    texts: Iterable[str],
    seed: int = 0,
    model_type: str = "qwen2_vl",
    *,
    hidden: int = 64,
    layers: int = 2,
    patch: int = 4,
    max_pixels: int = 24 * 24,
):
    """(model, processor): a random Qwen2(-.5)-VL of ~1M parameters, for offline tests.

    Images are resized to at most `max_pixels` (at least 8x8 patches' worth less), in `patch`-pixel
    patches merged 2x2 into image tokens: by default images of different shapes get grids between
    2x2 and 6x6 patches. Benchmarks use Qwen2-VL's 14-pixel patches and larger sizes.
    """
    from transformers import Qwen2VLProcessor

    processor = tiny_processor(Qwen2VLProcessor, texts, patch, max_pixels)
    tokenizer = processor.tokenizer
    ids = tokenizer.convert_tokens_to_ids
    text = dict(
        vocab_size=len(tokenizer),
        **decoder_dims(hidden, layers),
        # 16-dimensional heads: 8 rotary frequencies, split 2:3:3 over time, height, width
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(
        depth=2, num_heads=2, patch_size=patch, spatial_merge_size=TINY_MERGE, temporal_patch_size=2
    )
    if model_type == "qwen2_vl":
        from transformers import Qwen2VLConfig as Config
        from transformers import Qwen2VLForConditionalGeneration as Model

        vision.update(embed_dim=32, hidden_size=hidden)
    else:
        from transformers import Qwen2_5_VLConfig as Config
        from transformers import Qwen2_5_VLForConditionalGeneration as Model

        vision.update(
            hidden_size=32,
            intermediate_size=64,
            out_hidden_size=hidden,
            fullatt_block_indexes=[1],
            window_size=4 * patch * TINY_MERGE,  # 4x4 image tokens, as Qwen2.5-VL's 112 pixels
        )
    config = Config(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    model = Model(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, processor


def tiny_processor(processor_class, texts: Iterable[str], patch: int, max_pixels: int):
    """The tiny Qwen-VL processors' shared parts: a ChatML tokenizer fitted to `texts` and Qwen2-VL's
    PIL image processor (`patch`-pixel patches merged 2x2, images of at most `max_pixels`)."""
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    from clearbench.models.tiny import train_tokenizer

    tokenizer = train_tokenizer(
        texts,
        800,
        TINY_SPECIAL_TOKENS,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
    )
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=patch,
        merge_size=TINY_MERGE,
        temporal_patch_size=2,
        min_pixels=(patch * TINY_MERGE) ** 2,
        max_pixels=max_pixels,
    )
    return image_only_processor(processor_class)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=TINY_CHAT_TEMPLATE
    )
