"""Official CLEAR eval logs, in the shape the official multimodal evaluation writes them, read as written.

The fixture is built here (no file of the official project is copied): `eval_log_aggregated.json` maps
the six official file names to per-sample logs with the official keys; `rougeL_recall` and
`rouge1_recall` are empty ({}), because the official code recomputes ROUGE from `generated_text`
= [prompt, generation, reference] later (clear_spec.md §3.2, §7.12).
"""

from __future__ import annotations

import json
import math

import pytest

from clearbench.cli import main
from clearbench.evaluate.logs import read_eval
from clearbench.evaluate.metrics import compute_metrics, harmonic_mean, one_minus_js_aligned

LN2 = math.log(2)
# Official file -> (answer, generation, alternatives' loss, row count). ROUGE-L recall of the
# generation against the answer: 3/6 for "the cat sat" vs "the cat sat on the mat", 1 for a match.
FILES = {
    "eval_log_forget.json": ("the cat sat on the mat", "the cat sat", 3),
    "eval_log.json": ("a dog runs in the park", "a dog runs in the park", 3),
    "eval_forget_facerec.json": ("Nikolai Abilov", "Nikolai Abilov", 3),
    "eval_retain_facerec.json": ("Marit Hagen", "Marit", 3),
    "eval_real_faces_wo_options.json": ("Taylor Swift", "Taylor Swift", 2),
    "eval_real_world_wo_options.json": ("two cars", "three cars", 2),
}


def official_log(answer: str, generation: str, rows: int, paraphrased=0.0, spread=0.0) -> dict:
    """One task in the official shape: per-sample dicts keyed by string index, no header, no ROUGE."""
    index = [str(i) for i in range(rows)]
    # Row i's alternatives have loss ln 2 + spread · (i − 1): rows differ, so the official global
    # mean of the perturbed losses differs from each row's own mean.
    perturbed = {i: [LN2 + spread * (int(i) - 1)] * 2 for i in index}
    log = {
        "avg_gt_loss": dict.fromkeys(index, 0.5),
        "gt_loss": dict.fromkeys(index, 2.0),
        "num_token_gt": dict.fromkeys(index, 4),
        "avg_paraphrased_loss": dict.fromkeys(index, paraphrased),
        "paraphrased_loss": dict.fromkeys(index, 4 * paraphrased),
        "num_token_paraphrased": dict.fromkeys(index, 4),
        "average_perturb_loss": perturbed,
        "perturb_loss": {i: [4 * v for v in perturbed[i]] for i in index},
        "num_token_perturb": {i: [4, 4] for i in index},
        "truth_ratio": dict.fromkeys(index, 0.5),
        "generated_text": {i: [f"USER: <image>\nquestion {i} ASSISTANT:", generation, answer] for i in index},
        "rougeL_recall": {},
        "rouge1_recall": {},
    }
    return log


def write_official(path, **forget_options):
    logs = {name: official_log(*spec) for name, spec in FILES.items()}
    logs["eval_log_forget.json"] = official_log(*FILES["eval_log_forget.json"], **forget_options)
    for name, log in logs.items():
        if "eval_log" not in name:  # the official code adds this to the non-caption tasks
            log["normalized_gt_loss"] = dict.fromkeys(log["avg_gt_loss"], 0.3)
    path.mkdir(parents=True)
    (path / "eval_log_aggregated.json").write_text(json.dumps(logs))
    return path


def test_empty_rouge_means_recompute_from_the_generations(tmp_path):
    logs = read_eval(write_official(tmp_path / "gold"))
    assert set(logs) == {
        "forget_captions",
        "retain_captions",
        "forget_facerec",
        "retain_facerec",
        "real_faces",
        "real_world",
    }
    tasks = compute_metrics(logs)["tasks"]
    assert tasks["forget_captions"]["rouge"] == pytest.approx(3 / 6)
    assert tasks["retain_captions"]["rouge"] == pytest.approx(1.0)
    assert tasks["retain_facerec"]["rouge"] == pytest.approx(1 / 2)  # "Marit" of "Marit Hagen"
    assert tasks["real_world"]["rouge"] == pytest.approx(1 / 2)  # "cars" of "two cars"


def test_official_logs_through_the_cli_under_clear_official(tmp_path, capsys):
    gold = write_official(tmp_path / "gold")
    # The candidate's forget captions: paraphrase loss 1 and alternatives spread by row (by 0.5: a
    # loss below 0 is refused as impossible).
    candidate = write_official(tmp_path / "candidate", paraphrased=1.0, spread=0.5)
    args = [
        "metrics",
        "--candidate",
        str(candidate),
        "--gold",
        str(gold),
        "--compat",
        "clear-official",
        "--json",
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    # Official truth ratio: global perturbed mean ln 2 (rows ln 2 − ½, ln 2, ln 2 + ½) for every row.
    # Candidate log R = ln 2 − 1 on all 3 rows, gold ln 2: aligned vectors proportional -> 1 − JS = 1,
    # although per-row ratios (ln 2 − 1.5, ln 2 − 1, ln 2 − ½) would not be.
    assert result["forget_quality_js"] == pytest.approx(1.0)
    assert one_minus_js_aligned([LN2 - 1.5, LN2 - 1, LN2 - 0.5], [LN2] * 3) < 0.9
    assert result["forget_quality"] == pytest.approx(2 / math.comb(6, 3))  # separated 3 vs 3
    # The paper's aggregates from the recomputed logs: real = H(Prob, TR) of the two real tasks.
    # Choice Prob = 1 / (1 + 2 · e^{0.5 − ln 2}) = 1 / (1 + e^{0.5}); TR = 1 − 1/R, R = e^{ln 2 − 0} = 2.
    prob = 1 / (1 + math.exp(0.5))
    assert result["real"] == pytest.approx(harmonic_mean([prob, 0.5, prob, 0.5]))
    # Forget (paper, mixed): captions Prob e^{-0.5}, TR min(R, 1/R) with R = e^{ln 2 − 1}; face-rec
    # Prob as above, TR min(2, 1/2).
    r_forget = math.exp(LN2 - 1)
    expected = harmonic_mean([math.exp(-0.5), min(r_forget, 1 / r_forget), prob, 0.5])
    assert result["forget"] == pytest.approx(expected)
    assert (
        result["model_utility_text"] is None
        and "none of its tasks" in result["unavailable"]["model_utility_text"]
    )


def test_official_logs_without_rouge_or_generations_name_the_missing_key(tmp_path, capsys):
    gold = write_official(tmp_path / "gold")
    aggregated = gold / "eval_log_aggregated.json"
    logs = json.loads(aggregated.read_text())
    del logs["eval_log.json"]["generated_text"]
    aggregated.write_text(json.dumps(logs))
    assert main(["metrics", "--candidate", str(gold)]) == 2
    error = capsys.readouterr().err
    assert "[eval_log.json]: missing per-sample key 'generated_text'" in error
    assert "'rougeL_recall' is empty or absent" in error
