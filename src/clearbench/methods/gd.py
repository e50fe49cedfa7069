"""Gradient difference: push the forget set away while keeping the retain set.

    L = −β·L_F + L_R

with L_F one of
    nll      NLL(F)                                   (the paper's GD)
    entropy  mean answer-token entropy of p_θ on F    (maximised: the sign the official code flips)
    kl       mean answer-token KL(p_ref ‖ p_θ) on F   (maximised)
and L_R one of
    nll      NLL(R)
    kl       mean answer-token KL(p_ref ‖ p_θ) on R

These are the `grad_diff_forget_{ce,entropy,kl}_retain_{ce,kl}` variants of the CLEAR code, with
every forget term *maximised* and every term averaged over answer tokens only. Default β = 1 (CLEAR's
`loss_beta`; TOFU and OpenUnlearning also weigh both terms 1).

Stationary start: with forget_term=kl and retain_term=kl both terms and their gradients are exactly
0 at the start (the model is its reference), so the first step moves the weights only by weight
decay and the KL terms take over once the model has drifted. A seeded run is reproducible all the
same (tested); expect such a run to move slowly at first.
Source: Liu et al. 2022 (gradient difference); Dontsov et al. 2025 (CLEAR §3.2, code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from clearbench.methods.base import (
    Batch,
    Encoding,
    LossOutput,
    Method,
    answer_entropy,
    answer_kl,
    check_choice,
    forward_logits,
    hparam,
    nll,
    register,
)
from clearbench.settings import NOT_NEGATIVE

if TYPE_CHECKING:
    from clearbench.train.reference import Reference

FORGET_TERMS = ("nll", "entropy", "kl")
RETAIN_TERMS = ("nll", "kl")


def term(kind: str, model: nn.Module, enc: Encoding, ref: Reference | None) -> torch.Tensor:
    """L_F or L_R on one batch: "nll", "entropy" or "kl" (only "kl" reads the reference)."""
    logits = forward_logits(model, enc)
    if kind == "nll":
        return nll(logits, enc["labels"])
    if kind == "entropy":
        return answer_entropy(logits, enc["labels"])
    return answer_kl(ref.logits(enc), logits, enc["labels"])


@dataclass
class GDHparams:
    forget_term: str = "nll"
    retain_term: str = "nll"
    forget_weight: float = hparam(1.0, NOT_NEGATIVE)  # β


@register
class GradientDifference(Method):
    name = "gd"
    description = "−β·L_F + L_R; L_F ∈ {nll, entropy, kl}, L_R ∈ {nll, kl} (--set forget_term=…)"
    source = "Liu et al. 2022; Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain"})
    Hparams = GDHparams

    def __init__(self, **overrides: Any):
        super().__init__(**overrides)
        check_choice(self.name, "forget_term", self.hparams.forget_term, FORGET_TERMS)
        check_choice(self.name, "retain_term", self.hparams.retain_term, RETAIN_TERMS)

    @property
    def needs_reference(self) -> bool:
        """Only the KL terms compare against the starting model."""
        return "kl" in (self.hparams.forget_term, self.hparams.retain_term)

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        h = self.hparams
        forget = term(h.forget_term, model, batch["forget"], ref)
        retain = term(h.retain_term, model, batch["retain"], ref)
        return -h.forget_weight * forget + retain, {
            f"forget_{h.forget_term}": forget.item(),
            f"retain_{h.retain_term}": retain.item(),
        }
