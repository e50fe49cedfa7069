"""LoRA through `peft`, a vision-tower freeze that really freezes, and merged checkpoints."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from clearbench.errors import UserError
from clearbench.models.base import unwrap
from clearbench.settings import DROPOUT, NOT_NEGATIVE, POSITIVE, setting


@dataclass
class LoraOptions:
    """LoRA's settings; rank 0 trains all weights instead."""

    r: int = setting(8, "LoRA rank; 0 trains all weights (full fine-tuning)", NOT_NEGATIVE)
    alpha: int = setting(32, "LoRA alpha (scale alpha / r)", POSITIVE)
    dropout: float = setting(0.0, "dropout on the LoRA input", DROPOUT)
    target_modules: list[str] | None = setting(
        None,
        "module names or regexes to adapt (default: every nn.Linear of the language model but lm_head)",
        flags=("--lora-targets",),
    )

    @property
    def enabled(self) -> bool:
        return self.r > 0


def linear_names(model: nn.Module, adapter, *, include_vision: bool) -> list[str]:
    """Full names of the nn.Linear modules LoRA may target: the language model's (never
    lm_head, which lives outside it), plus the vision tower's and projector's when asked."""
    base = unwrap(model)
    roots = [adapter.language_model(base)] + (adapter.vision_modules(base) if include_vision else [])
    wanted = {id(module) for root in roots for module in root.modules() if isinstance(module, nn.Linear)}
    return [name for name, module in base.named_modules() if id(module) in wanted]


def _matches(name: str, pattern: str) -> bool:
    """peft's rule for a list entry (exact name or `.`-suffix), or a full regex match."""
    return name == pattern or name.endswith("." + pattern) or re.fullmatch(pattern, name) is not None


def apply_lora(
    model: nn.Module,
    adapter,
    *,
    r: int = 8,
    alpha: int = 32,
    dropout: float = 0.0,
    target_modules: Sequence[str] | None = None,
    include_vision: bool = False,
):
    """Wrap `model` with fresh LoRA adapters; only they are trainable afterwards.

    `target_modules` are names or regexes matched against module names (e.g. `q_proj`,
    `.*mlp.*`); None means every nn.Linear of the language model except lm_head.
    """
    from peft import LoraConfig, get_peft_model

    candidates = linear_names(model, adapter, include_vision=include_vision)
    if target_modules is None:
        targets = candidates
    else:
        targets = []
        for pattern in target_modules:
            hits = [name for name in candidates if _matches(name, pattern)]
            if not hits:
                where = "language model or vision tower" if include_vision else "language model"
                raise UserError(
                    f"LoRA target module pattern {pattern!r} matches no nn.Linear in the "
                    f"{where} of this {adapter.family} model (e.g. "
                    f"{', '.join(sorted({n.rsplit('.', 1)[-1] for n in candidates})[:8])})"
                )
            targets += [name for name in hits if name not in targets]
    if not targets:
        raise UserError(f"this {adapter.family} model has no nn.Linear for LoRA to target")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    return get_peft_model(model, config)


def freeze_vision(model: nn.Module, adapter) -> int:
    """Stop gradients into the vision tower and projector; returns how many tensors were frozen."""
    frozen = 0
    for module in adapter.vision_modules(model):
        for parameter in module.parameters():
            parameter.requires_grad_(False)
            frozen += 1
    return frozen


def save_merged(model: nn.Module, processor, out_dir: Path, state_dict: dict | None = None) -> Path:
    """Merge LoRA (if any) and save a standard safetensors checkpoint plus the processor.

    Files are written to a temporary sibling and moved in one by one, each by rename; other
    files already in `out_dir` (logs, run.json) are kept. Merging modifies `model` in place.
    `state_dict`: full weights gathered from a sharded (FSDP / ZeRO-3) model, without LoRA.
    """
    out_dir = Path(out_dir)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model = unwrap(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".save"))
    try:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
        processor.save_pretrained(tmp)
        for path in sorted(tmp.iterdir()):
            if path.is_dir():
                shutil.rmtree(out_dir / path.name, ignore_errors=True)
            path.replace(out_dir / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
