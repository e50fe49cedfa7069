"""Sequential forget requests: the new rows of each request, the checks, and a tiny run end to end."""

import json

import pytest
from datasets import Dataset
from PIL import Image

from clearbench.data.increments import new_rows
from clearbench.errors import UserError
from clearbench.run.config import load_config
from clearbench.run.pipeline import Pipeline


def _rows(*captions):
    images = [Image.new("RGB", (2, 2), (i, 0, 0)) for i in range(len(captions))]
    return Dataset.from_dict({"caption": list(captions), "image": images})


def test_a_request_keeps_only_rows_the_earlier_one_did_not_hold():
    later, earlier = _rows("a", "b", "c"), _rows("a")
    assert new_rows(later, earlier, config="forget05", earlier_config="forget01")["caption"] == ["b", "c"]
    # Same caption, another image: another row.
    other_image = Dataset.from_dict({"caption": ["b"], "image": [Image.new("RGB", (2, 2), (9, 9, 9))]})
    assert new_rows(later, other_image, config="x", earlier_config="y")["caption"] == ["a", "b", "c"]
    with pytest.raises(UserError, match="adds no rows to 'forget01'"):
        new_rows(earlier, later, config="forget05", earlier_config="forget01")


@pytest.mark.parametrize(
    "requests, message",
    [
        ("[forget05, forget01, forget10]", "smallest first"),
        ("[forget01, forget05]", "must end with the forget split (forget10)"),
        ("[forget10]", "at least two requests"),
        ("[forget02, forget10]", "smallest first"),
    ],
)
def test_bad_requests_are_refused(requests, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(None, [f"requests={requests}"])


SEQUENTIAL = [
    "data.persons=20",
    "pretrain.max_steps=3",
    "finetune.max_steps=4",
    "unlearn.max_steps=2",
    "unlearn.methods=[ga]",
    "requests=[forget05, forget10]",
    "eval.max_rows=2",
    "eval.max_new_tokens=4",
    "eval.bootstrap=0",
]


@pytest.mark.slow
def test_each_request_unlearns_from_the_model_before_and_is_reported_beside_one_shot(tmp_path):
    Pipeline(load_config(None, SEQUENTIAL), tmp_path, log=lambda line: None).run()
    jobs = {}
    for path in (tmp_path / "jobs").glob("*/job.json"):
        record = json.loads(path.read_text())
        jobs[record["name"]] = (path.parent.name, record["spec"])
    first_key, first = jobs["ga[request=forget05]"]
    _, second = jobs["ga[request=forget10]"]
    assert first["model"] == {"job": jobs["target"][0]} and "earlier" not in first
    assert second["model"] == {"job": first_key}
    assert (second["forget"], second["earlier"], second["retain"]) == (
        "forget10+tofu",
        "forget05+tofu",
        "retain90+tofu",
    )
    assert first["retain"] == "retain95+tofu" and jobs["gold[request=forget05]"][1]["split"].startswith(
        "retain95+tofu"
    )

    # The increment: forget10's rows that forget05 did not hold; persons=20 puts 1 person in forget05
    # and 2 in forget10, so the two steps unlearn as many rows as one-shot unlearning of forget10.
    def forget_rows(name):
        return json.loads((tmp_path / "jobs" / jobs[name][0] / "output" / "run.json").read_text())[
            "forget_rows"
        ]

    assert 0 < forget_rows("ga[request=forget10]") < forget_rows("ga")
    assert forget_rows("ga[request=forget05]") + forget_rows("ga[request=forget10]") == forget_rows("ga")
    table = (tmp_path / "report" / "requests.csv").read_text()
    assert "ga[request=forget05],forget05" in table and "ga[request=forget10],forget10" in table
    assert "ga,one-shot forget10" in table
    leaderboard = (tmp_path / "report" / "leaderboard.csv").read_text()
    assert "request=" not in leaderboard  # sequential models are not leaderboard rows
