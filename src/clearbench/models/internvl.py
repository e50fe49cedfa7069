"""InternVL 2.5 / 3 in transformers format (`OpenGVLab/InternVL3-2B-hf`, `OpenGVLab/InternVL3-8B-hf`).

An InternViT `vision_tower` and a pixel-shuffle MLP `multi_modal_projector` feed a Qwen2 (or
InternLM) decoder, `model.language_model`. The processor cuts each image into up to
`max_patches` tiles plus a thumbnail and writes `<img>` + image tokens per tile + `</img>` in
place of each `<IMG_CONTEXT>` of the chat. The original `OpenGVLab/InternVL3-2B` checkpoints
(remote code, `internvl_chat`) are not this format; use the `-hf` ones.
"""

from __future__ import annotations

from torch import nn

from clearbench.models.base import Adapter, unwrap


class InternVLAdapter(Adapter):
    family = "internvl"
    model_types = ("internvl",)

    def vision_modules(self, model: nn.Module) -> list[nn.Module]:
        inner = unwrap(model).model
        return [inner.vision_tower, inner.multi_modal_projector]
