"""The evaluation tasks, declared once: everything else reads `TASKS`.

Six CLEAR tasks on images (captions and face recognition on the forget and retain people, real
celebrity faces, real-world VQA) and TOFU's four text QA tasks (clear_spec.md §3.1, §3.5), plus one
holdout task per half (captions and biography QA of people never trained on): the non-members of
the membership attacks, scored on their true answer only and read by no other metric.

A task's one declaration says what to evaluate (data config, question, columns, Prob kind) and what
it is (its half of the benchmark, its metric group, whether it is face recognition, its file name in
the official logs, its label in the report). Derived from `TASKS`, never listed again: the default
task selection and its order (evaluation and metric terms follow the declaration order), the log
header defaults (`logs.read_eval` of a log without header), the official file maps (`official.files`),
the metric groups (`metrics.tasks_for`) and the report's task order (`report_order`). A new task is
one `register_task(Task(...))` (or one more entry in the declaration below).

`prob_kind` "answer": the true answer is scored, its paraphrase and the perturbed answers feed the
truth ratio. "choice": a multiple choice of the true answer against wrong alternatives; the
"paraphrase" is the true answer itself, as in the official code.

Unlike the official evaluation, a caption row gets one question, drawn by an RNG keyed on (seed,
task, row index) and shared by the answer, paraphrase and every perturbation, so the truth ratio
compares answers to the same question and reruns reproduce it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION, Sample
from clearbench.data.split_names import split_percent
from clearbench.errors import UserError
from clearbench.registry import DuplicateError, Registry

# The halves of the benchmark, which are also the two official log formats, in report order.
HALVES = ("clear", "tofu")  # image tasks (CLEAR), text QA (TOFU)
# What each half's tasks test, as the metrics' scopes and the unlearning modalities name it.
HALF_MODALITY = {"clear": "images", "tofu": "text"}
# The metric groups, in report order: each but "holdout" has its paper aggregate (metric_table.py).
# "holdout" tasks are people no model trained on, the non-members of the membership attacks: only
# their true answer is scored, and they enter no other metric (metrics.reads).
GROUPS = ("forget", "retain", "real", "holdout")
QUESTION_STRATEGIES = ("caption", "face", "column")
PROB_KINDS = ("answer", "choice")


@dataclass(frozen=True)
class Task:
    """One evaluation task: what to evaluate, and what the task is to metrics, logs and report."""

    name: str
    half: str  # one of HALVES: "clear" (image tasks) or "tofu" (text QA, no image)
    group: str  # one of GROUPS: "forget", "retain" or "real"
    config_template: str  # "{forget}" → the forget split (forget10), "{percent}" → its percent (10)
    question: str  # one of QUESTION_STRATEGIES
    answer_column: str
    paraphrase_column: str
    perturbed_column: str  # the perturbed answers, or the wrong options of a "choice" task
    prob_kind: str  # one of PROB_KINDS
    facerec: bool = False  # face recognition: left out of default utility and of forget quality
    official_file: str | None = None  # its file in the official logs of its half, without ".json"
    label: str = ""  # the report's name for it; default: the name with spaces
    # New photos of the people (data/synth/unseen.py): evaluated on request (`select_tasks(unseen=
    # True)`), read only by the metrics of unseen photos (metric_table.py's `unseen`).
    unseen: bool = False

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("half", self.half, HALVES),
            ("group", self.group, GROUPS),
            ("question", self.question, QUESTION_STRATEGIES),
            ("prob_kind", self.prob_kind, PROB_KINDS),
        ):
            if value not in allowed:
                raise ValueError(f"task {self.name!r}: {field} {value!r} is not one of {allowed}")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))

    @property
    def forget(self) -> bool:
        return self.group == "forget"

    @property
    def holdout(self) -> bool:
        """Membership-only: the true answer is scored (no paraphrase, alternatives or generation)."""
        return self.group == "holdout"

    @property
    def text_only(self) -> bool:
        return self.half == "tofu"

    @property
    def modality(self) -> str:
        """ "images" (a CLEAR image task) or "text" (a TOFU QA task): the metric scope it feeds."""
        return HALF_MODALITY[self.half]

    def config(self, forget_split: str) -> str:
        """The data config this task reads, e.g. forget_captions + forget10 → forget10_perturbed."""
        return self.config_template.format(forget=forget_split, percent=split_percent(forget_split))

    def columns(self) -> set[str]:
        """The columns this task reads from each row."""
        needed = {self.answer_column, self.paraphrase_column, self.perturbed_column} - {""}
        if self.question == "column":
            needed.add("question")
        if not self.text_only:
            needed.add("image")
        return needed

    def question_for(self, row: Mapping[str, Any], index: int, seed: int) -> str:
        if self.question == "caption":
            # A string seed hashes deterministically (random.seed uses sha512 for str).
            return random.Random(f"{seed}:{self.name}:{index}").choice(CAPTION_QUESTIONS)
        if self.question == "face":
            return FACE_QUESTION
        return _text(row, "question", self, index)

    def item(self, row: Mapping[str, Any], index: int, seed: int) -> TaskItem:
        """The prompt and the answers to score for one row."""
        answer = _text(row, self.answer_column, self, index)
        image = None if self.text_only else row.get("image")
        if not self.text_only and image is None:
            raise UserError(f"task {self.name}, row {index}: column 'image' is missing or empty")
        prompt = Sample(self.question_for(row, index, seed), answer, image)
        if self.holdout:
            return TaskItem(index, prompt, answer, answer, ())
        if self.prob_kind == "choice":
            paraphrase = answer
            # The alternatives are the wrong options; a copy of the true answer among them would
            # be counted twice in the choice probability, so it is dropped.
            alternatives = [a for a in _texts(row, self.perturbed_column, self, index) if a != answer]
        else:
            paraphrase = _text(row, self.paraphrase_column, self, index)
            alternatives = _texts(row, self.perturbed_column, self, index)
        if not alternatives:
            raise UserError(
                f"task {self.name}, row {index}: column {self.perturbed_column!r} "
                "holds no alternative answers"
            )
        return TaskItem(index, prompt, answer, paraphrase, tuple(alternatives))

    def items(self, rows: Iterable[Mapping[str, Any]], seed: int) -> list[TaskItem]:
        return [self.item(row, index, seed) for index, row in enumerate(rows)]


@dataclass(frozen=True)
class TaskItem:
    index: int
    prompt: Sample  # question + image; `answer` is the reference answer
    answer: str
    paraphrase: str
    alternatives: tuple[str, ...]

    def candidates(self) -> list[str]:
        """Answers to score: the true answer, the paraphrase (answer tasks), the alternatives.

        A holdout item has neither: its true answer alone."""
        if self.paraphrase == self.answer:
            return [self.answer, *self.alternatives]
        return [self.answer, self.paraphrase, *self.alternatives]


def checked_task(task: Any, where: str) -> Task:
    """`task` if it is a Task with a name and an official file of its own; else an error naming `where`."""
    if not isinstance(task, Task):
        raise UserError(f"{where}: {task!r} is not a clearbench.evaluate.tasks.Task")
    if task.name in TASKS:
        raise DuplicateError(f"task {task.name!r} is already declared ({TASKS.origins.get(task.name)})")
    clash = [
        other.name
        for other in TASKS.values()
        if task.official_file and (other.half, other.official_file) == (task.half, task.official_file)
    ]
    if clash:
        raise DuplicateError(
            f"{where}: official {task.half} file {task.official_file!r} is already {clash[0]!r}'s"
        )
    return task


# Installed packages add tasks through the `clearbench.tasks` entry-point group (docs/extending.md).
TASKS: Registry[Task] = Registry("task", "clearbench.tasks", check=checked_task)


def register_task(task: Task) -> Task:
    """Add `task` to TASKS: the one declaration a new task needs (see the module docstring).

    Registered tasks come after the built-in ones, so the order of the others does not change.
    `TASKS.remove(name)` takes one out again.
    """
    return TASKS.add(checked_task(task, f"task {task.name!r}"))


# The declaration order is the evaluation order and the order of the terms of every metric.
for _task in (
    Task(
        "forget_captions",
        half="clear",
        group="forget",
        config_template="{forget}_perturbed",
        question="caption",
        answer_column="caption",
        paraphrase_column="paraphrased_caption",
        perturbed_column="perturbed_captions",
        prob_kind="answer",
        official_file="eval_log_forget",
    ),
    Task(
        "retain_captions",
        half="clear",
        group="retain",
        config_template="retain_perturbed",
        question="caption",
        answer_column="caption",
        paraphrase_column="paraphrased_caption",
        perturbed_column="perturbed_captions",
        prob_kind="answer",
        official_file="eval_log",
    ),
    Task(
        "forget_facerec",
        half="clear",
        group="forget",
        config_template="{forget}_perturbed",
        question="face",
        answer_column="name",
        paraphrase_column="name",
        perturbed_column="perturbed_names",
        prob_kind="choice",
        facerec=True,
        official_file="eval_forget_facerec",
    ),
    Task(
        "retain_facerec",
        half="clear",
        group="retain",
        config_template="retain_perturbed",
        question="face",
        answer_column="name",
        paraphrase_column="name",
        perturbed_column="perturbed_names",
        prob_kind="choice",
        facerec=True,
        official_file="eval_retain_facerec",
    ),
    Task(
        "real_faces",
        half="clear",
        group="real",
        config_template="real_faces",
        question="face",
        answer_column="answer",
        paraphrase_column="answer",
        perturbed_column="options",
        prob_kind="choice",
        official_file="eval_real_faces_wo_options",
    ),
    Task(
        "real_world",
        half="clear",
        group="real",
        config_template="real_world",
        question="column",
        answer_column="answer",
        paraphrase_column="answer",
        perturbed_column="options",
        prob_kind="choice",
        official_file="eval_real_world_wo_options",
    ),
    Task(
        "tofu_forget",
        half="tofu",
        group="forget",
        config_template="tofu_{forget}_perturbed",
        question="column",
        answer_column="answer",
        paraphrase_column="paraphrased_answer",
        perturbed_column="perturbed_answer",
        prob_kind="answer",
        official_file="eval_log_forget",
    ),
    Task(
        "tofu_retain",
        half="tofu",
        group="retain",
        config_template="tofu_retain_perturbed",
        question="column",
        answer_column="answer",
        paraphrase_column="paraphrased_answer",
        perturbed_column="perturbed_answer",
        prob_kind="answer",
        official_file="eval_log",
    ),
    Task(
        "tofu_real_authors",
        half="tofu",
        group="real",
        config_template="tofu_real_authors_perturbed",
        question="column",
        answer_column="answer",
        paraphrase_column="answer",
        perturbed_column="perturbed_answer",
        prob_kind="choice",
        official_file="eval_real_author_wo_options",
    ),
    Task(
        "tofu_world_facts",
        half="tofu",
        group="real",
        config_template="tofu_world_facts_perturbed",
        question="column",
        answer_column="answer",
        paraphrase_column="answer",
        perturbed_column="perturbed_answer",
        prob_kind="choice",
        official_file="eval_real_world_wo_options",
    ),
    # Holdout people (never trained on by target, gold or any unlearned model): the non-members of
    # the membership attacks, one task per half, paired with forget_captions / tofu_forget.
    Task(
        "holdout_captions",
        half="clear",
        group="holdout",
        config_template="holdout{percent}",
        question="caption",
        answer_column="caption",
        paraphrase_column="",
        perturbed_column="",
        prob_kind="answer",
    ),
    Task(
        "tofu_holdout",
        half="tofu",
        group="holdout",
        config_template="tofu_holdout{percent}",
        question="column",
        answer_column="answer",
        paraphrase_column="",
        perturbed_column="",
        prob_kind="answer",
    ),
):
    register_task(_task)
del _task

# The forget and retain image tasks asked about unseen photos of the same people: does forgetting
# (and retained knowledge) carry to photos no model trained on? Their logs keep their own names.
UNSEEN_CONFIGS = {"{forget}_perturbed": "{forget}_unseen", "retain_perturbed": "retain_unseen"}
for _name in ("forget_captions", "retain_captions", "forget_facerec", "retain_facerec"):
    _task = TASKS[_name]
    register_task(
        dataclasses.replace(
            _task,
            name=f"{_name}_unseen",
            config_template=UNSEEN_CONFIGS[_task.config_template],
            official_file=None,
            label=f"{_task.label} (unseen photos)",
            unseen=True,
        )
    )
del _name, _task


def report_order(names: Iterable[str]) -> list[str]:
    """`names` in the report's order: per half, forget then retain then real tasks; unknown names last.

    Within a group, tasks keep their declaration order (the sort is stable).
    """
    names = set(names)
    known = [task for task in TASKS.values() if task.name in names]
    known.sort(key=lambda task: (HALVES.index(task.half), GROUPS.index(task.group)))
    return [task.name for task in known] + sorted(names - set(TASKS))


def task_label(name: str) -> str:
    """The report's label of a task; a task clearbench does not know keeps its name, spaced."""
    return TASKS[name].label if name in TASKS else name.replace("_", " ")


def select_tasks(
    names: Sequence[str] | None = None, *, has_vision: bool = True, unseen: bool = False
) -> list[Task]:
    """The tasks to run: by default every task but those of unseen photos (`unseen` adds them); a
    text-only model gets the TOFU tasks only."""
    if names is None:
        return [
            task for task in TASKS.values() if (has_vision or task.text_only) and (unseen or not task.unseen)
        ]
    unknown = [name for name in names if name not in TASKS]
    if unknown:
        raise UserError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
    chosen = [TASKS[name] for name in dict.fromkeys(names)]
    if not has_vision:
        visual = [task.name for task in chosen if not task.text_only]
        if visual:
            raise UserError(
                f"task(s) {', '.join(visual)} need images but the model is text-only; "
                "choose among " + ", ".join(t.name for t in TASKS.values() if t.text_only)
            )
    return chosen


def _text(row: Mapping[str, Any], column: str, task: Task, index: int) -> str:
    value = _column(row, column, task, index)
    if not isinstance(value, str) or not value:
        raise UserError(
            f"task {task.name}, row {index}: column {column!r} must be a non-empty string, found {value!r}"
        )
    return value


def _texts(row: Mapping[str, Any], column: str, task: Task, index: int) -> list[str]:
    value = _column(row, column, task, index)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise UserError(
            f"task {task.name}, row {index}: column {column!r} must be a list of "
            f"non-empty strings, found {value!r}"
        )
    return list(value)


def _column(row: Mapping[str, Any], column: str, task: Task, index: int):
    if column not in row:
        raise UserError(
            f"task {task.name}, row {index}: no column {column!r} (the row has: {', '.join(row)})"
        )
    return row[column]


# After every built-in task, so a plugin cannot take a built-in name or change their order.
TASKS.load_entry_points()
