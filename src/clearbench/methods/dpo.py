"""Direct preference optimisation toward "I don't know" (chosen) and away from the true answer.

    L = λ_dpo · −log σ(β·[(log π_θ(y_idk|x) − log π_ref(y_idk|x)) − (log π_θ(y|x) − log π_ref(y|x))])
        + λ_task · NLL(F with IDK answers) + λ_R · NLL(R)

log π(y|x) is the summed (not length-normalised) log-probability of the answer tokens; π_ref is
the starting model.
Defaults and where they come from: β = 0.1 and λ_dpo = λ_task = 1, CLEAR's (paper App. B; its code
forms −log σ(β·margin) with β = 0.1 before overwriting it, mm/trainer.py); λ_R = 0 (CLEAR's DPO has no
retain term; `--set retain_weight=1` gives OpenUnlearning's IdkDPO retain term).
Deliberate differences: CLEAR's code overwrites this loss with the IDK NLL alone (a bug, kept out);
the paper's reference is a model fine-tuned on the IDK answers, clearbench's the starting model (as
OpenUnlearning's). OpenUnlearning scales the DPO term by 2/β and drops the task term.
Source: Rafailov et al. 2023 (DPO); Dontsov et al. 2025 (CLEAR §3.2, App. B).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import nn

from clearbench.methods.base import (
    Batch,
    LossOutput,
    Method,
    forward_logits,
    hparam,
    nll,
    optional_retain_nll,
    register,
    sequence_logprob,
)
from clearbench.settings import NOT_NEGATIVE, POSITIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class DPOHparams:
    beta: float = hparam(0.1, POSITIVE)
    dpo_weight: float = hparam(1.0, NOT_NEGATIVE)
    task_weight: float = hparam(1.0, NOT_NEGATIVE)
    retain_weight: float = hparam(0.0, NOT_NEGATIVE)


def dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta):
    """Per-example DPO loss from sequence log-probabilities."""
    margin = (chosen - ref_chosen) - (rejected - ref_rejected)
    return -F.logsigmoid(beta * margin)


@register
class DPO(Method):
    name = "dpo"
    description = "DPO: chosen = IDK answer, rejected = true answer, + λ·NLL(IDK) (+ retain NLL)"
    source = "Rafailov et al. 2023; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "idk"})
    needs_reference = True
    Hparams = DPOHparams

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget, idk = batch["forget"], batch["idk"]
        idk_logits = forward_logits(model, idk)
        chosen = sequence_logprob(idk_logits, idk["labels"])
        rejected = sequence_logprob(forward_logits(model, forget), forget["labels"])
        ref_chosen = sequence_logprob(ref.logits(idk), idk["labels"])
        ref_rejected = sequence_logprob(ref.logits(forget), forget["labels"])
        preference = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, h.beta).mean()
        idk_nll = nll(idk_logits, idk["labels"])
        total = h.dpo_weight * preference + h.task_weight * idk_nll
        extras = {"dpo": preference.item(), "idk_nll": idk_nll.item()}
        total = total + optional_retain_nll(model, batch, h.retain_weight, extras)
        return total, extras
