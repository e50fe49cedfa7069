"""Qwen3-VL (`Qwen/Qwen3-VL-2B-Instruct`, …) and its mixture-of-experts variant (`Qwen3-VL-30B-A3B`).

Same layout as Qwen2-VL: the vision tower `visual` holds the patch merger and the "deepstack"
mergers that feed visual features into the first decoder layers, so it is the one module
`freeze_vision` freezes; the decoder is `model.language_model`. Positions are interleaved
multimodal rope (mrope) computed from the image grid, as in Qwen2-VL. Chat format: ChatML, the
processor's own template; the image processor is Qwen2-VL's.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from clearbench.models.base import image_only_processor
from clearbench.models.qwen2_vl import TINY_CHAT_TEMPLATE, TINY_SPECIAL_TOKENS, Qwen2VLAdapter


class Qwen3VLAdapter(Qwen2VLAdapter):
    family = "qwen3_vl"
    model_types = ("qwen3_vl", "qwen3_vl_moe")

    def build_tiny(
        self,
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
        from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

        from clearbench.models.tiny import decoder_dims, train_tokenizer

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
        merge = 2
        image_processor = Qwen2VLImageProcessorPil(
            patch_size=patch,
            merge_size=merge,
            temporal_patch_size=2,
            min_pixels=(patch * merge) ** 2,
            max_pixels=max_pixels,
        )
        processor = image_only_processor(Qwen3VLProcessor)(
            image_processor=image_processor, tokenizer=tokenizer, chat_template=TINY_CHAT_TEMPLATE
        )
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
            spatial_merge_size=merge,
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
