"""Linear probes of residual knowledge: what a frozen model's hidden layers still hold about the
forget people, whatever its output says (Alain & Bengio 2016, arXiv 1610.01644; used for unlearning
by Lynch et al. 2024, "Eight methods to evaluate robust unlearning in LLMs", arXiv 2402.16835).

The attribute is a biography fact (TOFU-style question / answer rows). Questions are grouped by
their form, the question with the person's name taken out ("What is {}'s nationality?"); the label
of a row is its answer with the name taken out, case-folded ("is kenyan"). Per form, a multinomial
logistic regression (scikit-learn, features standardised) is fitted on the RETAIN people's rows and
predicts the FORGET people's rows of the same form. A forget row whose label no retain person has
cannot be predicted by such a probe and is left out (counted in `unpredictable`); so are forms with
fewer than 2 labels among the retain rows (e.g. a birth date unique to each person).

The feature of a row is the hidden state, at one decoder layer, of the last token of its question
prompt: the position from which the model would start the answer. Layer l is the output of decoder
block l (1 = the first block; `output_hidden_states[l]`, 0 being the embeddings).

Per layer: accuracy on the forget rows, with a 95 % interval from the bootstrap over forget people
(the probe stays fitted; its test rows are resampled by person), and chance: the accuracy of always
answering each form's most frequent retain label. Gold's layers say what is readable without ever
having seen the people (a name can hint at a nationality); the target's are the ceiling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from clearbench.errors import UserError

RESAMPLES = 1000
PLACEHOLDER = "{}"


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


def question_form(question: str, person: str) -> str | None:
    """The question with the person's name replaced by {}; None when it does not name them."""
    if not person or person not in question:
        return None
    return question.replace(person, PLACEHOLDER)


def answer_label(answer: str, person: str) -> str:
    """The answer without the person's name, as case-folded words."""
    return " ".join(re.findall(r"\w+", answer.replace(person, " ").casefold()))


def plan(retain: Sequence[dict], forget: Sequence[dict]) -> dict:
    """Which rows each form's probe trains and tests on: {"forms": {form: {"train": [i], "test": [j]}},
    "unpredictable": n}. Rows are dicts with question, answer and person (None: left out)."""

    def by_form(rows):
        found: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            form = question_form(row["question"], row.get("person") or "")
            if form is not None:
                found.setdefault(form, []).append(index)
        return found

    train, test = by_form(retain), by_form(forget)
    forms, unpredictable = {}, 0
    for form, tested in test.items():
        labels = {answer_label(retain[i]["answer"], retain[i]["person"]) for i in train.get(form, [])}
        known = [j for j in tested if answer_label(forget[j]["answer"], forget[j]["person"]) in labels]
        unpredictable += len(tested) - len(known)
        if len(labels) >= 2 and known:
            forms[form] = {"train": train[form], "test": known}
        else:
            unpredictable += len(known)
    return {"forms": forms, "unpredictable": unpredictable}


def layer_results(
    features: dict[int, np.ndarray],
    retain: Sequence[dict],
    forget: Sequence[dict],
    planned: dict,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict:
    """Per layer {"accuracy", "interval", "chance"} of the forms' probes on the forget rows.

    `features[layer]` holds one row per retain row, then one per forget row (in that order)."""
    from clearbench.evaluate.bootstrap import _percentiles, draw_counts, weighted_mean

    if not planned["forms"]:
        raise UserError(
            "probe: no question form has forget rows whose answer a retain person shares "
            "(the probe needs a fact such as a nationality that several people have)"
        )
    tested = [j for form in planned["forms"].values() for j in form["test"]]
    people = sorted({forget[j]["person"] for j in tested})
    unit = np.array([people.index(forget[j]["person"]) for j in tested])
    weights = np.vstack(
        [np.ones((1, len(people))), draw_counts(len(people), resamples, np.random.default_rng(seed))]
    )
    truth = [answer_label(forget[j]["answer"], forget[j]["person"]) for j in tested]
    chance = []
    for form in planned["forms"].values():
        labels = [answer_label(retain[i]["answer"], retain[i]["person"]) for i in form["train"]]
        common = max(sorted(set(labels)), key=labels.count)
        chance += [answer_label(forget[j]["answer"], forget[j]["person"]) == common for j in form["test"]]
    results = {}
    offset = len(retain)
    for layer, states in features.items():
        predicted = []
        for form in planned["forms"].values():
            labels = [answer_label(retain[i]["answer"], retain[i]["person"]) for i in form["train"]]
            predicted += list(
                fit_and_predict(states[form["train"]], labels, states[[offset + j for j in form["test"]]])
            )
        correct = np.array([p == t for p, t in zip(predicted, truth)], dtype=float)
        drawn = weighted_mean(correct, unit, weights)
        results[layer] = {
            "accuracy": float(drawn[0]),
            "interval": _percentiles(drawn[1:]) if len(people) >= 2 else None,
            "chance": float(np.mean(chance)),
        }
    return {
        "layers": results,
        "rows": len(tested),
        "people": len(people),
        "forms": len(planned["forms"]),
        "unpredictable": planned["unpredictable"],
    }


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


def hidden_features(model, adapter, processor, questions: Sequence[str], layers: Sequence[int], batch_size=8):
    """{layer: (rows × width) array}: the hidden state of each question prompt's last token."""
    import torch

    from clearbench.data.format import Sample
    from clearbench.evaluate.scoring import model_inputs

    found: dict[int, list] = {layer: [] for layer in layers}
    for start in range(0, len(questions), batch_size):
        prompts = [Sample(question, "") for question in questions[start : start + batch_size]]
        batch = model_inputs(adapter.encode_prompts(processor, prompts), model)  # left-padded
        with torch.inference_mode():
            hidden = model(**batch, output_hidden_states=True).hidden_states
        for layer in layers:
            found[layer].append(hidden[layer][:, -1].float().cpu().numpy())
    return {layer: np.concatenate(parts) for layer, parts in found.items()}
