"""The shape every training stage shares (fine-tuning, unlearning, the relearning attack), as named steps:

    request = …                                   what the stage is asked (its run.json compares it)
    steps.claim(out, request)                     done already? then nothing to do
    accelerator = steps.start(options)            check the settings, start accelerate
    rows = …; net, processor, adapter = steps.load_model(…)         the stage's own data and model
    trainee = make_trainee(net, processor, adapter, options, name)  LoRA or full, fp32, vision frozen
    steps.record_run(…)                           run.json
    outcome = train(accelerator, trainee, loader, loss, options, out, seed, label)
    save(accelerator, trainee, outcome, out, options)               on success: a merged checkpoint
    steps.record_result(out, accelerator, result_of(outcome, started))  result.json, written last

A stage is a function that reads as that list (`finetune.finetune`, `unlearn.unlearn`,
`attacks.relearn.relearn`); what differs between stages is its data, its loss and what it records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from clearbench.train import steps
from clearbench.train.loop import run_loop


def answer_loss(model, batch, step):
    """The supervised loss of a batch's answers: fine-tuning's and relearning's objective."""
    return model(**batch).loss, {}


@dataclass
class Trainee:
    """The model a stage trains, made trainable, with what saving needs to restore."""

    model: object
    processor: object
    adapter: object
    frozen: bool  # the vision tower is frozen
    dtypes: dict = field(default_factory=dict)  # tensors trained in fp32, saved back in these dtypes

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


def make_trainee(model, processor, adapter, options, model_name: str) -> Trainee:
    """LoRA adapters or every weight trainable (vision frozen unless asked), full weights in fp32."""
    model, frozen = steps.make_trainable(model, adapter, options, model_name)
    dtypes = steps.full_precision(model, options)
    return Trainee(model, processor, adapter, frozen, dtypes)


def train(accelerator, trainee: Trainee, loader, loss_fn, options, out: Path, seed: int, label: str, **loop):
    """The shared training loop (`train.loop.run_loop`) over `loader` with `loss_fn`."""
    return run_loop(
        model=trainee.model,
        loader=loader,
        loss_fn=loss_fn,
        config=options,
        out_dir=out,
        seed=seed,
        accelerator=accelerator,
        label=label,
        **loop,
    )


def save(accelerator, trainee: Trainee, outcome, out: Path, options) -> None:
    """The trained model as a merged standard checkpoint in its original dtypes."""
    steps.save_trained(accelerator, outcome.model, trainee.processor, out, options, dtypes=trainee.dtypes)


def result_of(outcome, started: float, **extra) -> dict:
    """result.json's record of a finished loop (`extra` after the final loss)."""
    return {
        "status": outcome.status,
        "steps": outcome.steps,
        "final_loss": outcome.final_loss,
        **extra,
        "seconds": round(time.time() - started, 1),
    }
