"""The visual track's configuration: a preset (or YAML file) with `track: visual` at its top level.

    clearbench run visual --out runs/visual --set splits.count=32

Its sections are this track's own (data, model, pretrain, finetune, splits, methods, hparams, jobs,
report); unknown keys and ill-typed values are refused, naming the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from clearbench.errors import UserError
from clearbench.run.config import build_section

TRACK = "visual"


@dataclass
class DataSection:
    source: str = "synthetic"  # "synthetic" (generated into the run folder), a local dir or Hub id
    revision: str | None = None
    persons: int = 100  # synthetic only
    image_size: int = 32  # synthetic only
    seed: int = 0  # synthetic only
    forget_split: str = "forget10"  # the people F
    # The people H: this config's names (the synthetic world's holdoutNN); none: drawn from the rest.
    holdout_config: str | None = "holdout10"
    resolution: int = 32  # images are resized to this square size
    # Crop (left, top, right, bottom; fractions) before resizing: where the face is, as a detector
    # would find it. None: the whole image.
    face_box: list[float] | None = None
    enroll: int = 5  # enrolment images per identity (the official num_enroll)
    short_identities: str = "error"  # identities with too few images: error, or skip (named in the log)
    pretrain_source: str | None = None  # none: the data source
    pretrain_config: str = "pretraining"  # "pretraining": the synthetic world's famous faces
    pretrain_name_column: str = "name"  # for another config (e.g. celebrity-1000: label)


@dataclass
class ModelSection:
    width: int = 16  # ResNet-18 channels of the first stage; 64 is the paper's (512-d embedding)


@dataclass
class TrainSection:
    epochs: int = 20
    learning_rate: float = 0.1
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-5
    schedule: str = "cosine"
    warmup: float = 0.0


@dataclass
class SplitsSection:
    count: int = 16  # a multiple of 4; the paper: 128
    retain_people: int = 80  # retained people trained on in each split (the official 80)
    seed: int = 0


@dataclass
class JobsSection:
    workers: int = 0  # local Ray workers; 0: every job in this process
    ray_address: str | None = None
    threads: int = 1  # torch threads of each job (part of its identity: results depend on it)


@dataclass
class ReportSection:
    bootstrap: int = 1000  # resamples of people for the intervals


@dataclass
class VisualConfig:
    track: str = TRACK
    seed: int = 0
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    pretrain: TrainSection = field(
        default_factory=lambda: TrainSection(epochs=100, weight_decay=5e-4)  # the official recipe
    )
    finetune: TrainSection = field(default_factory=lambda: TrainSection(warmup=0.1))
    splits: SplitsSection = field(default_factory=SplitsSection)
    methods: list[str] = field(
        default_factory=lambda: [
            "gold",
            "retain_ft",
            "scrub",
            "llmu",
            "rmu",
            "dpo",
            "scrub_bio",
            "sparsity",
            "twins",
        ]
    )
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: JobsSection = field(default_factory=JobsSection)
    report: ReportSection = field(default_factory=ReportSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _preset_path(preset: str | None) -> Path | None:
    if not preset:
        return None
    path = Path(preset).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return path if path.is_file() else None
    candidate = resources.files("clearbench.presets") / f"{preset}.yaml"
    return Path(str(candidate)) if candidate.is_file() else None


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UserError(f"config file {path}: cannot read it ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path}: expected a mapping at the top level")
    return data


def declares_visual_track(preset: str | None) -> bool:
    """Whether the preset or YAML file says `track: visual` (anything unreadable: no)."""
    path = _preset_path(preset)
    if path is None:
        return False
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("track") == TRACK


def load_visual_config(preset: str, overrides: list[str] = ()) -> VisualConfig:
    path = _preset_path(preset)
    if path is None:
        raise UserError(f"unknown preset or config file {preset!r}")
    raw = _read(path)
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise UserError(f"override {override!r} is not of the form key=value")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"override {override!r}: invalid YAML") from None
        section = raw
        keys = key.strip().split(".")
        for part in keys[:-1]:
            section = section.setdefault(part, {})
            if not isinstance(section, dict):
                raise UserError(f"override key {key!r}: {part!r} is not a section")
        section[keys[-1]] = parsed
    config = build_section(VisualConfig(), raw, "")
    validate(config)
    return config


def validate(config: VisualConfig) -> None:
    """Every value checked before anything is written or trained."""
    from clearbench.data.split_names import check_forget_split
    from clearbench.visual.methods import GOLD, get_method

    if config.track != TRACK:
        raise UserError(f"config key 'track': must be {TRACK!r} here, got {config.track!r}")
    data = config.data
    check_forget_split(data.forget_split, "config key 'data.forget_split':")
    if data.short_identities not in ("error", "skip"):
        raise UserError(f"config key 'data.short_identities': error or skip, got {data.short_identities!r}")
    for key in ("resolution", "enroll"):
        if getattr(data, key) < 1:
            raise UserError(f"config key 'data.{key}' must be at least 1, got {getattr(data, key)}")
    if data.source == "synthetic":
        from clearbench.data.synth import check_options

        check_options(
            data.persons, data.image_size, names=("config key 'data.persons'", "config key 'data.image_size'")
        )
    box = data.face_box
    if box is not None and not (len(box) == 4 and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        raise UserError(
            f"config key 'data.face_box': (left, top, right, bottom) fractions, left < right, top < bottom; got {box}"
        )
    if config.model.width < 1:
        raise UserError(f"config key 'model.width' must be at least 1, got {config.model.width}")
    for name in ("pretrain", "finetune"):
        section = getattr(config, name)
        if section.epochs < 1 or section.batch_size < 1 or not section.learning_rate > 0:
            raise UserError(f"config key '{name}': epochs and batch_size ≥ 1, learning_rate > 0")
        if section.schedule not in ("constant", "cosine"):
            raise UserError(f"config key '{name}.schedule': constant or cosine, got {section.schedule!r}")
        if not 0 <= section.warmup < 1:
            raise UserError(f"config key '{name}.warmup': a fraction in [0, 1), got {section.warmup}")
    if not config.methods:
        raise UserError("config key 'methods' is empty")
    for method in config.methods:
        if method != GOLD:
            get_method(method, config.hparams.get(method))
    for method in config.hparams:
        if method not in config.methods:
            raise UserError(f"config key 'hparams.{method}': {method!r} is not in methods")
    if config.jobs.threads < 1 or config.jobs.workers < 0:
        raise UserError("config key 'jobs': threads ≥ 1 and workers ≥ 0")
    if config.report.bootstrap < 0:
        raise UserError(f"config key 'report.bootstrap' must not be negative, got {config.report.bootstrap}")
    if config.splits.count < 4 or config.splits.count % 4:
        raise UserError(f"config key 'splits.count': a multiple of 4 (at least 4), got {config.splits.count}")
