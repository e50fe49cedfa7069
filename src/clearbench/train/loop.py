"""The one training loop: fine-tuning and every unlearning method run through it.

Built on `accelerate`, so the same code runs on a CPU, one GPU, or many under `accelerate launch`
(DDP, FSDP, DeepSpeed). AdamW with a linear schedule and warmup, gradient accumulation and
clipping, one JSON line per optimizer step, resumable checkpoints, and a hard stop on NaN/Inf.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from clearbench import files
from clearbench.errors import UserError
from clearbench.settings import AT_LEAST_ONE, NOT_NEGATIVE, POSITIVE, setting
from clearbench.train import tracking

LOG_NAME = "train_log.jsonl"
STATE_NAME = "loop_state"


@dataclass
class LoopConfig:
    """How the loop optimises; the seed is not a setting of the loop but of the run (`run_loop(seed=)`)."""

    epochs: float = setting(1.0, "passes over the training data", POSITIVE)
    max_steps: int | None = setting(None, "optimizer steps; overrides epochs", AT_LEAST_ONE)
    learning_rate: float = setting(
        1e-5, "peak learning rate (AdamW, linear decay)", POSITIVE, flags=("--lr",)
    )
    weight_decay: float = setting(0.01, "AdamW weight decay", NOT_NEGATIVE)
    warmup_steps: int = setting(0, "optimizer steps of linear warmup", NOT_NEGATIVE)
    grad_accum: int = setting(1, "batches accumulated into one optimizer step", AT_LEAST_ONE)
    max_grad_norm: float = setting(1.0, "gradient-norm clipping threshold (0: no clipping)", NOT_NEGATIVE)
    save_every: int = setting(0, "optimizer steps between resumable checkpoints (0: none)", NOT_NEGATIVE)


@dataclass
class LoopResult:
    status: str  # "completed" or "diverged"
    steps: int
    final_loss: float | None
    model: Any = field(default=None, repr=False)  # as prepared by the accelerator (for saving)


LossFn = Callable[[torch.nn.Module, dict, int], "tuple[torch.Tensor, dict[str, float]]"]


def cpu_processes() -> bool:
    """Several processes and no CUDA: run them as CPU DDP over gloo."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def make_accelerator(grad_accum: int = 1):
    """An Accelerator whose shuffling is reproducible per epoch (so resuming can skip batches).

    Several processes on a machine without CUDA (torchrun, or `accelerate launch --multi_gpu`
    there) run as CPU DDP over gloo; accelerate itself would only do so when told `cpu=True`.
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs

    # CLEAR batches mix image rows and text-only rows: in a text-only batch a trainable vision
    # tower gets no gradient, and several unlearning methods run more than one forward per step.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(
        gradient_accumulation_steps=grad_accum,
        cpu=cpu_processes(),
        kwargs_handlers=[ddp],
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    if cpu_processes() and fsdp_requested():
        _fsdp_on_cpu(accelerator)
    return accelerator


def fsdp_requested() -> bool:
    """`accelerate launch --use_fsdp` (or an FSDP config file) started this process."""
    import os

    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def _fsdp_on_cpu(accelerator) -> None:
    """FSDP over gloo when the processes have no CUDA: accelerate only shards for accelerator devices
    (on CPU it falls back to DDP silently), while torch's FSDP2 shards on CPU too. The plugin reads
    the launch's FSDP settings from the environment as accelerate's own would."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    plugin = FullyShardedDataParallelPlugin()
    if plugin.fsdp_version != 2:
        raise UserError("FSDP on CPU processes needs FSDP2: launch with --fsdp_version 2")
    accelerator.state.fsdp_plugin = plugin
    # Both shared states: every AcceleratorState() copies the process state's type over its own.
    PartialState().distributed_type = DistributedType.FSDP
    accelerator.state.distributed_type = DistributedType.FSDP


def run_loop(
    *,
    model,
    loader,
    loss_fn: LossFn,
    config: LoopConfig,
    out_dir: Path,
    seed: int = 0,
    accelerator=None,
    params: Iterable[torch.nn.Parameter] | None = None,
    label: str = "train",
    on_epoch_end: Callable[[int, Any], None] | None = None,
) -> LoopResult:
    """Train `model` on `loader` with `loss_fn`; see the module docstring. `on_epoch_end(epoch, model)`
    is called on every process at each epoch boundary before the last step (e.g. to save a snapshot)."""
    from accelerate.utils import set_seed

    out_dir = Path(out_dir)
    accelerator = accelerator or make_accelerator(config.grad_accum)
    accelerator.gradient_accumulation_steps = config.grad_accum
    set_seed(seed)
    model, optimizer, loader, params = _prepare(accelerator, model, loader, params, config)
    if len(loader) == 0:
        raise ValueError(f"{label}: the data loader yields no batches")
    run = _Run(accelerator, model, loader, optimizer, params, config, out_dir / LOG_NAME, label)
    state_dir = out_dir / STATE_NAME
    run.step, run.last_loss = _resume(
        accelerator, state_dir, run.log_path, config.save_every, run.scheduler, run.total
    )
    if run.step >= run.total:
        return LoopResult("completed", run.step, run.last_loss, model)
    model.train()
    run.start_reporting()
    while run.step < run.total and run.status == "completed":
        for batch in run.epoch_batches():
            if not run.train_batch(batch, loss_fn):
                continue  # gradients accumulate
            if run.status == "diverged" or run.step >= run.total:
                break
            if on_epoch_end is not None and run.step % run.steps_per_epoch == 0:
                on_epoch_end(run.step // run.steps_per_epoch, model)
            if config.save_every and run.step % config.save_every == 0:
                _save_state(accelerator, state_dir, run.step, run.last_loss, run.scheduler, done=False)
    run.stop_reporting()
    if run.status == "completed" and config.save_every:
        _save_state(accelerator, state_dir, run.step, run.last_loss, run.scheduler, done=True)
    accelerator.wait_for_everyone()
    return LoopResult(run.status, run.step, run.last_loss, model)


def _prepare(accelerator, model, loader, params, config: LoopConfig):
    """(model, AdamW, loader, the trained parameters), prepared by accelerate in the order its kind needs."""
    if _fsdp2(accelerator):
        # FSDP2 takes model and optimizer together and swaps the optimizer's parameters for shards.
        params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
        if not params:
            raise ValueError("nothing to train: no parameter requires a gradient")
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
        model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
        return model, optimizer, loader, [p for group in optimizer.param_groups for p in group["params"]]
    # Model first, then the optimizer over the prepared parameters (FSDP1 replaces them).
    model = accelerator.prepare(model)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires a gradient")
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    optimizer, loader = accelerator.prepare(optimizer, loader)
    return model, optimizer, loader, params


class _Run:
    """The loop's moving parts: where it is (step, last loss, status), its schedule, log and bar."""

    def __init__(self, accelerator, model, loader, optimizer, params, config: LoopConfig, log_path, label):
        from transformers import get_linear_schedule_with_warmup

        self.accelerator, self.model, self.loader = accelerator, model, loader
        self.optimizer, self.params, self.config = optimizer, params, config
        self.log_path, self.label = log_path, label
        self.steps_per_epoch = math.ceil(len(loader) / config.grad_accum)
        self.total = (
            config.max_steps
            if config.max_steps is not None
            else math.ceil(config.epochs * self.steps_per_epoch)
        )
        # Not prepared: accelerate would step it once per process; we count optimizer steps ourselves.
        # Its state is saved as JSON beside ours, not registered with accelerate, which would pickle it
        # and unpickle it on resume with weights_only=False (a planted file would run code).
        self.scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, max(self.total, 1))
        _check_warmup(accelerator, config.warmup_steps, self.total, label)
        self.step, self.last_loss, self.status = 0, None, "completed"
        self.window: list[tuple[torch.Tensor, dict[str, float]]] = []

    def start_reporting(self) -> None:
        from tqdm.auto import tqdm

        config = dataclasses.asdict(self.config)
        self.reporting = tracking.open_runs(self.accelerator, self.label, {"stage": self.label, **config})
        self.bar = tqdm(
            total=self.total,
            initial=self.step,
            desc=tracking.named(self.label),
            dynamic_ncols=True,
            disable=not self.accelerator.is_local_main_process,
        )

    def stop_reporting(self) -> None:
        self.bar.close()
        if self.reporting:
            tracking.close_runs(self.accelerator)

    def epoch_batches(self):
        """The batches of the current epoch from the current step on (a resumed run skips the rest)."""
        epoch, batch_offset = divmod(self.step, self.steps_per_epoch)
        batch_offset *= self.config.grad_accum
        _set_epoch(self.loader, epoch)
        return self.accelerator.skip_first_batches(self.loader, batch_offset) if batch_offset else self.loader

    def train_batch(self, batch, loss_fn: LossFn) -> bool:
        """Forward and backward one batch; at the end of an accumulation window, one optimizer step
        (or a divergence, which stops the run). True when the window ended."""
        accelerator = self.accelerator
        with accelerator.accumulate(self.model):
            loss, extras = loss_fn(self.model, batch, self.step)
            self.window.append((loss.detach(), extras))
            # Always backward, even on NaN: under DDP every process must join the all-reduce.
            accelerator.backward(loss)
            if not accelerator.sync_gradients:
                return False
            self.last_loss, mean_extras = _reduce_window(accelerator, self.window)
            self.window = []
            record = {
                "step": self.step + 1,
                "epoch": round((self.step + 1) / self.steps_per_epoch, 4),
                "loss": self.last_loss,
                "lr": self.scheduler.get_last_lr()[0],
                **mean_extras,
            }
            if not math.isfinite(self.last_loss):  # every process sees the same reduced value
                self.status = "diverged"
                self.optimizer.zero_grad(set_to_none=True)
                self.log({**record, "diverged": True}, record)
                return True
            if self.config.max_grad_norm:
                accelerator.clip_grad_norm_(self.params, self.config.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.log(record, record)
        self.bar.set_postfix(loss=f"{self.last_loss:.4f}", refresh=False)
        self.bar.update(1)
        return True

    def log(self, line: dict, record: dict) -> None:
        """One line of train_log.jsonl (main process) and the trackers' step."""
        if self.accelerator.is_main_process:
            _append_line(self.log_path, line)
        if self.reporting:
            tracking.log_step(self.accelerator, record)


def _check_warmup(accelerator, warmup: int, total: int, label: str) -> None:
    """Warmup that never ends does not train as asked: refused when no step has a learning rate
    above 0 (the output would be the input), else a loud warning naming both values."""
    if not warmup or warmup < total:
        return
    if total <= 1:
        raise UserError(
            f"{label}: warmup_steps {warmup} ≥ the {total} optimizer step(s) it runs: the learning rate "
            "stays 0 and the model would not change; lower warmup_steps (--warmup-steps)"
        )
    if accelerator.is_main_process:
        import sys

        print(
            f"clearbench: warning: {label}: warmup_steps {warmup} ≥ the {total} optimizer steps it runs: "
            f"the learning rate never reaches its peak (at most {(total - 1) / warmup:.0%} of it)",
            file=sys.stderr,
        )


def _fsdp2(accelerator) -> bool:
    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    return accelerator.distributed_type.name == "FSDP" and getattr(plugin, "fsdp_version", 1) == 2


def _reduce_window(accelerator, window) -> tuple[float, dict[str, float]]:
    """Mean loss (and extras) of one accumulation window, averaged over processes."""
    losses = torch.stack([loss.float() for loss, _ in window]).mean()
    mean_loss = float(accelerator.reduce(losses.to(accelerator.device), reduction="mean"))
    keys = sorted({key for _, extras in window for key in extras})
    mean_extras = {}
    if keys:
        values = torch.tensor(
            [[float(extras.get(key, math.nan)) for key in keys] for _, extras in window],
            device=accelerator.device,
        ).nanmean(dim=0)
        values = accelerator.reduce(values, reduction="mean")
        mean_extras = {key: float(value) for key, value in zip(keys, values.tolist())}
    return mean_loss, mean_extras


def _set_epoch(loader, epoch: int) -> None:
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    dataset = getattr(loader, "dataset", None)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


def _append_line(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _save_state(
    accelerator, state_dir: Path, step: int, loss: float | None, scheduler, *, done: bool
) -> None:
    """Save to a sibling directory, then swap it in: a kill mid-save keeps the previous state.

    Everything saved is data: weights as safetensors, optimizer and RNG states as tensors and numbers
    (accelerate reads them back with torch.load(weights_only=True)), progress and schedule as JSON.
    """
    tmp, old = state_dir.with_name(state_dir.name + ".tmp"), state_dir.with_name(state_dir.name + ".old")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        progress = {"step": step, "loss": loss, "done": done, "scheduler": scheduler.state_dict()}
        progress["seal"] = files.state_seal(tmp, step)  # resume checks the step against the weights
        (tmp / "progress.json").write_text(json.dumps(progress))
        shutil.rmtree(old, ignore_errors=True)
        if state_dir.exists():
            state_dir.rename(old)
        tmp.rename(state_dir)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _resume(
    accelerator, state_dir: Path, log_path: Path, save_every: int, scheduler, total: int
) -> tuple[int, float | None]:
    """(optimizer steps already done, last loss); restores model/optimizer/scheduler/RNG state.

    Without saved state a fresh run starts, and a stale log from an earlier attempt is dropped. Saved
    state that is not plain data (a pickle naming code) is refused, never run.
    """
    progress_file = state_dir / "progress.json"
    if not (save_every and progress_file.is_file()):
        if accelerator.is_main_process:
            log_path.unlink(missing_ok=True)
        accelerator.wait_for_everyone()
        return 0, None
    progress = files.read_json(progress_file)
    step = files.check_state(state_dir, progress, total)  # its step, sealed with its weights
    try:
        accelerator.load_state(str(state_dir))
        scheduler.load_state_dict(progress["scheduler"])
    except (pickle.UnpicklingError, RuntimeError, ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"{state_dir} cannot be resumed from: {type(error).__name__}: {str(error).splitlines()[0][:200]}; "
            f"saved state must be plain data (safetensors, tensors, JSON). Delete {state_dir} to train from the start"
        ) from None
    if accelerator.is_main_process and log_path.is_file():
        # Lines past the checkpoint were written by the killed run; they will be redone.
        kept = [
            line
            for line in log_path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= step
        ]
        log_path.write_text("".join(line + "\n" for line in kept))
    accelerator.wait_for_everyone()
    return step, progress.get("loss")
