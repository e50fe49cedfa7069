"""The attack stage of a run: every configured attack on every model, then the records (records.py).

    out/attacks/clean/<model>/eval/            the forget tasks as declared (the "before" numbers)
    out/attacks/<variant>/<model>/eval/        the same tasks under one attack variant
    out/attacks/<variant>/<model>/model/       a relearned checkpoint (quantized models stay in memory)
    out/attacks/<variant>/<model>/attack.json  what made it (attack, variant, settings, source), its
                                               status; written last when it completed
    out/attacks/records.json                   one record per variant and model, with the scores

Each folder is skipped when complete, so a killed stage resumes; a folder holding another request's
output is refused. A failed attack is recorded as failed and the others go on; only an output that
cannot be written (full disk, read-only) stops the stage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from clearbench import atomic
from clearbench.attacks import get_attack
from clearbench.attacks.base import Context, Source, Variant
from clearbench.attacks.evaluate import evaluate_variant, is_complete
from clearbench.attacks.layout import CLEAN, EVAL, RECORD, RECORDS, folder, read_record
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.records import score_all
from clearbench.attacks.variants import AttackTask
from clearbench.errors import UserError
from clearbench.evaluate import logs
from clearbench.evaluate.options import EvalOptions


def attack_all(
    out: Path,
    data: str,
    forget_split: str,
    models: Sequence[Source | tuple],
    attacks: Sequence[str],
    options: AttackOptions,
    evaluation: EvalOptions | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
    *,
    tasks: Sequence[str] | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    score: str = "prob",
    option_name: Callable[[str], str] | None = None,
) -> list[dict]:
    """Run `attacks` on every model of `models` under `out/attacks`; the records (also in records.json).

    `models`: `Source`s or (name, kind, path[, method]) tuples; kind is target, gold, unlearned or base.
    Target and gold get the same attacks (ceiling and baseline of the scores). `evaluation`: how the
    attacked models are evaluated (the run's eval options; None: the defaults); `tasks`: the
    evaluated tasks whose forget tasks the attacks ask (None: every task). Every setting and the data each attack needs are checked before any work;
    `option_name` turns an option key into what the user wrote (a flag, a config key) in errors.
    """
    out = Path(out) / "attacks"
    sources = [model if isinstance(model, Source) else Source(*model) for model in models]
    context, variants = prepare(
        data,
        forget_split,
        sources,
        attacks,
        options,
        tasks,
        seed,
        revision=revision,
        trust_remote_code=trust_remote_code,
        option_name=option_name,
    )
    for source in sources:
        _attack_model(out, source, variants, context, _evaluation(evaluation), log)
    records = score_all(out, sources, variants, score)
    atomic.write_json(out / RECORDS, records)
    return records


def attack_model(
    out: Path,
    data: str,
    forget_split: str,
    source: Source,
    attacks: Sequence[str],
    options: AttackOptions,
    evaluation: EvalOptions | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
    *,
    tasks: Sequence[str] | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    clean: Path | None = None,
) -> None:
    """Every attack of `attacks` on one model (one job of a run: `clearbench.jobs.work`); the run
    scores all models afterwards (`score`). `clean`: the run's evaluation of the model, made with the
    settings the attacks evaluate with: its forget-task logs are the clean variant's."""
    context, variants = prepare(
        data, forget_split, [source], attacks, options, tasks, seed,
        revision=revision, trust_remote_code=trust_remote_code,
    )  # fmt: skip
    _attack_model(Path(out) / "attacks", source, variants, context, _evaluation(evaluation), log, clean)


def score(out: Path, sources: Sequence[Source], attacks: Sequence[str], options: AttackOptions) -> list[dict]:
    """The records of every model's attacks already run under `out/attacks` (records.json too)."""
    out = Path(out) / "attacks"
    variants = [
        (attack, v)
        for attack in (get_attack(a) for a in dict.fromkeys(attacks))
        for v in attack.variants(options)
    ]
    records = score_all(out, sources, variants, "prob")
    atomic.write_json(out / RECORDS, records)
    return records


def prepare(
    data,
    forget_split,
    sources,
    attacks,
    options,
    tasks,
    seed,
    *,
    revision,
    trust_remote_code,
    option_name=None,
):
    """(context, [(attack, variant)]): everything checked, nothing written or trained."""
    from clearbench import settings
    from clearbench.data.load import load_split, quiet
    from clearbench.evaluate.tasks import select_tasks

    settings.check(options, option_name or (lambda key: f"attack option {key!r}"))
    if not attacks:
        raise UserError("no attack named; choose from relearn, quantize, queries")
    if not sources:
        raise UserError("no model to attack")
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise UserError(f"models to attack must have distinct names, got {', '.join(names)}")
    chosen = [get_attack(name) for name in dict.fromkeys(attacks)]
    variants = [(attack, variant) for attack in chosen for variant in attack.variants(options)]
    has_vision = _has_vision(sources, trust_remote_code)
    tasks = [task for task in select_tasks(tasks, has_vision=has_vision) if task.forget]
    if not tasks:
        raise UserError("the attacks ask forget tasks, and none is among the evaluated tasks")
    with quiet():
        splits = {task.name: load_split(str(data), task.config(forget_split), revision) for task in tasks}
        people = forget_people(str(data), forget_split, splits, revision)
    context = Context(
        str(data), forget_split, options, tasks, splits, seed, revision, trust_remote_code, people
    )
    for attack in chosen:
        attack.check(context)
        attack.check_models(list(sources), context)
    return context, variants


def forget_people(data: str, forget_split: str, splits: dict, revision) -> tuple[str, ...]:
    """The forget people's names, by which each asked row's person is found (`people.rows_people`,
    as the evaluation stage does): the `name` column of the forget tasks' configs, else of the forget
    captions config (a text-only model asks no image task); none for a source without one (each row
    is then its own unit, and the interval says so)."""
    from clearbench.data.load import load_split
    from clearbench.evaluate.people import known_people

    found = known_people(splits.values())
    if found:
        return found
    try:
        return known_people([load_split(data, forget_split, revision)])
    except UserError:  # no captions config: rows stay their own units, and the interval says so
        return ()


def _has_vision(sources: Sequence[Source], trust_remote_code: bool) -> bool:
    """Whether the models take images, from the first one that can be read (a broken one fails later,
    as its own attacks' failure, not the stage's)."""
    from clearbench.models import registry

    errors = []
    for source in sources:
        try:
            return registry.adapter_for(source.path, trust_remote_code=trust_remote_code).has_vision
        except Exception as error:  # noqa: BLE001 - reported below if no model can be read
            errors.append(f"{source.name} ({source.path}): {error}")
    raise UserError("no model to attack can be read: " + "; ".join(errors))


def _evaluation(evaluation: EvalOptions | None) -> dict:
    """The eval options an attacked model's evaluation takes (in each attack's request)."""
    evaluation = evaluation or EvalOptions()
    return {key: getattr(evaluation, key) for key in ("batch_size", "max_new_tokens", "seed")}


def _request(variant: Variant, source: Source, context: Context, evaluation: dict) -> dict:
    return {
        "attack": variant.attack,
        "variant": variant.name,
        "settings": variant.settings,
        "model": source.name,
        "kind": source.kind,
        "method": source.method,
        "source": str(source.path),
        "data": context.data,
        "forget_split": context.forget_split,
        "tasks": [task.name for task in context.tasks],
        "seed": context.seed,
        "evaluation": evaluation,
    }


def _claim(path: Path, request: dict) -> bool:
    """True when `path` holds this request, completed; refuses a folder of another request."""
    earlier = read_record(path)
    if earlier is None:
        if path.exists() and any(path.iterdir()):
            raise UserError(f"{path} holds files but no {RECORD}; delete it or choose another --out")
        return False
    if json.loads(json.dumps(earlier.get("request"), default=str)) != json.loads(
        json.dumps(request, default=str)
    ):
        raise UserError(
            f"{path} holds another attack's output ({RECORD} differs); delete it or choose another --out"
        )
    return earlier.get("status") == "completed" and is_complete(path / EVAL)


def _attack_model(
    out: Path, source: Source, variants, context: Context, evaluation: dict, log, clean: Path | None = None
) -> None:
    from clearbench.models import registry

    todo = []
    for attack, variant in [(None, CLEAN), *variants]:
        path = folder(out, variant, source)
        request = _request(variant, source, context, evaluation)
        if not _claim(path, request):
            todo.append((attack, variant, path, request))
    if not todo:
        return
    try:
        loaded = _to_device(registry.load(source.path, trust_remote_code=context.trust_remote_code))
    except Exception as error:
        if atomic.output_failure(error) is not None:
            raise
        for _, _variant, path, request in todo:
            _record(path, request, "failed", f"loading the model: {type(error).__name__}: {error}", 0.0)
        log(f"[attack] {source.name}: cannot load {source.path}: {error}")
        return
    for attack, variant, path, request in todo:
        started = time.perf_counter()
        _record(path, request, "running", None, 0.0)
        try:
            if attack is not None and attack.measures:  # no task to ask: its result is the summary
                found = attack.measure(variant, source, loaded, context)
                record = {"attack": variant.attack, "variant": variant.name, "source": source.name}
                logs.write_summary(path / EVAL, record | {"measured": found})
                _record(path, request, "completed", None, time.perf_counter() - started)
                log(f"[attack] {variant.name} {source.name}: completed")
                continue
            tasks = attack.tasks(variant, context) if attack else [AttackTask.of(t) for t in context.tasks]
            if not tasks:
                _record(path, request, "skipped", "no task of this model takes the variant", 0.0)
                continue
            if attack is None and clean is not None:
                _adopt_logs(Path(clean), path / EVAL, tasks)
            derived = attack.derive(variant, source, loaded, path, context) if attack else loaded
            if derived is not loaded:
                derived = _to_device(derived)
            record = {"attack": variant.attack, "variant": variant.name, "source": source.name}
            evaluate_variant(derived, tasks, context, path / EVAL, record=record, **evaluation)
            del derived
        except Exception as error:  # one failed attack must not stop the others
            if atomic.output_failure(error) is not None:
                raise
            seconds = time.perf_counter() - started
            _record(path, request, "failed", f"{type(error).__name__}: {error}", seconds)
            log(f"[attack] {variant.name} {source.name}: failed ({type(error).__name__}: {error})")
            continue
        seconds = time.perf_counter() - started
        _record(path, request, "completed", None, seconds)
        log(f"[attack] {variant.name} {source.name}: completed in {seconds:.1f}s")


def _adopt_logs(evaluated: Path, out_dir: Path, tasks) -> None:
    """The evaluation's logs of `tasks` (those it wrote) into `out_dir`, where `evaluate_variant` then
    skips them: the clean variant asks the same rows with the same settings, so scoring them again
    would only repeat the evaluation stage (an eighth of the default run's attack stage)."""
    for task in tasks:
        found = logs.task_path(evaluated, task.name)
        if found.is_file() and not logs.task_path(out_dir, task.name).exists():
            atomic.write_bytes(logs.task_path(out_dir, task.name), found.read_bytes())


def _to_device(loaded):
    import torch

    model, processor, adapter = loaded
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, processor, adapter


def _record(path: Path, request: dict, status: str, error: str | None, seconds: float) -> None:
    record = {"request": request, "status": status, "error": error, "seconds": round(seconds, 1)}
    atomic.write_json(Path(path) / RECORD, record)
