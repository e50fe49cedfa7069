"""The tiny random qwen3_vl model of the offline tests (moved out of src/clearbench/models/qwen3_vl.py)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .dims import decoder_dims
from .qwen2_vl import TINY_MERGE, tiny_processor


def build(
    texts: Iterable[str],
    seed: int = 0,
    model_type: str = "qwen3_vl",
    *,
    hidden: int = 64,
    layers: int = 2,
    patch: int = 4,
    max_pixels: int = 24 * 24,
):
    """(model, processor): a random Qwen3-VL (or its MoE variant) of ~0.2M parameters, for offline
    tests. Image geometry as Qwen2-VL's tiny model; benchmarks use Qwen3-VL's 16-pixel patches."""
    from transformers import Qwen3VLProcessor

    processor = tiny_processor(Qwen3VLProcessor, texts, patch, max_pixels)
    tokenizer = processor.tokenizer
    ids = tokenizer.convert_tokens_to_ids
    text = dict(
        vocab_size=len(tokenizer),
        **decoder_dims(hidden, layers),
        head_dim=16,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [2, 3, 3],
            "mrope_interleaved": True,
        },
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        patch_size=patch,
        spatial_merge_size=TINY_MERGE,
        temporal_patch_size=2,
        out_hidden_size=hidden,
        num_position_embeddings=64,  # an 8x8 grid, interpolated to each image's
        deepstack_visual_indexes=[0],
    )
    if model_type == "qwen3_vl":
        from transformers import Qwen3VLConfig as Config
        from transformers import Qwen3VLForConditionalGeneration as Model
    else:
        from transformers import Qwen3VLMoeConfig as Config
        from transformers import Qwen3VLMoeForConditionalGeneration as Model

        text.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, decoder_sparse_step=1)
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
