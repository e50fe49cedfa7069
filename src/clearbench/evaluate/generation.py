"""Batched greedy answers that see the image, and their ROUGE recall against the reference.

The official CLEAR evaluation re-tokenises the decoded prompt and generates without pixel values,
so its ROUGE on image tasks is computed blind (clear_spec.md §7.12). Here the prompt batch comes
from `adapter.encode_prompts`, image included, and only the new tokens are decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import torch

from clearbench.data.format import Sample
from clearbench.evaluate.scoring import model_inputs


def generate_answers(
    model, adapter, processor, samples: Sequence[Sample], *, batch_size: int = 8, max_new_tokens: int = 64
) -> list[str]:
    """Greedy answer to each sample's question (and image), special tokens stripped."""
    tokenizer = adapter.tokenizer(processor)
    answers: list[str] = []
    for start in range(0, len(samples), batch_size):
        batch = model_inputs(adapter.encode_prompts(processor, samples[start : start + batch_size]), model)
        with torch.inference_mode():
            output = model.generate(
                **batch, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id
            )
        new_tokens = output[:, batch["input_ids"].shape[1] :]  # prompts are left-padded
        answers.extend(text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return answers


class RougeRecall(NamedTuple):
    rougeL: float
    rouge1: float


def rouge_recall(generation: str, reference: str) -> RougeRecall:
    """ROUGE-L and ROUGE-1 recall of a generation against the reference (Porter stemming)."""
    scores = _scorer().score(reference, generation)  # rouge_score takes (target, prediction)
    return RougeRecall(float(scores["rougeL"].recall), float(scores["rouge1"].recall))


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
