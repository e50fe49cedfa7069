"""RMU (representation misdirection): steer forget activations at one layer to a fixed random vector.

With h_ℓ(x) the output of decoder layer ℓ at the positions that predict answer tokens,
    L = mean ‖h_ℓ,θ(F) − c·u‖² + α · mean ‖h_ℓ,θ(R) − h_ℓ,ref(R)‖²
(means over positions and hidden dimensions), u drawn once from U[0,1)^H and scaled to unit norm,
c the steering coefficient. Only decoder layers ℓ−window+1 … ℓ are trained (the original trains
ℓ−2…ℓ); with LoRA, only the adapters inside those layers.
Defaults c = 6.5, α = 1200 (the paper's Zephyr-7B setting); layer = −1 picks the layer at the
depth of CLEAR's layer 7 of 32 (round(7·L/32)) so small models work too.
Source: Li et al. 2024 ("The WMDP Benchmark…", RMU); Dontsov et al. 2025 (CLEAR §3.2).
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
    at_answers,
    capture_output,
    forward_logits,
    mean_or_zero,
    register,
)

if TYPE_CHECKING:
    from clearbench.models.base import Adapter
    from clearbench.train.reference import Reference


@dataclass
class RMUHparams:
    layer: int = -1
    steering: float = 6.5  # c
    alpha: float = 1200.0
    window: int = 3  # how many layers, ending at `layer`, are trainable
    seed: int = 0  # for the control vector u; the same on every process


@register
class RMU(Method):
    name = "rmu"
    description = "steer layer-ℓ forget activations to c·u; keep retain activations (layers ℓ-2..ℓ train)"
    source = "Li et al. 2024 (WMDP); Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain"})
    needs_reference = True
    Hparams = RMUHparams

    def __init__(self, **overrides: Any):
        super().__init__(**overrides)
        self.adapter: Adapter | None = None
        self.layer_index: int | None = None
        self.control: torch.Tensor | None = None

    def prepare(self, model: nn.Module, adapter: Adapter) -> None:
        layers = adapter.decoder_layers(model)
        index = self.hparams.layer if self.hparams.layer >= 0 else round(7 * len(layers) / 32)
        if not 0 <= index < len(layers):
            raise UserError(
                f"method 'rmu': layer={index} but the model has {len(layers)} decoder "
                f"layers (0…{len(layers) - 1}); use --set layer=N"
            )
        if self.hparams.window < 1:
            raise UserError("method 'rmu': window must be at least 1")
        self.adapter, self.layer_index = adapter, index
        self.control = None

    def trainable_parameters(self, model: nn.Module, adapter: Adapter) -> list[str]:
        if self.layer_index is None:
            self.prepare(model, adapter)
        layers = adapter.decoder_layers(model)
        first = max(0, self.layer_index - self.hparams.window + 1)
        chosen = {id(p) for layer in layers[first : self.layer_index + 1] for p in layer.parameters()}
        return [name for name, p in model.named_parameters() if id(p) in chosen and p.requires_grad]

    def _control(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.control is None:
            generator = torch.Generator().manual_seed(self.hparams.seed)
            u = torch.rand(hidden.size(-1), generator=generator)
            self.control = self.hparams.steering * u / u.norm()
        return self.control.to(hidden.device, hidden.dtype)

    def activations(self, model: nn.Module, enc: Encoding) -> torch.Tensor:
        """[N, H] layer-ℓ outputs of the model at the answer-predicting positions."""
        layer = self.adapter.decoder_layers(model)[self.layer_index]
        with capture_output(layer) as store:
            forward_logits(model, enc)
        return at_answers(store["output"], enc["labels"])

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        if self.layer_index is None:
            raise RuntimeError("RMU.prepare(model, adapter) must run before training")
        forget, retain = batch["forget"], batch["retain"]
        forget_h = self.activations(model, forget).float()
        forget_mse = mean_or_zero((forget_h - self._control(forget_h)) ** 2)
        retain_h = self.activations(model, retain).float()
        ref_h = at_answers(ref.layer_output(retain, self.layer_index), retain["labels"])
        retain_mse = mean_or_zero((retain_h - ref_h.float()) ** 2)
        return forget_mse + self.hparams.alpha * retain_mse, {
            "forget_mse": forget_mse.item(),
            "retain_mse": retain_mse.item(),
        }
