"""Negative preference optimisation: DPO with only a rejected answer, on sequence likelihoods.

    L = (2/β) · E[log(1 + (π_θ(y|x) / π_ref(y|x))^β)] + λ_R · NLL(R)
      = (2/β) · E[softplus(β·(log π_θ(y|x) − log π_ref(y|x)))] + λ_R · NLL(R)

log π(y|x) is the summed (not length-normalised) log-probability of the forget answer, as in NPO's
code (`get_batch_loss` sums token losses); the log-space form cannot overflow.
Defaults and where they come from: β = 0.1, NPO's own TOFU setting (github.com/licong-lin/
negative-preference-optimization, TOFU/config/forget.yaml) and OpenUnlearning's (configs/trainer/
NPO.yaml, docs/repro.md). λ_R = 0: CLEAR's NPO has no retain term (NPO's code calls the variant with
one `npo_grad_diff`, weight 1; OpenUnlearning's NPO includes it, α = 1: `--set retain_weight=1`).
Deliberate differences: CLEAR's paper lists β = 1 and its code applies the ratio element-wise to full
softmax distributions at every position; clearbench follows NPO's sequence-level formula and β.
Source: Zhang et al. 2024 (NPO); Dontsov et al. 2025 (CLEAR §3.2).
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
    optional_retain_nll,
    register,
    sequence_logprob,
)
from clearbench.settings import NOT_NEGATIVE, POSITIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class NPOHparams:
    beta: float = hparam(0.1, POSITIVE)
    retain_weight: float = hparam(0.0, NOT_NEGATIVE)


def npo_loss(logprob, ref_logprob, beta):
    """Per-example NPO loss from sequence log-probabilities."""
    return F.softplus(beta * (logprob - ref_logprob)) * 2.0 / beta


@register
class NPO(Method):
    name = "npo"
    description = "NPO on sequence likelihood ratios π_θ/π_ref of forget answers (+ retain NLL)"
    source = "Zhang et al. 2024; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget"})
    needs_reference = True
    Hparams = NPOHparams

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget = batch["forget"]
        logprob = sequence_logprob(forward_logits(model, forget), forget["labels"])
        ref_logprob = sequence_logprob(ref.logits(forget), forget["labels"])
        total = npo_loss(logprob, ref_logprob, h.beta).mean()
        extras = {"npo": total.item(), "forget_logprob": logprob.mean().item()}
        total = total + optional_retain_nll(model, batch, h.retain_weight, extras)
        return total, extras
