"""Exact memorization and extraction strength of an answer, from its teacher-forced greedy hits.

For an answer y = (y_1..y_T) given its prompt x, the hit h_t says whether y_t is the model's most
likely next token after (x, y_<t), i.e. argmax_v p(v | x, y_<t) = y_t (`scoring.AnswerNLL.token_hits`,
from the forward pass that scores the answer: no generation).

- exact memorization   EM = (1/T) Σ_t h_t, the share of answer tokens the model would emit
                       greedily given the true prefix (Tirumala et al. 2022, "Memorization without
                       overfitting", arXiv 2205.10770; as OpenUnlearning's `exact_memorization`).
- extraction strength  ES = 1 − k*/T, k* the shortest true prefix after which every remaining token
                       is a hit: k* = min{k ∈ 0..T : h_{k+1} = … = h_T = 1} (Wang et al. 2025,
                       "Towards effective evaluations and comparisons for LLM unlearning methods",
                       ICLR, arXiv 2406.09179). 1: the whole answer follows from the prompt alone;
                       0: not even the last token follows. OpenUnlearning stops its search at
                       k = T − 1 and so gives 1/T, not 0, when the last token is missed; here k = T
                       (an empty suffix) is allowed and the score reaches 0.

Both are higher for an answer the model holds; logged per row (`LOG_KEYS`) and read by the
metrics as a task mean and as membership scores (forget vs holdout).
"""

from __future__ import annotations

from collections.abc import Sequence

LOG_KEYS = {"exact_memorization": "exact_memorization", "extraction_strength": "extraction_strength"}


def exact_memorization(hits: Sequence[bool]) -> float:
    """Share of tokens that are the greedy choice under teacher forcing."""
    if not len(hits):
        raise ValueError("no answer tokens to measure exact memorization on")
    return sum(bool(hit) for hit in hits) / len(hits)


def extraction_strength(hits: Sequence[bool]) -> float:
    """1 − k*/T with k* the shortest prefix after which every token is a hit (see the module)."""
    if not len(hits):
        raise ValueError("no answer tokens to measure extraction strength on")
    suffix = 0  # length of the run of hits that ends the answer
    for hit in reversed(hits):
        if not hit:
            break
        suffix += 1
    return suffix / len(hits)  # k* = T − suffix


def sample_values(hits: Sequence[bool]) -> dict[str, float]:
    """Both values of one answer, by log key."""
    return {
        LOG_KEYS["exact_memorization"]: exact_memorization(hits),
        LOG_KEYS["extraction_strength"]: extraction_strength(hits),
    }
