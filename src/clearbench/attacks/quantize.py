"""Quantization attack: the model's weights rounded to 8 or 4 bits, then evaluated.

Zhang et al. (ICLR 2025, "Catastrophic failure of LLM unlearning via quantization") showed that
utility-preserving unlearning moves weights by less than a quantization step, so rounding them
returns the model to the target's. The weights are quantized by optimum-quanto, as its QLinear does
(8 bits: symmetric absmax per output channel; 4 and 2 bits: affine per output channel, in groups of
up to 128 inputs), and written back dequantized: the model computes with exactly the quantized values
on any device, through the usual scoring, with no quantized kernels. Every nn.Linear of the language
model, the vision tower and the projector is quantized, never lm_head (as `train.lora.linear_names`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from clearbench.attacks.base import Attack, Context, Source, Variant
from clearbench.attacks.options import QUANTIZE_TYPES, AttackOptions
from clearbench.errors import UserError

BACKEND = "optimum-quanto"
INSTALL = "pip install 'clearbench[quantize]'"


def quanto():
    """The optimum.quanto module, or a UserError saying how to install it."""
    import importlib

    try:
        return importlib.import_module("optimum.quanto")
    except ImportError:
        raise UserError(
            f"the quantization attack needs {BACKEND}, which is not installed: {INSTALL} "
            "(or leave 'quantize' out of the attacks)"
        ) from None


def qtype(bits: int):
    module = quanto()
    return {8: module.qint8, 4: module.qint4, 2: module.qint2}[bits]


@torch.no_grad()
def quantized_weight(linear: torch.nn.Linear, bits: int) -> torch.Tensor:
    """The weight of `linear` quantized by quanto's QLinear and dequantized (its round trip)."""
    module = quanto()
    qlinear = module.quantize_module(linear, weights=qtype(bits))
    return qlinear.qweight.dequantize().to(linear.weight.dtype)


@torch.no_grad()
def quantize_weights(model: torch.nn.Module, adapter, bits: int) -> list[str]:
    """Replace, in place, the weight of every quantized nn.Linear by its round trip; their names."""
    from clearbench.models.base import unwrap
    from clearbench.train.lora import linear_names

    base = unwrap(model)
    names = linear_names(base, adapter, include_vision=True)
    modules = dict(base.named_modules())
    for name in names:
        linear = modules[name]
        linear.weight.copy_(quantized_weight(linear, bits))
    return names


class Quantize(Attack):
    name = "quantize"
    derives_model = True

    def variants(self, options: AttackOptions) -> list[Variant]:
        if not options.quantize:
            raise UserError("quantize: the list of weight types is empty")
        wrong = [name for name in options.quantize if name not in QUANTIZE_TYPES]
        if wrong:
            raise UserError(
                f"quantize: unknown weight type {wrong[0]!r}; choose from {', '.join(QUANTIZE_TYPES)}"
            )
        quanto()  # a missing backend stops the run before any training
        return [
            Variant(self.name, f"quantize-{name}", {"bits": QUANTIZE_TYPES[name], "backend": BACKEND})
            for name in dict.fromkeys(options.quantize)
        ]

    def derive(self, variant: Variant, source: Source, loaded, folder: Path, context: Context):
        model, processor, adapter = loaded
        quantized = copy.deepcopy(model)
        quantize_weights(quantized, adapter, variant.settings["bits"])
        return quantized.eval(), processor, adapter
