"""The attack stage records each row's person, text rows too, so that leak@k and the residual share
resample people (a TOFU row has no name column: its person is the forget person its question names)."""

import json

import pytest
from attack_world import FAST_EVAL

from clearbench.attacks.leak import leak_summary
from clearbench.attacks.options import AttackOptions
from clearbench.attacks.stage import attack_all, forget_people
from clearbench.data.load import load_split
from clearbench.evaluate.logs import read_eval
from clearbench.models import registry


def _leak_logs(named: bool) -> dict:
    """tofu_forget asked of people A and B, 4 questions each: every one of A's leaks, none of B's."""
    index = [str(i) for i in range(8)]
    log = {"avg_gt_loss": dict.fromkeys(index, 1.0), "leaked": {i: int(int(i) < 4) for i in index}}
    if named:
        log["person"] = {i: "A" if int(i) < 4 else "B" for i in index}
    return {"tofu_forget": log}


def test_leak_at_k_over_people_is_wider_than_over_rows_by_hand():
    # Over people: {A, A}, {A, B}, {B, B} with probability ¼, ½, ¼ give leak@k 1, ½, 0: [0, 1]. Over
    # rows: the share of 8 rows drawn from A's, Binomial(8, ½) / 8, 2.5th to 97.5th percentile [⅛, ⅞].
    people, rows = leak_summary(_leak_logs(True)), leak_summary(_leak_logs(False))
    assert people["leak_at_k"] == rows["leak_at_k"] == 0.5
    assert people["interval"] == [0.0, 1.0] and people["method"].startswith("bootstrap over people")
    assert rows["interval"] == [0.125, 0.875] and rows["method"].startswith("bootstrap over rows")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A synthetic source of 20 people (2 forgotten, 15 biography questions each) and a tiny LLaVA."""
    from clearbench.data.synth import generate

    root = tmp_path_factory.mktemp("people")
    source = str(generate(root / "synth", persons=20, seed=0, image_size=16))
    rows = load_split(source, "tofu_forget10_perturbed")
    texts = [t for column in ("question", "answer") for t in rows[column]]
    adapter = next(a for a in registry.ADAPTERS if a.family == "llava")
    model, processor = adapter.build_tiny(texts, seed=0)
    model.save_pretrained(root / "model")
    processor.save_pretrained(root / "model")
    return root, source


def test_forget_people_come_from_the_forget_configs_name_column(world):
    _, source = world
    names = ("Solveig Haugen", "Wanjiru Wekesa")  # the forget10 people of this world
    assert sorted(set(load_split(source, "forget10")["name"])) == list(names)
    captions = {"forget_captions": load_split(source, "forget10_perturbed")}
    assert forget_people(source, "forget10", captions, None) == names
    # the QA config has no name column: the captions config of the forget split names them
    questions = {"tofu_forget": load_split(source, "tofu_forget10_perturbed")}
    assert forget_people(source, "forget10", questions, None) == names


def test_text_rows_of_attack_logs_name_their_person_and_leak_at_k_resamples_people(world):
    root, source = world
    models = [("target", "target", root / "model"), ("gold", "gold", root / "model")]
    options = AttackOptions(leak_samples=2, leak_temperature=1.0)
    records = attack_all(
        root / "out", source, "forget10", models, ["leak"], options, FAST_EVAL, 0, lambda _: None,
        tasks=["tofu_forget"],
    )  # fmt: skip
    rows = load_split(source, "tofu_forget10_perturbed")
    by_hand = {  # each question names exactly one of the two forget people
        str(i): next(n for n in ("Solveig Haugen", "Wanjiru Wekesa") if n in q)
        for i, q in enumerate(rows["question"])
    }
    for variant in ("clean", "leak-k2-t1"):
        log = read_eval(root / "out" / "attacks" / variant / "target" / "eval")["tofu_forget"]
        assert log["person"] == by_hand, variant
    leak = next(r for r in records if r["model"] == "target")["leak"]["model"]
    assert leak["method"] == "bootstrap over people, 1000 resamples, 95 % percentile interval"
    assert json.loads((root / "out" / "attacks" / "records.json").read_text()) == records
