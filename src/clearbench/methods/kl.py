"""KL minimisation: gradient ascent on the forget set, stay close to the start on the retain set.

    L = −NLL(F) + KL(p_ref ‖ p_θ)  (KL averaged over the retain answer tokens)

Weights 1 and 1, as in TOFU's and CLEAR's code. Deliberate difference: CLEAR's code takes this KL
over every position (prompt, image and padding too); here only retain answer tokens count.
Source: Maini et al. 2024 (TOFU "KL"); Dontsov et al. 2025 (CLEAR §3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from clearbench.methods.base import Batch, LossOutput, Method, model_kl, model_nll, register

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@register
class KLMinimisation(Method):
    name = "kl"
    description = "−NLL(F) + KL(p_ref‖p_θ) on retain answer tokens"
    source = "Maini et al. 2024 (TOFU); Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain"})
    needs_reference = True

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        forget, retain = batch["forget"], batch["retain"]
        forget_nll = model_nll(model, forget)
        retain_kl = model_kl(model, ref, retain)
        return -forget_nll + retain_kl, {"forget_nll": forget_nll.item(), "retain_kl": retain_kl.item()}
