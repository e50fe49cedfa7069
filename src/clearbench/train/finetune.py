"""Fine-tune a model on one training config: base → target (`full+tofu`), base → gold
(`retainNN+tofu`), or the tiny world's base itself (`pretraining`, from the `tiny-llava` preset).

The output directory is a standard merged checkpoint (model + processor) plus `train_log.jsonl`
and `run.json`; `run.json` is written last and marks the run complete, so a finished run is
skipped and an interrupted one resumes from `loop_state/`.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from clearbench import atomic
from clearbench.errors import UserError
from clearbench.train.loop import STATE_NAME, LoopConfig, make_accelerator, run_loop

TINY_PRESET = "tiny-llava"
# The configs whose text the tiny preset's tokenizer is fitted to (those present in the source).
TOKENIZER_CONFIGS = ("pretraining", "full+tofu")
TEXT_COLUMNS = ("caption", "question", "answer", "name")


@dataclass
class LoraOptions:
    r: int = 8
    alpha: int = 32
    dropout: float = 0.0
    target_modules: Sequence[str] | None = None  # None: every nn.Linear of the language model


def is_complete(out: Path) -> bool:
    """A finished fine-tuning output: run.json says completed and the checkpoint is there."""
    import json

    run_file = Path(out) / "run.json"
    if not (run_file.is_file() and (Path(out) / "config.json").is_file()):
        return False
    try:
        return json.loads(run_file.read_text()).get("status") == "completed"
    except ValueError:
        return False


def finetune(
    model: str,
    data: str,
    split: str,
    out: Path,
    *,
    lora: LoraOptions | None = LoraOptions(),
    loop: LoopConfig = LoopConfig(),
    batch_size: int = 8,
    freeze_vision: bool | None = None,
    revision: str | None = None,
    model_revision: str | None = None,
    trust_remote_code: bool = False,
    dtype: str | None = None,
    accelerator=None,
    tiny_size=None,
) -> Path:
    """Train `model` (checkpoint path, Hub id or `tiny-llava`) on config `split` of source `data`.

    `split` may name several configs separated by commas (`full+tofu,pretraining`): their rows are
    trained on together, which is how the tiny world rehearses what its base learned.

    `lora=None` trains all weights; with LoRA the adapters are merged before saving. With
    `freeze_vision` the vision tower and projector stay fixed (LoRA then skips them too); None
    freezes them except in a model built fresh from the preset, whose tower starts random.
    `revision` pins the dataset, `model_revision` the model (Hub sources only). `tiny_size`: the
    preset's `TinySize` (`tiny.PRESET_SIZE` when None).
    """
    from clearbench.data.load import dataset_revision
    from clearbench.train import lora as lora_lib
    from clearbench.train.data import sample_loader

    out = Path(out)
    if is_complete(out):
        return out
    if batch_size < 1:
        raise UserError(f"option --batch-size: must be at least 1, got {batch_size}")
    accelerator = accelerator or make_accelerator(loop.grad_accum)
    started = time.time()
    with accelerator.main_process_first():
        rows = _training_rows(data, split, revision)
        data_revision = dataset_revision(data, revision)
        net, processor, adapter = _model(
            model,
            data,
            revision,
            model_revision=model_revision,
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            seed=loop.seed,
            tiny_size=tiny_size,
        )
    if freeze_vision is None:
        freeze_vision = model != TINY_PRESET
    if lora is not None and accelerator.distributed_type.name == "FSDP":
        raise UserError(
            "LoRA with FSDP cannot be merged into a checkpoint here; use --lora-r 0 "
            "(full fine-tuning) with FSDP, or DDP / DeepSpeed ZeRO-2 for LoRA"
        )
    if lora is not None:
        net = lora_lib.apply_lora(
            net,
            adapter,
            r=lora.r,
            alpha=lora.alpha,
            dropout=lora.dropout,
            target_modules=lora.target_modules,
            include_vision=not freeze_vision,
        )
    elif freeze_vision:
        lora_lib.freeze_vision(net, adapter)
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    total = sum(p.numel() for p in net.parameters())
    loader = sample_loader(rows, adapter, processor, batch_size=batch_size, seed=loop.seed)

    def answer_loss(model, batch, step):
        return model(**batch).loss, {}

    result = run_loop(
        model=net,
        loader=loader,
        loss_fn=answer_loss,
        config=loop,
        out_dir=out,
        accelerator=accelerator,
        label=f"finetune {split}",
    )
    record = {
        "status": result.status,
        "steps": result.steps,
        "final_loss": result.final_loss,
        "model": model,
        "model_revision": model_revision,
        "family": adapter.family,
        "data": data,
        "split": split,
        "dataset_revision": data_revision,
        "rows": len(rows),
        "lora": asdict(lora) if lora is not None else None,
        "freeze_vision": freeze_vision,
        "batch_size": batch_size,
        "loop": asdict(loop),
        "seed": loop.seed,
        "trainable_parameters": trainable,
        "parameters": total,
        "tiny_size": asdict(tiny_size or _default_tiny_size()) if model == TINY_PRESET else None,
        "processes": accelerator.num_processes,
        "seconds": round(time.time() - started, 1),
        "versions": _versions(),
        "command": sys.argv,
    }
    if result.status != "completed":
        if accelerator.is_main_process:
            atomic.write_json(out / "run.json", record)
        raise UserError(
            f"fine-tuning {model} on {split} diverged at step {result.steps + 1} "
            f"(loss {result.final_loss}); see {out / 'train_log.jsonl'}; try a lower --lr"
        )
    state_dict = None
    if lora is None and accelerator.distributed_type.name in ("FSDP", "DEEPSPEED"):
        state_dict = accelerator.get_state_dict(result.model)  # gathers shards; every process calls
    if accelerator.is_main_process:
        lora_lib.save_merged(accelerator.unwrap_model(result.model), processor, out, state_dict=state_dict)
        atomic.write_json(out / "run.json", record)
        shutil.rmtree(out / STATE_NAME, ignore_errors=True)
    accelerator.wait_for_everyone()
    return out


def _training_rows(data: str, split: str, revision: str | None):
    from datasets import concatenate_datasets

    from clearbench.data.load import load_split

    configs = [config.strip() for config in split.split(",") if config.strip()]
    if not configs:
        raise UserError(f"no training config named in split {split!r}")
    parts = [load_split(data, config, revision) for config in configs]
    if len(parts) == 1:
        return parts[0]
    columns = ("image", "caption", "question", "answer")
    for config, part in zip(configs, parts):
        missing = [column for column in columns if column not in part.column_names]
        if missing:
            raise UserError(
                f"config {config!r} of {data} cannot be mixed into training: it lacks "
                f"column(s) {', '.join(missing)} (mix configs laid out like full+tofu)"
            )
    return concatenate_datasets([part.select_columns(list(columns)) for part in parts])


def _model(name: str, data: str, revision: str | None, **options):
    """(model, processor, adapter): the tiny preset built fresh, or a checkpoint / Hub model."""
    from clearbench.models import registry

    if name == TINY_PRESET:
        from clearbench.models.tiny import build_tiny_llava

        model, processor = build_tiny_llava(
            _source_texts(data, revision), options["tiny_size"] or _default_tiny_size(), seed=options["seed"]
        )
        return model, processor, registry.adapter_for(model)
    return registry.load(
        name,
        dtype=options["dtype"],
        revision=options["model_revision"],
        trust_remote_code=options["trust_remote_code"],
    )


def _default_tiny_size():
    from clearbench.models.tiny import PRESET_SIZE

    return PRESET_SIZE


def _source_texts(data: str, revision: str | None) -> list[str]:
    """Every text of the source's training configs, plus the protocol's fixed prompts."""
    from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION
    from clearbench.data.load import list_configs, load_split

    available = set(list_configs(data))
    configs = [config for config in TOKENIZER_CONFIGS if config in available]
    if not configs:
        raise UserError(
            f"data source '{data}' has none of {', '.join(TOKENIZER_CONFIGS)} to fit "
            f"the {TINY_PRESET} tokenizer to"
        )
    texts = list(CAPTION_QUESTIONS) + [FACE_QUESTION]
    for config in configs:
        rows = load_split(data, config, revision)
        columns = [column for column in TEXT_COLUMNS if column in rows.column_names]
        for row in rows.select_columns(columns):
            texts += [value for value in row.values() if isinstance(value, str) and value]
    return texts


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for package in ("clearbench", "torch", "transformers", "peft", "accelerate", "datasets", "tokenizers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found
