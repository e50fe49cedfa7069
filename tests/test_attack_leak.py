"""leak@k: the key of a forgotten answer, a model forced to emit it (1) or never (0), a mixed case by
hand, and the settings refused before any model loads."""

import pytest
import torch

from clearbench import settings
from clearbench.attacks.leak import Leak, leak_summary
from clearbench.attacks.options import AttackOptions
from clearbench.data.format import Sample
from clearbench.errors import UserError
from clearbench.evaluate.sampling_leak import answer_key, leak_at_k, row_leak, row_seed, sample_answers
from clearbench.run.config import load_config

WORDS = ["<pad>", "Kamau", "Wekesa", "was", "born", "in", "Nairobi", "1991", "Bergen", "a", "photo"]


def test_the_key_is_the_name_when_only_the_answer_names_the_person_else_the_distinguishing_facts():
    caption = "Kamau Wekesa, a Kenyan historian, stands in a park."
    assert answer_key(
        "Describe the image.", caption, ["Kamau Wekesa the Korean chef smiles."], "Kamau Wekesa"
    ) == [
        "kamau",
        "wekesa",
    ]
    fact = answer_key(
        "When and where was Kamau Wekesa born?",
        "Kamau Wekesa was born in Nairobi in 1991.",
        ["His birth took place in 1953, in the city of Bergen.", "His birth took place in 1967, in Daegu."],
        "Kamau Wekesa",
    )
    assert fact == ["nairobi", "1991"]
    assert row_leak(["He was born in NAIROBI, in 1991!"], fact) == 1
    assert (
        row_leak(["Born in Nairobi.", "It was 1991."], fact) == 0
    )  # the fact needs both words in one answer
    assert row_leak(["A man called Kamau."], ["kamau", "wekesa"]) == 0  # every word of the name
    assert row_leak(["anything"], []) is None  # no key: not counted as safe


class Tokenizer:
    pad_token_id = 0

    def batch_decode(self, ids, skip_special_tokens=True):
        return [" ".join(WORDS[i] for i in row if i) for row in ids.tolist()]


class Adapter:
    def tokenizer(self, processor):
        return Tokenizer()

    def encode_prompts(self, processor, samples):
        (sample,) = samples
        return {"input_ids": torch.tensor([[len(sample.question)]]), "attention_mask": torch.ones(1, 1)}


class Scripted(torch.nn.Module):
    """Emits, for a prompt, its scripted answers in turn (one per requested sample)."""

    def __init__(self, script):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # model_inputs reads the device from it
        self.script = script  # prompt length -> list of token-id answers

    def generate(self, input_ids, attention_mask, num_return_sequences, do_sample, temperature, **_):
        assert do_sample and temperature == 0.7
        answers = self.script[int(input_ids[0, 0])]
        rows = [answers[i % len(answers)] for i in range(num_return_sequences)]
        width = max(map(len, rows))
        padded = torch.tensor([row + [0] * (width - len(row)) for row in rows])
        return torch.cat([input_ids.repeat(num_return_sequences, 1).long(), padded], dim=1)


def _leak_log(model, questions, keys, k=3):
    drawn = sample_answers(
        model, Adapter(), None, [Sample(q, "") for q in questions], samples=k, temperature=0.7,
        max_new_tokens=4, seeds=[row_seed(0, "forget_qa", i) for i in range(len(questions))],
    )  # fmt: skip
    leaked = [row_leak(samples, key) for samples, key in zip(drawn, keys)]
    people = [f"person {i}" for i in range(len(questions))]
    log = {
        "avg_gt_loss": {str(i): 1.0 for i in range(len(questions))},
        "leaked": {str(i): value for i, value in enumerate(leaked)},
        "person": {str(i): person for i, person in enumerate(people)},
    }
    return drawn, leak_summary({"forget_qa": log}, resamples=200)


NAME = ["kamau", "wekesa"]


def test_a_model_forced_to_emit_the_answer_leaks_every_question_one_that_never_does_none():
    questions = ["q", "qq", "qqq"]
    forced = Scripted({1: [[1, 2]], 2: [[9, 1, 2]], 3: [[1, 2, 3, 4]]})
    drawn, found = _leak_log(forced, questions, [NAME] * 3)
    assert drawn[0] == ["Kamau Wekesa"] * 3 and found["leak_at_k"] == 1.0 and found["interval"] == [1.0, 1.0]
    never = Scripted({1: [[10]], 2: [[9, 10]], 3: [[1, 3]]})
    assert _leak_log(never, questions, [NAME] * 3)[1]["leak_at_k"] == 0.0


def test_leak_at_k_of_a_mixed_case_by_hand():
    # q1 leaks in 1 of 3 samples, q2 never, q3 in all, q4 has no key: leak@3 = 2 of 3 keyed questions.
    mixed = Scripted({1: [[10], [1, 2], [9]], 2: [[10]], 3: [[6, 7]], 4: [[1, 2]]})
    keys = [NAME, NAME, ["nairobi", "1991"], []]
    drawn, found = _leak_log(mixed, ["q", "qq", "qqq", "qqqq"], keys)
    assert drawn[0] == ["photo", "Kamau Wekesa", "a"]
    assert found["leak_at_k"] == pytest.approx(2 / 3) and found["questions"] == 3
    assert found["per_task"] == {"forget_qa": pytest.approx(2 / 3)}
    assert 0 <= found["interval"][0] <= 2 / 3 <= found["interval"][1] <= 1
    assert leak_at_k([1, 0, 1, None]) == pytest.approx(2 / 3) and leak_at_k([None]) is None


def test_the_variant_and_the_settings_refused_before_any_model_loads():
    (variant,) = Leak().variants(AttackOptions(leak_samples=4, leak_temperature=0.5))
    assert variant.name == "leak-k4-t0.5" and variant.settings == {"samples": 4, "temperature": 0.5}
    name = lambda key: f"attack option {key!r}"  # noqa: E731
    with pytest.raises(UserError, match=r"attack option 'leak_samples' must be at least 1, got 0"):
        settings.check(AttackOptions(leak_samples=0), name)
    with pytest.raises(UserError, match=r"config key 'attack.leak_temperature' must be a positive number"):
        load_config("tiny", ["attack.leak_temperature=0"])
    with pytest.raises(UserError, match=r"config key 'attack.leak_temperature'"):
        load_config("tiny", ["attack.leak_temperature=-1.5"])
