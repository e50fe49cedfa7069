"""SCRUB: a student that moves away from its teacher on the forget set and stays with it elsewhere.

With d(x) = KL(p_teacher ‖ p_student) averaged over answer tokens, SCRUB alternates
    max step:  L = −d(F)                          (push the student away on forget data)
    min step:  L = α·d(R) + γ·NLL(R)              (keep it close and accurate on retain data)
For the first `msteps` max steps the two alternate (max, min, max, min, …); after that only min
steps run, as in the paper. One optimiser step is one max or min step. Defaults α = γ = 1 (CLEAR).
The teacher is the frozen starting model.
Source: Kurmanji et al. 2023 ("Towards Unbounded Machine Unlearning"); Dontsov et al. 2025 (CLEAR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from clearbench.methods.base import (
    Batch,
    LossOutput,
    Method,
    answer_kl,
    forward_logits,
    model_kl,
    nll,
    register,
)

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class SCRUBHparams:
    alpha: float = 1.0
    gamma: float = 1.0
    msteps: int = 5


@register
class SCRUB(Method):
    name = "scrub"
    description = "alternate max steps (−KL on forget) and min steps (α·KL + γ·NLL on retain)"
    source = "Kurmanji et al. 2023; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain"})
    needs_reference = True
    Hparams = SCRUBHparams

    def is_max_step(self, step: int) -> bool:
        return step < 2 * self.hparams.msteps and step % 2 == 0

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        if self.is_max_step(step):
            forget = batch["forget"]
            forget_kl = model_kl(model, ref, forget)
            return -forget_kl, {"forget_kl": forget_kl.item(), "max_step": 1.0}
        retain = batch["retain"]
        logits = forward_logits(model, retain)
        retain_kl = answer_kl(ref.logits(retain), logits, retain["labels"])
        retain_nll = nll(logits, retain["labels"])
        return h.alpha * retain_kl + h.gamma * retain_nll, {
            "retain_kl": retain_kl.item(),
            "retain_nll": retain_nll.item(),
            "max_step": 0.0,
        }
