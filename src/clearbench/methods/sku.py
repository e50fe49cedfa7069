"""SKU (selective knowledge negation): learn the forget set into a task vector, then subtract it.

Stage 1 (the training loop) fine-tunes a "harmful" model toward the forget set:
    L = ε₁·NLL(F) + ε₂·Σ_{k=1..K} NLL(M_k) − ε₃·KL(p_ref ‖ p_θ) on R
(guided distortion; random disassociation, M_k = the forget prompts with the answers of K other
forget rows, each NLL a token mean over its B rows; preservation divergence, maximised).
Stage 2 (`finalize`) negates the task vector:
    θ_unlearned = θ₀ − λ·(θ_harm − θ₀)
With LoRA the task vector is the adapter's s·B·A, so negation scales every B by −λ; without LoRA
θ₀ comes from the frozen reference copy.

Defaults and where they come from: ε = 2.5, 1, 0.5 with K = 3 mismatched answers summed, as CLEAR's
code runs SKU (mm/forget.py `loss_args`, mm/dataset.py `K = 3`); λ = 1 (SKU's `TaskVector.apply_to`,
scaling 1). SKU's own code (github.com/franciscoliu/SKU) defaults to ε = 0.5, 1, 1 and its README
runs ε = 2.5, 2.5, 1, with K = 5 random harmful answers *averaged* (ε₂ there weighs a mean; here a
sum). Its preservation term is −KL(p_ref‖p_θ) over every position; here over retain answer tokens.
Source: Liu et al. 2024 ("Towards Safer Large Language Models through Machine Unlearning");
Dontsov et al. 2025 (CLEAR §3.2, code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from clearbench.errors import UserError
from clearbench.methods.base import (
    Batch,
    Encoding,
    LossOutput,
    Method,
    answer_mask,
    forward_logits,
    hparam,
    model_kl,
    model_nll,
    register,
    token_nll,
)
from clearbench.models.base import unwrap
from clearbench.settings import AT_LEAST_ONE, NOT_NEGATIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class SKUHparams:
    distortion_weight: float = hparam(2.5, NOT_NEGATIVE)  # ε₁
    random_weight: float = hparam(1.0, NOT_NEGATIVE)  # ε₂
    preservation_weight: float = hparam(0.5, NOT_NEGATIVE)  # ε₃
    mismatches: int = hparam(3, AT_LEAST_ONE)  # K
    negation: float = hparam(1.0, NOT_NEGATIVE)  # λ


def summed_group_nll(model: nn.Module, enc: Encoding, groups: int) -> torch.Tensor:
    """Σ_k NLL(rows of group k): `enc` holds `groups` equal groups of rows, one after another."""
    labels = enc["labels"]
    token = token_nll(forward_logits(model, enc), labels).view(groups, -1, labels.size(1) - 1)
    counts = answer_mask(labels).view(groups, -1, labels.size(1) - 1).sum(dim=(1, 2))
    return (token.sum(dim=(1, 2)) / counts.clamp(min=1)).sum()


@register
class SKU(Method):
    name = "sku"
    description = "fine-tune toward the forget set (harmful model), then subtract that weight delta"
    source = "Liu et al. 2024; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain", "mismatch"})
    needs_reference = True
    Hparams = SKUHparams

    def __init__(self, **overrides: Any):
        super().__init__(**overrides)
        if self.hparams.mismatches < 1:
            raise UserError("method 'sku': mismatches must be at least 1")

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget, mismatch, retain = batch["forget"], batch["mismatch"], batch["retain"]
        if mismatch["labels"].size(0) != h.mismatches * forget["labels"].size(0):
            raise ValueError(f"sku: the mismatch batch must hold {h.mismatches} rows per forget row")
        forget_nll = model_nll(model, forget)
        mismatch_nll = summed_group_nll(model, mismatch, h.mismatches)
        retain_kl = model_kl(model, ref, retain)
        total = (
            h.distortion_weight * forget_nll
            + h.random_weight * mismatch_nll
            - h.preservation_weight * retain_kl
        )
        return total, {
            "forget_nll": forget_nll.item(),
            "mismatch_nll": mismatch_nll.item(),
            "retain_kl": retain_kl.item(),
        }

    def finalize(self, model: nn.Module, ref: Reference | None) -> None:
        lam = self.hparams.negation
        lora_modules = [m for m in model.modules() if hasattr(m, "lora_B")]
        with torch.no_grad():
            if lora_modules:
                for module in lora_modules:
                    for linear in module.lora_B.values():
                        linear.weight.mul_(-lam)
                return
            start = dict(unwrap(ref.model).named_parameters())
            for name, param in unwrap(model).named_parameters():
                if param.requires_grad:
                    initial = start[name].to(param.device, param.dtype)
                    param.copy_(initial - lam * (param - initial))
