"""What an attack is: a name, the data it needs, and its variants. A variant derives a model from the
source (relearned, quantized, or the source itself) and the forget-task variants to ask it; the
stage (stage.py) evaluates every variant of every model the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from clearbench.attacks.options import AttackOptions
from clearbench.attacks.variants import AttackTask
from clearbench.evaluate.tasks import Task


@dataclass
class Context:
    """What every attack of one stage shares: the data, the forget tasks and their loaded configs."""

    data: str
    forget_split: str
    options: AttackOptions
    tasks: list[Task]  # the forget tasks to ask, in declaration order
    splits: dict[str, Any]  # task name -> its whole config (a datasets.Dataset)
    seed: int = 0
    revision: str | None = None
    trust_remote_code: bool = False
    # The forget people's names: each logged row's person is found by them (evaluate/people.py), so
    # that a text row, which has no name column, is resampled with its person, not on its own.
    people: tuple[str, ...] = ()


@dataclass
class Source:
    """A model to attack: its name in the run, what it is (target, gold, unlearned) and its checkpoint.

    `group`: models scored against the target and gold of the same group (e.g. the training seed of a
    run with several); None for a run with one target and one gold.
    """

    name: str
    kind: str
    path: Path
    method: str | None = None
    group: str | int | None = None


@dataclass(frozen=True)
class Variant:
    attack: str  # the registered attack that made it
    name: str  # its folder under attacks/, e.g. "quantize-int4"
    settings: dict = field(default_factory=dict)  # what it was made with (the record says so)


class Attack(ABC):
    name: ClassVar[str]
    derives_model: ClassVar[bool] = False  # True: the variant's model differs from the source
    measures: ClassVar[bool] = False  # True: asks no task; `measure` gives its result (probes.py)

    @abstractmethod
    def variants(self, options: AttackOptions) -> list[Variant]:
        """The variants this attack runs under `options` (checked: a bad setting is a UserError)."""

    def check(self, context: Context) -> None:
        """Raise a UserError, before any training, when the data lacks what the attack needs."""
        return None

    def check_models(self, sources: list[Source], context: Context) -> None:
        """Raise a UserError, before any model is loaded, when a model cannot take the attack."""
        return None

    def measure(self, variant: Variant, source: Source, loaded, context: Context) -> dict:
        """The result of an attack that `measures` (JSON-ready), from the loaded source model."""
        raise NotImplementedError

    def tasks(self, variant: Variant, context: Context) -> list[AttackTask]:
        """The forget-task variants to ask: by default every forget task, as declared."""
        return [AttackTask.of(task) for task in context.tasks]

    def derive(self, variant: Variant, source: Source, loaded, folder: Path, context: Context):
        """(model, processor, adapter) to evaluate; `loaded` is the source's. Default: the source."""
        return loaded
