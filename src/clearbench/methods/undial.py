"""UNDIAL: self-distillation toward the starting model's logits with the true token pushed down.

At each forget answer position t with true next token y_t, the target distribution is
    q_t = softmax(z_ref,t − γ·onehot(y_t))
and the student minimises the cross-entropy to it (= KL(q_t ‖ p_θ,t) + const) over answer tokens:
    L = mean_t H(q_t, p_θ,t) + λ_R·NLL(R)
Defaults γ = 10, λ_R = 0.
Source: Dong et al. 2024 ("UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clearbench.methods.base import (
    Method,
    answer_logits,
    answer_mask,
    forward_logits,
    optional_retain_nll,
    register,
)


@dataclass
class UNDIALHparams:
    gamma: float = 10.0
    retain_weight: float = 0.0


def undial_loss(ref_logits, logits, labels, gamma):
    """Mean over answer positions of H(softmax(z_ref − γ·onehot(y)), p_θ)."""
    targets = labels[:, 1:][answer_mask(labels)]
    adjusted = answer_logits(ref_logits, labels)
    adjusted = adjusted - gamma * F.one_hot(targets, adjusted.size(-1)).to(adjusted.dtype)
    target_probs = torch.softmax(adjusted, dim=-1)
    logp = F.log_softmax(answer_logits(logits, labels), dim=-1)
    per_position = -(target_probs * logp).sum(dim=-1)
    return per_position.mean() if per_position.numel() else logits.sum() * 0.0


@register
class UNDIAL(Method):
    name = "undial"
    description = "self-distil on forget toward reference logits with the true token lowered by γ"
    source = "Dong et al. 2024"
    needs_reference = True
    Hparams = UNDIALHparams

    @property
    def needs(self):
        return frozenset({"forget"} | ({"retain"} if self.hparams.retain_weight else set()))

    def loss(self, model, batch, ref, step):
        self.require_reference(ref)
        h = self.hparams
        forget = batch["forget"]
        total = undial_loss(ref.logits(forget), forward_logits(model, forget), forget["labels"], h.gamma)
        extras = {"undial": total.item()}
        total = total + optional_retain_nll(model, batch, h.retain_weight, extras)
        return total, extras
