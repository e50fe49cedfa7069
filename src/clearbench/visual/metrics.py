"""The visual track's metrics, as pure functions of embeddings and attack logits (clear_spec §5).

* Identification accuracy by enrolment: an identity's gallery vector is the L2-normalised mean
  embedding of its enrolment images; each query image is assigned the identity of the most similar
  gallery vector (cosine) within its group (forget, holdout or retain people).
* Attack logit of a query image: l = log(c / (1 − c)), c = cos(v, its own identity's gallery
  vector) clipped into [ε, 1 − ε] (the official code clips into [0, 1], which gives ±∞ at the ends).
* U-LiRA (per example): for each image, "in" and "out" Gaussians of its logit over the shadow models
  (location the median, scale MAD/0.6745), a target model's score N_in / (N_in + N_out), and the
  accuracy of (score > 0.5) at telling unlearned-after-training (in) from never-seen (out).
* U-MIA (population): one classifier of the logit alone, fitted on every shadow (model, image)
  pair, its accuracy on the target pairs; logistic regression (the paper's number) and a decision
  tree (≤ 256 leaves, entropy).

Ideal for both attacks: 0.5. Intervals resample people (an image's identity), not images.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

EPSILON = 1e-6
MIN_SCALE = 1e-6  # a Gaussian of zero width (all shadow logits equal) has no density elsewhere


def gallery(embeddings: np.ndarray, labels: np.ndarray, enrolment: np.ndarray, identities: int) -> np.ndarray:
    """[identities, d]: each identity's normalised mean enrolment embedding."""
    unit = _normalise(embeddings)
    sums = np.zeros((identities, embeddings.shape[1]))
    np.add.at(sums, labels[enrolment], unit[enrolment])
    return _normalise(sums)


def identify(
    embeddings: np.ndarray, labels: np.ndarray, enrolment: np.ndarray, identities: int
) -> tuple[np.ndarray, np.ndarray]:
    """(correct, attack logit) of every query (non-enrolment) image, in row order."""
    vectors = gallery(embeddings, labels, enrolment, identities)
    queries = ~enrolment
    cosines = _normalise(embeddings[queries]) @ vectors.T
    correct = cosines.argmax(axis=1) == labels[queries]
    own = cosines[np.arange(len(cosines)), labels[queries]]
    return correct, attack_logit(own)


def attack_logit(cosine: np.ndarray) -> np.ndarray:
    c = np.clip(cosine, EPSILON, 1 - EPSILON)
    return np.log(c / (1 - c))


def robust_gaussian(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(median, MAD / 0.6745) along `axis` (scipy's normal-consistent MAD)."""
    location = np.median(values, axis=axis)
    scale = stats.median_abs_deviation(values, axis=axis, scale="normal")
    return location, np.maximum(scale, MIN_SCALE)


def ulira_scores(logits: np.ndarray, member: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[targets, images] score N_in / (N_in + N_out) of each target model's logit for each image.

    logits, member: [models, images]; member: the model trained on (then unlearned) the image;
    target: [models], attacked (True) or shadow. Every image needs shadow models of both kinds."""
    shadow = ~target
    scores = np.empty((int(target.sum()), logits.shape[1]))
    for image in range(logits.shape[1]):
        inside, outside = shadow & member[:, image], shadow & ~member[:, image]
        if not inside.any() or not outside.any():
            raise ValueError(f"image {image} lacks in or out shadow models")
        mu_in, sd_in = robust_gaussian(logits[inside, image])
        mu_out, sd_out = robust_gaussian(logits[outside, image])
        x = logits[target, image]
        log_in = stats.norm.logpdf(x, mu_in, sd_in)
        log_out = stats.norm.logpdf(x, mu_out, sd_out)
        scores[:, image] = 1 / (1 + np.exp(np.clip(log_out - log_in, -700, 700)))
    return scores


def ulira_correct(logits: np.ndarray, member: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[targets, images]: whether (score > 0.5) matches the target model's membership."""
    return (ulira_scores(logits, member, target) > 0.5) == member[target]


def umia_correct(
    logits: np.ndarray, member: np.ndarray, target: np.ndarray, kind: str = "logistic", seed: int = 0
) -> np.ndarray:
    """[targets, images]: the population attack's verdicts on the target pairs, right or wrong."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    shadow = ~target
    x_train, y_train = logits[shadow].reshape(-1, 1), member[shadow].ravel()
    if kind == "logistic":
        attack = LogisticRegression()
    elif kind == "tree":
        attack = DecisionTreeClassifier(criterion="entropy", max_leaf_nodes=256, random_state=seed)
    else:
        raise ValueError(f"unknown U-MIA attack {kind!r}")
    attack.fit(x_train, y_train)
    verdict = attack.predict(logits[target].reshape(-1, 1)).reshape(int(target.sum()), -1)
    return verdict.astype(bool) == member[target]


def people_bootstrap(
    values: np.ndarray, people: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Mean of `values` ([..., images], e.g. one row per model) and a percentile interval from
    resampling the people (`people`: each image's identity) with replacement."""
    values = np.asarray(values, dtype=float).reshape(-1, len(people))
    names, index = np.unique(people, return_inverse=True)
    sums = np.zeros(len(names))
    np.add.at(sums, index, values.sum(axis=0))
    counts = np.bincount(index, minlength=len(names)) * values.shape[0]
    mean = float(sums.sum() / counts.sum())
    if resamples <= 0:
        return {"mean": mean, "low": mean, "high": mean}
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), size=resamples)
    draws = (weights @ sums) / (weights @ counts)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return {"mean": mean, "low": float(low), "high": float(high)}


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
