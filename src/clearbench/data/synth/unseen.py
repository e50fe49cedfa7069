"""Unseen photos: new photos of the forget, retain-evaluation and holdout people that no training
config holds, to ask whether forgetting (and retained knowledge) carries to new images of a person
(PPU-Bench, arXiv 2605.08800).

Each person gets UNSEEN_PHOTOS photos that differ from all of theirs in training: a head tilt beyond
the training range (10-14 degrees, training draws at most 9), a scene and a light the person was not
photographed in where one is left, and on every second photo an age cue (grey temples, forehead
lines; faces.draw_person). Identity cues (face shape, skin, hair, eyes, glasses, …) stay.

Configs (the `_perturbed` columns, so the forget and retain tasks can ask them as they are):
`forgetNN_unseen` (nested like forgetNN: the same rows for the same person), `retain_unseen` (the
retain-evaluation people of `retain_perturbed`), `holdoutNN_unseen` (captions only, like holdoutNN).

Everything here draws from its own stream after every other part of the world (build.py), so the
world's other rows and images are byte-identical with or without it.
"""

from __future__ import annotations

import dataclasses
import random

from clearbench.data.schema import FORGET_PERCENTS
from clearbench.data.synth.faces import draw_look
from clearbench.data.synth.photo import png_bytes, role
from clearbench.data.synth.scenes import LIGHTS, SCENES, render_photo
from clearbench.data.synth.text import (
    PERTURBATIONS,
    Photo,
    caption,
    paraphrased_caption,
    perturbed_captions,
)

UNSEEN_PHOTOS = 2  # per person
TILT_RANGE = (10.0, 14.0)  # degrees either way; training photos tilt at most 9
SUFFIX = "_unseen"


def unseen_config(config: str) -> str:
    """forget10 → forget10_unseen, retain_perturbed → retain_unseen, holdout10 → holdout10_unseen."""
    return ("retain" if config == "retain_perturbed" else config) + SUFFIX


def _fresh(options, used, rng: random.Random) -> str:
    """One of `options` the person has no training photo with, or any when all are used."""
    left = [option for option in options if option not in used]
    return rng.choice(left or list(options))


def take_unseen_photos(person, trained, count: int, image_size: int, rng: random.Random, role: str):
    """`count` (png bytes, Photo) of `person`, unlike their `trained` PhotoRows (see module doc)."""
    scenes_used = {row.photo.scene for row in trained}
    lights_used = {row.photo.light for row in trained}
    photos = []
    for k in range(count):
        look = draw_look(rng)
        look = dataclasses.replace(look, tilt=rng.choice((-1, 1)) * rng.uniform(*TILT_RANGE))
        scene, light = _fresh(SCENES, scenes_used, rng), _fresh(LIGHTS, lights_used, rng)
        aged = k % 2 == 1
        image = render_photo(image_size, person.face, look, scene, light, rng, aged=aged)
        photo = Photo(person.name, role, scene, light, look.clothing_colour, look.clothing, look.expression)
        photos.append((png_bytes(image), photo))
    return photos


def unseen_tables(people, holdout_people, photos, holdout_photos, splits, image_size, rng: random.Random):
    """The unseen configs of a world (build.build_tables' people, trained PhotoRows and splits)."""
    names = [p.name for p in people]
    rows: dict[int, list[dict]] = {}  # training person -> their perturbed rows
    for i in dict.fromkeys([*splits.forget["10"], *splits.retain_perturbed]):
        person = people[i]
        pool = [name for name in names if name != person.name]
        rows[i] = [
            {
                "image": image,
                "caption": caption(photo),
                "name": photo.name,
                "paraphrased_caption": paraphrased_caption(photo),
                "perturbed_captions": perturbed_captions(photo, rng),
                "perturbed_names": rng.sample(pool, min(PERTURBATIONS, len(pool))),
            }
            for image, photo in take_unseen_photos(
                person, photos[i], UNSEEN_PHOTOS, image_size, rng, role(person)
            )
        ]
    held: dict[int, list[dict]] = {}
    for k in splits.holdout["10"]:
        person = holdout_people[k]
        held[k] = [
            {"image": image, "caption": caption(photo), "name": photo.name}
            for image, photo in take_unseen_photos(
                person, holdout_photos[k], UNSEEN_PHOTOS, image_size, rng, role(person)
            )
        ]
    tables = {}
    for percent in FORGET_PERCENTS:
        tables[unseen_config(f"forget{percent}")] = _columns([rows[i] for i in splits.forget[percent]])
        tables[unseen_config(f"holdout{percent}")] = _columns([held[k] for k in splits.holdout[percent]])
    tables[unseen_config("retain_perturbed")] = _columns([rows[i] for i in splits.retain_perturbed])
    return tables


def _columns(groups: list[list[dict]]) -> dict[str, list]:
    flat = [row for group in groups for row in group]
    return {column: [row[column] for row in flat] for column in flat[0]} if flat else {}
