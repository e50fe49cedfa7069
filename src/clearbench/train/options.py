"""The training settings, declared once: the loop's and LoRA's own dataclasses plus what every training
stage needs. The run config's sections extend these classes, and `clearbench finetune` / `unlearn`
generate their flags from them (`clearbench.settings`), so a setting is reachable everywhere.

Defaults follow the CLEAR paper for each stage (App. H: fine-tuning 3 epochs at batch 12, unlearning
5 epochs at batch 1 with 2 accumulation steps; LoRA r 8 / alpha 32, lr 1e-5, weight decay 0.01).
"""

from __future__ import annotations

from dataclasses import dataclass

from clearbench.settings import AT_LEAST_ONE, FRACTION, NOT_NEGATIVE, setting
from clearbench.train.loop import LoopConfig
from clearbench.train.lora import LoraOptions


@dataclass
class TrainOptions(LoopConfig):
    """Everything a training stage is told; being a LoopConfig, it is what `run_loop` reads."""

    batch_size: int = setting(8, "examples per forward pass on each process", AT_LEAST_ONE)
    lora: LoraOptions = setting(help="LoRA", default_factory=LoraOptions)
    freeze_vision: bool | None = setting(
        None,
        "keep the vision tower and projector fixed (LoRA then skips them too); "
        "unset: frozen, except in a fresh tiny-llava whose tower starts random",
    )
    gradient_checkpointing: bool = setting(
        False,
        "recompute each decoder layer's activations in the backward pass instead of keeping them: "
        "activation memory of one layer instead of all, for about a third more compute (7B jobs)",
    )


@dataclass
class UnlearnOptions(TrainOptions):
    l1: float = setting(0.0, "weight of the L1 distance from the starting model", NOT_NEGATIVE)
    saliency: float | None = setting(None, "SalUn mask: fraction of weights kept trainable", FRACTION)
    idk_file: str | None = setting(None, "'I don't know' answers, one per line (default: the built-in list)")


FINETUNE_DEFAULTS = {"epochs": 3.0, "batch_size": 12, "grad_accum": 1}
UNLEARN_DEFAULTS = {"epochs": 5.0, "batch_size": 1, "grad_accum": 2}
