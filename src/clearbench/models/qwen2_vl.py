"""Qwen2-VL and Qwen2.5-VL (`Qwen/Qwen2-VL-2B-Instruct`, `Qwen/Qwen2.5-VL-3B-Instruct`).

The vision tower (`visual`) includes the patch merger that projects into the language model, so
it is the one module `freeze_vision` freezes. Chat format: ChatML, the processor's own template.
"""

from __future__ import annotations

from torch import nn

from clearbench.models.base import Adapter, unwrap


class Qwen2VLAdapter(Adapter):
    family = "qwen2_vl"
    model_types = ("qwen2_vl", "qwen2_5_vl")

    def vision_modules(self, model: nn.Module) -> list[nn.Module]:
        return [unwrap(model).model.visual]
