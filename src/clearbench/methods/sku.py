"""SKU (selective knowledge negation): learn the forget set into a task vector, then subtract it.

Stage 1 (the training loop) fine-tunes a "harmful" model toward the forget set:
    L = ε₁·NLL(F) + ε₂·NLL(F prompts with another forget row's answer) − ε₃·KL(p_ref ‖ p_θ) on R
(guided distortion, random disassociation, preservation divergence).
Stage 2 (`finalize`) negates the task vector:
    θ_unlearned = θ₀ − λ·(θ_harm − θ₀)
With LoRA the task vector is the adapter's s·B·A, so negation scales every B by −λ; without LoRA
θ₀ comes from the frozen reference copy. Defaults ε = 2.5, 1, 0.5 (the CLEAR code), λ = 1.
Source: Liu et al. 2024 ("Towards Safer Large Language Models through Machine Unlearning");
Dontsov et al. 2025 (CLEAR §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from clearbench.methods.base import Batch, LossOutput, Method, model_kl, model_nll, register
from clearbench.models.base import unwrap

if TYPE_CHECKING:
    from clearbench.train.reference import Reference


@dataclass
class SKUHparams:
    distortion_weight: float = 2.5  # ε₁
    random_weight: float = 1.0  # ε₂
    preservation_weight: float = 0.5  # ε₃
    negation: float = 1.0  # λ


@register
class SKU(Method):
    name = "sku"
    description = "fine-tune toward the forget set (harmful model), then subtract that weight delta"
    source = "Liu et al. 2024; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain", "mismatch"})
    needs_reference = True
    Hparams = SKUHparams

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget, mismatch, retain = batch["forget"], batch["mismatch"], batch["retain"]
        forget_nll = model_nll(model, forget)
        mismatch_nll = model_nll(model, mismatch)
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

    @torch.no_grad()
    def finalize(self, model: nn.Module, ref: Reference | None) -> None:
        lam = self.hparams.negation
        lora_modules = [m for m in model.modules() if hasattr(m, "lora_B")]
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
