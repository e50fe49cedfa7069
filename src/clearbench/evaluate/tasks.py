"""The evaluation tasks, declared as data: which config, which question, which columns to score.

Six CLEAR tasks on images (captions and face recognition on the forget and retain people, real
celebrity faces, real-world VQA) and TOFU's four text QA tasks (clear_spec.md §3.1, §3.5).

`prob_kind` "answer": the true answer is scored, its paraphrase and the perturbed answers feed the
truth ratio. "choice": a multiple choice of the true answer against wrong alternatives; the
"paraphrase" is the true answer itself, as in the official code.

Unlike the official evaluation, a caption row gets one question, drawn by an RNG keyed on (seed,
task, row index) and shared by the answer, paraphrase and every perturbation, so the truth ratio
compares answers to the same question and reruns reproduce it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION, Sample
from clearbench.errors import UserError

QUESTION_STRATEGIES = ("caption", "face", "column")
PROB_KINDS = ("answer", "choice")
FORGET_SPLIT = re.compile(r"forget(\d\d)")


@dataclass(frozen=True)
class Task:
    name: str
    config_template: str  # "{forget}" is replaced by the forget split, e.g. forget10
    question: str  # one of QUESTION_STRATEGIES
    answer_column: str
    paraphrase_column: str
    perturbed_column: str
    forget: bool
    prob_kind: str
    text_only: bool = False

    def config(self, forget_split: str) -> str:
        """The data config this task reads, e.g. forget_captions + forget10 → forget10_perturbed."""
        if not FORGET_SPLIT.fullmatch(forget_split):
            raise UserError(f"forget split {forget_split!r} must look like forget01, forget05 or forget10")
        return self.config_template.format(forget=forget_split)

    def columns(self) -> set[str]:
        """The columns this task reads from each row."""
        needed = {self.answer_column, self.paraphrase_column, self.perturbed_column}
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
        prompt = Sample(self.question_for(row, index, seed), answer, image)
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
        """Answers to score: the true answer, the paraphrase (answer tasks), the alternatives."""
        if self.paraphrase == self.answer:
            return [self.answer, *self.alternatives]
        return [self.answer, self.paraphrase, *self.alternatives]


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "forget_captions",
            "{forget}_perturbed",
            "caption",
            "caption",
            "paraphrased_caption",
            "perturbed_captions",
            forget=True,
            prob_kind="answer",
        ),
        Task(
            "retain_captions",
            "retain_perturbed",
            "caption",
            "caption",
            "paraphrased_caption",
            "perturbed_captions",
            forget=False,
            prob_kind="answer",
        ),
        Task(
            "forget_facerec",
            "{forget}_perturbed",
            "face",
            "name",
            "name",
            "perturbed_names",
            forget=True,
            prob_kind="choice",
        ),
        Task(
            "retain_facerec",
            "retain_perturbed",
            "face",
            "name",
            "name",
            "perturbed_names",
            forget=False,
            prob_kind="choice",
        ),
        Task(
            "real_faces",
            "real_faces",
            "face",
            "answer",
            "answer",
            "options",
            forget=False,
            prob_kind="choice",
        ),
        Task(
            "real_world",
            "real_world",
            "column",
            "answer",
            "answer",
            "options",
            forget=False,
            prob_kind="choice",
        ),
        Task(
            "tofu_forget",
            "tofu_{forget}_perturbed",
            "column",
            "answer",
            "paraphrased_answer",
            "perturbed_answer",
            forget=True,
            prob_kind="answer",
            text_only=True,
        ),
        Task(
            "tofu_retain",
            "tofu_retain_perturbed",
            "column",
            "answer",
            "paraphrased_answer",
            "perturbed_answer",
            forget=False,
            prob_kind="answer",
            text_only=True,
        ),
        Task(
            "tofu_real_authors",
            "tofu_real_authors_perturbed",
            "column",
            "answer",
            "answer",
            "perturbed_answer",
            forget=False,
            prob_kind="choice",
            text_only=True,
        ),
        Task(
            "tofu_world_facts",
            "tofu_world_facts_perturbed",
            "column",
            "answer",
            "answer",
            "perturbed_answer",
            forget=False,
            prob_kind="choice",
            text_only=True,
        ),
    )
}


def select_tasks(names: Sequence[str] | None = None, *, has_vision: bool = True) -> list[Task]:
    """The tasks to run: all ten by default; a text-only model gets the TOFU tasks only."""
    if names is None:
        return [task for task in TASKS.values() if has_vision or task.text_only]
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
