"""The run configuration: typed sections, YAML presets, `key=value` overrides.

A run is described by one `RunConfig`. Presets are YAML files under `clearbench/presets/` (or any YAML
path; `extends: NAME` starts from another preset); `--set section.key=value` overrides a field, the
value parsed as YAML (`3`, `1e-5`, `[ga, npo]`). The training sections are the training options
themselves (`clearbench.train.options`), so every training setting has one name everywhere.
Unknown presets and keys, values of the wrong type and values that break a setting's rule are user
errors that name the key.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from clearbench import settings
from clearbench.attacks import DEFAULT_ATTACKS, get_attack
from clearbench.attacks.options import AttackOptions
from clearbench.data import heldout_photos
from clearbench.data.split_names import FORGET_SPLITS, check_forget_split, retain_split, split_percent
from clearbench.errors import UserError
from clearbench.evaluate.options import EvalOptions
from clearbench.methods import PAPER_METHODS, get_method, resolve_method
from clearbench.models.base import check_attention
from clearbench.report.selection import Selection
from clearbench.run import sweep
from clearbench.settings import AT_LEAST_ONE, NOT_NEGATIVE, POSITIVE, UNIT, setting
from clearbench.train import tracking
from clearbench.train.options import FINETUNE_DEFAULTS, UNLEARN_DEFAULTS, TrainOptions, UnlearnOptions

MODALITIES = ("both", "images", "text")
# Seeds reach numpy, whose seeds are 32-bit: a larger one would stop a run mid-way.
SEED = settings.SEED


@dataclass
class DataSection:
    source: str = "synthetic"  # "synthetic" (generated into the run dir), a local dir, or a Hub id
    # Statistics are over people (rows of one person are not independent): a run refuses, before any
    # training, a forget split whose forget, holdout or retain people are fewer.
    min_people: int = setting(
        help="people each of forget, holdout and retain must hold (CLEARBENCH_MIN_PEOPLE sets the default)",
        rule=AT_LEAST_ONE,
        default_factory=lambda: _from_environment("CLEARBENCH_MIN_PEOPLE", 2, AT_LEAST_ONE),
    )
    revision: str | None = None
    persons: int = 20  # synthetic only (range: clearbench.data.synth.check_options)
    image_size: int = 64  # synthetic only
    seed: int = setting(0, "seed of the synthetic world", SEED)  # synthetic only
    # Synthetic only: rows per person (fewest, most) and the pretrained world's size; see
    # clearbench.data.synth.density (defaults: CLEAR's proportions).
    photos: list[int] = dataclasses.field(default_factory=lambda: [8, 20])
    questions: list[int] = dataclasses.field(default_factory=lambda: [10, 18])
    famous: int | None = None
    famous_photos: int = 12
    scenes: int | None = None
    topics: list[str] | None = None  # what the biography questions ask; None: every topic
    # A local copy (or Hub id) of locuslab/TOFU for the tofu_* configs of a Hub or local CLEAR snapshot.
    tofu_source: str | None = None
    # Membership attacks need people no model trained on. A source without holdout configs (therem/CLEAR)
    # has some withheld from target and gold training: these names, or this many drawn with the first
    # training seed (default: as many as the forget set). See docs/metrics.md.
    holdout_people: list[str] | None = None
    holdout_count: int | None = setting(
        None, "people withheld as non-members (sources without holdout configs)", AT_LEAST_ONE
    )
    # A source without unseen photos (therem/CLEAR) has none to ask: this share of each forget person's
    # photos is kept out of unlearning and asked instead (data/heldout_photos.py, docs/metrics.md).
    heldout_forget_photos: float | None = setting(
        None,
        "share of each forget person's photos kept out of unlearning and asked as the forget tasks of "
        "unseen photos (sources without unseen photos; the target still trained on them)",
        heldout_photos.SHARE,
    )


@dataclass
class ModelSection:
    name: str = "tiny-llava"  # preset name, local checkpoint, or Hub id
    trust_remote_code: bool = False
    pretrain: bool = True  # tiny world: pretrain a base on the `pretraining` config first
    # Attention kernels: sdpa, eager, flash_attention_2 (flash-attn package and a CUDA GPU); none:
    # transformers' choice. Checked by clearbench.models.base.check_attention.
    attn_implementation: str | None = None


@dataclass
class FinetuneSection(TrainOptions):
    # The tiny world rehearses its `pretraining` data so that fine-tuning does not wipe what the base
    # knows (real faces, scenes).
    replay: list[str] = setting(
        help="configs trained on together with the target's / gold's own data", default_factory=list
    )


@dataclass
class UnlearnSection(UnlearnOptions):
    methods: list[str] = setting(
        help="unlearning methods to run", default_factory=lambda: list(PAPER_METHODS)
    )
    modalities: list[str] = setting(
        help="forget modalities: both, images, text", default_factory=lambda: ["both"]
    )
    hparams: dict[str, dict[str, Any]] = setting(
        help="method -> {hyperparameter or training setting: value}", default_factory=dict
    )
    trajectory: bool = setting(
        False, "evaluate each unlearning run after every epoch too; the selection rule may pick any epoch"
    )
    grid: dict[str, dict[str, list]] = setting(
        help="method -> {setting or hyperparameter: [values]}: every combination is run (clearbench.run.sweep)",
        default_factory=dict,
    )


@dataclass
class EvalSection(EvalOptions):
    """How each model is evaluated (evaluate/options.py), and what the run adds: which tasks, the
    metrics' compat mode, unseen photos, the bootstrap."""

    tasks: list[str] | None = None  # None = every task the model can take
    compat: str = "clearbench"
    unseen_photos: bool = setting(
        False,
        "also ask the forget and retain image tasks about unseen photos of the same people "
        "(forgetNN_unseen, retain_unseen; about a quarter more evaluation, so opt-in)",
    )
    bootstrap: int = setting(
        1000,
        "resamples of the bootstrap over people giving a one-seed model its intervals; 0: none",
        NOT_NEGATIVE,
    )


@dataclass
class ReportSection:
    retain_fail_threshold: float = setting(
        0.4, "Retain below which a method is set apart on the leaderboard", UNIT
    )


@dataclass
class AttackSection(AttackOptions):
    attacks: list[str] = setting(
        help="attacks run on every model after the evaluation: relearn, quantize, queries "
        "(the default); opt-in: leak, probe, image",
        default_factory=lambda: list(DEFAULT_ATTACKS),
    )


@dataclass
class SeedsSection:
    """Target and gold are trained once per training seed, each method run once per (training seed,
    unlearning seed); the report gives intervals over them. The base is pretrained once, with the
    first training seed (it stands for a downloaded model)."""

    train: list[int] = setting(help="seeds of target and gold training", default_factory=lambda: [0])
    unlearn: list[int] = setting(help="seeds of each unlearning run", default_factory=lambda: [0])


DEFAULT_THREADS = 2
THREADS = settings.Rule(lambda v: 1 <= v <= 1024, "must be between 1 and 1024")


def default_threads() -> int:
    """`jobs.threads` unless set: 2, or CLEARBENCH_THREADS (the test suite's 1). Either way the
    count is written into config.yaml and every job's spec."""
    return _from_environment("CLEARBENCH_THREADS", DEFAULT_THREADS, THREADS)


def _from_environment(name: str, default: int, rule: settings.Rule) -> int:
    """A setting's default: `default`, or the environment variable `name` (the test suite's tiny
    worlds); the value used is recorded in config.yaml like any other."""
    import os

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not rule.holds(int(text)):
        raise UserError(f"environment variable {name} {rule.says}, got {text!r}")
    return int(text)


@dataclass
class JobsSection:
    """Where the run's jobs run: here, one after another (workers 0), on a local Ray runtime with that
    many workers, or on the Ray cluster at `ray_address`."""

    workers: int = setting(0, "local Ray workers; 0 runs every job in this process", NOT_NEGATIVE)
    ray_address: str | None = setting(
        None, "address of an existing Ray cluster (ray://host:10001 or host:6379)"
    )
    # Results depend on the torch thread count (how sums are split), so every job computes with this
    # many threads wherever it runs, and the count is part of its identity. Not "all cores": the same
    # default gives the same numbers on a laptop and a 64-core node.
    threads: int = setting(
        help="torch threads each job computes with, in this process and on every Ray worker",
        rule=THREADS,
        default_factory=lambda: default_threads(),
    )
    # A job asks Ray for the CPUs it computes with (its threads), so a cluster packs jobs by what
    # they use; a local runtime of N workers gets N jobs' worth and still runs N at once, unless that
    # is more than the machine's cores (then fewer at once: more threads than cores slow every job).
    cpus: float | None = setting(None, "CPUs each job asks of a Ray worker; none: its threads", POSITIVE)
    gpus: float = setting(0.0, "GPUs each job asks of a Ray worker", NOT_NEGATIVE)


@dataclass
class RunConfig:
    forget_split: str = "forget10"
    seeds: SeedsSection = field(default_factory=SeedsSection)
    # Sequential forget requests, each unlearned from the model of the one before, ending with
    # forget_split; reported beside one-shot unlearning of forget_split (their union).
    requests: list[str] = field(default_factory=list)
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    pretrain: TrainOptions = field(default_factory=lambda: TrainOptions(**FINETUNE_DEFAULTS))
    finetune: FinetuneSection = field(default_factory=lambda: FinetuneSection(**FINETUNE_DEFAULTS))
    unlearn: UnlearnSection = field(default_factory=lambda: UnlearnSection(**UNLEARN_DEFAULTS))
    eval: EvalSection = field(default_factory=EvalSection)
    report: ReportSection = field(default_factory=ReportSection)
    selection: Selection = field(default_factory=Selection)
    jobs: JobsSection = field(default_factory=JobsSection)
    attack: AttackSection = field(default_factory=AttackSection)
    # Trackers that receive every stage's training curves and each model's final metrics
    # (tensorboard offline; wandb, mlflow when installed).
    report_to: list[str] = field(default_factory=list)

    @property
    def retain_split(self) -> str:
        return retain_split(self.forget_split)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def preset_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files("clearbench.presets").iterdir()
        if p.name.endswith(".yaml")
    )


def load_config(preset_or_path: str | None = None, overrides: list[str] = ()) -> RunConfig:
    """Build a RunConfig from a preset name or YAML file (default: `tiny`) and `key=value` overrides."""
    raw = _read_yaml(preset_or_path or "tiny")
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise UserError(f"override {override!r} is not of the form key=value")
        _set_path(raw, key.strip().split("."), _parse_yaml(value, f"override {override!r}"))
    config = build_section(RunConfig(), raw, "")
    _validate(config)
    return config


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases: a config never needs them, and nested aliases ("billion laughs")
    make a few hundred bytes stand for gigabytes once copied or printed."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not allowed in a config", event.start_mark
            )
        return super().compose_node(parent, index)


def _parse_yaml(text: str, where: str):
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{where}: invalid YAML{at}: {problem}") from None


def _read_yaml(preset_or_path: str, chain: tuple[str, ...] = (), relative_to: Path | None = None) -> dict:
    """A preset or YAML file as a mapping, with its `extends:` chain merged in (cycles refused).

    A relative `extends:` path is looked up next to the file that names it, then in the working
    directory.
    """
    if not isinstance(preset_or_path, str) or not preset_or_path.strip():
        raise UserError(
            f"config {chain[-1]}: 'extends' must be a preset name or a YAML file, got {preset_or_path!r}"
        )
    path = Path(preset_or_path).expanduser()
    if path.suffix in (".yaml", ".yml"):
        if relative_to is not None and not path.is_absolute() and (relative_to / path).exists():
            path = relative_to / path
        if not path.exists():
            raise UserError(
                f"config file {path} does not exist" + (f" (extended by {chain[-1]})" if chain else "")
            )
        if not path.is_file():
            raise UserError(f"config file {path} is not a file")
        identity, name = str(path.resolve()), str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else error.strerror
            raise UserError(f"config file {path}: cannot read it ({reason})") from None
    else:
        candidate = resources.files("clearbench.presets") / f"{preset_or_path}.yaml"
        if not candidate.is_file():
            by = f" (extended by {chain[-1].removeprefix('preset:')})" if chain else ""
            raise UserError(f"unknown preset {preset_or_path!r}{by}; presets: {', '.join(preset_names())}")
        identity, name = f"preset:{preset_or_path}", preset_or_path
        text = candidate.read_text()
    if identity in chain:
        loop = [*chain[chain.index(identity) :], identity]
        shown = " -> ".join(entry.removeprefix("preset:") for entry in loop)
        raise UserError(f"config files extend each other in a cycle ('extends'): {shown}")
    data = _parse_yaml(text, f"config {name}") or {}
    if not isinstance(data, dict):
        raise UserError(f"config {name}: expected a mapping at the top level, got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    folder = path.parent if path.suffix in (".yaml", ".yml") else None
    return _merge(_read_yaml(parent, (*chain, identity), folder), data)


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        both_sections = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both_sections else value
    return merged


def _set_path(raw: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        raw = raw.setdefault(key, {})
        if not isinstance(raw, dict):
            raise UserError(f"override key {'.'.join(keys)!r}: {key!r} is not a section")
    raw[keys[-1]] = value


def build_section(default, raw: dict, prefix: str):
    """`default` (a dataclass instance) with the keys of `raw` replaced, each checked against its type."""
    fields = {f.name for f in dataclasses.fields(default)}
    hints = typing.get_type_hints(type(default))
    values = {}
    for key, value in raw.items():
        if key not in fields:
            where = f"section {prefix.rstrip('.')!r}" if prefix else "the top level"
            raise UserError(f"unknown config key {prefix + key!r}; keys in {where}: {', '.join(fields)}")
        current = getattr(default, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise UserError(f"config key {prefix + key!r} must be a section (mapping)")
            values[key] = build_section(current, value, f"{prefix}{key}.")
        else:
            values[key] = settings.coerce(value, hints[key], f"config key {prefix + key!r}")
    return dataclasses.replace(default, **values)


def _validate(config: RunConfig) -> None:
    """Every value is checked here, before a run writes anything (a refused value must not leave a
    config.yaml behind that would refuse the corrected command)."""
    from clearbench.evaluate.official import COMPAT_MODES
    from clearbench.evaluate.tasks import select_tasks
    from clearbench.report import selection

    for section in ("data", "pretrain", "finetune", "unlearn", "eval", "jobs", "attack", "report"):
        settings.check(getattr(config, section), lambda key, section=section: f"config key '{section}.{key}'")
    if config.eval.tasks is not None:
        try:
            select_tasks(config.eval.tasks)
        except UserError as error:
            raise UserError(f"config key 'eval.tasks': {error}") from None
    if config.eval.compat not in COMPAT_MODES:
        raise UserError(
            f"config key 'eval.compat': unknown mode {config.eval.compat!r}; choose from {COMPAT_MODES}"
        )
    if config.data.source == "synthetic":
        from clearbench.data.synth import check_options

        names = ("config key 'data.persons'", "config key 'data.image_size'")
        check_options(config.data.persons, config.data.image_size, names=names)
        synth_density(config.data)
    for kind, seeds in (("train", config.seeds.train), ("unlearn", config.seeds.unlearn)):
        if not seeds:
            raise UserError(f"config key 'seeds.{kind}' is empty; give at least one seed")
        if len(set(seeds)) != len(seeds):
            raise UserError(f"config key 'seeds.{kind}' repeats a seed: {seeds}")
        for seed in seeds:
            if not SEED.holds(seed):
                raise UserError(f"config key 'seeds.{kind}': each seed {SEED.says}, got {seed}")
    check_forget_split(config.forget_split, "forget_split")
    if config.requests:
        if (
            any(r not in FORGET_SPLITS for r in config.requests)
            or sorted(config.requests, key=FORGET_SPLITS.index) != config.requests
            or len(set(config.requests)) != len(config.requests)
        ):
            raise UserError(
                f"requests {config.requests}: each of {', '.join(FORGET_SPLITS)} at most once, smallest first"
            )
        if config.requests[-1] != config.forget_split:
            raise UserError(
                f"requests {config.requests} must end with the forget split ({config.forget_split}): their union"
            )
        if len(config.requests) < 2:
            raise UserError(
                f"requests {config.requests}: give at least two requests (one is one-shot unlearning)"
            )
    if config.data.source == "synthetic":
        check_world_size(config)
    for modality in config.unlearn.modalities:
        if modality not in MODALITIES:
            raise UserError(f"unlearn.modalities: unknown modality {modality!r}; choose from {MODALITIES}")
    if not config.unlearn.methods:
        raise UserError("unlearn.methods is empty")
    for method in config.unlearn.methods:
        try:
            resolve_method(method)  # a built-in, an installed entry point, or path/file.py:Class
        except UserError as error:
            raise UserError(f"unlearn.methods: {error}") from None
    tracking.check_trackers(config.report_to, "config key 'report_to'")
    check_attention(config.model.attn_implementation, "config key 'model.attn_implementation'")
    for method in config.unlearn.hparams:
        # A preset may set a built-in method's hyperparameters (the 7B presets' RMU) that a run drops.
        if method not in config.unlearn.methods and method not in PAPER_METHODS:
            raise UserError(f"unlearn.hparams.{method}: {method!r} is not in unlearn.methods")
        options, own = sweep.apply(config.unlearn, method, {})
        settings.check(options, lambda key, method=method: f"config key 'unlearn.hparams.{method}.{key}'")
        get_method(method, **own)  # unknown or ill-typed hyperparameters fail here, before any training
    for name in config.attack.attacks:
        try:
            get_attack(name).variants(settings.narrow(config.attack, AttackOptions))
        except UserError as error:
            raise UserError(f"config key 'attack.attacks': {error}") from None
    sweep.check(config.unlearn)
    selection.check(config.selection)
    check_heldout_photos(config)


def check_heldout_photos(config: RunConfig) -> None:
    """Held-out forget photos stand in for unseen photos where a source has none: not on the synthetic
    world, which has them, and never for retain people (data/heldout_photos.py)."""
    if config.data.heldout_forget_photos is None:
        return
    if config.data.source == "synthetic":
        raise UserError(
            f"{heldout_photos.SETTING}: the synthetic world has unseen photos of its own, never trained "
            "on; ask them with eval.unseen_photos: true and leave this setting unset"
        )
    from clearbench.evaluate.tasks import TASKS

    retain = [name for name in config.eval.tasks or () if TASKS[name].unseen and not TASKS[name].forget]
    if retain:
        raise UserError(
            f"config key 'eval.tasks': {', '.join(retain)} need unseen photos of retain people, which "
            f"{heldout_photos.SETTING} does not make (it holds out forget photos only)"
        )


def check_world_size(config: RunConfig) -> None:
    """A synthetic world large enough for the forget split and each request: at least
    `data.min_people` forget, holdout and retain people, and each request forgetting new people.
    (Any source's people are counted again once its data is there: Pipeline.check_people.)"""
    from clearbench.data.synth.splits import forget_count

    least, persons = config.data.min_people, config.data.persons
    splits = config.requests or [config.forget_split]  # requests end with the forget split

    def counts(split: str, people: int) -> tuple[int, int, int]:
        forget = forget_count(people, split_percent(split))
        return forget, forget, people - forget  # forget, holdout (as many, drawn apart), retain

    def enough(people: int) -> bool:
        sizes = [counts(split, people) for split in splits]
        grows = all(a[0] < b[0] for a, b in zip(sizes, sizes[1:]))
        return grows and all(min(size) >= least for size in sizes)

    if enough(persons):
        return
    needed = next((n for n in range(persons + 1, 100_001) if enough(n)), None)
    fix = f"set data.persons to at least {needed}" if needed else "use a larger forget split"
    for split in splits:
        forget, holdout, retain = counts(split, persons)
        if min(forget, holdout, retain) < least:
            raise UserError(
                f"forget split {split}: the {persons}-person world puts {forget} in {split}, {holdout} in "
                f"its holdout and {retain} in {retain_split(split)}; each needs at least {least} "
                f"people (data.min_people): {fix}"
            )
    sizes = {split: counts(split, persons)[0] for split in config.requests}
    raise UserError(
        f"requests {config.requests}: in the {persons}-person world they hold "
        + ", ".join(f"{n} in {split}" for split, n in sizes.items())
        + f" (nested sets, so a request of the same size forgets nobody new): {fix}"
    )


def forget_config(forget_split: str, modality: str) -> str:
    """The data config holding the forget set of a modality (the paper's Table 3)."""
    return {"both": f"{forget_split}+tofu", "images": forget_split, "text": f"tofu_{forget_split}"}[modality]


def synth_density(data: DataSection):
    """The synthetic world's density from the data section, checked (naming the config key)."""
    from clearbench.data.synth.density import Density, check_density

    for key in ("photos", "questions"):
        if len(getattr(data, key)) != 2:
            raise UserError(f"config key 'data.{key}' must be [fewest, most], got {getattr(data, key)}")
    topics = tuple(data.topics) if data.topics is not None else None
    density = Density(
        tuple(data.photos), tuple(data.questions), data.famous, data.famous_photos, data.scenes, topics
    )
    check_density(density, lambda key: f"config key 'data.{key}'")
    return density
