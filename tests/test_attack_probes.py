"""Probes of residual knowledge: accuracy 1 on planted separable features, chance on noise, the
rows each form's probe trains and tests on, and a layer that does not exist refused up front."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from clearbench.attacks.base import Source
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.probes import Probe, probe_record
from clearbench.config import load_config
from clearbench.errors import UserError
from clearbench.evaluate import probes


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


def test_the_residual_share_is_given_only_when_target_and_gold_are_apart():
    def result(accuracy, interval):
        return {"tasks": {"tofu_forget": {"layers": {"1": {"accuracy": accuracy, "interval": interval}}}}}

    record = probe_record(result(0.5, [0.4, 0.6]), result(0.9, [0.8, 1.0]), result(0.3, [0.2, 0.4]))
    assert record["residual_share"] == {"tofu_forget": {"1": pytest.approx((0.5 - 0.3) / (0.9 - 0.3))}}
    overlapping = probe_record(result(0.5, [0.4, 0.6]), result(0.4, [0.3, 0.5]), result(0.3, [0.2, 0.4]))
    assert overlapping["residual_share"] == {"tofu_forget": {"1": None}}
    assert probe_record(result(0.5, None), None, result(0.3, None))["residual_share"] == {}


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
