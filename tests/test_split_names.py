"""The split vocabulary is declared once (data/split_names.py) and every reader refuses a name outside it."""

import pytest

from clearbench.cli import build_parser
from clearbench.data import schema
from clearbench.data.split_names import FORGET_SPLITS, check_forget_split, retain_split, split_percent
from clearbench.errors import UserError
from clearbench.evaluate.tasks import TASKS
from clearbench.run.config import load_config
from clearbench.run.export import model_card
from clearbench.run.reuse import ReferenceJob
from clearbench.visual.config import load_visual_config


def test_the_vocabulary_and_its_pairs():
    assert FORGET_SPLITS == ("forget01", "forget05", "forget10")
    assert [retain_split(split) for split in FORGET_SPLITS] == ["retain99", "retain95", "retain90"]
    assert [split_percent(split) for split in FORGET_SPLITS] == ["01", "05", "10"]
    # The schemas are built from the same names: every forget and retain split is a config.
    for split in FORGET_SPLITS:
        assert {split, retain_split(split), f"tofu_{split}", f"tofu_{retain_split(split)}"} <= set(
            schema.SCHEMAS
        )
    assert schema.FORGET_SPLITS is FORGET_SPLITS  # re-exported, not re-declared


@pytest.mark.parametrize("name", ["forget20", "forget5", "retain90", "forget10 ", ""])
def test_names_outside_the_vocabulary_are_refused(name):
    with pytest.raises(UserError, match=rf"where {name!r} must be forget01, forget05 or forget10"):
        check_forget_split(name, "where")
    with pytest.raises(UserError):
        retain_split(name)


def test_tasks_refuse_forget20():
    # A regex once accepted any forgetNN; forget20 has no configs.
    assert TASKS["forget_captions"].config("forget10") == "forget10_perturbed"
    with pytest.raises(UserError, match="forget split 'forget20'"):
        TASKS["forget_captions"].config("forget20")


def test_configs_refuse_forget20():
    with pytest.raises(UserError, match="forget_split 'forget20' must be"):
        load_config(None, ["forget_split=forget20"])
    with pytest.raises(UserError, match="requests"):
        load_config(None, ["forget_split=forget10", "requests=[forget20, forget10]"])
    with pytest.raises(UserError, match="data.forget_split.*'forget20'"):
        load_visual_config("visual", ["data.forget_split=forget20"])


def test_the_model_card_names_the_retain_split():
    card = model_card(ReferenceJob("gold", "gold", "k", None), {"forget_split": "forget05"}, {}, {})
    assert "retain95" in card


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_every_forget_split_option_offers_the_vocabulary(command, capsys):
    parser = build_parser()
    subparser = parser._subparsers._group_actions[0].choices[command]
    option = next(action for action in subparser._actions if "--forget-split" in action.option_strings)
    assert tuple(option.choices) == FORGET_SPLITS
    with pytest.raises(SystemExit) as exit:
        parser.parse_args(
            [command, "--model", "m", "--data", "d", "--out", "o", "--forget-split", "forget20"]
        )
    assert exit.value.code == 2
    assert "invalid choice: 'forget20'" in capsys.readouterr().err
