"""LLaVA-1.5 (`llava-hf/llava-1.5-*-hf`) and the tiny LLaVA-architecture model."""

from __future__ import annotations

from torch import nn

from clearbench.models.base import Adapter, unwrap


class LlavaAdapter(Adapter):
    family = "llava"
    model_types = ("llava",)

    def vision_modules(self, model: nn.Module) -> list[nn.Module]:
        inner = unwrap(model).model
        return [inner.vision_tower, inner.multi_modal_projector]
