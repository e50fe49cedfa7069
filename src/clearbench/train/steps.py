"""The steps every training stage shares (fine-tuning and unlearning read as a list of them).

    accelerator = start(options)                         check the settings, start accelerate
    model = load_model(...); make_trainable(...)         LoRA or full, vision frozen or not
    full_precision(...)                                  full weights train in fp32 (saved as loaded)
    record_run(...)                                      run.json: what was asked, with which software
    run_loop(...)                                        (clearbench.train.loop)
    save_trained(...)                                    a merged standard checkpoint
    record_result(...)                                   result.json, written last: the stage is done

`claim(out, request)` comes first: run.json records the request (model, data, method, settings,
seed) that made the output, and a directory holding another request's output is refused, so one
run's result is never reported as another's. A finished output of the same request is not trained
again; an interrupted one resumes. An output that is (or holds, or lies in) the model or the data is
refused, and so is a non-empty folder clearbench did not create (`files.claim_folder`'s marker): a
checkpoint's own `config.json` or weights are never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from clearbench import atomic, files, settings
from clearbench.errors import UserError
from clearbench.train.loop import STATE_NAME, make_accelerator
from clearbench.train.options import TrainOptions
from clearbench.versions import versions

RUN = "run.json"
RESULT = "result.json"
TINY_PRESET = "tiny-llava"


def finished(out: Path) -> dict | None:
    """The result of a stage that already ran to its end in `out`, or None."""
    if not (Path(out) / RESULT).is_file():
        return None
    path = Path(out) / RESULT
    result = files.read_json_object(path)  # a malformed record is named, not taken as "not done"
    if result.get("final_loss") is not None:
        files.number(result["final_loss"], f"{path}, key 'final_loss'", finite=False)  # NaN: diverged
    if not isinstance(result.get("steps", 0), int):
        raise UserError(f"{path}, key 'steps': expected a whole number, found {result['steps']!r}")
    return result


def claim(out: Path, request: dict) -> dict | None:
    """The result in `out` when it holds this very request, finished; None to start or resume it.

    Refuses (exit 2) a directory that holds the output of another request, saying what differs.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    files.refuse_input(out, [request.get("model"), request.get("data")], "--out")
    if (out / RESULT).is_file() and not (out / RUN).is_file():
        raise UserError(f"{out} holds a result with no record of what made it; choose another --out")
    # checked now, marked when run.json is written: a refused request leaves nothing behind
    files.claim_folder(out, "--out", legacy=lambda folder: (folder / RUN).is_file(), mark_now=False)
    request = json.loads(json.dumps(request, default=str))
    if not (out / RUN).is_file():
        return None
    record = files.read_json(out / RUN)
    earlier = record.get("request") if isinstance(record, dict) else None
    earlier_out = record.get("out") if isinstance(record, dict) else None
    if isinstance(earlier, dict):  # paths compared relative to the output: a moved run resumes
        earlier = portable(earlier, earlier_out if isinstance(earlier_out, str) else out)
    request = portable(request, out)
    if earlier != request:
        changes = _differences(earlier if isinstance(earlier, dict) else {}, request)
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        raise UserError(
            f"{out} holds the output of another {request.get('kind', 'run')} ({shown}); "
            "choose another --out or delete it"
        )
    return finished(out)


# Request keys that may hold a local path (else a Hub id or a preset name).
PATH_KEYS = ("model", "data")


def portable(request: dict, out: Path | str) -> dict:
    """`request` with its local paths relative to the output folder `out`, so that a run folder moved
    or copied as a whole (its data and models inside it) still holds the same request."""
    request = dict(request)
    base = os.path.abspath(out)
    for key in PATH_KEYS:
        value = request.get(key)
        if isinstance(value, str) and (os.path.isabs(value) or os.path.exists(value)):
            request[key] = os.path.relpath(os.path.abspath(value), base)
    return request


def _differences(earlier: dict, now: dict, prefix: str = "") -> list[str]:
    """`key: earlier → now` for every (nested) key whose value differs."""
    changes = []
    for key in sorted(set(earlier) | set(now), key=str):
        old, new = earlier.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes += _differences(old, new, f"{prefix}{key}.")
        elif old != new:
            changes.append(f"{prefix}{key}: {old!r} → {new!r}")
    return changes


def start(options: TrainOptions):
    """Check the settings and start accelerate (one process, or every process of a launch)."""
    settings.check(options, settings.flag)
    accelerator = make_accelerator(options.grad_accum)
    check_lora_sharding(options, accelerator)
    return accelerator


def check_lora_sharding(options: TrainOptions, accelerator) -> None:
    """LoRA runs with whole weights on every process (one GPU, DDP, DeepSpeed ZeRO-2); not under FSDP
    or ZeRO-3, which shard the weights.

    Why: clearbench saves a merged standard checkpoint (W + B·A·α/r), and LoRA's saving in exchange
    for its whole frozen base is small: its optimizer state is the adapters'. Under FSDP or ZeRO-3
    the base weights, the adapters and the reference (the same weights with adapters disabled) are
    sharded across processes, and merging would first gather every layer on one process, i.e. the
    memory those shardings exist to avoid. ZeRO-2 shards only optimizer state and gradients, so a 7B
    LoRA job fits on one GPU and scales with DDP / ZeRO-2; full-weight jobs, whose optimizer state is
    what does not fit, use FSDP or ZeRO-3 (gathered once for saving).
    """
    if not options.lora.enabled:
        return
    kind = accelerator.distributed_type.name
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    zero3 = kind == "DEEPSPEED" and getattr(plugin, "zero_stage", 0) == 3
    if kind == "FSDP" or zero3:
        sharding = "FSDP" if kind == "FSDP" else "DeepSpeed ZeRO-3"
        raise UserError(
            f"LoRA under {sharding} is not supported: {sharding} shards the frozen weights LoRA keeps whole, "
            "and the merged checkpoint would need them gathered on one process. Run LoRA on one GPU, with "
            "DDP or with DeepSpeed ZeRO-2; use FSDP or ZeRO-3 for full-weight training (--lora-r 0)"
        )


def load_model(
    name: str,
    *,
    data: str,
    revision: str | None,
    model_revision: str | None,
    trust_remote_code: bool,
    dtype: str | None,
    seed: int,
    tiny_size=None,
    attn_implementation: str | None = None,
):
    """(model, processor, adapter): the tiny preset built fresh, or a checkpoint / Hub model, with
    attention `attn_implementation` (default: the one `models.base.attention(...)` asks for, else
    transformers' choice)."""
    from clearbench.models import registry
    from clearbench.models.base import requested_attention, set_attention

    attention = attn_implementation or requested_attention()
    if name == TINY_PRESET:
        from clearbench.models.tiny import PRESET_SIZE, build_tiny_llava, source_texts

        model, processor = build_tiny_llava(source_texts(data, revision), tiny_size or PRESET_SIZE, seed=seed)
        if dtype is not None:
            model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
        adapter = registry.adapter_for(model)
    else:
        model, processor, adapter = registry.load(
            name, dtype=dtype, revision=model_revision, trust_remote_code=trust_remote_code
        )
    set_attention(model, attention)
    return model, processor, adapter


def make_trainable(model, adapter, options: TrainOptions, model_name: str):
    """LoRA adapters, or every weight, trainable; the vision tower frozen unless told otherwise.

    Returns the model (wrapped by peft under LoRA) and whether the vision tower is frozen: by default
    it is, except in a fresh tiny-llava whose tower starts random.
    """
    from clearbench.train.lora import apply_lora, freeze_vision

    frozen = options.freeze_vision if options.freeze_vision is not None else model_name != TINY_PRESET
    if options.gradient_checkpointing:
        enable_checkpointing(model)
    if options.lora.enabled:
        return apply_lora(model, adapter, **asdict(options.lora), include_vision=not frozen), frozen
    model.requires_grad_(True)
    if frozen:
        freeze_vision(model, adapter)
    return model, frozen


def enable_checkpointing(model) -> None:
    """Gradient checkpointing of every layer transformers marks checkpointable (decoder and vision
    layers). Non-reentrant: it needs no input that requires a gradient, so it works with LoRA's frozen
    embeddings and with several forwards a step (reference, retain), and under FSDP."""
    from clearbench.models.base import unwrap

    plain = unwrap(model)
    if not plain.supports_gradient_checkpointing:
        raise UserError(
            f"--gradient-checkpointing: model type {plain.config.model_type!r} does not support it"
        )
    plain.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    plain.config.use_cache = False


LOW_PRECISION = (torch.bfloat16, torch.float16)


def full_precision(model, options: TrainOptions) -> dict[str, torch.dtype]:
    """Train full weights in fp32 whatever dtype the model was loaded in; returns what to cast back.

    AdamW's steps at lr 1e-5 are far below the spacing of bf16 numbers near a typical weight (2⁻⁸
    of it), so updated in bf16 most weights would never move; trained in fp32 they accumulate and
    are rounded once, when `save_trained` casts each tensor back to its original dtype (the returned
    {name: dtype} of every bf16/fp16 parameter and buffer). With LoRA nothing changes: the frozen
    base keeps its dtype and peft keeps the adapters in fp32.
    """
    if options.lora.enabled:
        return {}
    tensors = [*model.named_parameters(), *model.named_buffers()]
    low = {name: tensor.dtype for name, tensor in tensors if tensor.dtype in LOW_PRECISION}
    if low:
        model.float()
    return low


def dtype_record(model, saved: dict[str, torch.dtype]) -> dict:
    """run.json's fields: the dtype the checkpoint is saved in and the one training updates."""
    trained = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters() if p.requires_grad})
    kept = sorted({str(d).removeprefix("torch.") for d in saved.values()}) or trained
    return {"weights_dtype": ",".join(kept), "train_dtype": ",".join(trained)}


def record_run(out: Path, accelerator, request: dict, **fields) -> None:
    """run.json: the request `claim` compares, what was found on the way, processes and versions."""
    if accelerator.is_main_process:
        record = {
            "request": json.loads(json.dumps(request, default=str)),
            "out": os.path.abspath(out),  # where the request's paths were (see `portable`)
            **fields,
            "processes": accelerator.num_processes,
            "distributed": accelerator.distributed_type.name,
            "versions": versions(),
            "command": sys.argv,
        }
        atomic.write_json(Path(out) / RUN, record)
        files.mark(out)


def save_trained(
    accelerator, model, processor, out: Path, options: TrainOptions, dtypes: dict | None = None
) -> None:
    """A merged standard checkpoint in `out` (gathered first when FSDP / ZeRO shard full weights),
    each tensor named in `dtypes` (from `full_precision`) cast back to its dtype there."""
    from clearbench.train.lora import save_merged

    dtypes = dtypes or {}
    state_dict = None
    if not options.lora.enabled and accelerator.distributed_type.name in ("FSDP", "DEEPSPEED"):
        state_dict = accelerator.get_state_dict(model)  # every process takes part in the gather
    if accelerator.is_main_process:
        plain = accelerator.unwrap_model(model)
        if state_dict is not None:
            state_dict = {k: v.to(dtypes[k]) if k in dtypes else v for k, v in state_dict.items()}
        for name, tensor in [*plain.named_parameters(), *plain.named_buffers()]:
            if name in dtypes:
                tensor.data = tensor.data.to(dtypes[name])
        save_merged(plain, processor, out, state_dict=state_dict)
        files.record_weights(out)  # what evaluation, reuse and resume compare the weights with
        shutil.rmtree(Path(out) / STATE_NAME, ignore_errors=True)
    accelerator.wait_for_everyone()


def record_result(out: Path, accelerator, result: dict) -> dict:
    """result.json, written last: its presence means the stage ran to its end."""
    if accelerator.is_main_process:
        atomic.write_json(Path(out) / RESULT, result)
    accelerator.wait_for_everyone()
    return result
