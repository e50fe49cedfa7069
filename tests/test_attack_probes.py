"""Probes of residual knowledge: accuracy 1 on planted separable features, chance on noise, the
rows each form's probe trains and tests on, and a layer that does not exist refused up front."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from clearbench.attacks.base import Source
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.probes import Probe, probe_record
from clearbench.errors import UserError
from clearbench.evaluate import probes
from clearbench.run.config import load_config


def _questions(count, candidates, rng, signal):
    """Features of `count` questions × `candidates` answers (the first true): the truth planted
    along the first axis with strength `signal` (0: pure noise)."""
    truth = np.tile([1] + [0] * (candidates - 1), count)
    question = np.repeat(np.arange(count), candidates)
    features = rng.normal(size=(len(truth), 5))
    features[:, 0] += signal * truth
    return features, truth, question


def test_planted_truth_gives_accuracy_1_and_noise_gives_chance():
    rng = np.random.default_rng(0)
    train_planted, train_truth, _ = _questions(100, 3, rng, signal=8.0)
    test_planted, test_truth, test_question = _questions(600, 3, rng, signal=8.0)
    train_noise, test_noise = rng.normal(size=train_planted.shape), rng.normal(size=test_planted.shape)
    people = [f"p{q % 60}" for q in range(600)]  # 60 people, 10 questions each
    found = probes.layer_results(
        {1: train_planted, 2: train_noise}, train_truth, {1: test_planted, 2: test_noise}, test_truth,
        test_question, people, resamples=200,
    )  # fmt: skip
    assert found["layers"][1]["accuracy"] == 1.0 and found["layers"][1]["interval"] == [1.0, 1.0]
    assert found["layers"][1]["chance"] == pytest.approx(1 / 3) and found["people"] == 60
    noise = found["layers"][2]
    assert noise["accuracy"] == pytest.approx(1 / 3, abs=0.07)
    assert noise["interval"][0] < 1 / 3 < noise["interval"][1]


def test_a_question_is_known_only_when_its_true_candidate_scores_above_every_other():
    # Train: truth along axis 0. Test question 0: true 2.0 beats 1.0, 0.0; question 1: true 0.5 loses to 1.5.
    train = np.array([[1.0], [0.0], [1.1], [-0.1], [0.9], [0.1]])
    known = probes.known_questions(
        train,
        [1, 0, 1, 0, 1, 0],
        np.array([[2.0], [1.0], [0.0], [0.5], [1.5]]),
        [1, 0, 0, 1, 0],
        [0, 0, 0, 1, 1],
    )
    assert known.tolist() == [1.0, 0.0]


def test_a_probe_on_noise_is_at_chance_and_on_separable_clusters_perfect():
    rng = np.random.default_rng(1)
    y_train, y_test = rng.integers(4, size=400), rng.integers(4, size=4000)
    noise = probes.probe_accuracy(rng.normal(size=(400, 6)), y_train, rng.normal(size=(4000, 6)), y_test)
    assert noise == pytest.approx(0.25, abs=0.03)
    centres = rng.normal(0, 10, size=(4, 6))
    separable = probes.probe_accuracy(
        centres[y_train] + rng.normal(size=(400, 6)),
        y_train,
        centres[y_test] + rng.normal(size=(4000, 6)),
        y_test,
    )
    assert separable == 1.0


def test_the_residual_share_uses_paired_draws_and_needs_a_gap_beyond_noise():
    def result(accuracy, draws):
        layer = {"accuracy": accuracy, "interval": None, "draws": draws}
        return {"tasks": {"tofu_forget": {"layers": {"1": layer}}}}

    # Paired draws: per resample the model holds half of the target–gold gap.
    gold = [0.1 * i for i in range(10)]
    target = [g + 0.6 for g in gold]
    model = [g + 0.3 for g in gold]
    record = probe_record(result(0.5, model), result(0.8, target), result(0.2, gold))
    share = record["residual_share"]["tofu_forget"]["1"]
    assert share["share"] == pytest.approx(0.5) and share["interval"] == pytest.approx([0.5, 0.5])
    assert "draws" not in record["model"]["tasks"]["tofu_forget"]["layers"]["1"]  # kept out of records
    # A gap whose resamples cross 0 is not measurable, whatever its point value.
    noisy = probe_record(
        result(0.5, model), result(0.8, [g + (-0.2) ** i for i, g in enumerate(gold)]), result(0.2, gold)
    )
    assert noisy["residual_share"]["tofu_forget"]["1"]["share"] is None
    assert "within its noise" in noisy["residual_share"]["tofu_forget"]["1"]["reason"]
    assert probe_record(result(0.5, model), None, result(0.2, gold))["residual_share"] == {}


def test_wrong_candidates_are_other_peoples_answers_to_the_same_question_with_the_name_swapped():
    pool = [
        {"question": "What is Ann Lee's nationality?", "answer": "Ann Lee is Kenyan.", "person": "Ann Lee"},
        {"question": "What is Bo Ma's nationality?", "answer": "Bo Ma is Peruvian.", "person": "Bo Ma"},
        {"question": "What is Cy Oh's nationality?", "answer": "Cy Oh is Kenyan.", "person": "Cy Oh"},
        {"question": "When was Bo Ma born?", "answer": "Bo Ma was born in 1990.", "person": "Bo Ma"},
    ]
    asked = [
        {"question": "What is Di Wu's nationality?", "answer": "Di Wu is Kenyan.", "person": "Di Wu"},
        {"question": "When was Di Wu born?", "answer": "Di Wu was born in 1990.", "person": "Di Wu"},
        {"question": "Who is Di Wu?", "answer": "A writer.", "person": "Di Wu"},
    ]
    found = probes.swapped_candidates(asked, pool, wrong=3, seed="0")
    # Only the nationality question has an answer of another kind; the birth year is the same.
    assert found["rows"] == [0]
    assert found["candidates"] == [(0, "Di Wu is Kenyan.", 1), (0, "Di Wu is Peruvian.", 0)]


def test_a_probe_layer_that_does_not_exist_is_refused_before_the_model_loads(tmp_path):
    # A checkpoint's config alone (no weights): all the refusal reads.
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 3}))
    available = probes.decoder_layers(tmp_path)
    assert available == 3
    context = SimpleNamespace(options=AttackOptions(probe_layers=[1, available + 1]), trust_remote_code=False)
    with pytest.raises(
        UserError, match=rf"probe layer {available + 1} does not exist in model npo .*1 to {available}"
    ):
        Probe().check_models([Source("npo", "unlearned", tmp_path)], context)
    assert probes.check_layers([], available, "x") == list(range(1, available + 1))
    with pytest.raises(UserError, match=r"config key 'attack.probe_layers' must list layer numbers from 1"):
        load_config("tiny", ["attack.probe_layers=[0, 2]"])
