"""SimNPO: NPO without a reference model, on the length-normalised likelihood, with a margin γ.

    L = −(2/β) · E[log σ(−(β/|y|)·log π_θ(y|x) − γ)] + λ_R · NLL(R)

−log π_θ(y|x)/|y| is the mean NLL of the forget answer, so the loss falls as that NLL rises.
Defaults β = 2.5, γ = 0, λ_R = 1 (the SimNPO paper's TOFU setting).
Source: Fan et al. 2024 ("Simplicity Prevails: Rethinking Negative Preference Optimization…").
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
    optional_retain_nll,
    register,
    sequence_nll,
)

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class SimNPOHparams:
    beta: float = 2.5
    gamma: float = 0.0
    retain_weight: float = 1.0


def simnpo_loss(mean_nll, beta, gamma):
    """Per-example SimNPO loss from length-normalised NLLs."""
    return -F.logsigmoid(beta * mean_nll - gamma) * 2.0 / beta


@register
class SimNPO(Method):
    name = "simnpo"
    description = "reference-free NPO on length-normalised likelihood with margin γ (+ retain NLL)"
    source = "Fan et al. 2024"
    data = frozenset({"forget"})
    Hparams = SimNPOHparams

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget = batch["forget"]
        mean_nll = sequence_nll(forward_logits(model, forget), forget["labels"])
        total = simnpo_loss(mean_nll, h.beta, h.gamma).mean()
        extras = {"simnpo": total.item(), "forget_nll": mean_nll.mean().item()}
        total = total + optional_retain_nll(model, batch, h.retain_weight, extras)
        return total, extras
