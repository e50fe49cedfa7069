"""The unlearning dataset: each forget row paired with what a method needs beside it.

Item i holds, for the kinds the method needs,
    forget    forget[i] as a training sample
    retain    a retain row drawn at random (so one epoch shows |forget| retain rows, as in CLEAR)
    idk       forget[i]'s prompt (same image, same question) with a random "I don't know" answer
    mismatch  a list of K samples: forget[i]'s prompt with the answers of K other forget rows of the
              same kind (SKU; K = the method's `mismatch_count`)
Draws come from an rng seeded by (seed, pass, index): every process, and a resumed run, pairs the
same way, while `set_epoch` (called by the loop at every pass) varies the pairing from pass to pass.

A method that trains in passes (SCRUB: a pass over the forget rows, then one over retain rows)
gives the dataset its list of passes; the loop's epoch p is then pass p, and its items hold only
that pass's kinds (past the end of the list, the last pass repeats). Every pass has |forget| items,
so passes split into the same number of batches on every process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

import torch

from clearbench.data.format import training_sample
from clearbench.errors import UserError


def load_idk_answers(path: str | Path | None = None) -> list[str]:
    """The "I don't know" answers: the package's own list, or one answer per line of `path`."""
    if path is None:
        # package data (pyproject: clearbench = ["resources/*"]), not a package of its own
        text, where = (
            resources.files("clearbench").joinpath("resources", "idk.txt").read_text("utf-8"),
            "idk.txt",
        )
    else:
        where = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as error:
            raise UserError(f"IDK answers file {where}: cannot read it ({error.strerror})") from None
    answers = [line.strip() for line in text.splitlines() if line.strip()]
    if not answers:
        raise UserError(f"IDK answers file {where} holds no answers")
    return answers


def forget_modality(forget_config: str) -> str:
    """`forget10+tofu` → both, `tofu_forget10` → text, `forget10` → images (CLEAR's Table 3)."""
    if forget_config.endswith("+tofu"):
        return "both"
    if forget_config.startswith("tofu_"):
        return "text"
    return "images"


def _column(rows, name: str) -> list:
    return list(rows[name]) if name in rows.column_names else [None] * len(rows)


def _content_keys(rows) -> list[tuple]:
    """A key per row identifying its text: the caption, else the (question, answer) pair."""
    captions, questions, answers = (_column(rows, c) for c in ("caption", "question", "answer"))
    return [("caption", c) if c else ("qa", q, a) for c, q, a in zip(captions, questions, answers)]


def check_disjoint(forget_rows, retain_rows, forget_name: str, retain_name: str) -> str:
    """Raise UserError if the forget and retain sets share people; return how it was checked.

    CLEAR's image-only configs have a `name` column, so people are compared by name. The `+tofu`
    and TOFU configs have none; there the rows themselves (captions, question/answer pairs) are
    compared, which catches a split used on both sides but not a person appearing on both sides.
    """
    if len(forget_rows) == 0:
        raise UserError(f"forget set '{forget_name}' is empty")
    if "name" in forget_rows.column_names and "name" in retain_rows.column_names:
        shared = sorted(set(forget_rows["name"]) & set(retain_rows["name"]) - {None, ""})
        if shared:
            raise UserError(
                f"forget set '{forget_name}' and retain set '{retain_name}' share "
                f"{len(shared)} people: {', '.join(shared[:5])}{' …' if len(shared) > 5 else ''}"
            )
        return "names"
    shared_rows = set(_content_keys(forget_rows)) & set(_content_keys(retain_rows))
    if shared_rows:
        example = next(iter(sorted(shared_rows)))[1]
        raise UserError(
            f"forget set '{forget_name}' and retain set '{retain_name}' share "
            f"{len(shared_rows)} rows (e.g. {example[:60]!r})"
        )
    return "rows"


class PairedDataset(torch.utils.data.Dataset):
    """Items {kind: Sample} over the forget rows; see the module docstring."""

    def __init__(
        self,
        forget_rows,
        retain_rows,
        needs: Sequence[str],
        *,
        idk_answers: Sequence[str] = (),
        seed: int = 0,
        passes: Sequence[frozenset[str]] | None = None,
        mismatches: int = 1,
    ):
        self.forget_rows, self.retain_rows = forget_rows, retain_rows
        self.needs, self.idk_answers, self.seed, self.epoch = frozenset(needs), list(idk_answers), seed, 0
        self.passes = [frozenset(kinds) for kinds in passes] if passes else [self.needs]
        self.mismatches = mismatches
        if any(not kinds <= self.needs for kinds in self.passes):
            raise ValueError(f"passes {self.passes} ask for data outside {sorted(self.needs)}")
        if "idk" in self.needs and not self.idk_answers:
            raise UserError("this method needs IDK answers, but the IDK answer list is empty")
        if "retain" in self.needs and (retain_rows is None or len(retain_rows) == 0):
            raise UserError("this method needs retain data, but the retain set is empty")
        if "mismatch" in self.needs:
            kinds = [key[0] for key in _content_keys(forget_rows)]
            self.same_kind = {kind: [i for i, k in enumerate(kinds) if k == kind] for kind in set(kinds)}
            self.kinds = kinds
            if any(len(group) < 2 for group in self.same_kind.values()):
                raise UserError(
                    "this method pairs forget prompts with other forget answers, so it "
                    "needs at least two forget rows of each kind (captions, QA)"
                )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.forget_rows)

    @property
    def kinds_now(self) -> frozenset[str]:
        """The data kinds of the current pass."""
        return self.passes[min(self.epoch, len(self.passes) - 1)]

    def __getitem__(self, index: int) -> dict:
        rng = random.Random(f"{self.seed}/{self.epoch}/{index}")
        forget = training_sample(self.forget_rows[index], rng)
        kinds, item = self.kinds_now, {}
        if "forget" in kinds:
            item["forget"] = forget
        if "retain" in kinds:
            item["retain"] = training_sample(self.retain_rows[rng.randrange(len(self.retain_rows))], rng)
        if "idk" in kinds:
            item["idk"] = replace(forget, answer=rng.choice(self.idk_answers))
        if "mismatch" in kinds:
            others = [i for i in self.same_kind[self.kinds[index]] if i != index]
            chosen = (
                rng.sample(others, self.mismatches)
                if self.mismatches <= len(others)
                else rng.choices(others, k=self.mismatches)
            )
            item["mismatch"] = [
                replace(forget, answer=training_sample(self.forget_rows[other], rng).answer)
                for other in chosen
            ]
        return item


def collate_pairs(adapter, processor) -> Callable[[Sequence[dict]], dict]:
    """DataLoader `collate_fn`: {kind: adapter batch} with answer-only labels; the K mismatched samples
    of each item are laid out k-major (all first mismatches, then all second ones, …)."""

    def samples(items: Sequence[dict], kind: str) -> list:
        if kind != "mismatch":
            return [item[kind] for item in items]
        return [item[kind][k] for k in range(len(items[0][kind])) for item in items]

    def encode(items: Sequence[dict]) -> dict:
        return {kind: adapter.encode(processor, samples(items, kind)) for kind in items[0]}

    return encode
