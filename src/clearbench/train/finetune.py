"""Fine-tune a model on one training config: base → target (`full+tofu`), base → gold
(`retainNN+tofu`), or the tiny world's base itself (`pretraining`, from the `tiny-llava` preset).

The output directory is a standard merged checkpoint (model + processor, in the dtype the model was
loaded in: `--dtype`, else the checkpoint's; full weights train in fp32 meanwhile) plus `run.json`
(settings, versions), `train_log.jsonl` and `result.json`, written last: a finished run is skipped
and an interrupted one resumes from `loop_state/`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from clearbench.errors import UserError
from clearbench.train import recipe, steps
from clearbench.train.options import FINETUNE_DEFAULTS, TrainOptions


def is_complete(out: Path) -> bool:
    """A finished fine-tuning output: its result says completed and the checkpoint is there."""
    result = steps.finished(out)
    return bool(result) and result.get("status") == "completed" and (Path(out) / "config.json").is_file()


def finetune(
    model: str,
    data: str,
    split: str,
    out: Path,
    options: TrainOptions | None = None,
    *,
    seed: int = 0,
    revision: str | None = None,
    model_revision: str | None = None,
    trust_remote_code: bool = False,
    dtype: str | None = None,
    tiny_size=None,
    withhold=None,
) -> Path:
    """Train `model` (checkpoint path, Hub id or `tiny-llava`) on config `split` of source `data`.

    `split` may name several configs separated by commas (`full+tofu,pretraining`): their rows are
    trained on together, which is how the tiny world rehearses what its base learned. `options`
    (default: the paper's fine-tuning) says LoRA or full, which weights, and how long.
    `revision` pins the dataset, `model_revision` the model (Hub sources only). `tiny_size`: the
    preset's `TinySize` (`tiny.PRESET_SIZE` when None). `withhold`: a `data.holdout.HoldoutPlan` whose
    people's rows are left out (the holdout people of a source without holdout configs).
    """
    from clearbench.train.data import sample_loader

    out = Path(out)
    options = options or TrainOptions(**FINETUNE_DEFAULTS)
    request = _request(
        model, data, split, options, seed, revision, model_revision, dtype, tiny_size, withhold
    )
    if steps.claim(out, request) is not None and is_complete(out):
        return out
    accelerator = steps.start(options)
    started = time.time()
    with accelerator.main_process_first():  # the first process fills the datasets cache
        rows, data_revision = _rows(data, split, revision, withhold)
        net, processor, adapter = steps.load_model(
            model,
            data=data,
            revision=revision,
            model_revision=model_revision,
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            seed=seed,
            tiny_size=tiny_size,
        )
    trainee = recipe.make_trainee(net, processor, adapter, options, model)
    _record_run(out, accelerator, request, trainee, data_revision, len(rows))
    loader = sample_loader(rows, adapter, processor, batch_size=options.batch_size, seed=seed)
    outcome = recipe.train(
        accelerator, trainee, loader, recipe.answer_loss, options, out, seed, f"finetune {split}"
    )
    result = recipe.result_of(outcome, started)
    if outcome.status != "completed":
        steps.record_result(out, accelerator, result)
        raise _diverged(model, split, outcome, out)
    recipe.save(accelerator, trainee, outcome, out, options)
    steps.record_result(out, accelerator, result)
    return out


def _diverged(model: str, split: str, outcome, out: Path) -> UserError:
    return UserError(
        f"fine-tuning {model} on {split} diverged at step {outcome.steps + 1} "
        f"(loss {outcome.final_loss}); see {out / 'train_log.jsonl'}; try a lower --lr"
    )


def _request(model, data, split, options, seed, revision, model_revision, dtype, tiny_size, withhold) -> dict:
    """What this fine-tuning is asked: run.json records it and a rerun compares it (`steps.claim`)."""
    request = {
        "kind": "finetune", "model": model, "data": data, "split": split, "options": asdict(options),
        "seed": seed, "revision": revision, "model_revision": model_revision, "dtype": dtype,
        "tiny_size": _tiny_size(tiny_size) if model == steps.TINY_PRESET else None,
    }  # fmt: skip
    if withhold is not None and withhold.derived:
        request["withheld"] = list(withhold.people)
    return request


def _rows(data: str, split: str, revision: str | None, withhold):
    """(the training rows, less any withheld people's; the dataset's revision)."""
    from clearbench.data.load import dataset_revision

    rows = _training_rows(data, split, revision)
    if withhold is not None:
        rows = withhold.withhold(rows)
    return rows, dataset_revision(data, revision)


def _record_run(
    out: Path, accelerator, request: dict, trainee: recipe.Trainee, data_revision, rows: int
) -> None:
    net = trainee.model
    steps.record_run(
        out,
        accelerator,
        request,
        family=trainee.adapter.family,
        dataset_revision=data_revision,
        rows=rows,
        freeze_vision=trainee.frozen,
        trainable_parameters=trainee.trainable_parameters,
        parameters=sum(p.numel() for p in net.parameters()),
        **steps.dtype_record(net, trainee.dtypes),
    )


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


def _tiny_size(size) -> dict:
    from clearbench.models.tiny import PRESET_SIZE

    return asdict(size or PRESET_SIZE)
