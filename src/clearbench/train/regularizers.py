"""L1 distance from the starting model, added to any method's loss as λ·Σ|θ − θ₀|.

Measured on what training actually changes:
  * with LoRA, each adapted weight moves by its merged update ΔW = s·B·A (peft's
    `get_delta_weight`), so the penalty is Σ|ΔW|, not the norm of the raw factors: A starts random,
    and penalising it (as the CLEAR code does) measures distance from a random init, not from θ₀;
  * without LoRA, θ − θ₀ over the trainable parameters, against a snapshot taken at the start.
"""

from __future__ import annotations

import torch
from torch import nn


def lora_layers(model: nn.Module) -> list[nn.Module]:
    """Modules carrying LoRA adapters (peft `LoraLayer`s)."""
    return [m for m in model.modules() if hasattr(m, "lora_A") and hasattr(m, "get_delta_weight")]


class L1FromStart:
    """Callable: Σ|θ − θ₀| over what is trained (see the module docstring). Build before training."""

    def __init__(self, model: nn.Module, start_model: nn.Module | None = None):
        """`start_model`: a frozen copy of the starting weights to reuse instead of a snapshot."""
        self.lora = [
            (m, name) for m in lora_layers(model) for name in m.lora_A if m.lora_A[name].weight.requires_grad
        ]
        self.model = model
        self.start: dict[str, torch.Tensor] = {}
        if not self.lora:
            given = dict(start_model.named_parameters()) if start_model is not None else {}
            self.start = {
                name: given[name].detach() if name in given else param.detach().clone()
                for name, param in model.named_parameters()
                if param.requires_grad
            }

    def __call__(self) -> torch.Tensor:
        if self.lora:
            return sum(module.get_delta_weight(name).abs().sum() for module, name in self.lora)
        params = dict(self.model.named_parameters())
        total = 0.0
        for name, start in self.start.items():
            if start.device != params[name].device:  # the loop moved the model after the snapshot
                start = self.start[name] = start.to(params[name].device)
            total = total + (params[name] - start).abs().sum()
        return total
