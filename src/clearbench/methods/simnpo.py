"""SimNPO: NPO without a reference model, on the length-normalised likelihood, with a margin γ.

    L = λ_F · −(2/β) · E[log σ(β·(−log π_θ(y|x)/|y| − γ))] + λ_R · NLL(R)

−log π_θ(y|x)/|y| is the mean NLL of the forget answer, so the loss falls as that NLL rises. The
margin sits inside β·(…) as in the authors' code (`-F.logsigmoid(beta * (loss / length - gamma))`);
the paper writes β·ℓ − γ, i.e. its γ is β times this one (the default γ = 0 is the same in both).
Defaults and where they come from, the authors' TOFU forget10 run (github.com/OPTML-Group/
Unlearn-Simple, TOFU/README.md; also OpenUnlearning's configs/trainer/SimNPO.yaml): β = 4.5,
forget coefficient λ_F = 0.125 (`npo_coeff`), γ = 0, retain NLL weight λ_R = 1 (`grad_diff_coeff`).
For forget05 the authors run β = 2.5, λ_F = 0.1375 (their forget.yaml's defaults).
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
    hparam,
    optional_retain_nll,
    register,
    sequence_nll,
)
from clearbench.settings import FINITE, NOT_NEGATIVE, POSITIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class SimNPOHparams:
    beta: float = hparam(4.5, POSITIVE)
    gamma: float = hparam(0.0, FINITE)
    forget_weight: float = hparam(0.125, NOT_NEGATIVE)  # λ_F
    retain_weight: float = hparam(1.0, NOT_NEGATIVE)


def simnpo_loss(mean_nll, beta, gamma):
    """Per-example SimNPO loss from length-normalised NLLs."""
    return -F.logsigmoid(beta * (mean_nll - gamma)) * 2.0 / beta


@register
class SimNPO(Method):
    name = "simnpo"
    description = "λ_F · reference-free NPO on length-normalised likelihood, margin γ (+ retain NLL)"
    source = "Fan et al. 2024"
    data = frozenset({"forget"})
    Hparams = SimNPOHparams

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget = batch["forget"]
        mean_nll = sequence_nll(forward_logits(model, forget), forget["labels"])
        forget_loss = simnpo_loss(mean_nll, h.beta, h.gamma).mean()
        extras = {"simnpo": forget_loss.item(), "forget_nll": mean_nll.mean().item()}
        total = h.forget_weight * forget_loss + optional_retain_nll(model, batch, h.retain_weight, extras)
        return total, extras
