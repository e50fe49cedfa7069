"""How much the synthetic world holds per person, and how large its pretrained world is.

The defaults follow CLEAR's proportions (8-20 photos and 10-18 questions a person, 151 famous faces for
200 people); the default run's compact world trades rows per person for more people, since statistics
over people need people, not rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clearbench.errors import UserError


@dataclass(frozen=True)
class Density:
    photos: tuple[int, int] = (8, 20)  # photos of each fictitious person (fewest, most)
    questions: tuple[int, int] = (10, 18)  # biography questions of each person (fewest, most)
    famous: int | None = None  # famous people (pretraining, real_faces); None: 3/4 of the people, ≥ 10
    famous_photos: int = 12  # pretraining photos of each famous person
    scenes: int | None = None  # real_world scenes (twice as many in pretraining); None: 2 per person, ≥ 20
    # what the biography questions ask (of text.BIOGRAPHY_TOPICS); None: every topic
    topics: tuple[str, ...] | None = None

    def famous_count(self, persons: int) -> int:
        return self.famous if self.famous is not None else max(10, (3 * persons) // 4)

    def scene_count(self, persons: int) -> int:
        return self.scenes if self.scenes is not None else max(20, 2 * persons)


CLEAR_DENSITY = Density()
MAX_PER_PERSON = 100


def check_density(
    density: Density, name: Callable[[str], str] = lambda key: f"option --{key.replace('_', '-')}"
) -> None:
    """Refuse ranges the generator cannot honour; `name(key)` is what the user wrote (flag or key)."""
    from clearbench.data.synth.text import BIOGRAPHY_TOPICS

    topics = BIOGRAPHY_TOPICS if density.topics is None else density.topics
    unknown = [topic for topic in topics if topic not in BIOGRAPHY_TOPICS]
    if unknown:
        raise UserError(
            f"{name('topics')}: unknown {', '.join(unknown)}; choose from {', '.join(BIOGRAPHY_TOPICS)}"
        )
    if not topics or len(set(topics)) != len(topics):
        raise UserError(f"{name('topics')}: need distinct topics, at least one, got [{', '.join(topics)}]")
    for key, (low, high), most in (
        ("photos", density.photos, MAX_PER_PERSON),
        ("questions", density.questions, len(topics)),
    ):
        if not 1 <= low <= high <= most:
            raise UserError(f"{name(key)}: need 1 <= fewest <= most <= {most}, got {low}-{high}")
    for key, value in (("famous", density.famous), ("scenes", density.scenes)):
        if value is not None and not 2 <= value <= 2000:
            raise UserError(f"{name(key)}: must be between 2 and 2000, got {value}")
    if not 1 <= density.famous_photos <= MAX_PER_PERSON:
        raise UserError(f"{name('famous_photos')}: must be between 1 and {MAX_PER_PERSON}")


def parse_range(text: str) -> tuple[int, int]:
    """'5' or '4-8' (a command-line range) as (fewest, most)."""
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise UserError(f"expected a count or a range such as 4-8, got {text!r}") from None
