"""Probes of residual knowledge: accuracy 1 on planted separable features, chance on noise, the
rows each form's probe trains and tests on, and a layer that does not exist refused up front."""

from types import SimpleNamespace

import numpy as np
import pytest

from clearbench.attacks.base import Source
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.probes import Probe, probe_record
from clearbench.config import load_config
from clearbench.errors import UserError
from clearbench.evaluate import probes

NATIONS = ["kenyan", "peruvian", "korean", "norwegian"]


def _people(prefix, count, rng):
    """Rows of `count` people: a nationality question each (4 labels) and a birth year (unique)."""
    rows, year = [], 1900 if prefix == "Retain" else 2000
    for i in range(count):
        person = f"{prefix} Person{i}"
        nation = NATIONS[rng.integers(len(NATIONS))] if prefix == "Retain" else NATIONS[i % 4]
        rows.append(
            {
                "question": f"What is {person}'s nationality?",
                "answer": f"{person} is {nation}.",
                "person": person,
            }
        )
        rows.append({"question": f"When was {person} born?", "answer": f"In {year + i}.", "person": person})
    return rows


def test_planted_separable_features_give_accuracy_1_and_noise_gives_chance():
    rng = np.random.default_rng(0)
    retain, forget = _people("Retain", 60, rng), _people("Forget", 12, rng)
    planned = probes.plan(retain, forget)
    # One form (nationality) is probed; birth years are unique to each person, so unpredictable.
    assert list(planned["forms"]) == ["What is {}'s nationality?"]
    assert planned["forms"]["What is {}'s nationality?"]["test"] == list(range(0, 24, 2))
    assert planned["unpredictable"] == 12
    labels = [probes.answer_label(r["answer"], r["person"]) for r in retain + forget]
    assert labels[len(retain)] == "is kenyan"  # the answer without the name, case-folded
    planted = np.array([np.eye(4)[NATIONS.index(label.split()[-1])] * 5 if label.startswith("is ") else np.zeros(4)
                        for label in labels]) + rng.normal(0, 0.1, (len(labels), 4))  # fmt: skip
    noise = rng.normal(size=(len(labels), 4))
    found = probes.layer_results({1: planted, 2: noise}, retain, forget, planned, resamples=200)
    assert found["layers"][1]["accuracy"] == 1.0 and found["layers"][1]["interval"] == [1.0, 1.0]
    assert found["rows"] == 12 and found["people"] == 12 and found["forms"] == 1
    # Chance: always the retain people's most frequent nationality, right for 3 of the 12.
    assert found["layers"][1]["chance"] == pytest.approx(3 / 12)
    low, high = found["layers"][2]["interval"]
    assert low <= found["layers"][2]["accuracy"] <= high


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


def test_the_residual_share_per_layer_sits_in_the_target_gold_gap():
    layer = lambda accuracy: {"layers": {"1": {"accuracy": accuracy}}}  # noqa: E731
    record = probe_record(layer(0.5), layer(0.9), layer(0.3))
    assert record["residual_share"] == {"1": pytest.approx((0.5 - 0.3) / (0.9 - 0.3))}
    assert probe_record(layer(0.5), None, layer(0.3))["residual_share"] == {}


def test_a_probe_layer_that_does_not_exist_is_refused_before_the_model_loads(tmp_path):
    from clearbench.models import registry

    adapter = next(a for a in registry.ADAPTERS if a.family == "llava")
    model, processor = adapter.build_tiny(["a photo of someone"], seed=0)
    model.config.save_pretrained(tmp_path)  # the config alone: no weights are needed to refuse
    available = probes.decoder_layers(tmp_path)
    context = SimpleNamespace(options=AttackOptions(probe_layers=[1, available + 1]), trust_remote_code=False)
    with pytest.raises(
        UserError, match=rf"probe layer {available + 1} does not exist in model npo .*1 to {available}"
    ):
        Probe().check_models([Source("npo", "unlearned", tmp_path)], context)
    assert probes.check_layers([], available, "x") == list(range(1, available + 1))
    with pytest.raises(UserError, match=r"config key 'attack.probe_layers' must list layer numbers from 1"):
        load_config("tiny", ["attack.probe_layers=[0, 2]"])
