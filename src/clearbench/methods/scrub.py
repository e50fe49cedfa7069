"""SCRUB: a student that moves away from its teacher on the forget set and stays with it elsewhere.

With d(x) = KL(p_teacher ‖ p_student) averaged over answer tokens, SCRUB trains in passes:
    max pass:  L = −d(F)                          (push the student away on forget data)
    min pass:  L = α·d(R) + γ·NLL(R)              (keep it close and accurate on retain data)
Each of the first `msteps` epochs is a max pass over the forget rows followed by a min pass; every
later epoch is a min pass only, which repairs what the max passes broke. This is the epoch loop of
the authors' code (`if epoch <= msteps: maximise over the forget loader; minimise over the retain
loader`); the engine runs the passes (`passes`), and each batch of a pass holds only its data, so
the loss reads which step it is from the batch. The teacher is the frozen starting model.

Stationary start: at the first max step the student *is* the teacher, where d(F) and its gradient
are exactly 0, so that step moves the weights only through weight decay; the max passes push once
the student has moved. In the authors' code the same holds (a deep copy of the teacher), softened
there by train-mode dropout and batch norm. A seeded run is reproducible all the same (tested).

Defaults and where they come from:
  * α = γ = 1: CLEAR (Dontsov et al. 2025, App. B). The authors' notebooks use α = 0.001–0.5 and
    γ = 0.99–1 (e.g. `MIA_experiments.ipynb`: α 0.5, γ 1).
  * msteps = 3 (of CLEAR's 5 unlearning epochs): the authors' 5-epoch setting (`msteps = 3`,
    `sgda_epochs = 5` in `MIA_experiments.ipynb`; the large-scale notebook uses 2 of 3).
Deliberate differences: no distillation temperature (the authors divide logits by kd_T = 2–4 and
scale by kd_T²; CLEAR and clearbench use T = 1); a min pass draws |F| random retain rows, like every
clearbench method's epoch (CLEAR's pairing), instead of sweeping the whole retain set; CLEAR's own
code takes one joint step (−β·KL(F) + KL(R) + NLL(R), KL reversed), which clearbench does not copy.
Source: Kurmanji et al. 2023 ("Towards Unbounded Machine Unlearning", github.com/meghdadk/SCRUB);
Dontsov et al. 2025 (CLEAR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from clearbench.errors import UserError
from clearbench.methods.base import (
    Batch,
    LossOutput,
    Method,
    answer_kl,
    forward_logits,
    hparam,
    model_kl,
    nll,
    register,
)
from clearbench.settings import NOT_NEGATIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference

MAX_PASS = frozenset({"forget"})
MIN_PASS = frozenset({"retain"})


@dataclass
class SCRUBHparams:
    alpha: float = hparam(1.0, NOT_NEGATIVE)
    gamma: float = hparam(1.0, NOT_NEGATIVE)
    msteps: int = hparam(3, NOT_NEGATIVE)  # epochs that begin with a max pass


@register
class SCRUB(Method):
    name = "scrub"
    description = "max passes (−KL on forget) then min passes (α·KL + γ·NLL on retain), by epoch"
    source = "Kurmanji et al. 2023; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain"})
    needs_reference = True
    Hparams = SCRUBHparams

    def __init__(self, **overrides: Any):
        super().__init__(**overrides)
        if self.hparams.msteps < 0:
            raise UserError("method 'scrub': msteps must not be negative")

    def passes(self, epoch: int) -> list[frozenset[str]]:
        return [MAX_PASS, MIN_PASS] if epoch < self.hparams.msteps else [MIN_PASS]

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        if "retain" not in batch:  # a batch of a max pass
            forget_kl = model_kl(model, ref, batch["forget"])
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
