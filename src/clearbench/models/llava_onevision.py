"""LLaVA-OneVision (`llava-hf/llava-onevision-qwen2-0.5b-ov-hf`, `-7b-ov-hf`).

A SigLIP `vision_tower` and an MLP `multi_modal_projector` feed a Qwen2 decoder
(`model.language_model`). Images are "anyres": the processor picks the grid resolution that fits
each image best, so the number of image tokens depends on the image's shape; a learned
`image_newline` vector closes each row of image features. It belongs to the vision side, so
`freeze_vision` freezes it with the tower and the projector.
"""

from __future__ import annotations

from torch import nn

from clearbench.models.base import Adapter, unwrap


class _ImageNewline(nn.Module):
    """Holds the model's own `image_newline` parameter (the same tensor) so it can be frozen as a module."""

    def __init__(self, parameter: nn.Parameter):
        super().__init__()
        self.image_newline = parameter


class LlavaOnevisionAdapter(Adapter):
    family = "llava_onevision"
    model_types = ("llava_onevision",)

    def vision_modules(self, model: nn.Module) -> list[nn.Module]:
        inner = unwrap(model).model
        return [inner.vision_tower, inner.multi_modal_projector, _ImageNewline(inner.image_newline)]
