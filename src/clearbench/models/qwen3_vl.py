"""Qwen3-VL (`Qwen/Qwen3-VL-2B-Instruct`, …) and its mixture-of-experts variant (`Qwen3-VL-30B-A3B`).

Same layout as Qwen2-VL: the vision tower `visual` holds the patch merger and the "deepstack"
mergers that feed visual features into the first decoder layers, so it is the one module
`freeze_vision` freezes; the decoder is `model.language_model`. Positions are interleaved
multimodal rope (mrope) computed from the image grid, as in Qwen2-VL. Chat format: ChatML, the
processor's own template; the image processor is Qwen2-VL's.
"""

from __future__ import annotations

from clearbench.models.qwen2_vl import Qwen2VLAdapter


class Qwen3VLAdapter(Qwen2VLAdapter):
    family = "qwen3_vl"
    model_types = ("qwen3_vl", "qwen3_vl_moe")
