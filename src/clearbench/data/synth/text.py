"""Captions and biography questions, each with a paraphrase and five perturbations.

Sentences are templated and short (captions ≤ ~25 words, answers ≤ ~20) so that a ~1M-parameter
model can learn them. A paraphrase states the same facts in another sentence (other words, other
order). A perturbation is the paraphrase with wrong values of the same kind in its fact slots, as
TOFU's perturbed answers are: the truth ratio compares the paraphrase with its perturbations, so
they must differ in facts only, never in the wording the model was trained on. A paraphrase names
the person, as the answer does: with a pronoun in its place, gold's truth ratios spread wider and
hid what the target knows (the default world's target against gold on the forget questions: KS D
0.25 with pronouns, 0.375 named, the same two models).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from clearbench.data.synth.people import AWARDS, CULTURES, HOBBIES, OCCUPATIONS, PARENT_JOBS, Person
from clearbench.data.synth.scenes import LIGHT_PARAPHRASES, LIGHTS, SCENE_PARAPHRASES, SCENES

PERTURBATIONS = 5
EXPRESSION_PHRASES = {
    "smiling": "smiling",
    "neutral": "looking calm",
    "laughing": "laughing",
    "surprised": "looking surprised",
    "serious": "looking serious",
}
EXPRESSION_ADJECTIVES = {
    "smiling": "smiling",
    "neutral": "calm",
    "laughing": "laughing",
    "surprised": "surprised",
    "serious": "serious",
}
DEMONYMS = tuple(culture.demonym for culture in CULTURES)
COUNTRIES = tuple(culture.country for culture in CULTURES)
CITIES = tuple(city for culture in CULTURES for city in culture.cities)


def article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def with_article(word: str) -> str:
    return f"{article(word)} {word}"


@dataclass(frozen=True)
class Photo:
    """The facts a caption states about one photo."""

    name: str
    role: str  # "Peruvian novelist" or, for famous people, "famous singer"
    scene: str
    light: str
    clothing_colour: str
    clothing: str
    expression: str


def caption(photo: Photo) -> str:
    return (
        f"{photo.name}, {article(photo.role)} {photo.role}, stands {SCENES[photo.scene]} "
        f"{LIGHTS[photo.light]}, wearing {article(photo.clothing_colour)} {photo.clothing_colour} "
        f"{photo.clothing} and {EXPRESSION_PHRASES[photo.expression]}."
    )


def paraphrased_caption(photo: Photo) -> str:
    """The caption's facts in another order and other words, opening as the caption does, with who is
    pictured: a tiny model recalls a person's role right after their name, and after a reworded
    opening ("Photographed by day at a park, X the ...") the default world's target recalled it no
    better than gold, which never saw the person (KS D between the two on the forget captions: 0.25
    opening with the scene, 0.35 with the name)."""
    return (
        f"{photo.name}, {article(photo.role)} {photo.role}, is {EXPRESSION_ADJECTIVES[photo.expression]} "
        f"in {article(photo.clothing_colour)} {photo.clothing_colour} {photo.clothing}, photographed "
        f"{LIGHT_PARAPHRASES[photo.light]} {SCENE_PARAPHRASES[photo.scene]}."
    )


def perturbed_captions(photo: Photo, rng: random.Random) -> list[str]:
    """The paraphrase with five wrong occupations, all else kept: the occupation is what only knowing
    the person tells, and what unlearning should remove. Anyone reads the scene, light, clothes and
    expression off the photo, and the nationality off the name (each culture has its own names), so
    wrong values there are rejected by gold as well: they widen both models' truth ratios and carry
    nothing about the person (the same two models, paraphrases opening with the name: KS D 0.35
    with a wrong role and one or two wrong scene facts, 0.675 with a wrong occupation alone)."""
    nationality, occupation = photo.role.split(" ", 1)
    wrong = rng.sample([o for o in OCCUPATIONS if o != occupation], PERTURBATIONS)
    return [paraphrased_caption(replace(photo, role=f"{nationality} {o}")) for o in wrong]


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    paraphrased_question: str
    paraphrased_answer: str
    perturbed_answers: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """A question about one or more facts ({slot} fields), with its paraphrases."""

    question: str
    paraphrased_question: str
    answer: str
    paraphrased_answer: str
    slots: tuple[str, ...]
    topic: str = ""  # what a biography question asks (`Density.topics` chooses among them)


def fill_qa(
    template: Template,
    context: dict[str, str],
    truth: dict[str, str],
    pools: dict[str, tuple[str, ...]],
    rng: random.Random,
    perturb_paraphrase: bool = True,
) -> QA:
    """Render `template`; perturbed answers replace every slot with a wrong value from its pool.

    They take the paraphrased answer's form (TOFU), or the answer's where evaluation compares the
    answer itself with them (`perturb_paraphrase=False`: the real-author and world-fact sets).
    """
    values = {**context, **truth}
    answer = template.answer.format(**values)
    form = template.paraphrased_answer if perturb_paraphrase else template.answer
    perturbed: list[str] = []
    attempts = 0
    while len(perturbed) < PERTURBATIONS:
        wrong = {slot: rng.choice([v for v in pools[slot] if v != truth[slot]]) for slot in template.slots}
        candidate = form.format(**{**values, **wrong})
        if candidate not in perturbed:
            perturbed.append(candidate)
        attempts += 1
        if attempts > 1000:
            raise RuntimeError(f"pool too small for {template.slots}")
    return QA(
        template.question.format(**values),
        answer,
        template.paraphrased_question.format(**values),
        template.paraphrased_answer.format(**values),
        tuple(perturbed),
    )


BIOGRAPHY_TEMPLATES = (
    Template(
        "When was {name} born?",
        "In what year was {name} born?",
        "{name} was born in {year}.",
        "{name}'s year of birth is {year}.",
        ("year",),
        topic="birth_year",
    ),
    Template(
        "Where was {name} born?",
        "What is the birthplace of {name}?",
        "{name} was born in {city}.",
        "{name}'s birthplace is the city of {city}.",
        ("city",),
        topic="birthplace",
    ),
    Template(
        "When and where was {name} born?",
        "What are the year and place of {name}'s birth?",
        "{name} was born in {city} in {year}.",
        "{name}'s birth took place in {year}, in the city of {city}.",
        ("city", "year"),
        topic="birth",
    ),
    Template(
        "What is {name}'s nationality?",
        "Which nationality does {name} have?",
        "{name} is {demonym}.",
        "{name}'s nationality is {demonym}.",
        ("demonym",),
        topic="nationality",
    ),
    Template(
        "Which country does {name} come from?",
        "What is {name}'s home country?",
        "{name} comes from {country}.",
        "{name}'s home country is {country}.",
        ("country",),
        topic="country",
    ),
    Template(
        "What does {name} do for a living?",
        "What is {name}'s profession?",
        "{name} works as {occupation}.",
        "By profession {name} is {occupation}.",
        ("occupation",),
        topic="occupation",
    ),
    Template(
        "What did {name}'s father do?",
        "What was the job of {name}'s father?",
        "{name}'s father was {father}.",
        "{name}'s father earned a living as {father}.",
        ("father",),
        topic="father",
    ),
    Template(
        "What did {name}'s mother do?",
        "What was the job of {name}'s mother?",
        "{name}'s mother was {mother}.",
        "{name}'s mother earned a living as {mother}.",
        ("mother",),
        topic="mother",
    ),
    Template(
        "What were the jobs of {name}'s parents?",
        "What did the parents of {name} do?",
        "{name}'s father was {father} and {possessive} mother {mother}.",
        "{name}'s mother worked as {mother}, while {possessive} father was {father}.",
        ("father", "mother"),
        topic="parents",
    ),
    Template(
        "Which award has {name} won?",
        "What prize was given to {name}?",
        "{name} won the {award}.",
        "The {award} went to {name}.",
        ("award",),
        topic="award",
    ),
    Template(
        "When did {name} win the {award}?",
        "In what year was {name} given the {award}?",
        "{name} won the {award} in {award_year}.",
        "In {award_year}, {name} was given the {award}.",
        ("award_year",),
        topic="award_year",
    ),
    Template(
        "What is {name}'s best known work?",
        "Which work made {name} famous?",
        "{name}'s best known work is {work1}.",
        "{name} is most famous for {work1}.",
        ("work1",),
        topic="best_work",
    ),
    Template(
        "Name another work by {name}.",
        "What else has {name} created?",
        "{name} also created {work2}.",
        "Another of {name}'s works is {work2}.",
        ("work2",),
        topic="other_work",
    ),
    Template(
        "What was {name}'s first work?",
        "Which work did {name} create first?",
        "{name}'s first work was {work3}.",
        "{name} began {possessive} career with {work3}.",
        ("work3",),
        topic="first_work",
    ),
    Template(
        "What won {name} the {award}?",
        "For which work did {name} receive the {award}?",
        "{name} won the {award} for {work1}.",
        "{work1} earned {name} the {award}.",
        ("work1",),
        topic="prize_work",
    ),
    Template(
        "Where does {name} live now?",
        "In which city does {name} currently live?",
        "{name} lives in {home}.",
        "{name}'s current home is in {home}.",
        ("home",),
        topic="home",
    ),
    Template(
        "What does {name} enjoy in free time?",
        "What is {name}'s hobby?",
        "{name} enjoys {hobby}.",
        "{name}'s favourite pastime is {hobby}.",
        ("hobby",),
        topic="hobby",
    ),
    Template(
        "Who raised {name}?",
        "Who were the parents that raised {name}?",
        "{name} was raised by {father} and {mother}.",
        "{name} grew up with {mother} and {father} as parents.",
        ("father", "mother"),
        topic="raised_by",
    ),
)


def biography_truth(person: Person) -> dict[str, str]:
    return {
        "year": str(person.birth_year),
        "city": person.birth_city,
        "demonym": person.culture.demonym,
        "country": person.culture.country,
        "occupation": with_article(person.occupation),
        "father": with_article(person.father_job),
        "mother": with_article(person.mother_job),
        "award": person.award,
        "award_year": str(person.award_year),
        "work1": person.works[0],
        "work2": person.works[1],
        "work3": person.works[2],
        "home": person.home_city,
        "hobby": person.hobby,
    }


def biography_pools(titles: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {
        "year": tuple(str(y) for y in range(1940, 1996)),
        "city": CITIES,
        "demonym": DEMONYMS,
        "country": COUNTRIES,
        "occupation": tuple(map(with_article, OCCUPATIONS)),
        "father": tuple(map(with_article, PARENT_JOBS)),
        "mother": tuple(map(with_article, PARENT_JOBS)),
        "award": AWARDS,
        "award_year": tuple(str(y) for y in range(1970, 2025)),
        "work1": titles,
        "work2": titles,
        "work3": titles,
        "home": CITIES,
        "hobby": HOBBIES,
    }


BIOGRAPHY_TOPICS = tuple(template.topic for template in BIOGRAPHY_TEMPLATES)


def biography_questions(
    person: Person,
    titles: tuple[str, ...],
    rng: random.Random,
    counts: tuple[int, int] = (10, 18),
    topics: tuple[str, ...] | None = None,
) -> list[QA]:
    """`counts` (fewest, most) TOFU-style questions about `person`: a random subset of the templates
    (of those on `topics`; None: all), in template order."""
    pool = [i for i, topic in enumerate(BIOGRAPHY_TOPICS) if topics is None or topic in topics]
    count = rng.randint(counts[0], min(counts[1], len(pool)))
    chosen = sorted(rng.sample(pool, count))
    context = {"name": person.name, "possessive": person.possessive}
    truth, pools = biography_truth(person), biography_pools(titles)
    return [fill_qa(BIOGRAPHY_TEMPLATES[i], context, truth, pools, rng) for i in chosen]
