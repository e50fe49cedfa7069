"""The unlearning engine: one method, one forget set, one retain set → one unlearned checkpoint.

The engine owns everything around a method's loss: loading data and model, pairing forget rows with
retain / IDK / mismatched rows, LoRA or full training, the frozen reference (adapters off under
LoRA, no second copy), an optional L1 pull toward the starting model and an optional SalUn mask,
the shared training loop (`clearbench.train.loop`, so `accelerate launch` works), the method's
`finalize` step, and the outputs:

    out/run.json          resolved configuration, versions, seed, dataset revision
    out/train_log.jsonl   one line per optimiser step (kept when a run diverges)
    out/result.json       {"status": "completed" | "diverged", …}, written last
    out/*.safetensors …   on success, a merged standard checkpoint with its processor

A directory with a result.json is complete and is not run again.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from clearbench import __version__
from clearbench.atomic import write_json
from clearbench.errors import UserError
from clearbench.methods import get_method
from clearbench.train.loop import LOG_NAME, STATE_NAME, LoopConfig, make_accelerator, run_loop
from clearbench.train.pairing import (
    PairedDataset,
    check_disjoint,
    collate_pairs,
    forget_modality,
    load_idk_answers,
)

DEFAULT_LORA = {"r": 8, "alpha": 32}
RESULT_NAME = "result.json"
RUN_NAME = "run.json"


def unlearn(
    model: str | Path,
    data: str,
    forget: str,
    retain: str,
    method: str,
    out: str | Path,
    *,
    hparams: dict[str, Any] | None = None,
    lora: dict[str, Any] | None = DEFAULT_LORA,
    loop: LoopConfig | None = None,
    batch_size: int = 1,
    l1: float = 0.0,
    saliency: float | None = None,
    revision: str | None = None,
    freeze_vision: bool = True,
    idk_file: str | Path | None = None,
    trust_remote_code: bool = False,
    dtype: str | None = None,
) -> dict:
    """Unlearn `forget` from `model` with `method`; returns (and writes) out/result.json.

    `lora`: LoRA settings for `clearbench.train.lora.apply_lora` (r, alpha, dropout, …), or None to
    train all weights. `l1`: λ of the L1 distance from the starting model. `saliency`: fraction of
    weights a SalUn mask keeps trainable. `freeze_vision` applies to full training (LoRA never
    touches the vision tower unless `lora` says include_vision).
    """
    out = Path(out)
    if (out / RESULT_NAME).is_file():
        return json.loads((out / RESULT_NAME).read_text())
    loop = loop or LoopConfig()
    if dataclasses.is_dataclass(lora):  # finetune's LoraOptions
        lora = dataclasses.asdict(lora)
    chosen = get_method(method, **(hparams or {}))
    _check_options(batch_size, l1, saliency, loop, lora)

    from clearbench.data.load import dataset_revision, load_split

    accelerator = make_accelerator(loop.grad_accum)
    if lora and accelerator.distributed_type.name == "FSDP":
        raise UserError(
            "LoRA with FSDP cannot be merged into a checkpoint here; pass lora=None "
            "(--full) with FSDP, or use DDP / DeepSpeed ZeRO-2 for LoRA"
        )
    started = time.time()
    with accelerator.main_process_first():  # the first process fills the datasets cache
        forget_rows = load_split(data, forget, revision)
        retain_rows = load_split(data, retain, revision)
        data_revision = dataset_revision(data, revision)
    overlap_check = check_disjoint(forget_rows, retain_rows, forget, retain)
    idk_answers = load_idk_answers(idk_file) if "idk" in chosen.needs else []
    dataset = PairedDataset(
        forget_rows, retain_rows, sorted(chosen.needs), idk_answers=idk_answers, seed=loop.seed
    )
    network, processor, adapter = _load_trainable(model, lora, freeze_vision, trust_remote_code, dtype)
    chosen.prepare(network, adapter)
    _restrict_trainable(network, chosen.trainable_parameters(network, adapter))
    ref = None
    if chosen.needs_reference:
        from clearbench.train.reference import Reference

        ref = Reference.for_model(network, adapter).to(accelerator.device)
    l1_term = None
    if l1:
        from clearbench.train.regularizers import L1FromStart

        l1_term = L1FromStart(network, start_model=ref.model if ref is not None else None)
    generator = torch.Generator().manual_seed(loop.seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=collate_pairs(adapter, processor),
    )
    mask_handles = (
        _saliency(network, adapter, processor, forget_rows, saliency, batch_size, loop.seed, accelerator)
        if saliency
        else []
    )

    if accelerator.is_main_process:
        write_json(
            out / RUN_NAME,
            {
                "kind": "unlearn",
                "model": str(model),
                "data": data,
                "forget": forget,
                "retain": retain,
                "forget_modality": forget_modality(forget),
                "method": chosen.info(),
                "lora": lora,
                "loop": dataclasses.asdict(loop),
                "batch_size": batch_size,
                "l1": l1,
                "saliency": saliency,
                "freeze_vision": freeze_vision,
                "idk_file": str(idk_file) if idk_file else None,
                "forget_rows": len(forget_rows),
                "retain_rows": len(retain_rows),
                "forget_retain_overlap_check": overlap_check,
                "seed": loop.seed,
                "dataset_revision": data_revision,
                "reference": None
                if ref is None
                else ("adapters disabled" if ref.shares_weights else "frozen copy"),
                "num_processes": accelerator.num_processes,
                "versions": _versions(),
            },
        )

    def loss_fn(live_model, batch, step):
        loss, extras = chosen.loss(live_model, batch, ref, step)
        if l1_term is not None:
            distance = l1_term()
            loss = loss + l1 * distance
            extras = {**extras, "l1_distance": distance.item()}
        return loss, extras

    outcome = run_loop(
        model=network,
        loader=loader,
        loss_fn=loss_fn,
        config=loop,
        out_dir=out,
        accelerator=accelerator,
        label=f"unlearn {method}",
    )
    for handle in mask_handles:
        handle.remove()
    result = {
        "status": outcome.status,
        "method": method,
        "steps": outcome.steps,
        "final_loss": outcome.final_loss,
        "train_log": LOG_NAME,
        "seconds": round(time.time() - started, 1),
    }
    if outcome.status == "diverged":
        result["reason"] = f"loss became NaN or infinite at step {outcome.steps + 1}; see {LOG_NAME}"
    else:
        trained = accelerator.unwrap_model(outcome.model)
        chosen.finalize(trained, ref)
        state_dict = None
        if not lora and accelerator.distributed_type.name in ("FSDP", "DEEPSPEED"):
            state_dict = accelerator.get_state_dict(outcome.model)  # every process gathers
        if accelerator.is_main_process:
            from clearbench.train.lora import save_merged

            save_merged(trained, processor, out, state_dict=state_dict)
            shutil.rmtree(out / STATE_NAME, ignore_errors=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(out / RESULT_NAME, result)
    accelerator.wait_for_everyone()
    return result


def _check_options(batch_size: int, l1: float, saliency: float | None, loop: LoopConfig, lora) -> None:
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    if loop.grad_accum < 1:
        raise UserError(f"gradient accumulation must be at least 1, got {loop.grad_accum}")
    if loop.learning_rate <= 0 or (loop.max_steps is None and loop.epochs <= 0):
        raise UserError("learning rate and epochs must be positive")
    if loop.max_steps is not None and loop.max_steps < 1:
        raise UserError(f"max steps must be at least 1, got {loop.max_steps}")
    if lora and lora.get("r", 1) < 1:
        raise UserError(f"LoRA rank must be at least 1 (or no LoRA), got {lora.get('r')}")
    if l1 < 0:
        raise UserError(f"l1 must be ≥ 0, got {l1}")
    if saliency is not None and not 0.0 < saliency <= 1.0:
        raise UserError(f"saliency is the fraction of weights kept trainable, in (0, 1]; got {saliency}")


def _load_trainable(model, lora, freeze_vision, trust_remote_code, dtype):
    from clearbench.models import registry
    from clearbench.train.lora import apply_lora
    from clearbench.train.lora import freeze_vision as freeze

    network, processor, adapter = registry.load(model, trust_remote_code=trust_remote_code, dtype=dtype)
    if lora:
        network = apply_lora(network, adapter, **lora)
    else:
        network.requires_grad_(True)
        if freeze_vision:
            freeze(network, adapter)
    return network, processor, adapter


def _restrict_trainable(network, names: list[str] | None) -> None:
    """Freeze everything outside `names` (a method's choice, e.g. RMU's layers)."""
    if names is None:
        return
    if not names:
        raise UserError("the method selected no trainable parameters for this model")
    keep = set(names)
    for name, param in network.named_parameters():
        param.requires_grad_(name in keep)


def _saliency(network, adapter, processor, forget_rows, fraction, batch_size, seed, accelerator):
    from clearbench.train.data import sample_loader
    from clearbench.train.saliency import apply_gradient_mask, saliency_scores, top_fraction_mask

    network.to(accelerator.device)
    loader = sample_loader(forget_rows, adapter, processor, batch_size=batch_size, seed=seed, shuffle=False)
    batches = ({k: v.to(accelerator.device) for k, v in enc.items()} for enc in loader)
    return apply_gradient_mask(network, top_fraction_mask(saliency_scores(network, batches), fraction))


def _versions() -> dict[str, str]:
    import accelerate
    import datasets
    import peft
    import transformers

    return {
        "clearbench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
        "datasets": datasets.__version__,
    }
