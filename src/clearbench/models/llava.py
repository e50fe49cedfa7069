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

    def build_tiny(self, texts, seed: int = 0):
        """(model, processor): the random `tiny-llava` model, see `clearbench.models.tiny`."""
        from clearbench.models.tiny import build_tiny_llava

        return build_tiny_llava(texts, seed=seed)
