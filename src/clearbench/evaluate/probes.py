"""Linear probes of residual knowledge: what a frozen model's hidden layers still hold about the
forget people, whatever its output says (Alain & Bengio 2016, arXiv 1610.01644; for unlearning,
Lynch et al. 2024, "Eight methods to evaluate robust unlearning in LLMs", arXiv 2402.16835).

A truth probe. Every evaluated question comes with its true answer and wrong alternatives of the
same form (TOFU's perturbed answers beside the paraphrased answer; CLEAR's perturbed captions; the
face-recognition options). The feature of a candidate is the hidden state, at one decoder layer,
of the last token of the question followed by that candidate (teacher forcing: no generation);
averaged over the candidate's answer tokens (the last token alone, an end-of-turn mark, carried
less: on the trained default world the target sat at chance with it); layer l is the output of
decoder block l (1 = the first; `hidden_states[l]`, 0 the embeddings).

A logistic regression (scikit-learn, features standardised) is fitted on the RETAIN people's
candidates, true (1) against wrong (0), and asked about the FORGET people's: a question counts as
known when the probe scores its true candidate above every alternative. Per layer: the share of
forget questions known, a 95 % interval from the bootstrap over forget people (the probe stays
fitted; its questions are resampled by person; each resample's value is kept, so that models asked
the same questions are compared draw by draw), and chance, the mean of 1 / (candidates). The
attribute the probe reads is thus "which of these facts about this person is the true one": it
needs no list of facts per dataset and has a known chance level. Gold's layers say what is readable
without ever having seen the people; the target's are the ceiling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from clearbench.errors import UserError

RESAMPLES = 1000


def fit_and_predict(train_x, train_y, test_x) -> np.ndarray:
    """A standardised multinomial logistic regression fitted on (train_x, train_y); its predictions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(np.asarray(train_x, dtype=float), np.asarray(train_y))
    return probe.predict(np.asarray(test_x, dtype=float))


def probe_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Share of test rows the probe fitted on the train rows labels correctly."""
    return float(np.mean(fit_and_predict(train_x, train_y, test_x) == np.asarray(test_y)))


def question_form(question: str, person: str | None) -> str | None:
    """The question with the person's name replaced by {}; None when it does not name them."""
    return question.replace(person, "{}") if person and person in question else None


def answer_label(answer: str, person: str) -> str:
    """The answer without the person's name, as case-folded words (what it says about them)."""
    return " ".join(re.findall(r"\w+", answer.replace(person, " ").casefold()))


def swapped_candidates(rows: Sequence[dict], pool: Sequence[dict], wrong: int, seed: str) -> dict:
    """Questions with candidates: each row's true answer, then up to `wrong` answers other people
    (of `pool`) gave to the same question form, with their name replaced by this row's person and
    saying something else ("Kamau Wekesa is Peruvian."). Rows are dicts with question, answer and
    person; a row without a person, a form or another answer is left out.

    {"questions": [(question, answer)...], "candidates": [(question index, text, truth)], "rows": [i]}
    """
    import random

    by_form: dict[str, dict[str, tuple[str, str]]] = {}  # form -> label -> (answer, person)
    for row in pool:
        form = question_form(row["question"], row.get("person"))
        if form is not None:
            label = answer_label(row["answer"], row["person"])
            by_form.setdefault(form, {}).setdefault(label, (row["answer"], row["person"]))
    found: dict = {"candidates": [], "rows": []}
    for index, row in enumerate(rows):
        form = question_form(row["question"], row.get("person"))
        if form is None:
            continue
        truth = answer_label(row["answer"], row["person"])
        others = sorted(label for label in by_form.get(form, {}) if label != truth)
        if not others:
            continue
        chosen = random.Random(f"{seed}:{index}").sample(others, min(wrong, len(others)))
        number = len(found["rows"])
        found["rows"].append(index)
        found["candidates"].append((number, row["answer"], 1))
        for label in chosen:
            answer, person = by_form[form][label]
            found["candidates"].append((number, answer.replace(person, row["person"]), 0))
    return found


def known_questions(train_x, train_truth, test_x, test_truth, test_question) -> np.ndarray:
    """Per test question (in order of first appearance): 1.0 when the probe fitted on the train
    candidates (truth 1 / 0) scores its true candidate above all its others, else 0.0."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(np.asarray(train_x, dtype=float), np.asarray(train_truth, dtype=int))
    scores = probe.decision_function(np.asarray(test_x, dtype=float))
    truth, question = np.asarray(test_truth, dtype=bool), np.asarray(test_question)
    known = []
    for q in dict.fromkeys(question.tolist()):
        mine = question == q
        true_score = scores[mine & truth]
        if len(true_score) != 1:
            raise ValueError(f"question {q} has {len(true_score)} true candidates, expected 1")
        known.append(float(true_score[0] > scores[mine & ~truth].max()))
    return np.array(known)


def layer_results(
    train: dict[int, np.ndarray],
    train_truth: Sequence[int],
    test: dict[int, np.ndarray],
    test_truth: Sequence[int],
    test_question: Sequence[int],
    question_person: Sequence[str | None],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict:
    """Per layer {"accuracy", "interval", "chance"} of the truth probe on the forget questions.

    `train[layer]` / `test[layer]`: one feature row per candidate; `test_question[i]` the question
    (0..Q−1, in order) candidate i belongs to; `question_person[q]` whose question q is (None: its
    own unit)."""
    from clearbench.evaluate.bootstrap import _percentiles, draw_counts, weighted_mean

    units = [("person", p) if p else ("question", q) for q, p in enumerate(question_person)]
    ids = {unit: index for index, unit in enumerate(dict.fromkeys(units))}
    unit = np.array([ids[u] for u in units])
    rng = np.random.default_rng(seed)
    weights = np.vstack([np.ones((1, len(ids))), draw_counts(len(ids), resamples, rng)])
    counts = np.bincount(np.asarray(test_question))
    chance = float(np.mean(1.0 / counts))
    results = {}
    for layer in train:
        known = known_questions(train[layer], train_truth, test[layer], test_truth, test_question)
        drawn = weighted_mean(known, unit, weights)
        results[layer] = {
            "accuracy": float(drawn[0]),
            "interval": _percentiles(drawn[1:]) if len(ids) >= 2 else None,
            "chance": chance,
            # Each resample's accuracy: the same people drawn for every model asked the same
            # questions (same seed, same order), so target − gold can be resampled in pairs.
            "draws": [round(float(value), 6) for value in drawn[1:]],
        }
    people = sum(1 for u in ids if u[0] == "person")
    return {"layers": results, "questions": len(question_person), "people": people}


def decoder_layers(model_path, trust_remote_code: bool = False) -> int:
    """How many decoder blocks the model's language model has, from its config alone (no weights)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(model_path), trust_remote_code=trust_remote_code)
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    return int(text.num_hidden_layers)


def check_layers(layers: Sequence[int], available: int, where: str) -> list[int]:
    """`layers` (empty: every block) checked against the model's `available` blocks."""
    missing = [layer for layer in layers if not 1 <= layer <= available]
    if missing:
        raise UserError(
            f"probe layer {missing[0]} does not exist in {where}: it has decoder layers 1 to {available}"
        )
    return list(layers) or list(range(1, available + 1))


def hidden_features(model, adapter, processor, samples, layers: Sequence[int], batch_size: int = 16):
    """{layer: (samples × width) array}: the hidden states of each sample's answer tokens (the
    question followed by the answer, image included), averaged over those tokens."""
    import torch

    from clearbench.evaluate.scoring import model_inputs
    from clearbench.models.base import IGNORE_INDEX

    found: dict[int, list] = {layer: [] for layer in layers}
    for start in range(0, len(samples), batch_size):
        batch = model_inputs(adapter.encode(processor, list(samples[start : start + batch_size])), model)
        answer = (batch.pop("labels") != IGNORE_INDEX).unsqueeze(-1).float()
        with torch.inference_mode():
            hidden = model(**batch, output_hidden_states=True).hidden_states
        for layer in layers:
            mean = (hidden[layer].float() * answer).sum(dim=1) / answer.sum(dim=1).clamp(min=1)
            found[layer].append(mean.cpu().numpy())
    return {layer: np.concatenate(parts) for layer, parts in found.items()}
