"""Linear probes of residual knowledge: what a frozen model's hidden layers still hold about the
forget people, whatever its output says (Alain & Bengio 2016, arXiv 1610.01644; for unlearning,
Lynch et al. 2024, "Eight methods to evaluate robust unlearning in LLMs", arXiv 2402.16835).

A truth probe. Every evaluated question comes with its true answer and wrong alternatives of the
same form (TOFU's perturbed answers beside the paraphrased answer; CLEAR's perturbed captions; the
face-recognition options). The feature of a candidate is the hidden state, at one decoder layer,
of the last token of the question followed by that candidate (teacher forcing: no generation);
layer l is the output of decoder block l (1 = the first; `hidden_states[l]`, 0 the embeddings).

A logistic regression (scikit-learn, features standardised) is fitted on the RETAIN people's
candidates, true (1) against wrong (0), and asked about the FORGET people's: a question counts as
known when the probe scores its true candidate above every alternative. Per layer: the share of
forget questions known, a 95 % interval from the bootstrap over forget people (the probe stays
fitted; its questions are resampled by person), and chance, the mean of 1 / (candidates). The
attribute the probe reads is thus "which of these facts about this person is the true one": it
needs no list of facts per dataset and has a known chance level. Gold's layers say what is readable
without ever having seen the people; the target's are the ceiling.
"""

from __future__ import annotations

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
    """{layer: (samples × width) array}: the hidden state of the last token of each sample (its
    question followed by its answer, image included)."""
    import torch

    from clearbench.evaluate.scoring import model_inputs

    found: dict[int, list] = {layer: [] for layer in layers}
    for start in range(0, len(samples), batch_size):
        batch = model_inputs(adapter.encode(processor, list(samples[start : start + batch_size])), model)
        batch.pop("labels", None)
        mask = batch["attention_mask"]
        last = mask.shape[1] - 1 - mask.flip(1).argmax(dim=1)  # the last real token, either padding
        with torch.inference_mode():
            hidden = model(**batch, output_hidden_states=True).hidden_states
        rows = torch.arange(mask.shape[0], device=mask.device)
        for layer in layers:
            found[layer].append(hidden[layer][rows, last].float().cpu().numpy())
    return {layer: np.concatenate(parts) for layer, parts in found.items()}
