"""One registry type for every plugin kind: names, origins, duplicates, entry points, broken plugins.

The entry-point test writes a distribution's metadata by hand into a temporary folder on sys.path
(what pip would write), from the example in docs/extending.md: nothing is installed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from clearbench.attacks import ATTACKS
from clearbench.errors import UserError
from clearbench.evaluate.metric_table import METRICS
from clearbench.evaluate.tasks import TASKS, select_tasks
from clearbench.methods import METHODS
from clearbench.models.registry import FAMILIES, adapter_for_model_type
from clearbench.registry import BUILT_IN, DuplicateError, Registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


class Thing:
    def __init__(self, name):
        self.name = name


def test_add_find_list_and_refuse_a_duplicate():
    things = Registry("thing", "clearbench.things", built_in=[Thing("a"), Thing("b")])
    assert list(things) == ["a", "b"] and things.origins == {"a": BUILT_IN, "b": BUILT_IN}
    assert things.find("b").name == "b"
    with pytest.raises(DuplicateError, match=r"thing 'a' is already declared \(built-in\)"):
        things.add(Thing("a"))
    with pytest.raises(ValueError):  # code that registers sees a ValueError too
        things.add(Thing("a"))
    other = things.add(Thing("a"), "file x.py", replace=True)
    assert things["a"] is other and things.origins["a"] == "file x.py"
    with pytest.raises(
        UserError, match=r"unknown thing 'c'; available: a, b \(or an installed `clearbench.things`"
    ):
        things.find("c")
    things.remove("a")
    assert list(things) == ["b"] and "a" not in things.origins


def test_every_plugin_kind_has_its_registry_and_group():
    kinds = {registry.group: registry for registry in (METHODS, TASKS, FAMILIES, METRICS, ATTACKS)}
    groups = ("methods", "tasks", "models", "metrics", "attacks")
    assert set(kinds) == {f"clearbench.{group}" for group in groups}
    assert all(isinstance(registry, Registry) for registry in kinds.values())
    assert METHODS.origins["npo"] == BUILT_IN and FAMILIES.origins["llava"] == BUILT_IN
    assert "forget_quality" in METRICS and TASKS.find("tofu_forget").half == "tofu"
    # Every group the page documents is one of these.
    assert set(re.findall(r"\| `(clearbench\.\w+)` +\|", DOC.read_text(encoding="utf-8"))) == set(kinds)


def _doc_block(language: str) -> str:
    section = DOC.read_text(encoding="utf-8").split("## Plugins", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def site(tmp_path):
    """A folder on sys.path for hand-written distributions; the task registry restored after."""
    sys.path.insert(0, str(tmp_path))
    before = dict(TASKS)
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in set(TASKS) - set(before):
        TASKS.remove(name)
    TASKS.broken.clear()
    sys.modules.pop("clearbench_ocr", None)


def _distribution(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_the_documented_task_plugin_is_registered_and_evaluated(site):
    toml = _doc_block("toml")
    group, entry = re.search(r'entry-points\."([\w.]+)"\]\n(.*)\n', toml).groups()
    entry = entry.replace('"', "")  # the TOML line as pip writes it into entry_points.txt
    (site / "clearbench_ocr.py").write_text(_doc_block("python"))
    entries = f"{entry}\nbroken = no_such_module:TASK\nforget_captions = clearbench_ocr:FORGET_OCR\n"
    _distribution(site, "clearbench-ocr", f"[{group}]\n{entries}")
    TASKS.load_entry_points()
    assert TASKS.origins["forget_ocr"] == "entry point forget_ocr (clearbench-ocr 1.0)"
    assert TASKS["forget_ocr"] in select_tasks() and list(TASKS)[-1] == "forget_ocr"
    # A module that does not import, and a built-in's name: each one line, the others unharmed.
    with pytest.raises(UserError, match=r"entry point 'broken' .* cannot import it: ModuleNotFoundError"):
        TASKS.find("broken")
    assert "'forget_captions' is a built-in task's name" in TASKS.broken["forget_captions"]
    assert TASKS["forget_captions"].config_template == "{forget}_perturbed"
    TASKS.load_entry_points()  # again: nothing twice
    assert list(TASKS).count("forget_ocr") == 1


def test_a_family_plugin_must_be_an_adapter(site):
    (site / "clearbench_fam.py").write_text(
        "from clearbench.models.llava import LlavaAdapter\n"
        "class Mine(LlavaAdapter):\n    family = 'mine'\n    model_types = ('mine_vlm',)\n"
        "class Plain:\n    family = 'plain'\n"
    )
    _distribution(
        site,
        "clearbench-fam",
        "[clearbench.models]\nmine = clearbench_fam:Mine\nplain = clearbench_fam:Plain\n",
    )
    try:
        FAMILIES.load_entry_points()
        assert adapter_for_model_type("mine_vlm").family == "mine"
        assert adapter_for_model_type("llava").family == "llava"  # built-ins first
        with pytest.raises(UserError, match="is not a clearbench.models.base.Adapter"):
            FAMILIES.find("plain")
    finally:
        FAMILIES.remove("mine")
        FAMILIES.remove("plain")
        sys.modules.pop("clearbench_fam", None)


def test_an_attack_plugin_is_an_attack_registered_by_its_class(site):
    (site / "clearbench_steal.py").write_text(
        "from clearbench.attacks.queries import Queries\n"
        "class Steal(Queries):\n    name = 'steal'\n"
        "class Plain:\n    name = 'plain'\n"
    )
    _distribution(
        site,
        "clearbench-steal",
        "[clearbench.attacks]\nsteal = clearbench_steal:Steal\nplain = clearbench_steal:Plain\n",
    )
    try:
        ATTACKS.load_entry_points()
        assert ATTACKS.find("steal").name == "steal"
        assert ATTACKS.origins["steal"] == "entry point steal (clearbench-steal 1.0)"
        with pytest.raises(UserError, match="not an Attack"):
            ATTACKS.find("plain")
        with pytest.raises(DuplicateError, match="attack 'relearn' is already declared"):
            ATTACKS.add(ATTACKS["relearn"])
    finally:
        ATTACKS.remove("steal")
        ATTACKS.broken.pop("plain", None)
