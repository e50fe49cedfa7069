"""The visual track's metrics against hand-computed values (and scikit-learn where it is the attack)."""

import math

import numpy as np
import pytest

from clearbench.visual.metrics import (
    attack_logit,
    identify,
    people_bootstrap,
    robust_gaussian,
    ulira_correct,
    ulira_scores,
    umia_correct,
)


def test_identification_by_enrolment_and_the_attack_logit():
    # identity 0 enrols [1, 0] and [1, 0.2] (mean direction ~[1, 0.1]); identity 1 enrols [0, 1]
    embeddings = np.array([[1, 0], [1, 0.2], [0, 1], [3, 4], [0, 2], [5, 0.5]], dtype=float)
    labels = np.array([0, 0, 1, 0, 1, 0])
    enrolment = np.array([True, True, True, False, False, False])
    correct, logit = identify(embeddings, labels, enrolment, identities=2)
    gallery0 = np.array([1, 0]) + np.array([1, 0.2]) / math.hypot(1, 0.2)
    gallery0 /= np.linalg.norm(gallery0)
    cos_q0 = (3 * gallery0[0] + 4 * gallery0[1]) / 5  # ≈ 0.68 < cos to identity 1 (0.8): wrong
    assert correct.tolist() == [False, True, True]
    assert logit[0] == pytest.approx(math.log(cos_q0 / (1 - cos_q0)), rel=1e-9)
    assert logit[1] == pytest.approx(math.log((1 - 1e-6) / 1e-6))  # cos 1, clipped, not +inf
    assert np.isfinite(attack_logit(np.array([-0.3, 0.0, 1.0]))).all()


def test_robust_gaussian_is_the_median_and_the_normal_consistent_mad():
    location, scale = robust_gaussian(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert location == 3.0 and scale == pytest.approx(1 / 0.6744897501960817)  # MAD 1; the mean would be 22


def test_ulira_score_from_in_and_out_gaussians():
    # shadow in logits 0, 2, 6 (median 2, MAD 2); out −1, 0, 1 (median 0, MAD 1); targets 1 and 2
    logits = np.array([[0.0], [2.0], [6.0], [-1.0], [0.0], [1.0], [1.0], [2.0]])
    member = np.array([[True], [True], [True], [False], [False], [False], [True], [False]])
    target = np.array([False] * 6 + [True, True])
    s_in, s_out = 2 / 0.6744897501960817, 1 / 0.6744897501960817

    def log_density(x, mu, s):
        return -math.log(s) - (x - mu) ** 2 / (2 * s * s)

    expected = [1 / (1 + math.exp(log_density(x, 0, s_out) - log_density(x, 2, s_in))) for x in (1.0, 2.0)]
    assert ulira_scores(logits, member, target)[:, 0] == pytest.approx(expected, rel=1e-9)
    assert expected[0] < 0.5 < expected[1]
    # target 6 is a member scored out (wrong), target 7 a non-member scored in (wrong)
    assert ulira_correct(logits, member, target)[:, 0].tolist() == [False, False]


def test_umia_threshold_from_symmetric_shadows():
    # shadow pairs: members at 2 and 3, non-members at −2 and −3: both attacks cut at 0
    logits = np.array([[2.0, -2.0], [3.0, -3.0], [0.5, -1.0], [-0.5, 1.0]])
    member = np.array([[True, False], [True, False], [True, True], [False, False]])
    target = np.array([False, False, True, True])
    for kind in ("logistic", "tree"):
        correct = umia_correct(logits, member, target, kind)
        assert correct.tolist() == [[True, False], [True, False]], kind


def test_umia_matches_scikit_learn_on_overlapping_shadows():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    member = rng.random((8, 30)) < 0.5
    logits = rng.normal(member * 0.7, 1.0)
    target = np.array([True, False] * 4)
    attack = LogisticRegression().fit(logits[~target].reshape(-1, 1), member[~target].ravel())
    expected = attack.predict(logits[target].reshape(-1, 1)).reshape(4, 30) == member[target]
    assert (umia_correct(logits, member, target) == expected).all()
    assert 0.5 < expected.mean() < 0.9


def test_people_bootstrap_resamples_people_not_images():
    # person a: one right image; person b: three wrong ones. Mean over images 1/4; resampling
    # two people gives 1 (aa), 1/4 (ab) or 0 (bb), so the 95 % interval is [0, 1].
    result = people_bootstrap(np.array([1, 0, 0, 0]), np.array(["a", "b", "b", "b"]), resamples=2000)
    assert result["mean"] == 0.25 and result["low"] == 0.0 and result["high"] == 1.0
    # rows of several models for the same images count once per model
    two_models = people_bootstrap(np.array([[1, 0], [1, 1]]), np.array(["a", "b"]), resamples=0)
    assert two_models == {"mean": 0.75, "low": 0.75, "high": 0.75}


def test_a_method_row_takes_roles_from_each_split():
    from clearbench.visual.results import method_row
    from clearbench.visual.splits import plan_splits

    splits = plan_splits(["f"], ["h"], ["a", "b", "c"], 8, 2, seed=0)
    people = {"forget": ["f", "f"], "holdout": ["h", "h"]}
    results = {}
    for s in splits:  # the member group's images: right and logit ≈ 5; the other group's: wrong, ≈ 0
        noise = 0.01 * s.index
        member = {"correct": [1, 1], "logit": [5 + noise, 5 - noise]}
        unseen = {"correct": [0, 0], "logit": [noise, -noise]}
        results[s.index] = {
            "forget": member if s.member_group == "forget" else unseen,
            "holdout": unseen if s.member_group == "forget" else member,
            "retain": {"correct": [1, 0], "logit": [0.0, 0.0]},
        }
    retain_people = {s.index: s.retain for s in splits}
    row = method_row(splits, results, people, retain_people, resamples=0)
    assert row["forget_acc"]["mean"] == 1.0 and row["holdout_acc"]["mean"] == 0.0
    assert row["retain_acc"]["mean"] == 0.5
    assert row["u_lira"]["mean"] == 1.0 and row["u_mia"]["mean"] == 1.0
    # a model whose logits do not depend on membership: the attacks are at chance or below
    for r in results.values():
        r["forget"]["logit"], r["holdout"]["logit"] = [1.0, 1.0], [1.0, 1.0]
    flat = method_row(splits, results, people, retain_people, resamples=0)
    assert flat["u_mia"]["mean"] == 0.5
