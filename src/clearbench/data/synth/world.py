"""What a pretrained model would already know: famous people, simple scenes, and world facts.

These are the analogues of CLEAR's `real_faces` and `real_world` and of TOFU's
`real_authors_perturbed` and `world_facts_perturbed`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from clearbench.data.synth.people import CULTURES, FAMOUS_OCCUPATIONS, Person
from clearbench.data.synth.text import COUNTRIES, QA, Template, fill_qa, with_article

SHAPES = ("circle", "square", "triangle", "diamond")
SHAPE_COLOURS = {
    "red": (210, 40, 40),
    "blue": (40, 80, 210),
    "green": (40, 160, 60),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 180),
    "orange": (245, 130, 30),
    "black": (20, 20, 20),
}
NUMBERS = ("one", "two", "three", "four", "five", "six")
WORLD_OPTIONS = 3  # wrong options per real_world question
FAMOUS_BIOGRAPHIES = 2  # biography questions of each famous person in pretraining, in both wordings


# --- famous people: the analogue of real_authors_perturbed -------------------------------------

FAMOUS_TEMPLATES = (
    Template(
        "What is {name} famous for?",
        "Why is {name} well known?",
        "{name} is a famous {occupation}.",
        "{name} is well known as a {occupation}.",
        ("occupation",),
    ),
    Template(
        "Which country is {name} from?",
        "What is the home country of {name}?",
        "{name} is from {country}.",
        "{name} comes from {country}.",
        ("country",),
    ),
)


def famous_facts(person: Person, rng: random.Random) -> list[QA]:
    truth = {"occupation": person.occupation, "country": person.culture.country}
    pools = {"occupation": FAMOUS_OCCUPATIONS, "country": COUNTRIES}
    # Evaluation compares the answer itself with these perturbations, so they keep its form.
    return [
        fill_qa(t, {"name": person.name}, truth, pools, rng, perturb_paraphrase=False)
        for t in FAMOUS_TEMPLATES
    ]


# --- world facts: the analogue of world_facts_perturbed ----------------------------------------

CITY_TEMPLATE = Template(
    "In which country is {city}?",
    "Which country is {city} located in?",
    "{city} is in {country}.",
    "{city} is located in {country}.",
    ("country",),
)
CORNER_TEMPLATE = Template(
    "How many corners does {shape} have?",
    "How many corners has {shape}?",
    "{shape_cap} has {corners} corners.",
    "There are {corners} corners on {shape}.",
    ("corners",),
)
CORNERS = {"square": "four", "triangle": "three", "diamond": "four", "circle": "no"}


def world_facts(rng: random.Random) -> list[QA]:
    facts = []
    for culture in CULTURES:
        for city in culture.cities:
            facts.append(
                fill_qa(
                    CITY_TEMPLATE,
                    {"city": city},
                    {"country": culture.country},
                    {"country": COUNTRIES},
                    rng,
                    perturb_paraphrase=False,
                )
            )
    pools = {"corners": ("no", "one", "two", "three", "four", "five", "six", "eight")}
    for shape, corners in CORNERS.items():
        context = {"shape": with_article(shape), "shape_cap": with_article(shape).capitalize()}
        facts.append(
            fill_qa(CORNER_TEMPLATE, context, {"corners": corners}, pools, rng, perturb_paraphrase=False)
        )
    return facts


# --- scenes with shapes: the analogue of real_world --------------------------------------------


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    x: float  # centre, fraction of the image
    y: float
    size: float


@dataclass(frozen=True)
class WorldQuestion:
    question: str
    answer: str
    options: tuple[str, ...]  # wrong answers only


def draw_shapes(rng: random.Random) -> list[Shape]:
    """2–5 shapes in distinct columns, so "leftmost" is unambiguous."""
    count = rng.randint(2, 5)
    columns = sorted(rng.sample(range(5), count))
    return [
        Shape(
            rng.choice(SHAPES),
            rng.choice(list(SHAPE_COLOURS)),
            0.1 + 0.2 * col,
            rng.uniform(0.3, 0.7),
            rng.uniform(0.12, 0.18),
        )
        for col in columns
    ]


def render_shapes(image_size: int, shapes: list[Shape]) -> Image.Image:
    c = image_size * 3
    image = Image.new("RGB", (c, c), (235, 230, 220))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, c * 0.8, c, c), fill=(200, 190, 170))  # a table top
    for shape in shapes:
        x, y, r = shape.x * c, shape.y * c, shape.size * c / 2
        colour = SHAPE_COLOURS[shape.colour]
        if shape.kind == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        elif shape.kind == "square":
            draw.rectangle((x - r, y - r, x + r, y + r), fill=colour)
        elif shape.kind == "triangle":
            draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=colour)
        else:
            draw.polygon([(x, y - r * 1.2), (x - r, y), (x, y + r * 1.2), (x + r, y)], fill=colour)
    return image.resize((image_size, image_size), Image.LANCZOS)


def _wrong(rng: random.Random, pool: tuple[str, ...], answer: str) -> tuple[str, ...]:
    return tuple(rng.sample([value for value in pool if value != answer], WORLD_OPTIONS))


def shape_questions(shapes: list[Shape], rng: random.Random) -> list[WorldQuestion]:
    """Counting, colour and position questions whose answers the picture settles."""
    questions = []
    kind = rng.choice([s.kind for s in shapes])
    count = NUMBERS[sum(s.kind == kind for s in shapes) - 1]
    questions.append(WorldQuestion(f"How many {kind}s are in the image?", count, _wrong(rng, NUMBERS, count)))
    unique = [s for s in shapes if sum(t.kind == s.kind for t in shapes) == 1]
    if unique:
        shape = rng.choice(unique)
        questions.append(
            WorldQuestion(
                f"What colour is the {shape.kind}?",
                shape.colour,
                _wrong(rng, tuple(SHAPE_COLOURS), shape.colour),
            )
        )
    leftmost = min(shapes, key=lambda s: s.x)
    questions.append(
        WorldQuestion("Which shape is on the far left?", leftmost.kind, _wrong(rng, SHAPES, leftmost.kind))
    )
    return questions


def world_prompt(question: str) -> str:
    return f"{question} Answer with one word."
