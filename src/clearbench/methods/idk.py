"""IDK fine-tuning: answer forget prompts with "I don't know", keep the retain set.

    L = NLL(R) + NLL(F with a random IDK answer)

Weights 1 and 1, as in TOFU's and CLEAR's code; one IDK answer drawn per forget row and epoch from
clearbench's own list of 100 (`--idk-file` for another).
Source: Maini et al. 2024 (TOFU "IDK"); Dontsov et al. 2025 (CLEAR §3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from clearbench.methods.base import Batch, LossOutput, Method, model_nll, register

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@register
class IDontKnow(Method):
    name = "idk"
    description = "NLL(R) + NLL(forget prompts with an 'I don't know' answer)"
    source = "Maini et al. 2024 (TOFU); Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"retain", "idk"})

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        retain, idk = batch["retain"], batch["idk"]
        retain_nll = model_nll(model, retain)
        idk_nll = model_nll(model, idk)
        return retain_nll + idk_nll, {"retain_nll": retain_nll.item(), "idk_nll": idk_nll.item()}
