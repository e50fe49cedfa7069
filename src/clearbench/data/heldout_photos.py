"""Held-out forget photos: for a source without unseen photos (therem/CLEAR), part of each forget
person's photos is kept out of unlearning and asked as the forget tasks of unseen photos.

The synthetic world renders new photos that no model trained on (synth/unseen.py). A real source has
none, so `data.heldout_forget_photos: SHARE` sets aside, for each forget person, round(SHARE · n) of
their n photos in `forgetNN_perturbed` (at least one held out, at least one kept), drawn with the
run's seed from the person's photos sorted by caption (so row order does not matter):

- unlearning: the forget config (`forgetNN`, `forgetNN+tofu`) loses those photos' rows
  (`HeldoutPhotos.unlearned`); TOFU rows, the text-only forget set and the retain set are untouched.
- evaluation: the forget image tasks read the kept photos (`forgetNN_perturbed` less the held-out
  ones) and their unseen-photo variants the held-out ones (`HeldoutPhotos.heldout`), so Forget and
  Forget unseen split each person's photos between them and average over the same people.

What Forget unseen then measures is not what it measures on the synthetic world: CLEAR's target was
fine-tuned on every photo (`full+tofu`), the held-out ones too; only unlearning did not see them. The
question answered is "does forgetting carry to the person's other, trained-on but not unlearned,
photos", not "to photos no model ever saw" (`MEASURES` says which; run.json and the report repeat
it). Gold (`retainNN+tofu`) never saw any forget person, so it is the reference for both sets alike.
Retain photos are not held out: every model trained on all of them, so `retain_unseen` is not
evaluated (its metric says why).

A photo is known by its caption: `forgetNN+tofu` has no name column, and CLEAR's captions are
unique; rows sharing a caption count as one photo and go together. A person with a single photo is
refused, not skipped: skipped, Forget and Forget unseen would average over different people.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from clearbench.errors import UserError
from clearbench.settings import Rule

SETTING = "config key 'data.heldout_forget_photos'"
SHARE = Rule(lambda v: 0 < v < 1, "must be in (0, 1) (the share of each forget person's photos held out)")
UNSEEN_SUFFIX = "_unseen"
MEASURES = {
    "held out": "whether forgetting carries to the forget people's other photos: the model being "
    "unlearned trained on them, unlearning did not see them (not photos no model ever saw)",
    "never seen": "whether forgetting carries to new photos of the forget people that no model trained on",
}


def eval_config(forget_split: str) -> str:
    """The config whose photos are split: the forget tasks' (forget10 → forget10_perturbed)."""
    return f"{forget_split}_perturbed"


def held_count(photos: int, share: float) -> int:
    """Photos held out of `photos`: share · photos rounded half up, at least 1, leaving at least 1."""
    return min(photos - 1, max(1, int(share * photos + 0.5)))


@dataclass(frozen=True)
class HeldoutPhotos:
    share: float
    seed: int
    forget_split: str
    captions: frozenset[str] = field(repr=False)  # the held-out photos' captions
    counts: tuple[tuple[str, int, int], ...] = ()  # (person, photos held out, photos kept)

    def spec(self) -> dict:
        """What a job's spec carries: a job draws the same photos again from it."""
        return {"share": self.share, "seed": self.seed, "forget_split": self.forget_split}

    def record(self) -> dict:
        """What run.json records: the draw, its outcome per person and what Forget unseen measures."""
        return self.spec() | {
            "how": "held out",
            "config": eval_config(self.forget_split),
            "people": {person: {"held_out": held, "kept": kept} for person, held, kept in self.counts},
            "measures": MEASURES["held out"],
        }

    def unlearned(self, rows):
        """`rows` (a datasets.Dataset) without the held-out photos; rows without a caption stay."""
        if "caption" not in rows.column_names:
            return rows
        return rows.filter(lambda caption: caption not in self.captions, input_columns=["caption"])

    def heldout(self, rows):
        """The held-out photos' rows of `rows`."""
        return rows.filter(lambda caption: caption in self.captions, input_columns=["caption"])


def split_photos(
    names: Iterable[str], captions: Iterable[str], share: float, seed: int, where: str = SETTING
) -> tuple[frozenset[str], tuple[tuple[str, int, int], ...]]:
    """(held-out captions, per person (name, held out, kept)): a seeded draw per person of
    `held_count` of their distinct captions; a person with one photo is refused (module doc)."""
    if not SHARE.holds(share):
        raise UserError(f"{where} {SHARE.says}, got {share!r}")
    photos: dict[str, set[str]] = {}
    owner: dict[str, str] = {}
    for name, caption in zip(names, captions):
        if owner.setdefault(caption, name) != name:  # one caption, two people: no photo identity
            raise UserError(f"{where}: photos of {owner[caption]} and {name} share the caption {caption!r}")
        photos.setdefault(name, set()).add(caption)
    held: set[str] = set()
    counts = []
    for person in sorted(photos):
        own = sorted(photos[person])
        if len(own) < 2:
            raise UserError(
                f"{where}: forget person {person} has {len(own)} photo; holding photos out needs at "
                "least 2 a person (one unlearned, one held out); leave the setting unset for this "
                "source"
            )
        count = held_count(len(own), share)
        held.update(random.Random(f"{seed}:heldout-photos:{person}").sample(own, count))
        counts.append((person, count, len(own) - count))
    return frozenset(held), tuple(counts)


def plan_heldout_photos(
    source: str, forget_split: str, share: float, seed: int, revision: str | None = None, where: str = SETTING
) -> HeldoutPhotos:
    """The held-out photos of a run: the draw on `source`'s `forgetNN_perturbed`. A source with
    unseen photos of its own is refused (they answer the stronger question; use eval.unseen_photos)."""
    from clearbench.data.load import list_configs, load_split

    if not SHARE.holds(share):
        raise UserError(f"{where} {SHARE.says}, got {share!r}")
    own = [config for config in list_configs(source) if config.endswith(UNSEEN_SUFFIX)]
    if own:
        raise UserError(
            f"{where}: data source '{source}' has unseen photos of its own ({', '.join(own)}): ask "
            "them (eval.unseen_photos: true) and leave this setting unset"
        )
    config = eval_config(forget_split)
    rows = load_split(source, config, revision)
    if "name" not in rows.column_names:
        raise UserError(f"{where}: data source '{source}', config '{config}' has no column 'name'")
    captions, counts = split_photos(rows["name"], rows["caption"], share, seed, f"{where} ({config})")
    return HeldoutPhotos(share, seed, forget_split, captions, counts)


def check_unlearned_config(
    plan: HeldoutPhotos,
    source: str,
    split: str,
    config: str,
    revision: str | None = None,
    where: str = SETTING,
) -> None:
    """Every held-out photo of `split`'s people is a row of the forget config `config` (else it
    could not be kept out of unlearning: the source's configs disagree)."""
    from clearbench.data.load import load_split

    expected = plan.captions & set(load_split(source, eval_config(split), revision)["caption"])
    rows = load_split(source, config, revision)
    found = set(rows["caption"]) if "caption" in rows.column_names else set()
    missing = sorted(expected - found)
    if missing:
        raise UserError(
            f"{where}: data source '{source}', config '{config}' lacks {len(missing)} held-out photo(s) "
            f"of {eval_config(split)} (e.g. {missing[0]!r}), so they cannot be kept out of unlearning"
        )
