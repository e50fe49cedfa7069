"""The tiny random gemma3 model of the offline tests (moved out of src/clearbench/models/gemma3.py)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .dims import decoder_dims, vision_dims

# Gemma 3's template, shortened (no system turn); used only by the tiny test model.
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n"
    "{% if message['content'] is string %}{{ message['content'] | trim }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] | trim }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


TINY_SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)


def build(
    texts: Iterable[str],
    seed: int = 0,
    *,
    hidden: int = 64,
    layers: int = 2,
    image_size: int = 32,
    patch: int = 8,
    image_tokens: int = 4,
):
    """(model, processor): a random Gemma 3 of ~0.1M parameters, for offline tests.

    Layers alternate sliding-window and global attention (Gemma 3: five sliding, one global).
    An image is `image_size` pixels square in `patch`-pixel patches, pooled to `image_tokens`
    tokens (a square number): 4x4 patches to 2x2 by default; Gemma 3 itself pools 64x64 to
    16x16. Its tokenizer adds BOS, as Gemma's does.
    """
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3 import Gemma3ImageProcessorPil

    from clearbench.models.tiny import train_tokenizer

    tokenizer = train_tokenizer(
        texts,
        800,
        TINY_SPECIAL_TOKENS,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        add_bos_token=True,
        extra_special_tokens={
            "image_token": "<image_soft_token>",
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
        },
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size})
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_length=image_tokens,
        chat_template=TINY_CHAT_TEMPLATE,
    )
    ids = tokenizer.convert_tokens_to_ids
    text = dict(
        vocab_size=len(tokenizer),
        **decoder_dims(hidden, layers),
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=1024,  # Gemma 3 4B's
        layer_types=[
            "full_attention" if (i + 1) % min(6, layers) == 0 else "sliding_attention" for i in range(layers)
        ],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, ids("<end_of_turn>")],
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = vision_dims(image_size, patch, model_type="siglip_vision_model")
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=image_tokens,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    # The projection starts at zero in transformers (a trained checkpoint has it); a random
    # one lets gradients reach the vision tower, as they do from a real checkpoint.
    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, 0.02)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, ids("<end_of_turn>")]
    return model, processor
