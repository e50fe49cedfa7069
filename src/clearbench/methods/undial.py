"""UNDIAL: self-distillation toward the starting model's logits with the true token pushed down.

At each forget answer position t with true next token y_t, the target distribution is
    q_t = softmax(z_ref,t − γ·onehot(y_t))
and the student minimises the cross-entropy to it (= KL(q_t ‖ p_θ,t) + const) over answer tokens:
    L = mean_t H(q_t, p_θ,t) + λ_R·NLL(R)
Defaults and where they come from: γ = 10 and no retain term (λ_R = 0), as the authors ran it and
OpenUnlearning ships it (configs/trainer/UNDIAL.yaml: beta 10, alpha 0; community/methods/UNDIAL:
"the original paper does not use the retain set", γ searched over 3, 10, 30).
Deliberate difference: OpenUnlearning averages over every position (prompt and padding included);
here only answer positions count.
Source: Dong et al. 2024 ("UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from clearbench.methods.base import (
    Batch,
    LossOutput,
    Method,
    answer_logits,
    answer_targets,
    forward_logits,
    hparam,
    mean_or_zero,
    optional_retain_nll,
    register,
)
from clearbench.settings import NOT_NEGATIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class UNDIALHparams:
    gamma: float = hparam(10.0, NOT_NEGATIVE)
    retain_weight: float = hparam(0.0, NOT_NEGATIVE)


def undial_loss(ref_logits, logits, labels, gamma):
    """Mean over answer positions of H(softmax(z_ref − γ·onehot(y)), p_θ)."""
    targets = answer_targets(labels)
    adjusted = answer_logits(ref_logits, labels)
    adjusted = adjusted - gamma * F.one_hot(targets, adjusted.size(-1)).to(adjusted.dtype)
    target_probs = torch.softmax(adjusted, dim=-1)
    logp = F.log_softmax(answer_logits(logits, labels), dim=-1)
    return mean_or_zero(-(target_probs * logp).sum(dim=-1))


@register
class UNDIAL(Method):
    name = "undial"
    description = "self-distil on forget toward reference logits with the true token lowered by γ"
    source = "Dong et al. 2024"
    data = frozenset({"forget"})
    needs_reference = True
    Hparams = UNDIALHparams

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget = batch["forget"]
        total = undial_loss(ref.logits(forget), forward_logits(model, forget), forget["labels"], h.gamma)
        extras = {"undial": total.item()}
        total = total + optional_retain_nll(model, batch, h.retain_weight, extras)
        return total, extras
