"""Assemble the generated people, photos, questions and world into CLEAR's config tables.

Each part draws from its own seeded stream, so changing how one part is drawn does not reshuffle
the others. A table is a dict column → list of values; images are PNG bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from clearbench.data.format import FACE_QUESTION
from clearbench.data.schema import FORGET_PERCENTS, RETAIN_OF, SCHEMAS, TOFU_PREFIX
from clearbench.data.synth.density import CLEAR_DENSITY, Density
from clearbench.data.synth.faces import draw_look
from clearbench.data.synth.people import FAMOUS_OCCUPATIONS, Person, draw_names, draw_people
from clearbench.data.synth.photo import png_bytes, role
from clearbench.data.synth.scenes import LIGHTS, SCENES, render_photo
from clearbench.data.synth.splits import PersonSplits, holdout_people_needed, matched_pairs, split_people
from clearbench.data.synth.text import (
    PERTURBATIONS,
    QA,
    Photo,
    biography_questions,
    caption,
    paraphrased_caption,
    perturbed_captions,
)
from clearbench.data.synth.unseen import unseen_tables
from clearbench.data.synth.world import (
    FAMOUS_BIOGRAPHIES,
    draw_shapes,
    famous_facts,
    render_shapes,
    shape_questions,
    world_facts,
    world_prompt,
)


def stream(seed: int, part: str) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`, so it is stable across runs and platforms.
    return random.Random(f"clearbench-synth:{seed}:{part}")


@dataclass(frozen=True)
class PhotoRow:
    image: bytes
    photo: Photo


def take_photos(
    person: Person, count: int, image_size: int, rng: random.Random, famous: bool = False
) -> list[PhotoRow]:
    rows = []
    for _ in range(count):
        look, scene, light = draw_look(rng), rng.choice(list(SCENES)), rng.choice(list(LIGHTS))
        image = render_photo(image_size, person.face, look, scene, light, rng)
        photo = Photo(
            person.name,
            role(person, famous),
            scene,
            light,
            look.clothing_colour,
            look.clothing,
            look.expression,
        )
        rows.append(PhotoRow(png_bytes(image), photo))
    return rows


def build_tables(
    persons: int, seed: int, image_size: int, density: Density = CLEAR_DENSITY
) -> dict[str, dict[str, list]]:
    names: set[str] = set()
    everyone = draw_people(stream(seed, "people"), persons + holdout_people_needed(persons), names)
    # forget10 and holdout people are drawn as matched pairs (same culture and gender) from everyone:
    # held-out people drawn last had names of leftover parts, and unmatched groups differ by chance in
    # how familiar their names are (one group with three Korean names was easier for gold than one
    # with none), so gold told forget from holdout apart.
    pairs = matched_pairs(
        [(p.culture.demonym, p.gender) for p in everyone],
        holdout_people_needed(persons),
        stream(seed, "holdout"),
    )
    held = {holdout for _, holdout in pairs}
    position = {i: k for k, i in enumerate(i for i in range(len(everyone)) if i not in held)}
    people = [person for i, person in enumerate(everyone) if i not in held]
    holdout_people = [everyone[holdout] for _, holdout in pairs]  # k-th: the k-th forget person's match
    famous = draw_people(stream(seed, "famous"), density.famous_count(persons), names, FAMOUS_OCCUPATIONS)
    decoys = draw_names(stream(seed, "decoys"), PERTURBATIONS, names)
    splits = split_people(persons, stream(seed, "splits"), [position[forget] for forget, _ in pairs])

    photo_rng = stream(seed, "photos")
    photos = [take_photos(p, photo_rng.randint(*density.photos), image_size, photo_rng) for p in people]
    holdout_photos = [
        take_photos(p, photo_rng.randint(*density.photos), image_size, photo_rng) for p in holdout_people
    ]
    titles = tuple(sorted({title for p in everyone for title in p.works}))
    qa_rng = stream(seed, "biographies")
    questions = [biography_questions(p, titles, qa_rng, density.questions, density.topics) for p in people]
    holdout_questions = [
        biography_questions(p, titles, qa_rng, density.questions, density.topics) for p in holdout_people
    ]

    tables: dict[str, dict[str, list]] = {}
    tables.update(_caption_tables(people, photos, questions, splits))
    tables.update(
        _perturbed_tables(
            people, holdout_people, photos, questions, splits, decoys, stream(seed, "perturbed")
        )
    )
    for percent in FORGET_PERCENTS:
        chosen = splits.holdout[percent]
        tables[f"holdout{percent}"] = _captions([holdout_photos[i] for i in chosen])
        tables[f"{TOFU_PREFIX}holdout{percent}"] = _qa_table([holdout_questions[i] for i in chosen])
    scenes = density.scene_count(persons)
    world, biographies = stream(seed, "world"), stream(seed, "famous biographies")
    tables.update(_world_tables(famous, density.famous_photos, scenes, image_size, world, biographies))
    # Last, from a stream of its own: the rows above stay byte-identical with or without it.
    unseen = stream(seed, "unseen")
    tables.update(unseen_tables(people, holdout_people, photos, holdout_photos, splits, image_size, unseen))
    return {name: tables[name] for name in SCHEMAS if name in tables}  # schema order


def _captions(photo_groups: list[list[PhotoRow]]) -> dict[str, list]:
    rows = [row for group in photo_groups for row in group]
    return {
        "image": [r.image for r in rows],
        "caption": [caption(r.photo) for r in rows],
        "name": [r.photo.name for r in rows],
    }


def _with_tofu(photo_groups: list[list[PhotoRow]], qa_groups: list[list[QA]]) -> dict[str, list]:
    """Caption rows (question/answer null), then text rows (image/caption null), as in CLEAR."""
    captions = _captions(photo_groups)
    qas = [qa for group in qa_groups for qa in group]
    blank_captions, blank_qas = [None] * len(captions["image"]), [None] * len(qas)
    return {
        "image": captions["image"] + blank_qas,
        "caption": captions["caption"] + blank_qas,
        "question": blank_captions + [qa.question for qa in qas],
        "answer": blank_captions + [qa.answer for qa in qas],
    }


def _qa_table(qa_groups: list[list[QA]]) -> dict[str, list]:
    qas = [qa for group in qa_groups for qa in group]
    return {"question": [qa.question for qa in qas], "answer": [qa.answer for qa in qas]}


def _caption_tables(people, photos, questions, splits: PersonSplits) -> dict[str, dict[str, list]]:
    everyone = list(range(len(people)))
    groups = {"full": everyone}
    for percent in FORGET_PERCENTS:
        groups[f"forget{percent}"] = splits.forget[percent]
        groups[f"retain{RETAIN_OF[percent]}"] = splits.retain(percent, len(people))
    tables = {}
    for name, indices in groups.items():
        tables[name] = _captions([photos[i] for i in indices])
        tables[f"{name}+tofu"] = _with_tofu([photos[i] for i in indices], [questions[i] for i in indices])
        tables[TOFU_PREFIX + name] = _qa_table([questions[i] for i in indices])
    return tables


def _perturbed_tables(
    people, holdout_people, photos, questions, splits: PersonSplits, decoys, rng: random.Random
) -> dict[str, dict[str, list]]:
    names = [p.name for p in people]
    fallback = [p.name for p in holdout_people] + decoys  # only needed with fewer than 6 people

    def wrong_names(person: Person) -> list[str]:
        pool = [n for n in names if n != person.name]
        pool += fallback[: max(0, PERTURBATIONS - len(pool))]
        return rng.sample(pool, PERTURBATIONS)

    def captions_perturbed(indices: list[int]) -> dict[str, list]:
        table = {column: [] for column in SCHEMAS["retain_perturbed"].features}
        for i in indices:
            for row in photos[i]:
                table["image"].append(row.image)
                table["caption"].append(caption(row.photo))
                table["name"].append(row.photo.name)
                table["paraphrased_caption"].append(paraphrased_caption(row.photo))
                table["perturbed_captions"].append(perturbed_captions(row.photo, rng))
                table["perturbed_names"].append(wrong_names(people[i]))
        return table

    def qa_perturbed(indices: list[int]) -> dict[str, list]:
        qas = [qa for i in indices for qa in questions[i]]
        return {
            "question": [qa.question for qa in qas],
            "answer": [qa.answer for qa in qas],
            "paraphrased_answer": [qa.paraphrased_answer for qa in qas],
            "paraphrased_question": [qa.paraphrased_question for qa in qas],
            "perturbed_answer": [list(qa.perturbed_answers) for qa in qas],
        }

    tables = {}
    for percent in FORGET_PERCENTS:
        tables[f"forget{percent}_perturbed"] = captions_perturbed(splits.forget[percent])
        tables[f"{TOFU_PREFIX}forget{percent}_perturbed"] = qa_perturbed(splits.forget[percent])
    tables["retain_perturbed"] = captions_perturbed(splits.retain_perturbed)
    tables[f"{TOFU_PREFIX}retain_perturbed"] = qa_perturbed(splits.retain_perturbed)
    return tables


def _facts_table(facts: list[QA]) -> dict[str, list]:
    return {
        "question": [f.question for f in facts],
        "answer": [f.answer for f in facts],
        "paraphrased_answer": [f.paraphrased_answer for f in facts],
        "perturbed_answer": [list(f.perturbed_answers) for f in facts],
    }


def _world_tables(
    famous: list[Person],
    famous_photos: int,
    scenes: int,
    image_size: int,
    rng: random.Random,
    biography_rng: random.Random,
) -> dict[str, dict[str, list]]:
    """real_faces, real_world, the two fact sets, and `pretraining` (which holds all of it).

    Famous people are known in both wordings: every second caption of theirs is the paraphrased
    one, and FAMOUS_BIOGRAPHIES biography questions of each are asked and answered in the answer's
    and in the paraphrase's words. A pretrained model has read facts phrased many ways; the tiny one
    knows only this world, and without them a paraphrase that the truth ratio scores is a wording it
    never saw, at several nats a token. Those tokens, shared by the paraphrase and its perturbations,
    dilute the one fact that differs, and a wrong value a token longer or shorter moved the mean
    loss more than knowing the person did (gold's truth ratios followed the perturbations' token
    counts, correlation -0.96 on the forget captions of a trial world). Target against gold, KS D
    over the default world's trainings: forget captions 0.725-0.95 with them (five), 0.325-0.675
    without (three); forget questions 0.375-0.525 with them, 0.325-0.375 without.
    """
    pretraining = {"image": [], "caption": [], "question": [], "answer": []}

    def pretrain(image=None, caption_text=None, question=None, answer=None):
        for column, value in zip(pretraining, (image, caption_text, question, answer)):
            pretraining[column].append(value)

    real_faces = {"image": [], "answer": [], "options": []}
    famous_names = [p.name for p in famous]
    for person in famous:
        for k, row in enumerate(take_photos(person, famous_photos, image_size, rng, famous=True)):
            pretrain(image=row.image, question=FACE_QUESTION, answer=person.name)
            pretrain(image=row.image, caption_text=(caption, paraphrased_caption)[k % 2](row.photo))
        # The evaluation photo is a new one: the model should know the face, not this picture.
        (held_out,) = take_photos(person, 1, image_size, rng, famous=True)
        real_faces["image"].append(held_out.image)
        real_faces["answer"].append(person.name)
        real_faces["options"].append(rng.sample([n for n in famous_names if n != person.name], PERTURBATIONS))

    real_world = {"question": [], "answer": [], "image": [], "prompt": [], "options": []}
    for _ in range(2 * scenes):  # scenes seen in pretraining, every question asked
        shapes = draw_shapes(rng)
        image = png_bytes(render_shapes(image_size, shapes))
        for q in shape_questions(shapes, rng):
            pretrain(image=image, question=q.question, answer=q.answer)
    for _ in range(scenes):  # new scenes for evaluation, one question each
        shapes = draw_shapes(rng)
        q = rng.choice(shape_questions(shapes, rng))
        real_world["question"].append(q.question)
        real_world["answer"].append(q.answer)
        real_world["image"].append(png_bytes(render_shapes(image_size, shapes)))
        real_world["prompt"].append(world_prompt(q.question))
        real_world["options"].append(list(q.options))

    authors = [fact for person in famous for fact in famous_facts(person, rng)]
    facts = world_facts(rng)
    for fact in authors + facts:
        pretrain(question=fact.question, answer=fact.answer)
    titles = tuple(sorted({title for person in famous for title in person.works}))
    for person in famous:
        for qa in biography_questions(person, titles, biography_rng, (FAMOUS_BIOGRAPHIES,) * 2):
            pretrain(question=qa.question, answer=qa.answer)
            pretrain(question=qa.paraphrased_question, answer=qa.paraphrased_answer)
    return {
        "real_faces": real_faces,
        "real_world": real_world,
        "pretraining": pretraining,
        f"{TOFU_PREFIX}real_authors_perturbed": _facts_table(authors),
        f"{TOFU_PREFIX}world_facts_perturbed": _facts_table(facts),
    }
