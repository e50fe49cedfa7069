"""RMU (representation misdirection): steer forget activations at one layer to a fixed random vector.

With h_ℓ(x) the output of decoder layer ℓ at the positions that predict answer tokens,
    L = mean ‖h_ℓ,θ(F) − c·u‖² + α · mean ‖h_ℓ,θ(R) − h_ℓ,ref(R)‖²
(means over positions and hidden dimensions), u drawn once from U[0,1)^H and scaled to unit norm,
c the steering coefficient. Only the parameters whose names match `params` (a regular expression,
searched) in decoder layers ℓ−window+1 … ℓ train; with LoRA, the adapters there.

Three variants (`--set variant=wmdp`); a value set explicitly overrides the variant's:
  adaptive (default), adaptive RMU (Dang et al. 2024, arXiv 2408.06223): c = scale · the mean norm of
      the reference model's layer-ℓ activations on the first forget batch (their code measures the
      model before its first update, on the first batch, with scale 5), so that the steering is as
      strong relative to the activations in a 128-wide tiny model as in a 4096-wide one: a fixed
      c = 6.5 lies inside the tiny model's own activation norms and RMU did nothing there. Otherwise
      as wmdp (α = 1200, layers ℓ−2…ℓ down-projection). Under several processes each measures its
      first batch and the mean is used.
  wmdp, as RMU's authors train it: c = 6.5, α = 1200 — their Zephyr-7B run (the 7B presets use it)
      (`run_rmu_zephyr.ipynb` in github.com/centerforaisafety/wmdp; their `rmu/unlearn.py`
      defaults are c = 20, α = 100); trained: the MLP down-projection (`params=mlp\\.down_proj`,
      their `param_ids=[6]`) of layers ℓ−2…ℓ (`layer_ids=[5,6,7]` for layer_id 7, window = 3).
      OpenUnlearning's RMU class defaults to the same regex (model.layers.(5|6|7).mlp.down_proj)
      and its WMDP experiment keeps it; its generic trainer config (used for TOFU) widens it to all.
  clear, as CLEAR's code computes it (mm/trainer.py): the forget term compares the *mean over
      tokens* of each sequence's activations with c·u, c = 300, α = 1, and every trainable
      parameter trains (`params=.*`, window = 0: all layers).
      L = mean_b ‖mean_t h_ℓ,θ(F_b) − c·u‖²/H + α · mean ‖h_ℓ,θ(R) − h_ℓ,ref(R)‖²
Deliberate differences from both codes: positions are answer tokens only (WMDP has no prompts;
CLEAR averages over prompt, image and padding positions too), and u is one H-vector of norm 1
(CLEAR draws a B×1×H tensor at the first batch and normalises the whole of it).
layer = −1 picks the layer at the depth of CLEAR's and WMDP's layer 7 of 32 (round(7·L/32)), so
small models work too.
Source: Li et al. 2024 ("The WMDP Benchmark…", RMU); Dang et al. 2024 (adaptive RMU); Dontsov et
al. 2025 (CLEAR §3.2, code).
"""

from __future__ import annotations

import dataclasses
import re
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
    at_answers,
    capture_output,
    check_choice,
    forward_logits,
    hparam,
    mean_or_zero,
    register,
)
from clearbench.settings import NOT_NEGATIVE, POSITIVE

if TYPE_CHECKING:
    from clearbench.models.base import Adapter
    from clearbench.train.reference import Reference

VARIANTS = {
    "adaptive": {"scale": 5.0, "alpha": 1200.0, "params": r"mlp\.down_proj", "window": 3},
    "wmdp": {"steering": 6.5, "alpha": 1200.0, "params": r"mlp\.down_proj", "window": 3},
    "clear": {"steering": 300.0, "alpha": 1.0, "params": ".*", "window": 0},
}


@dataclass
class RMUHparams:
    variant: str = "adaptive"
    layer: int = -1
    # c; None: the variant's (adaptive: measured, scale × activation norm)
    steering: float | None = hparam(None, POSITIVE)
    # adaptive only: c as a multiple of the forget activations' mean norm
    scale: float | None = hparam(None, POSITIVE)
    alpha: float | None = hparam(None, NOT_NEGATIVE)  # retain weight; None: the variant's
    params: str | None = None  # trainable parameter names (regex); None: the variant's
    # trainable layers ℓ−window+1 … ℓ (0: all); None: the variant's
    window: int | None = hparam(None, NOT_NEGATIVE)
    seed: int = 0  # for the control vector u; the same on every process


@register
class RMU(Method):
    name = "rmu"
    description = (
        "steer layer-ℓ forget activations to c·u (c adaptive to their norm), keep retain ones; "
        "trains layers ℓ-2..ℓ down_proj"
    )
    source = "Li et al. 2024 (WMDP); Dang et al. 2024 (adaptive); Dontsov et al. 2025 (CLEAR)"
    data = frozenset({"forget", "retain"})
    needs_reference = True
    Hparams = RMUHparams

    def __init__(self, **overrides: Any):
        super().__init__(**overrides)
        check_choice(self.name, "variant", self.hparams.variant, tuple(VARIANTS))
        chosen = {key for key in ("steering", "scale") if getattr(self.hparams, key) is not None}
        unset = {
            key: value
            for key, value in VARIANTS[self.hparams.variant].items()
            if getattr(self.hparams, key) is None and not (chosen and key in ("steering", "scale"))
        }
        self.hparams = dataclasses.replace(self.hparams, **unset)
        if self.hparams.scale is not None and self.hparams.steering is not None:
            raise UserError("method 'rmu': set steering (a fixed c) or scale (adaptive c), not both")
        if self.hparams.window < 0:
            raise UserError("method 'rmu': window must not be negative (0: every layer)")
        try:
            self.pattern = re.compile(self.hparams.params)
        except re.error as error:
            raise UserError(
                f"method 'rmu': params={self.hparams.params!r} is not a regex ({error})"
            ) from None
        self.adapter: Adapter | None = None
        self.layer_index: int | None = None
        self.control: torch.Tensor | None = None
        self.steering: float | None = self.hparams.steering  # c, measured at the first batch if adaptive

    def prepare(self, model: nn.Module, adapter: Adapter) -> None:
        layers = adapter.decoder_layers(model)
        index = self.hparams.layer if self.hparams.layer >= 0 else round(7 * len(layers) / 32)
        if not 0 <= index < len(layers):
            raise UserError(
                f"method 'rmu': layer={index} but the model has {len(layers)} decoder "
                f"layers (0…{len(layers) - 1}); use --set layer=N"
            )
        self.adapter, self.layer_index = adapter, index
        self.control, self.steering = None, self.hparams.steering

    def trainable_parameters(self, model: nn.Module, adapter: Adapter) -> list[str]:
        if self.layer_index is None:
            self.prepare(model, adapter)
        window, first = self.hparams.window, 0
        if window:
            first = max(0, self.layer_index - window + 1)
            layers = adapter.decoder_layers(model)[first : self.layer_index + 1]
            inside = {id(p) for layer in layers for p in layer.parameters()}
        names = [
            name
            for name, p in model.named_parameters()
            if p.requires_grad and (not window or id(p) in inside) and self.pattern.search(name)
        ]
        if not names:
            where = f"decoder layers {first}…{self.layer_index}" if window else "the model"
            raise UserError(
                f"method 'rmu': params={self.hparams.params!r} matches no trainable parameter in {where}"
            )
        return names

    def _control(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.steering is None:  # adaptive c, not measured yet: no answer position so far
            return hidden.new_zeros(hidden.size(-1))
        if self.control is None:
            generator = torch.Generator().manual_seed(self.hparams.seed)
            u = torch.rand(hidden.size(-1), generator=generator)
            self.control = self.steering * u / u.norm()
        return self.control.to(hidden.device, hidden.dtype)

    def measure_steering(self, ref: Reference, forget: Encoding) -> None:
        """Adaptive c: scale × the mean norm of the reference model's layer-ℓ forget activations at
        the answer positions of the first batch (of every process together)."""
        if self.hparams.scale is None or self.steering is not None:
            return
        hidden = at_answers(ref.layer_output(forget, self.layer_index), forget["labels"]).float()
        norms = hidden.norm(dim=-1).detach()
        total = torch.stack([norms.sum(), torch.tensor(float(norms.numel()))])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(total)
        if total[1] > 0:  # else: no answer position yet, measured at the next batch
            self.steering = self.hparams.scale * (total[0] / total[1]).item()

    def layer_output(self, model: nn.Module, enc: Encoding) -> torch.Tensor:
        """[B, T, H] layer-ℓ outputs of the model."""
        layer = self.adapter.decoder_layers(model)[self.layer_index]
        with capture_output(layer) as store:
            forward_logits(model, enc)
        return store["output"]

    def activations(self, model: nn.Module, enc: Encoding) -> torch.Tensor:
        """[N, H] layer-ℓ outputs of the model at the answer-predicting positions."""
        return at_answers(self.layer_output(model, enc), enc["labels"])

    def forget_term(self, model: nn.Module, enc: Encoding) -> torch.Tensor:
        if self.hparams.variant != "clear":  # wmdp and adaptive: every answer position
            hidden = self.activations(model, enc).float()
            return mean_or_zero((hidden - self._control(hidden)) ** 2)
        hidden, mask = self.layer_output(model, enc)[:, :-1].float(), answer_mask(enc["labels"])
        counts = mask.sum(dim=1, keepdim=True)
        means = (hidden * mask.unsqueeze(-1)).sum(dim=1) / counts.clamp(min=1)  # [B, H]
        return mean_or_zero((means - self._control(means))[counts.squeeze(1) > 0] ** 2)

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        if self.layer_index is None:
            raise RuntimeError("RMU.prepare(model, adapter) must run before training")
        forget, retain = batch["forget"], batch["retain"]
        self.measure_steering(ref, forget)
        forget_mse = self.forget_term(model, forget)
        retain_h = self.activations(model, retain).float()
        ref_h = at_answers(ref.layer_output(retain, self.layer_index), retain["labels"])
        retain_mse = mean_or_zero((retain_h - ref_h.float()) ** 2)
        return forget_mse + self.hparams.alpha * retain_mse, {
            "forget_mse": forget_mse.item(),
            "retain_mse": retain_mse.item(),
        }

    def info(self) -> dict[str, Any]:
        return super().info() | {"steering_used": self.steering}  # adaptive: the c it measured
