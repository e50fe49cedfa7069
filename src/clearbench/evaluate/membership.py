"""Membership inference: per-sample attack scores, ROC-AUC of forget vs holdout rows, PrivLeak.

Every score is oriented so that HIGHER means "more likely a member" (a row the model trained on).
They are computed from the token log-probs of the true answer that scoring already has (one
forward pass, `scoring.AnswerNLL`), stored per sample in the eval logs under `LOG_KEYS`, and read
back by the metrics. For an answer y = (y_1..y_T) given its prompt, ℓ_t = log p(y_t | x, y_<t):

- loss             −mean_t(−ℓ_t) = −ℓ̄, the negative mean NLL (Yeom et al. 2018).
- zlib             −ℓ̄ / zlib(y): the NLL per byte of the zlib-compressed answer text (UTF-8, default
                   level), negated (Carlini et al. 2021, "Extracting Training Data from LLMs"; MUSE).
- min_k            mean of the n = max(1, ⌊k·T⌋) smallest ℓ_t (Shi et al. 2024, "Detecting
                   Pretraining Data from LLMs"; the floor and the minimum of one token as in
                   OpenUnlearning, k = 20 % by default).
- min_k_plus_plus  the same mean over z_t = (ℓ_t − μ_t) / σ_t, μ_t and σ_t² the mean and variance of
                   log p(v) under the model's own next-token distribution (Zhang et al. 2024,
                   "Min-K%++", arXiv 2404.02936; `scoring.token_z_scores`).

AUC is the ROC-AUC with the forget rows as the POSITIVE class and the score as above, i.e. the
probability that a random forget row scores higher than a random holdout row, ties counting half
(the Mann–Whitney U statistic over n·m). A model that never saw either set gives ≈ 0.5; a model that
still holds the forget people gives → 1; below 0.5 the forget people look *less* familiar than
strangers (over-unlearning, itself a signal).

Stronger attacks, beside the four (evaluate/stronger.py reads them where the logs allow):

- gradnorm         −mean over parameter tensors of ‖∂L/∂θ_i‖_2 (Duan et al. 2024; evaluate/gradnorm.py),
                   logged only when `eval.membership_gradnorm` is on (a backward pass per row).
- reference        ℓ̄_model − ℓ̄_reference = avg_gt_loss(reference) − avg_gt_loss(model): the loss
                   calibrated by a reference model that saw neither set (`reference_scores`; the
                   reference-model ratio of Carlini et al. 2021, §5.2, in log form, and the
                   "difficulty calibration" of Watson et al. 2022, ICLR, arXiv 2111.08440). The base
                   model is the reference: it knows the language and the world, not the people, so
                   what it finds easy (short, generic answers) no longer reads as membership.
- exact_memorization, extraction_strength   the greedy-hit measures of evaluate/memorization.py,
                   used as scores (a member's answer follows greedily more often).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from clearbench.errors import UserError
from clearbench.evaluate.metric_table import ATTACKS

LOG_KEYS = {attack: f"mia_{attack}" for attack in ATTACKS}  # per-sample score in a task log
GRADNORM_LOG_KEY = "mia_gradnorm"  # logged only when asked for (evaluate/gradnorm.py)
DEFAULT_K = 0.2


def check_k(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k <= 1:
        raise UserError(f"membership k must be a fraction in (0, 1], e.g. 0.2 for 20 %; got {k!r}")
    return float(k)


def zlib_length(text: str) -> int:
    """Bytes of the zlib-compressed UTF-8 text (default compression level)."""
    return len(zlib.compress(text.encode("utf-8")))


def lowest_k_mean(values: Sequence[float], k: float) -> float:
    """Mean of the max(1, ⌊k·T⌋) smallest of the T values."""
    if not len(values):
        raise ValueError("no token values to take the lowest k % of")
    count = max(1, math.floor(check_k(k) * len(values)))
    return float(np.mean(np.sort(np.asarray(values, dtype=float))[:count]))


def sample_scores(
    mean_nll: float, answer: str, token_logprobs: Sequence[float], token_z: Sequence[float], k: float
) -> dict[str, float]:
    """The four attack scores of one sample, by log key (`LOG_KEYS`), each higher = member."""
    return {
        LOG_KEYS["loss"]: -mean_nll,
        LOG_KEYS["zlib"]: -mean_nll / zlib_length(answer),
        LOG_KEYS["min_k"]: lowest_k_mean(token_logprobs, k),
        LOG_KEYS["min_k_plus_plus"]: lowest_k_mean(token_z, k),
    }


def roc_auc(members: Sequence[float], non_members: Sequence[float]) -> float:
    """P(score of a random member > score of a random non-member) + ½ P(equal): the ROC-AUC with
    members as the positive class, from average ranks (Mann–Whitney U / (n·m))."""
    members, non_members = np.asarray(members, dtype=float), np.asarray(non_members, dtype=float)
    n, m = len(members), len(non_members)
    if n == 0 or m == 0:
        raise UserError(f"membership AUC needs members and non-members; got {n} and {m} rows")
    if not (np.isfinite(members).all() and np.isfinite(non_members).all()):
        raise UserError("membership AUC: a score is not a finite number")
    ranks = rankdata(np.concatenate([members, non_members]))  # ties get their average rank
    u = ranks[:n].sum() - n * (n + 1) / 2
    return float(u / (n * m))


def roc_curve(members: Sequence[float], non_members: Sequence[float]) -> tuple[list[float], list[float]]:
    """(false-positive rates, true-positive rates) from (0, 0) to (1, 1), one point per distinct
    score, thresholds descending ("member" when score ≥ threshold); its area is `roc_auc`."""
    members, non_members = np.asarray(members, dtype=float), np.asarray(non_members, dtype=float)
    thresholds = np.unique(np.concatenate([members, non_members]))[::-1]
    tpr = [0.0] + [float((members >= t).mean()) for t in thresholds]
    fpr = [0.0] + [float((non_members >= t).mean()) for t in thresholds]
    return fpr, tpr


def privleak(auc_model: float, auc_gold: float) -> float | None:
    """PrivLeak as MUSE defines it (Shi et al. 2024, arXiv 2407.06460, §3; its code and OpenUnlearning's):

        PrivLeak = (AUC'_model − AUC'_gold) / AUC'_gold,   AUC' = 1 − AUC

    where AUC is `roc_auc` (forget rows positive, higher score = member) and AUC' is MUSE's own
    orientation (its scores are higher for NON-members, so a model that memorised the forget set has
    AUC' → 0). Gold is MUSE's retrained model. 0 is ideal; NEGATIVE = under-unlearning (the forget
    people still stand out as members: the target gives ≈ −1, MUSE's "−100 %"); POSITIVE =
    over-unlearning (they now look less familiar than strangers). A fraction: × 100 for MUSE's
    percentages. None when gold's AUC' is 0 (gold itself separates the sets perfectly).
    """
    denominator = 1.0 - auc_gold
    if abs(denominator) < 1e-12:
        return None
    return ((1.0 - auc_model) - denominator) / denominator


def reference_scores(model_log: dict, reference_log: dict) -> list[float]:
    """Per row (in index order) ℓ̄_model − ℓ̄_reference = avg_gt_loss(reference) − avg_gt_loss(model),
    higher = member; both logs must hold the same rows of the same task."""
    ours, theirs = model_log.get("avg_gt_loss"), reference_log.get("avg_gt_loss")
    where = model_log.get("source") or f"task {model_log.get('task', '?')!r}"
    if not isinstance(ours, dict) or not isinstance(theirs, dict):
        raise UserError(f"{where}: the reference attack needs 'avg_gt_loss' in both logs")
    if set(ours) != set(theirs):
        raise UserError(
            f"{where}: the reference model was asked other rows ({len(theirs)}) than the model ({len(ours)})"
        )
    rows = sorted(ours, key=int)
    return [float(theirs[row]) - float(ours[row]) for row in rows]
