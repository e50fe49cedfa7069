"""Retain fine-tuning: keep training on the retain set only and hope the forget set fades.

    L = NLL(R)

Source: the baseline of TOFU (Maini et al. 2024) and CLEAR (Dontsov et al. 2025, §3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from clearbench.methods.base import Batch, LossOutput, Method, model_nll, register

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@register
class RetainFinetune(Method):
    name = "retain_ft"
    description = "fine-tune on the retain set only: NLL(R)"
    source = "Maini et al. 2024 (TOFU); Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"retain"})

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        retain = batch["retain"]
        retain_nll = model_nll(model, retain)
        return retain_nll, {"retain_nll": retain_nll.item()}
