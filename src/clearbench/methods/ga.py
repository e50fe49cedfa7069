"""Gradient ascent: maximise the NLL of the forget answers.

    L = −NLL(F)

Source: Jang et al. 2023 ("Knowledge Unlearning…"); CLEAR (Dontsov et al. 2025, §3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from clearbench.methods.base import Batch, LossOutput, Method, model_nll, register

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@register
class GradientAscent(Method):
    name = "ga"
    description = "gradient ascent on the forget set: −NLL(F)"
    source = "Jang et al. 2023; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget"})

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        forget = batch["forget"]
        forget_nll = model_nll(model, forget)
        return -forget_nll, {"forget_nll": forget_nll.item()}
