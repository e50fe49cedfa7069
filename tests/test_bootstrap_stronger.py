"""Bootstrap-over-people intervals of the stronger membership attacks (reference, exact memorization,
extraction strength, GradNorm): the same draws of people as the four, candidate and gold alike."""

from clearbench.evaluate.bootstrap import bootstrap_intervals
from clearbench.evaluate.metrics import compute_metrics

FOUR = ("mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_plus_plus")
ROWS = 4  # rows per person


def _log(people: list[str], values: dict[str, list[float]], holdout: bool = False) -> dict:
    """A task log of `people` with ROWS rows each; `values` maps a per-sample key to one value per
    person (all of the person's rows take it)."""
    index = [str(i) for i in range(ROWS * len(people))]
    log = {key: {i: float(per[int(i) // ROWS]) for i in index} for key, per in values.items()}
    log["person"] = {i: people[int(i) // ROWS] for i in index}
    log |= {key: {i: 0.1 * int(i) for i in index} for key in FOUR}  # the four: any scores
    if not holdout:
        log |= {
            "avg_paraphrased_loss": dict.fromkeys(index, 1.0),
            "average_perturb_loss": {i: [2.0] for i in index},
            "rougeL_recall": dict.fromkeys(index, 0.5),
        }
    return log


def _world(forget: dict[str, list[float]], holdout: dict[str, list[float]]) -> dict:
    """forget_captions of people A, B and holdout_captions of people C, D, one value per person."""
    return {
        "forget_captions": _log(["A", "B"], forget),
        "holdout_captions": _log(["C", "D"], holdout, holdout=True),
    }


def _spans(candidate, gold, reference=None, resamples=1000):
    found = bootstrap_intervals(
        candidate, gold, compat="clearbench", resamples=resamples, reference=reference
    )
    return found["membership"]["images"]


# Exact memorization: forget person A's answers follow greedily (0.9), person B's do not (0.1); the
# holdout people C, D sit at 0.5. Drawing 2 forget people with replacement gives {A, A} (AUC 1),
# {A, B} (AUC 0.5) or {B, B} (AUC 0) with probability ¼, ½, ¼: the 95 % interval is [0, 1]. Gold
# scores every row 0.5: its AUC is 0.5 in every draw, PrivLeak = (1 − AUC − 0.5) / 0.5 = 1 − 2·AUC
# in {1, 0, −1}, |AUC − 0.5| in {0.5, 0}.
EM_FORGET, EM_HOLDOUT = [0.9, 0.1], [0.5, 0.5]


def _em_world(score_forget, score_holdout, gt_forget=(1.0, 1.0), gt_holdout=(1.0, 1.0)):
    keys = ("exact_memorization", "extraction_strength")
    forget = {key: list(score_forget) for key in keys} | {"avg_gt_loss": list(gt_forget)}
    holdout = {key: list(score_holdout) for key in keys} | {"avg_gt_loss": list(gt_holdout)}
    return _world(forget, holdout)


def test_memorization_intervals_resample_people_by_hand():
    candidate, gold = _em_world(EM_FORGET, EM_HOLDOUT), _em_world([0.5, 0.5], [0.5, 0.5])
    spans = _spans(candidate, gold)
    for attack in ("exact_memorization", "extraction_strength"):
        assert spans[attack]["auc"] == [0.0, 1.0]
        assert spans[attack]["gold_auc"] == [0.5, 0.5]
        assert spans[attack]["privleak"] == [-1.0, 1.0]
        assert spans[attack]["auc_gap"] == [0.0, 0.5]
    point = compute_metrics(candidate, gold)["membership"]["images"]["stronger"]["attacks"]
    assert point["exact_memorization"]["auc"] == 0.5  # inside its interval, at its centre


def test_rows_resampled_as_units_give_a_narrower_interval_than_people():
    # The same scores with no person recorded: each of the 8 forget rows is its own unit, the AUC is
    # the share of drawn forget rows that are A's, Binomial(8, ½) / 8, whose 2.5th and 97.5th
    # percentiles are 1/8 and 7/8: far narrower than the people's [0, 1].
    candidate, gold = _em_world(EM_FORGET, EM_HOLDOUT), _em_world([0.5, 0.5], [0.5, 0.5])
    for logs in (candidate, gold):
        for log in logs.values():
            del log["person"]
    spans = _spans(candidate, gold)
    assert spans["exact_memorization"]["auc"] == [0.125, 0.875]


def test_candidate_and_gold_draw_the_same_people_for_the_reference_attack():
    # Reference score = base loss − model loss: A 1.0 − 0.5 = 0.5, B 1.0 − 2.0 = −1.0, holdout 0. Gold
    # has the candidate's losses, so its AUC equals the candidate's in every draw of the same people:
    # the gap is exactly 0 throughout; drawn independently it would be 0.5 or 1 in most draws.
    candidate = _em_world(EM_HOLDOUT, EM_HOLDOUT, gt_forget=(0.5, 2.0))
    gold = _em_world(EM_HOLDOUT, EM_HOLDOUT, gt_forget=(0.5, 2.0))
    base = _em_world(EM_HOLDOUT, EM_HOLDOUT)  # every loss 1.0
    spans = _spans(candidate, gold, reference=base)
    assert spans["reference"]["auc"] == [0.0, 1.0] and spans["reference"]["gold_auc"] == [0.0, 1.0]
    assert spans["reference"]["auc_gap"] == [0.0, 0.0]
    assert "privleak" not in spans["reference"]  # gold's AUC is 1 in some draws: PrivLeak divides by 0
    assert spans["exact_memorization"]["auc"] == [0.5, 0.5]  # all 0.5: every draw ties


def test_attacks_without_scores_get_no_interval_and_leave_the_others_as_they_were():
    candidate, gold = _em_world(EM_FORGET, EM_HOLDOUT), _em_world([0.5, 0.5], [0.5, 0.5])
    without = _spans(candidate, gold)
    assert "reference" not in without and "gradnorm" not in without  # no base, GradNorm not logged
    for logs, values in ((candidate, ([-0.1, -0.9], [-0.5, -0.5])), (gold, ([-0.5, -0.5], [-0.5, -0.5]))):
        for task, per_person in zip(("forget_captions", "holdout_captions"), values):
            rows = logs[task]["avg_gt_loss"]
            logs[task]["mia_gradnorm"] = {i: per_person[int(i) // ROWS] for i in rows}
    spans = _spans(candidate, gold)
    assert spans["gradnorm"]["auc"] == [0.0, 1.0] and spans["gradnorm"]["gold_auc"] == [0.5, 0.5]
    for attack in ("loss", "zlib", "min_k", "min_k_plus_plus", "exact_memorization"):
        assert spans[attack] == without[attack]  # the same draws: adding an attack moves nothing


def test_the_four_s_intervals_do_not_move_when_the_stronger_ones_are_added():
    candidate, gold = _em_world(EM_FORGET, EM_HOLDOUT), _em_world([0.5, 0.5], [0.5, 0.5])
    found = bootstrap_intervals(candidate, gold, compat="clearbench", resamples=300, seed=4)
    for log in (*candidate.values(), *gold.values()):  # the same logs without the stronger scores
        del log["exact_memorization"], log["extraction_strength"]
    bare = bootstrap_intervals(candidate, gold, compat="clearbench", resamples=300, seed=4)
    assert set(found["membership"]["images"]) - set(bare["membership"]["images"]) == {
        "exact_memorization",
        "extraction_strength",
    }
    assert bare["values"] == found["values"] and bare["gold_floor"] == found["gold_floor"]
    for attack, spans in bare["membership"]["images"].items():
        assert found["membership"]["images"][attack] == spans
