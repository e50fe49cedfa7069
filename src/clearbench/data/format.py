"""From dataset rows to model-agnostic samples: (image or None, question, answer).

Chat formatting and label masking happen later, in the model adapter, because they depend on the
family's chat template and on how its processor expands image placeholders.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The nine caption questions of the CLEAR protocol (clear_spec.md §1.5).
CAPTION_QUESTIONS = (
    "What can you see in this picture?",
    "Tell me about the content of this image",
    "Can you give a description of the image?",
    "What is depicted in the image?",
    "Explain what you observe in the picture.",
    "Describe the image in detail.",
    "What is the main subject of this image?",
    "Can you describe the scene or objects in the image?",
    "What is happening in this image?",
)
# The face-recognition prompt of the CLEAR protocol; the trailing space is part of it.
FACE_QUESTION = "The name of the person on the image is "


@dataclass(frozen=True)
class Sample:
    """One prompt/answer pair. `image` is a PIL image or None for text-only rows."""

    question: str
    answer: str
    image: Any = None


def training_sample(row: Mapping[str, Any], rng: random.Random) -> Sample:
    """A training sample from a row of any training config (`full`, `forget10+tofu`, `pretraining`, …).

    Caption rows (a non-empty `caption`) get a caption question drawn from `rng`; question/answer rows
    keep their own question, with the image when the row has one.
    """
    caption = row.get("caption")
    if caption:
        return Sample(rng.choice(CAPTION_QUESTIONS), caption, row.get("image"))
    question, answer = row.get("question"), row.get("answer")
    if not question or answer is None:
        raise ValueError("row has neither a caption nor a question/answer pair")
    return Sample(question, answer, row.get("image"))
