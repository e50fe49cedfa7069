"""Evaluate one model on the chosen tasks: one log per task, then a summary; resumes task by task."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from clearbench import atomic, files
from clearbench.data.heldout_photos import eval_config
from clearbench.errors import UserError
from clearbench.evaluate import gradnorm as gradnorm_scores
from clearbench.evaluate import logs, membership, memorization, sampling_leak
from clearbench.evaluate import people as people_log
from clearbench.evaluate.generation import generate_answers, rouge_recall
from clearbench.evaluate.scoring import score_candidates
from clearbench.evaluate.tasks import Task, TaskItem, select_tasks
from clearbench.versions import versions

# Hidden (dot) file, so that log readers skip it; summary.json appears only once every task is done.
SETTINGS = ".settings.json"
# Settings that must match for a resumed run to continue an earlier one in the same directory.
RUN_KEYS = (
    "model",
    "data",
    "revision",
    "forget_split",
    "seed",
    "max_rows",
    "max_new_tokens",
    "membership_k",
    "holdout_people",
    "model_weights",
    "data_revision",
    "membership_gradnorm",
    "heldout_photos",
)
# Keys an evaluation written before they existed does not record: absent means "not compared".
LATER_RUN_KEYS = (
    "membership_k", "holdout_people", "model_weights", "data_revision", "membership_gradnorm", "heldout_photos",
)  # fmt: skip
# Keyed on content: when both evaluations record the weights' hash, the paths may differ (a moved
# or copied run resumes), and a model replaced at the same path is found out.
PATH_KEYS = ("model", "data")


def evaluate_model(
    model_path,
    data: str,
    forget_split: str,
    out_dir,
    *,
    tasks: Sequence[str] | None = None,
    max_rows: int | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 64,
    seed: int = 0,
    revision: str | None = None,
    trust_remote_code: bool = False,
    progress: bool = True,
    membership_k: float = membership.DEFAULT_K,
    holdout=None,
    membership_gradnorm: bool = False,
    heldout_photos=None,
) -> Path:
    """Write `<task>.json` for each task not yet done in `out_dir`, then `summary.json` (last: its
    presence means the evaluation is complete); every row unless `max_rows` caps them.

    `membership_k`: the k of the Min-K % and Min-K %++ scores logged for every row (a fraction).
    `holdout`: the people withheld from training on a source without holdout configs (a
    `data.holdout.HoldoutPlan`, or their names as a job spec carries them), whose rows of `full` /
    `tofu_full` the holdout tasks read. `membership_gradnorm`: also log every row's GradNorm score
    (one backward pass per row). `heldout_photos` (a `data.heldout_photos.HeldoutPhotos`): the forget
    image tasks read the photos unlearning saw, their unseen-photo variants the held-out ones.
    """
    membership_k = _checked_options(max_rows, batch_size, membership_k)
    holdout = _holdout_plan(holdout, data, forget_split, revision)
    out_dir = Path(out_dir)
    adapter = _checked_model(model_path, data, out_dir, trust_remote_code)
    chosen = select_tasks(tasks, has_vision=adapter.has_vision)
    derived = holdout is not None and holdout.derived
    sources = TaskRows(forget_split, holdout if derived else None, heldout_photos)
    configs = {task.name: sources.config(task) for task in chosen}
    run = _run_record(
        model_path, data, revision, forget_split, seed, max_rows, max_new_tokens, membership_k,
        membership_gradnorm, list(holdout.people) if derived else None, heldout_photos,
    )  # fmt: skip
    todo, splits = _claim_output(out_dir, chosen, configs, sources, str(data), revision)
    summary = _start_summary(out_dir, run)
    # Whose row each is (the bootstrap's unit): image rows say; questions are matched to these names.
    people = people_log.known_people(splits.values(), holdout.people if holdout is not None else ())
    task_options = dict(
        seed=seed, batch_size=batch_size, max_new_tokens=max_new_tokens, progress=progress,
        membership_k=membership_k, people=people, gradnorm=membership_gradnorm,
    )  # fmt: skip
    if todo:
        model, processor = adapter.load(model_path, trust_remote_code=trust_remote_code)
        model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        for task in todo:
            rows = splits[task.name] if max_rows is None else _first(splits[task.name], max_rows)
            log = _evaluate_one(model, adapter, processor, task, rows, data, configs[task.name], task_options)
            logs.write_task_log(out_dir, task.name, log | {"data_revision": run["data_revision"]})
    written = logs.read_eval(out_dir)
    summary["tasks"] = {task.name: task_summary(written[task.name]) for task in chosen}
    logs.write_summary(out_dir, summary)
    return out_dir


def _run_record(
    model_path, data, revision, forget_split, seed, max_rows, max_new_tokens, k, gradnorm, people, photos=None
):
    """What the evaluation ran with (summary.json's `settings`: a rerun with others is refused)."""
    from clearbench.data.load import dataset_revision

    return {
        "model": str(model_path), "data": str(data), "revision": revision, "forget_split": forget_split,
        "seed": seed, "max_rows": max_rows, "max_new_tokens": max_new_tokens, "membership_k": k,
        "membership_gradnorm": bool(gradnorm), "holdout_people": people,
        "heldout_photos": None if photos is None else photos.spec(),
        "model_weights": files.weights_hash(model_path),
        "data_revision": dataset_revision(str(data), revision),  # also checks the source exists
    }  # fmt: skip


def _checked_model(model_path, data, out_dir: Path, trust_remote_code: bool):
    """The model's adapter, once the output is known not to be an input and the weights read."""
    from clearbench.models import registry

    files.refuse_input(out_dir, [model_path, data], "--out")
    files.check_checkpoint(model_path)  # a corrupt safetensors header is named, not a traceback
    return registry.adapter_for(model_path, trust_remote_code=trust_remote_code)


def _claim_output(out_dir: Path, chosen, configs: dict, sources: TaskRows, data: str, revision):
    """(the tasks not yet done in `out_dir`, their rows), every split loaded and so validated before
    the folder is claimed, anything written or a model loaded."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a directory")
    todo = [task for task in chosen if task.name not in logs.completed_tasks(out_dir)]
    splits = {task.name: sources.rows(task, configs[task.name], data, revision) for task in todo}
    files.claim_folder(out_dir, "--out", legacy=lambda folder: (folder / SETTINGS).is_file())
    return todo, splits


def _evaluate_one(model, adapter, processor, task: Task, rows, data, config: str, options: dict) -> dict:
    """One task's log, its data errors naming the source and config."""
    try:
        return evaluate_task(model, adapter, processor, task, rows, config=config, **options)
    except UserError as error:
        raise UserError(f"data source '{data}', config '{config}': {error}") from None


def _checked_options(max_rows: int | None, batch_size: int, membership_k: float) -> float:
    """Refuse bad options before anything is loaded; the Min-K % k, checked."""
    if max_rows is not None and max_rows < 1:
        raise UserError(f"--max-rows must be at least 1, got {max_rows}")
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    return membership.check_k(membership_k)


def _holdout_plan(holdout, data, forget_split: str, revision: str | None):
    """A job spec's holdout names as the withheld people's plan (a plan or None as it is)."""
    if holdout is not None and not hasattr(holdout, "derived"):  # names: withheld people
        from clearbench.data.holdout import HoldoutPlan, check_named

        return HoldoutPlan(check_named(str(data), forget_split, holdout, revision), forget_split)
    return holdout


@dataclasses.dataclass(frozen=True)
class TaskRows:
    """Where each task reads its rows: its config, except the holdout tasks of people withheld from
    training (`withheld`, a derived HoldoutPlan) and, with forget photos held out of unlearning
    (`photos`, a HeldoutPhotos), the forget image tasks, split between the unlearned photos and, for
    their unseen-photo variants, the held-out ones."""

    forget_split: str
    withheld: Any = None
    photos: Any = None

    def config(self, task: Task) -> str:
        """The config a task reads, as its log records it."""
        if self.withheld is not None and task.holdout:
            return _holdout_config(task)
        if self.photos is not None and task.unseen and not task.forget:
            raise UserError(
                f"task {task.name}: held-out forget photos make no unseen photos of retain people (every "
                "model trained on all of theirs); leave the task out of the evaluation"
            )
        if self.photos is not None and task.forget and not task.text_only:
            which = "held-out" if task.unseen else "unlearned"
            return f"{eval_config(self.forget_split)} ({which} photos)"
        return task.config(self.forget_split)

    def rows(self, task: Task, config: str, data: str, revision: str | None):
        from clearbench.data.load import load_split

        if self.withheld is not None and task.holdout:
            return _holdout_rows(task, self.withheld, data, revision)
        if self.photos is not None and task.forget and not task.text_only:
            rows = load_split(data, eval_config(self.forget_split), revision)
            return self.photos.heldout(rows) if task.unseen else self.photos.unlearned(rows)
        return load_split(data, config, revision)


def _first(rows, count: int):
    return rows.select(range(min(count, len(rows))))


def evaluate_task(
    model,
    adapter,
    processor,
    task: Task,
    rows,
    *,
    seed: int,
    config: str,
    batch_size: int = 8,
    max_new_tokens: int = 64,
    progress: bool = False,
    membership_k: float = membership.DEFAULT_K,
    people: Sequence[str] = (),
    gradnorm: bool = False,
    leak_samples: int = 0,
    leak_temperature: float = 1.0,
) -> dict:
    """Score and generate every row of one task; the task's log in the shared format.

    `rows` is a `datasets.Dataset` (or a list of row dicts); images are decoded a chunk at a time.
    Every row also gets its membership scores, from the true answer's token log-probs of the same
    forward pass, and its exact memorization and extraction strength (evaluate/memorization.py);
    with `gradnorm`, its GradNorm score too (a backward pass per row, evaluate/gradnorm.py). With
    `leak_samples` k > 0, each forget row also gets k answers sampled at `leak_temperature` and
    whether any gives the answer away (evaluate/sampling_leak.py). A holdout task's rows are scored
    on their true answer only, without generation.
    """
    from tqdm.auto import tqdm

    from clearbench.train.tracking import named

    sampling = leak_samples > 0 and not task.holdout
    log, per_sample = _new_log(task, config, membership_k, gradnorm, sampling, leak_samples, leak_temperature)
    _check_columns(task, rows)
    # The person of each row (evaluate/people.py), where one is known: the bootstrap's unit.
    found = people_log.rows_people(rows, people)
    people_of: dict[str, str] = {}
    generation = dict(max_new_tokens=max_new_tokens, samples=leak_samples, temperature=leak_temperature)
    with tqdm(total=len(rows), desc=named(task.name), unit="row", disable=not progress) as bar:
        for start in range(0, len(rows), batch_size):
            chunk = [
                task.item(rows[index], index, seed)
                for index in range(start, min(start + batch_size, len(rows)))
            ]
            outputs = _chunk_outputs(
                model, adapter, processor, task, chunk, batch_size, seed, sampling, gradnorm, generation
            )
            for position, item in enumerate(chunk):
                person = found[start + position]
                values = _row_log(adapter, processor, task, item, position, outputs, membership_k, person)
                for name, value in values.items():
                    per_sample[name][str(item.index)] = value
                if person:  # keyed like every value: a variant's rows keep their index
                    people_of[str(item.index)] = person
            bar.update(len(chunk))
    if people_of:
        per_sample[people_log.LOG_KEY] = people_of
    return {**log, **per_sample}


def _new_log(
    task: Task, config: str, membership_k, gradnorm: bool, sampling: bool, samples: int, temperature
):
    """(the log's header, its per-sample columns, empty)."""
    log: dict = {"task": task.name, "config": config, "forget": task.forget, "prob_kind": task.prob_kind}
    log |= {"holdout": True} if task.holdout else {}
    log["mia_k"] = membership_k
    keys = HOLDOUT_KEYS if task.holdout else PER_SAMPLE_KEYS
    extra = (gradnorm_scores.LOG_KEY,) if gradnorm else ()
    if sampling:
        log |= {"leak_samples": samples, "leak_temperature": temperature}
        extra += (sampling_leak.SAMPLES_KEY, sampling_leak.KEY_KEY, sampling_leak.LEAKED_KEY)
    return log, {key: {} for key in keys + MEMBERSHIP_KEYS + extra}


def _check_columns(task: Task, rows) -> None:
    columns = getattr(rows, "column_names", None)
    missing = sorted(task.columns() - set(columns)) if columns is not None else []
    if missing:
        raise UserError(f"task {task.name}: no column(s) {', '.join(missing)} (it has: {', '.join(columns)})")


def _chunk_outputs(
    model, adapter, processor, task: Task, chunk, batch_size, seed, sampling, gradnorm, generation
):
    """What the model gives a chunk of rows: candidate scores, greedy answers (not for a holdout
    task), sampled answers (leak@k) and GradNorm scores when asked; absent ones are None."""
    prompts = [item.prompt for item in chunk]
    scores = score_candidates(
        model, adapter, processor, prompts, [item.candidates() for item in chunk], batch_size
    )
    generations = [None] * len(chunk)
    if not task.holdout:
        generations = generate_answers(
            model,
            adapter,
            processor,
            prompts,
            batch_size=batch_size,
            max_new_tokens=generation["max_new_tokens"],
        )
    drawn = pulls = None
    if sampling:
        drawn = sampling_leak.sample_answers(
            model, adapter, processor, prompts, samples=generation["samples"], temperature=generation["temperature"],
            max_new_tokens=generation["max_new_tokens"],
            seeds=[sampling_leak.row_seed(seed, task.name, item.index) for item in chunk],
        )  # fmt: skip
    if gradnorm:
        answered = [dataclasses.replace(item.prompt, answer=item.answer) for item in chunk]
        pulls = gradnorm_scores.gradnorm_scores(model, adapter, processor, answered)
    return scores, generations, drawn, pulls


def _row_log(adapter, processor, task: Task, item, position: int, outputs, membership_k, person) -> dict:
    """One row's logged values from its chunk's outputs."""
    scores, generations, drawn, pulls = outputs
    row_scores = scores[position]
    values = _membership_values(item, row_scores[0], membership_k)
    if pulls is not None:
        values[gradnorm_scores.LOG_KEY] = pulls[position]
    if drawn is not None:
        values |= _leak_values(item, person, drawn[position])
    if task.holdout:
        return values | _answer_values(row_scores[0])
    prompt_text = adapter.prompt_text(processor, item.prompt)
    return values | _row_values(item, row_scores, generations[position], prompt_text)


PER_SAMPLE_KEYS = (
    "avg_gt_loss",
    "gt_loss",
    "num_token_gt",
    "avg_paraphrased_loss",
    "paraphrased_loss",
    "num_token_paraphrased",
    "average_perturb_loss",
    "perturb_loss",
    "num_token_perturb",
    "generated_text",
    "rougeL_recall",
    "rouge1_recall",
)


HOLDOUT_KEYS = PER_SAMPLE_KEYS[:3]  # the true answer's loss: all a holdout row is scored on
MEMBERSHIP_KEYS = (
    *membership.LOG_KEYS.values(),
    *memorization.LOG_KEYS.values(),
    "gt_token_logprobs",
    "gt_token_z",
)


def _answer_values(gt) -> dict:
    return {"avg_gt_loss": gt.mean, "gt_loss": gt.sum_nll, "num_token_gt": gt.n_tokens}


def _membership_values(item: TaskItem, gt, k: float) -> dict:
    """The attack scores of the true answer, and the per-token values they are made of."""
    scores = membership.sample_scores(gt.mean, item.answer, gt.token_logprobs, gt.token_z, k)
    scores |= memorization.sample_values(gt.token_hits)
    return scores | {"gt_token_logprobs": list(gt.token_logprobs), "gt_token_z": list(gt.token_z)}


def _leak_values(item: TaskItem, person: str | None, samples: list[str]) -> dict:
    key = sampling_leak.answer_key(item.prompt.question, item.answer, item.alternatives, person)
    return {
        sampling_leak.SAMPLES_KEY: samples,
        sampling_leak.KEY_KEY: key,
        sampling_leak.LEAKED_KEY: sampling_leak.row_leak(samples, key),
    }


def _row_values(item: TaskItem, scores, generation: str, prompt_text: str) -> dict:
    # candidates() = [answer, (paraphrase if distinct), *alternatives]
    n_alternatives = len(item.alternatives)
    paraphrase = scores[len(scores) - n_alternatives - 1]
    perturbed = scores[len(scores) - n_alternatives :]
    rouge = rouge_recall(generation, item.answer)
    return {
        **_answer_values(scores[0]),
        "avg_paraphrased_loss": paraphrase.mean,
        "paraphrased_loss": paraphrase.sum_nll,
        "num_token_paraphrased": paraphrase.n_tokens,
        "average_perturb_loss": [s.mean for s in perturbed],
        "perturb_loss": [s.sum_nll for s in perturbed],
        "num_token_perturb": [s.n_tokens for s in perturbed],
        "generated_text": [prompt_text, generation, item.answer],
        "rougeL_recall": rouge.rougeL,
        "rouge1_recall": rouge.rouge1,
    }


def task_summary(log: dict) -> dict:
    """Row count and per-task means of the logged per-sample values (metrics come later)."""

    def mean(values):
        return sum(values) / len(values) if values else math.nan

    gt = logs.samples(log, "avg_gt_loss")
    if log.get("holdout"):
        return {"config": log.get("config"), "rows": len(gt), "mean_avg_gt_loss": mean(gt)}
    return {
        "config": log.get("config"),
        "rows": len(gt),
        "mean_avg_gt_loss": mean(gt),
        "mean_avg_paraphrased_loss": mean(logs.samples(log, "avg_paraphrased_loss")),
        "mean_avg_perturb_loss": mean([mean(v) for v in logs.samples(log, "average_perturb_loss")]),
        "mean_rougeL_recall": mean(logs.samples(log, "rougeL_recall")),
        "mean_rouge1_recall": mean(logs.samples(log, "rouge1_recall")),
    }


def _holdout_config(task: Task) -> str:
    """The config a derived holdout task reads its rows from, as its log records it."""
    return f"{'tofu_full' if task.text_only else 'full'} (holdout people)"


def _holdout_rows(task: Task, holdout, data: str, revision: str | None):
    """The held-out people's rows: their captions in `full`, or the TOFU questions naming them."""
    from clearbench.data.load import load_split

    if task.text_only:
        rows = holdout.text_eval_rows(load_split(data, "tofu_full", revision))
    else:
        rows = holdout.eval_rows(load_split(data, "full", revision))
    if len(rows) == 0:
        raise UserError(
            f"task {task.name}: data source '{data}' holds no rows of the holdout people "
            f"{', '.join(holdout.people)}; leave the task out of the evaluation"
        )
    return rows


def _start_summary(out_dir: Path, run: dict) -> dict:
    """The run's settings, recorded in a hidden file until summary.json marks the run complete.

    A directory holding another run's logs is refused, not mixed into.
    """
    settings = out_dir / SETTINGS
    for path in (settings, out_dir / logs.SUMMARY):
        if not path.is_file():
            continue
        earlier = files.read_json_object(path, "the earlier evaluation's settings")
        by_content = earlier.get("model_weights") is not None and run["model_weights"] is not None
        changed = [
            key
            for key in RUN_KEYS
            if earlier.get(key) != run[key]
            and not (key in LATER_RUN_KEYS and key not in earlier)
            and not (by_content and key in PATH_KEYS)
        ]
        if changed:
            details = ", ".join(f"{key} {earlier.get(key)!r} → {run[key]!r}" for key in changed)
            raise UserError(
                f"{out_dir} holds an evaluation with other settings ({details}); "
                "choose another --out or delete it"
            )
        break
    else:
        if logs.completed_tasks(out_dir):
            raise UserError(f"{out_dir} holds task logs of an unknown run; choose another --out")
    summary = {**run, "versions": versions()}
    atomic.write_json(settings, summary)
    return summary
