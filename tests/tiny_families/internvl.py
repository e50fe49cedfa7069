"""The tiny random internvl model of the offline tests (moved out of src/clearbench/models/internvl.py)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from clearbench.models.base import image_only_processor

from .dims import decoder_dims, vision_dims

# InternVL-hf's ChatML template; used only by the tiny test model (Hub checkpoints ship their own).
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


TINY_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<video>",
)


def build(
    texts: Iterable[str],
    seed: int = 0,
    *,
    hidden: int = 64,
    layers: int = 2,
    tile: int = 32,
    patch: int = 8,
):
    """(model, processor): a random InternVL of ~0.1M parameters, for offline tests.

    `tile`-pixel tiles of `patch`-pixel patches, pixel-shuffled 2x2 into image tokens (4 per
    tile by default; InternVL3: 448 and 14, 256 per tile); an image is cut into up to 4 tiles
    by its aspect ratio, plus a thumbnail when there is more than one.
    """
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2 import GotOcr2ImageProcessorPil

    from clearbench.models.tiny import train_tokenizer

    tokenizer = train_tokenizer(
        texts,
        800,
        TINY_SPECIAL_TOKENS,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens={
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
    )
    downsample = 0.5
    tokens_per_tile = int((tile // patch) ** 2 * downsample**2)
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": tile, "width": tile}, crop_to_patches=True, min_patches=1, max_patches=4
    )
    processor = image_only_processor(InternVLProcessor)(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_length=tokens_per_tile,
        chat_template=TINY_CHAT_TEMPLATE,
    )
    text = dict(
        model_type="qwen2",
        vocab_size=len(tokenizer),
        **decoder_dims(hidden, layers),
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = vision_dims(tile, patch)
    config = InternVLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=tokens_per_tile,
        downsample_ratio=downsample,
    )
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, processor
