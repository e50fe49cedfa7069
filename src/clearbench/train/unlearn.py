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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from clearbench.errors import UserError
from clearbench.methods import get_method
from clearbench.train import recipe, steps
from clearbench.train.loop import LOG_NAME
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
    heldout_photos=None,
) -> dict:
    """Unlearn `forget` from `model` with `method`; returns (and writes) out/result.json.

    `earlier`: the forget config of the requests `model` has already unlearned; only the rows of
    `forget` not in it are unlearned (a sequential request, `clearbench.data.increments`).
    `trajectory`: also save the model as it is after each epoch but the last, in out/epochs/N, so the
    run can be evaluated along the way (`snapshot`). `withhold`: a `data.holdout.HoldoutPlan` whose
    people's retain rows are left out (as from the target's training). `heldout_photos`: a
    `data.heldout_photos.HeldoutPhotos` whose photos are left out of the forget rows (asked later as
    the forget tasks of unseen photos).

    `options` (default: the paper's unlearning settings) says LoRA or full, which weights, how long,
    and the engine's extras: `l1` (λ of the L1 distance from the starting model), `saliency` (the
    fraction of weights a SalUn mask keeps trainable), `idk_file`.
    """
    run = UnlearnRun(
        str(model), data, forget, retain, method, Path(out), options or UnlearnOptions(**UNLEARN_DEFAULTS),
        hparams or {}, seed, revision, model_revision, trust_remote_code, dtype, earlier, trajectory, withhold,
        heldout_photos,
    )  # fmt: skip
    return run.run()


@dataclass
class UnlearnRun:
    """One call of `unlearn`, run as the recipe's named steps (train/recipe.py)."""

    model: str
    data: str
    forget: str
    retain: str
    method: str
    out: Path
    options: UnlearnOptions
    hparams: dict[str, Any]
    seed: int
    revision: str | None
    model_revision: str | None
    trust_remote_code: bool
    dtype: str | None
    earlier: str | None
    trajectory: bool
    withhold: Any
    heldout_photos: Any = None

    def run(self) -> dict:
        chosen = get_method(self.method, **self.hparams)
        request = self.request(chosen)
        done = steps.claim(self.out, request)
        if done is not None:
            return done
        accelerator = _start(self.options, self.trajectory)
        started = time.time()
        with accelerator.main_process_first():  # the first process fills the datasets cache
            forget_rows, retain_rows, data_revision = self.rows()
        overlap_check = check_disjoint(forget_rows, retain_rows, self.forget, self.retain)
        dataset, passes, loop_epochs = _paired_rows(chosen, forget_rows, retain_rows, self.options, self.seed)
        trainee = self.load_trainee()
        ref, l1_term = _prepare_method(chosen, trainee, self.options, accelerator)
        loader = _loader(dataset, trainee, self.options.batch_size, self.seed)
        masks = (
            _saliency(trainee, forget_rows, self.options, self.seed, accelerator)
            if self.options.saliency
            else []
        )
        steps.record_run(
            self.out,
            accelerator,
            request,
            forget_modality=forget_modality(self.forget),
            method=chosen.info(),
            freeze_vision=trainee.frozen,
            forget_rows=len(forget_rows),
            retain_rows=len(retain_rows),
            forget_retain_overlap_check=overlap_check,
            passes=[sorted(kinds) for kinds in passes] if passes != [chosen.needs] * len(passes) else None,
            trainable_parameters=trainee.trainable_parameters,
            **steps.dtype_record(trainee.model, trainee.dtypes),
            dataset_revision=data_revision,
            reference=None if ref is None else ("adapters disabled" if ref.shares_weights else "frozen copy"),
        )
        outcome = recipe.train(
            accelerator, trainee, loader, method_loss(chosen, ref, l1_term, self.options.l1),
            replace(self.options, epochs=loop_epochs), self.out, self.seed, f"unlearn {self.method}",
            on_epoch_end=self.snapshots(accelerator, trainee, chosen, ref) if self.trajectory else None,
        )  # fmt: skip
        for handle in masks:
            handle.remove()
        return self.finish(accelerator, trainee, outcome, chosen, ref, started)

    def request(self, chosen) -> dict:
        """What this unlearning is asked: run.json records it and a rerun compares it (`steps.claim`)."""
        request = {
            "kind": "unlearn", "model": self.model, "data": self.data, "forget": self.forget,
            "retain": self.retain, "method": self.method, "hparams": chosen.info()["hparams"],
            "options": asdict(self.options), "seed": self.seed, "revision": self.revision,
            "model_revision": self.model_revision, "dtype": self.dtype,
        }  # fmt: skip
        # keys only some runs have: absent, not null, so that older runs still match
        if self.earlier is not None:
            request["earlier"] = self.earlier
        if self.trajectory:
            request["trajectory"] = True
        if self.withhold is not None and self.withhold.derived:
            request["withheld"] = list(self.withhold.people)
        if self.heldout_photos is not None:
            request["heldout_photos"] = self.heldout_photos.spec()
        return request

    def rows(self):
        """(forget rows, less held-out photos and those an earlier request unlearned; retain rows, less
        withheld people's; the dataset's revision)."""
        from clearbench.data.increments import new_rows
        from clearbench.data.load import dataset_revision, load_split

        forget_rows = load_split(self.data, self.forget, self.revision)
        if self.heldout_photos is not None:
            forget_rows = self.heldout_photos.unlearned(forget_rows)
        if self.earlier is not None:
            earlier_rows = load_split(self.data, self.earlier, self.revision)
            forget_rows = new_rows(forget_rows, earlier_rows, config=self.forget, earlier_config=self.earlier)
        retain_rows = load_split(self.data, self.retain, self.revision)
        if self.withhold is not None:
            retain_rows = self.withhold.withhold(retain_rows)
        return forget_rows, retain_rows, dataset_revision(self.data, self.revision)

    def load_trainee(self) -> recipe.Trainee:
        network, processor, adapter = steps.load_model(
            self.model,
            data=self.data,
            revision=self.revision,
            model_revision=self.model_revision,
            trust_remote_code=self.trust_remote_code,
            dtype=self.dtype,
            seed=self.seed,
        )
        return recipe.make_trainee(network, processor, adapter, self.options, self.model)

    def snapshots(self, accelerator, trainee: recipe.Trainee, chosen, ref):
        """The loop's end-of-epoch hook of a trajectory: the model as of each epoch, in out/epochs/N."""

        def save_snapshot(epoch, live_model):
            folder = self.out / SNAPSHOTS / str(epoch)
            snapshot(accelerator, live_model, trainee.processor, folder, chosen, ref, trainee.dtypes)

        return save_snapshot

    def finish(self, accelerator, trainee: recipe.Trainee, outcome, chosen, ref, started: float) -> dict:
        """result.json (with the reason of a divergence, and the method's record after training: what
        it measured while training, e.g. adaptive RMU's c); on success the finalized model, saved."""
        result = recipe.result_of(
            outcome, started, method=self.method, train_log=LOG_NAME, method_info=chosen.info()
        )
        if outcome.status == "diverged":
            result["reason"] = f"loss became NaN or infinite at step {outcome.steps + 1}; see {LOG_NAME}"
        else:
            chosen.finalize(accelerator.unwrap_model(outcome.model), ref)
            recipe.save(accelerator, trainee, outcome, self.out, self.options)
        return steps.record_result(self.out, accelerator, result)


def _start(options: UnlearnOptions, trajectory: bool):
    accelerator = steps.start(options)
    if trajectory and accelerator.distributed_type.name in ("FSDP", "DEEPSPEED"):
        raise UserError(
            "a trajectory (per-epoch snapshots) needs unsharded weights: not under FSDP or DeepSpeed"
        )
    return accelerator


def _paired_rows(chosen, forget_rows, retain_rows, options: UnlearnOptions, seed: int):
    """(the forget rows paired with the data the method needs, its passes, the loop's epochs)."""
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
    return dataset, passes, loop_epochs


def _prepare_method(chosen, trainee: recipe.Trainee, options: UnlearnOptions, accelerator):
    """The method's own preparation and trainable weights; (its reference model, the L1 term)."""
    chosen.prepare(trainee.model, trainee.adapter)
    _restrict_trainable(trainee.model, chosen.trainable_parameters(trainee.model, trainee.adapter))
    ref = _reference(chosen, trainee.model, trainee.adapter, accelerator)
    return ref, _l1_term(trainee.model, ref) if options.l1 else None


def _loader(dataset, trainee: recipe.Trainee, batch_size: int, seed: int):
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=collate_pairs(trainee.adapter, trainee.processor),
    )


def method_loss(chosen, ref, l1_term, l1: float):
    """The loop's loss: the method's, checked, plus λ·L1 from the start when asked."""

    def loss_fn(live_model, batch, step):
        loss, extras = chosen.loss(live_model, batch, ref, step)
        check_loss(loss, chosen.name)
        if l1_term is not None:
            distance = l1_term()
            loss = loss + l1 * distance
            extras = {**extras, "l1_distance": distance.item()}
        return loss, extras

    return loss_fn


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


def _saliency(trainee: recipe.Trainee, forget_rows, options, seed, accelerator):
    from clearbench.train.data import sample_loader
    from clearbench.train.saliency import apply_gradient_mask, saliency_scores, top_fraction_mask

    network, adapter, processor = trainee.model, trainee.adapter, trainee.processor

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
