"""The tiny random llava_onevision model of the offline tests (moved out of src/clearbench/models/llava_onevision.py)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from clearbench.models.base import image_only_processor

from .dims import decoder_dims, vision_dims

# The OneVision-hf ChatML shape (role, a space, images first, then text); used only by the tiny
# test model (Hub checkpoints ship their own).
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + ' ' }}"
    "{% if message['content'] is string %}{{ '\\n' + message['content'] }}{% else %}"
    "{% for item in message['content'] | selectattr('type', 'equalto', 'image') %}<image>{% endfor %}"
    "{% for item in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\\n' + item['text'] }}"
    "{% endfor %}{% endif %}<|im_end|>{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


TINY_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")


def build(
    texts: Iterable[str],
    seed: int = 0,
    *,
    hidden: int = 64,
    layers: int = 2,
    crop: int = 32,
    patch: int = 8,
):
    """(model, processor): a random LLaVA-OneVision of ~0.2M parameters, for offline tests.

    `crop`-pixel crops of `patch`-pixel patches (16 image tokens each by default; OneVision: 384
    and 14, 729 each); grids of up to 2x2 crops plus the whole image, so images of different
    shapes get different numbers of image tokens.
    """
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionProcessor,
    )
    from transformers.models.llava_onevision import LlavaOnevisionImageProcessorPil

    from clearbench.models.tiny import train_tokenizer

    tokenizer = train_tokenizer(
        texts,
        800,
        TINY_SPECIAL_TOKENS,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
    )
    pinpoints = [[crop, crop], [crop, 2 * crop], [2 * crop, crop], [2 * crop, 2 * crop]]
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": crop, "width": crop}, image_grid_pinpoints=pinpoints
    )
    processor = image_only_processor(LlavaOnevisionProcessor)(
        image_processor=image_processor,
        tokenizer=tokenizer,
        num_image_tokens=(crop // patch) ** 2,
        vision_feature_select_strategy="full",
        chat_template=TINY_CHAT_TEMPLATE,
    )
    ids = tokenizer.convert_tokens_to_ids
    text = dict(
        model_type="qwen2",
        vocab_size=len(tokenizer),
        **decoder_dims(hidden, layers),
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = vision_dims(crop, patch, model_type="siglip_vision_model")
    config = LlavaOnevisionConfig(
        text_config=text,
        vision_config=vision,
        image_token_index=ids("<image>"),
        video_token_index=ids("<video>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full",
    )
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, processor
