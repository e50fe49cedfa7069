"""The bootstrap over people: exact at unit weights, covers the truth on clustered data, bad input."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from clearbench.errors import UserError
from clearbench.evaluate import bootstrap
from clearbench.evaluate.bootstrap import Units, auc, bootstrap_intervals, draw_counts, ks_statistic
from clearbench.evaluate.logs import normalise
from clearbench.evaluate.metrics import compute_metrics, forget_quality_js


def test_weighted_ks_and_auc_match_scipy_and_sklearn_on_repeated_rows():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=9).round(1), rng.normal(0.5, size=7).round(1)  # rounded: ties
    wa, wb = rng.integers(0, 4, (20, 9)).astype(float), rng.integers(0, 4, (20, 7)).astype(float)
    wa[:, 0] = wb[:, 0] = 1  # every draw keeps a row of each
    found, js = ks_statistic(a, b, wa, wb), bootstrap.calibrated_js(a, b, wa, wb)
    for draw in range(20):
        expanded_a, expanded_b = np.repeat(a, wa[draw].astype(int)), np.repeat(b, wb[draw].astype(int))
        assert found[draw] == pytest.approx(stats.ks_2samp(expanded_a, expanded_b).statistic)
        assert js[draw] == pytest.approx(forget_quality_js(expanded_a, expanded_b))
    # AUC with one unit per row: sklearn's weighted ROC-AUC (ties count ½)
    areas = auc(a, b, wa, wb)
    for draw in range(20):
        truth = roc_auc_score(
            np.r_[np.ones(9), np.zeros(7)], np.r_[a, b], sample_weight=np.r_[wa[draw], wb[draw]]
        )
        assert areas[draw] == pytest.approx(truth)


def test_units_keep_each_stratum_and_a_person_s_rows_together():
    logs = {
        "forget_captions": {"avg_gt_loss": {str(i): 1.0 for i in range(4)}, "person": _people("AABB")},
        "tofu_forget": {"avg_gt_loss": {str(i): 1.0 for i in range(3)}, "person": _people("ABB")},
        "holdout_captions": {"avg_gt_loss": {str(i): 1.0 for i in range(3)}, "person": _people("CDD")},
    }
    units = Units(logs)
    assert units.people == 4 and units.count == 4 and len(units.strata) == 2
    assert list(units.rows["forget_captions"]) == [0, 0, 1, 1] and list(units.rows["tofu_forget"]) == [
        0,
        1,
        1,
    ]
    drawn = units.weights(200, np.random.default_rng(1))
    assert np.all(drawn[:, [0, 1]].sum(axis=1) == 2) and np.all(drawn[:, [2, 3]].sum(axis=1) == 2)
    assert units.describe(5).startswith("bootstrap over people, 5 resamples")


def test_logs_naming_nobody_fall_back_to_rows_and_say_so():
    units = Units({"real_world": {"avg_gt_loss": {"0": 1.0, "1": 2.0}}})
    assert units.people == 0 and units.count == 2
    assert units.describe(9).startswith("bootstrap over rows (the logs name no person)")


def _people(letters):
    return {str(i): f"person {c}" for i, c in enumerate(letters)}


def _logs(rng, shift, people_per_task=6, rows_each=3, scores_shift=0.0):
    """Forget, retain and holdout logs of people with `rows_each` rows each (names recorded)."""

    def task(prefix, names, holdout=False):
        n = len(names) * rows_each
        log = {
            "avg_gt_loss": {str(i): float(rng.uniform(0.5, 2) + shift) for i in range(n)},
            "person": {str(i): names[i // rows_each] for i in range(n)},
        }
        for key in ("mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_plus_plus"):
            log[key] = {str(i): float(rng.normal(scores_shift)) for i in range(n)}
        if not holdout:
            log["avg_paraphrased_loss"] = {str(i): float(rng.uniform(0.5, 2) + shift) for i in range(n)}
            log["average_perturb_loss"] = {str(i): list(rng.uniform(1, 3, 3)) for i in range(n)}
            log["rougeL_recall"] = {str(i): float(rng.uniform(0, 1)) for i in range(n)}
        return log

    names = [f"p{i}" for i in range(3 * people_per_task)]
    forget, retain, holdout = (names[i * people_per_task : (i + 1) * people_per_task] for i in range(3))
    return {
        "forget_captions": task("f", forget),
        "retain_captions": task("r", retain),
        "real_world": task("w", [f"fact{i}" for i in range(people_per_task)]),
        "holdout_captions": task("h", holdout, holdout=True),
    }


def test_intervals_hold_the_estimate_stay_in_range_and_skip_p_values():
    rng = np.random.default_rng(2)
    candidate, gold = _logs(rng, 0.3, scores_shift=0.5), _logs(rng, 0.0)
    for task in gold:  # gold's logs are of the same rows and people
        gold[task]["person"] = candidate[task]["person"]
    found = bootstrap_intervals(candidate, gold, compat="clearbench", resamples=300, seed=1)
    point = compute_metrics(candidate, gold)
    assert found["method"].startswith("bootstrap over people, 300 resamples")
    for key in ("forget", "retain", "model_utility", "forget_quality_ks_statistic", "forget_quality_js"):
        low, high = found["values"][key]
        assert 0 <= low <= high <= 1, key
        assert low - 1e-9 <= point[key] <= high + 1e-9, key
    assert "forget_quality" not in found["values"] and "p-value" in found["no_interval"]["forget_quality"]
    assert "maximum" in found["no_interval"]["mia_auc_best"]
    low, high = found["values"]["mia_auc"]
    assert 0 <= low <= point["mia_auc"] <= high <= 1
    assert point["mia_auc_gap"] == pytest.approx(abs(point["mia_auc"] - compute_metrics(gold)["mia_auc"]))
    low, high = found["values"]["mia_auc_gap"]
    assert 0 <= low <= point["mia_auc_gap"] <= high <= 1
    gold_auc = found["membership"]["images"]["min_k_plus_plus"]["gold_auc"]
    assert 0 <= gold_auc[0] <= gold_auc[1] <= 1
    assert found["gold_floor"]["forget_quality_ks_statistic"][1] > 0  # gold vs gold: D > 0 by chance


def test_unit_weights_reproduce_compute_metrics():
    rng = np.random.default_rng(3)
    candidate = {task: normalise(task, log) for task, log in _logs(rng, 0.2).items()}
    gold = {task: normalise(task, log) for task, log in _logs(rng, 0.0).items()}
    units = Units(candidate)
    ones = np.ones((1, units.count))
    values = {t: bootstrap.row_values(log, "clearbench") for t, log in candidate.items()}
    point = compute_metrics(candidate, gold)
    retain = [
        bootstrap.weighted_mean(values["retain_captions"][s], units.rows["retain_captions"], ones)
        for s in ("prob", "truth_preference")
    ]
    assert bootstrap.harmonic(retain)[0] == pytest.approx(point["retain"])
    forget_rows = units.rows["forget_captions"]
    ours = values["forget_captions"]["log_ratio"]
    theirs = bootstrap.row_values(gold["forget_captions"], "clearbench")["log_ratio"]
    w = ones[:, forget_rows]
    assert bootstrap.ks_statistic(ours, theirs, w, w)[0] == pytest.approx(
        point["forget_quality_ks_statistic"]
    )
    assert bootstrap.calibrated_js(ours, theirs, w, w)[0] == pytest.approx(point["forget_quality_js"])


def test_a_bootstrap_of_fewer_than_two_people_is_refused():
    log = {
        "avg_gt_loss": {"0": 1.0, "1": 2.0},
        "avg_paraphrased_loss": {"0": 1.0, "1": 2.0},
        "average_perturb_loss": {"0": [1.5], "1": [2.5]},
        "rougeL_recall": {"0": 0.5, "1": 0.6},
        "person": {"0": "Ann", "1": "Ann"},
    }
    with pytest.raises(UserError, match="fewer than 2 people"):
        bootstrap_intervals({"retain_captions": log}, None, compat="clearbench", resamples=10)


def _coverage(people_units: bool, worlds: int, people: int = 25, rows: int = 6, resamples=250):
    """Share of simulated worlds whose 95 % interval of the MIA AUC covers the truth, 0.5.

    Members and non-members come from one distribution, with a person effect (sd 1) shared by a
    person's rows (row noise sd 0.5): the rows of a person are far from independent.
    """
    rng = np.random.default_rng(0)
    member_units = np.repeat(np.arange(people), rows)
    other_units = member_units + people
    covered = 0
    for _ in range(worlds):
        scores = rng.normal(size=(2, people))[:, :, None] + 0.5 * rng.normal(size=(2, people, rows))
        members, others = scores[0].ravel(), scores[1].ravel()
        if people_units:
            logs = {"m": member_units, "o": other_units}
        else:  # every row its own unit
            logs = {"m": np.arange(people * rows), "o": np.arange(people * rows) + people * rows}
        count = 2 * (people if people_units else people * rows)
        half = count // 2
        weights = np.zeros((resamples, count))
        for stratum in (np.arange(half), np.arange(half, count)):
            weights[:, stratum] = draw_counts(half, resamples, rng)
        resampled = auc(members, others, weights[:, logs["m"]], weights[:, logs["o"]])
        low, high = np.percentile(resampled, [2.5, 97.5])
        covered += low <= 0.5 <= high
    return covered / worlds


def test_person_bootstrap_covers_the_truth_and_the_row_bootstrap_does_not():
    person, row = _coverage(True, worlds=200), _coverage(False, worlds=100)
    print(f"coverage at nominal 95 %: people {person:.3f}, rows {row:.3f}")
    assert 0.90 <= person <= 0.98
    assert row < 0.75


def test_rows_are_matched_to_their_person_by_name_or_by_the_name_in_the_question():
    from clearbench.evaluate.people import known_people, rows_people

    people = ("Ann Lee", "Ann Leeds", "Bo Kim")
    rows = [
        {"name": "Bo Kim", "caption": "Bo Kim, smiling"},
        {"question": "Where was Ann Leeds born?", "answer": "In Oslo."},  # the longest name wins
        {"question": "What did the author write?", "answer": "Ann Lee wrote poems."},
        {"question": "Which author was born in 1950?", "answer": "Nobody we know."},
    ]
    assert rows_people(rows, people) == ["Bo Kim", "Ann Leeds", "Ann Lee", None]
    assert rows_people(rows[1:], ()) == [None, None, None]  # no names known: no person
    assert known_people([], extra=["Cy"]) == ("Cy",)
