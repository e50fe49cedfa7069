"""SalUn-style weight saliency: train only the weights the forget loss is most sensitive to.

The saliency of a weight is |∂ NLL(F) / ∂θ| accumulated over the forget set (Fan et al. 2024,
"SalUn"); the top `fraction` of trainable weights (one global threshold) stay trainable and every
other weight's gradient is multiplied by 0 through a tensor hook, so any method can use the mask.
Notes: decoupled weight decay (AdamW) still shrinks masked weights slightly; with LoRA the mask is
over the LoRA factors, and since B starts at 0 the A factors have zero saliency, so the mask
selects entries of B (A then keeps its random projection).
"""

from __future__ import annotations

import torch
from torch import nn

from clearbench.methods.base import nll
from clearbench.models.forward import forward_logits


def saliency_scores(model: nn.Module, batches, max_batches: int | None = None) -> dict[str, torch.Tensor]:
    """|Σ gradients of the forget NLL| per trainable parameter."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    for count, enc in enumerate(batches):
        if max_batches is not None and count >= max_batches:
            break
        nll(forward_logits(model, enc), enc["labels"]).backward()
    scores = {
        name: (p.grad.detach().abs() if p.grad is not None else torch.zeros_like(p))
        for name, p in params.items()
    }
    model.zero_grad(set_to_none=True)
    return scores


def top_fraction_mask(scores: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Boolean masks keeping the `fraction` highest-scoring weights across all tensors."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"saliency fraction must be in (0, 1], got {fraction}")
    flat = torch.cat([s.flatten().float() for s in scores.values()])
    keep = max(1, round(fraction * flat.numel()))
    threshold = torch.topk(flat, keep).values.min()
    return {name: s >= threshold for name, s in scores.items()}


def apply_gradient_mask(model: nn.Module, masks: dict[str, torch.Tensor]) -> list:
    """Zero the gradient of masked-out weights; returns hook handles (call `.remove()` to undo)."""
    handles = []
    for name, param in model.named_parameters():
        if name in masks:
            mask = masks[name].to(param.device, param.dtype)
            handles.append(param.register_hook(lambda grad, mask=mask: grad * mask))
    return handles
