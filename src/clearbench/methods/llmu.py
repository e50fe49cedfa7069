"""LLMU, as CLEAR modified it: ascent on forget answers, descent on IDK answers, KL on retain.

    L = −ε₁·NLL(F) + ε₂·NLL(F with IDK answers) + ε₃·KL(p_ref ‖ p_θ) on R answer tokens

KL is LLMU's forward KL from the original (reference) model to the current one.
Defaults and where they come from: ε = 1, 1, 1 with one IDK answer per forget prompt, as CLEAR
modified LLMU (paper §3.2; code mm/trainer.py sums the three terms with weight 1).
Deliberate differences, all CLEAR's: LLMU's own code (github.com/kevinyaobytedance/llm_unlearn,
unlearn_harm.py) weighs ε = 0.5, 1, 1 (`--set forget_weight=0.5` for that) and trains on K = 5
*random* answers from normal data per forget prompt, where CLEAR uses an IDK answer; its KL is taken
as a cross-entropy over every position, here over retain answer tokens. CLEAR's code computes this KL
as KL(p_θ ‖ p_ref) (reversed); clearbench keeps LLMU's direction.
Source: Yao et al. 2023 ("Large Language Model Unlearning"); Dontsov et al. 2025 (CLEAR §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from clearbench.methods.base import Batch, LossOutput, Method, hparam, model_kl, model_nll, register
from clearbench.settings import NOT_NEGATIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class LLMUHparams:
    forget_weight: float = hparam(1.0, NOT_NEGATIVE)
    idk_weight: float = hparam(1.0, NOT_NEGATIVE)
    retain_weight: float = hparam(1.0, NOT_NEGATIVE)


@register
class LLMU(Method):
    name = "llmu"
    description = "−NLL(F) + NLL(IDK answers) + KL(p_ref‖p_θ) on retain"
    source = "Yao et al. 2023; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain", "idk"})
    needs_reference = True
    Hparams = LLMUHparams

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget, idk, retain = batch["forget"], batch["idk"], batch["retain"]
        forget_nll = model_nll(model, forget)
        idk_nll = model_nll(model, idk)
        retain_kl = model_kl(model, ref, retain)
        total = -h.forget_weight * forget_nll + h.idk_weight * idk_nll + h.retain_weight * retain_kl
        return total, {
            "forget_nll": forget_nll.item(),
            "idk_nll": idk_nll.item(),
            "retain_kl": retain_kl.item(),
        }
