"""The unlearning engine: one method, one forget set, one retain set → one unlearned checkpoint.

The engine owns everything around a method's loss: loading data and model, pairing forget rows with
retain / IDK / mismatched rows, the method's passes (one per epoch, or SCRUB's max and min passes),
LoRA or full training (full weights in fp32 whatever the checkpoint's dtype, saved back in it), the
frozen reference (adapters off under LoRA, no second copy), an optional L1 pull toward the starting
model and an optional SalUn mask, the shared training loop (`clearbench.train.loop`, so
`accelerate launch` works), the method's `finalize` step, and the outputs:

    out/run.json          resolved settings, versions, seed, dataset revision
    out/train_log.jsonl   one line per optimiser step (kept when a run diverges)
    out/result.json       {"status": "completed" | "diverged", …}, written last
    out/*.safetensors …   on success, a merged standard checkpoint with its processor

A directory with a result.json is complete and is not run again. The steps shared with fine-tuning
live in `clearbench.train.steps`. With several passes an epoch, the loop's epochs (and the "epoch" of
train_log.jsonl) count passes.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from clearbench.errors import UserError
from clearbench.methods import get_method
from clearbench.train import steps
from clearbench.train.loop import LOG_NAME, run_loop
from clearbench.train.options import UNLEARN_DEFAULTS, UnlearnOptions
from clearbench.train.pairing import (
    PairedDataset,
    check_disjoint,
    collate_pairs,
    forget_modality,
    load_idk_answers,
)


def unlearn(
    model: str | Path,
    data: str,
    forget: str,
    retain: str,
    method: str,
    out: str | Path,
    options: UnlearnOptions | None = None,
    *,
    hparams: dict[str, Any] | None = None,
    seed: int = 0,
    revision: str | None = None,
    model_revision: str | None = None,
    trust_remote_code: bool = False,
    dtype: str | None = None,
    earlier: str | None = None,
    trajectory: bool = False,
    withhold=None,
) -> dict:
    """Unlearn `forget` from `model` with `method`; returns (and writes) out/result.json.

    `earlier`: the forget config of the requests `model` has already unlearned; only the rows of
    `forget` not in it are unlearned (a sequential request, `clearbench.data.increments`).
    `trajectory`: also save the model as it is after each epoch but the last, in out/epochs/N, so the
    run can be evaluated along the way (`snapshot`). `withhold`: a `data.holdout.HoldoutPlan` whose
    people's retain rows are left out (as from the target's training).

    `options` (default: the paper's unlearning settings) says LoRA or full, which weights, how long,
    and the engine's extras: `l1` (λ of the L1 distance from the starting model), `saliency` (the
    fraction of weights a SalUn mask keeps trainable), `idk_file`.
    """
    out, model = Path(out), str(model)
    options = options or UnlearnOptions(**UNLEARN_DEFAULTS)
    chosen = get_method(method, **(hparams or {}))
    request = {
        "kind": "unlearn", "model": model, "data": data, "forget": forget, "retain": retain,
        "method": method, "hparams": chosen.info()["hparams"], "options": asdict(options), "seed": seed,
        "revision": revision, "model_revision": model_revision, "dtype": dtype,
    }  # fmt: skip
    if earlier is not None:
        request["earlier"] = earlier
    if trajectory:
        request["trajectory"] = True
    if withhold is not None and withhold.derived:
        request["withheld"] = list(withhold.people)
    done = steps.claim(out, request)
    if done is not None:
        return done
    accelerator = steps.start(options)
    if trajectory and accelerator.distributed_type.name in ("FSDP", "DEEPSPEED"):
        raise UserError(
            "a trajectory (per-epoch snapshots) needs unsharded weights: not under FSDP or DeepSpeed"
        )

    from clearbench.data.increments import new_rows
    from clearbench.data.load import dataset_revision, load_split

    started = time.time()
    with accelerator.main_process_first():  # the first process fills the datasets cache
        forget_rows = load_split(data, forget, revision)
        if earlier is not None:
            earlier_rows = load_split(data, earlier, revision)
            forget_rows = new_rows(forget_rows, earlier_rows, config=forget, earlier_config=earlier)
        retain_rows = load_split(data, retain, revision)
        if withhold is not None:
            retain_rows = withhold.withhold(retain_rows)
        data_revision = dataset_revision(data, revision)
    overlap_check = check_disjoint(forget_rows, retain_rows, forget, retain)
    idk_answers = load_idk_answers(options.idk_file) if "idk" in chosen.needs else []
    passes, loop_epochs = pass_schedule(chosen, options.epochs)
    dataset = PairedDataset(
        forget_rows,
        retain_rows,
        sorted(chosen.needs),
        idk_answers=idk_answers,
        seed=seed,
        passes=passes,
        mismatches=chosen.mismatch_count,
    )
    network, processor, adapter = steps.load_model(
        model,
        data=data,
        revision=revision,
        model_revision=model_revision,
        trust_remote_code=trust_remote_code,
        dtype=dtype,
        seed=seed,
    )
    network, frozen = steps.make_trainable(network, adapter, options, model)
    saved_dtypes = steps.full_precision(network, options)
    chosen.prepare(network, adapter)
    _restrict_trainable(network, chosen.trainable_parameters(network, adapter))
    ref = _reference(chosen, network, adapter, accelerator)
    l1_term = _l1_term(network, ref) if options.l1 else None
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=options.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=collate_pairs(adapter, processor),
    )
    mask_handles = (
        _saliency(network, adapter, processor, forget_rows, options, seed, accelerator)
        if options.saliency
        else []
    )
    steps.record_run(
        out,
        accelerator,
        request,
        forget_modality=forget_modality(forget),
        method=chosen.info(),
        freeze_vision=frozen,
        forget_rows=len(forget_rows),
        retain_rows=len(retain_rows),
        forget_retain_overlap_check=overlap_check,
        passes=[sorted(kinds) for kinds in passes] if passes != [chosen.needs] * len(passes) else None,
        trainable_parameters=sum(p.numel() for p in network.parameters() if p.requires_grad),
        **steps.dtype_record(network, saved_dtypes),
        dataset_revision=data_revision,
        reference=None if ref is None else ("adapters disabled" if ref.shares_weights else "frozen copy"),
    )

    def loss_fn(live_model, batch, step):
        loss, extras = chosen.loss(live_model, batch, ref, step)
        check_loss(loss, chosen.name)
        if l1_term is not None:
            distance = l1_term()
            loss = loss + options.l1 * distance
            extras = {**extras, "l1_distance": distance.item()}
        return loss, extras

    def save_snapshot(epoch, live_model):
        snapshot(accelerator, live_model, processor, out / SNAPSHOTS / str(epoch), chosen, ref, saved_dtypes)

    outcome = run_loop(
        model=network,
        loader=loader,
        loss_fn=loss_fn,
        config=replace(options, epochs=loop_epochs),
        out_dir=out,
        seed=seed,
        accelerator=accelerator,
        label=f"unlearn {method}",
        on_epoch_end=save_snapshot if trajectory else None,
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
        chosen.finalize(accelerator.unwrap_model(outcome.model), ref)
        steps.save_trained(accelerator, outcome.model, processor, out, options, dtypes=saved_dtypes)
    return steps.record_result(out, accelerator, result)


SNAPSHOTS = "epochs"


def snapshot(accelerator, model, processor, path: Path, method, ref, dtypes: dict) -> None:
    """The model as the run would save it now (finalized, LoRA merged, dtypes restored), written
    atomically to `path`, from a copy: training goes on with the model untouched. The copy doubles
    the model's memory for a moment; sharded models (FSDP, ZeRO-3) are refused up front."""
    from copy import deepcopy

    from clearbench import atomic
    from clearbench.train.lora import save_merged

    if accelerator.is_main_process and not path.exists():
        copy = deepcopy(accelerator.unwrap_model(model))
        method.finalize(copy, ref)
        for name, tensor in [*copy.named_parameters(), *copy.named_buffers()]:
            if name in dtypes:
                tensor.data = tensor.data.to(dtypes[name])
        with atomic.directory(path) as folder:
            save_merged(copy, processor, folder)
        del copy
    accelerator.wait_for_everyone()


def pass_schedule(method, epochs: float) -> tuple[list[frozenset[str]], float]:
    """The passes `epochs` epochs of `method` make (enough whole epochs to cover a fraction), and how
    many passes that is: the loop's epochs. One pass an epoch unless the method says otherwise."""
    whole = math.floor(epochs)
    passes = [kinds for epoch in range(math.ceil(epochs)) for kinds in method.passes(epoch)]
    count = sum(len(method.passes(epoch)) for epoch in range(whole))
    return passes, count + (epochs - whole) * len(method.passes(whole))


def _reference(chosen, network, adapter, accelerator):
    """The frozen starting model, exactly when the method declares it needs one."""
    if not chosen.needs_reference:
        return None
    from clearbench.train.reference import Reference

    return Reference.for_model(network, adapter).to(accelerator.device)


def _l1_term(network, ref):
    from clearbench.train.regularizers import L1FromStart

    return L1FromStart(network, start_model=ref.model if ref is not None else None)


def _restrict_trainable(network, names: list[str] | None) -> None:
    """Freeze everything outside `names` (a method's choice, e.g. RMU's layers)."""
    if names is None:
        return
    if not names:
        raise UserError("the method selected no trainable parameters for this model")
    keep = set(names)
    for name, param in network.named_parameters():
        param.requires_grad_(name in keep)


def _saliency(network, adapter, processor, forget_rows, options, seed, accelerator):
    from clearbench.train.data import sample_loader
    from clearbench.train.saliency import apply_gradient_mask, saliency_scores, top_fraction_mask

    network.to(accelerator.device)
    loader = sample_loader(
        forget_rows, adapter, processor, batch_size=options.batch_size, seed=seed, shuffle=False
    )
    batches = ({k: v.to(accelerator.device) for k, v in enc.items()} for enc in loader)
    return apply_gradient_mask(
        network, top_fraction_mask(saliency_scores(network, batches), options.saliency)
    )


def check_loss(loss, name: str) -> None:
    """A method's loss must be a scalar tensor that gradients flow from (a plugin's may not be)."""
    import torch

    if not isinstance(loss, torch.Tensor):
        got = type(loss).__name__
        raise UserError(f"method {name}: loss() returned a {got}, not a tensor; return a scalar torch tensor")
    if loss.numel() != 1:
        raise UserError(
            f"method {name}: loss() returned a tensor of shape {tuple(loss.shape)}; reduce it to a scalar (e.g. .mean())"
        )
    if not loss.requires_grad:
        raise UserError(
            f"method {name}: loss() returned a tensor without gradients (computed under torch.no_grad(), "
            "detached, or from .item()); nothing could be unlearned"
        )
