"""Idefics3 and SmolVLM (`HuggingFaceTB/SmolVLM-256M-Instruct`, `HuggingFaceM4/Idefics3-8B-Llama3`).

SigLIP-style `vision_model` plus a pixel-shuffle `connector` into a Llama-style `text_model`;
the processor expands each `<image>` into a block of image tokens between fake-image markers.
"""

from __future__ import annotations

from torch import nn

from clearbench.models.base import Adapter, unwrap


class Idefics3Adapter(Adapter):
    family = "idefics3"
    model_types = ("idefics3", "smolvlm")

    def language_model(self, model: nn.Module) -> nn.Module:
        return unwrap(model).model.text_model

    def vision_modules(self, model: nn.Module) -> list[nn.Module]:
        inner = unwrap(model).model
        return [inner.vision_model, inner.connector]
