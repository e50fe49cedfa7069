"""Gemma 3, image-text (`google/gemma-3-4b-it`, `-12b-it`, `-27b-it`).

A SigLIP `vision_tower` and a pooling `multi_modal_projector` feed a Gemma 3 decoder
(`model.language_model`) whose layers alternate sliding-window and global attention. The processor
expands each `<start_of_image>` into a fixed block of image tokens, which attend to each other in
both directions (the `token_type_ids` it returns). Its chat template opens with `<bos>` (the
tokenizer's own BOS is then not added again) and closes turns with `<end_of_turn>`; the assistant
role is called "model". The processor takes its images per sample, so the adapter passes them so.
The text-only Gemma 3 1B (`gemma3_text`) is not served here.
"""

from __future__ import annotations

from torch import nn

from clearbench.models.base import Adapter, unwrap


class Gemma3Adapter(Adapter):
    family = "gemma3"
    model_types = ("gemma3",)
    images_per_sample = True

    def vision_modules(self, model: nn.Module) -> list[nn.Module]:
        inner = unwrap(model).model
        return [inner.vision_tower, inner.multi_modal_projector]
