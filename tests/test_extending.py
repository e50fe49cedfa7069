"""docs/extending.md is true: its method and task, written as the page says, work everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tiny_families import build_tiny

from clearbench.cli import main
from clearbench.errors import UserError
from clearbench.evaluate.tasks import TASKS, register_task, report_order, select_tasks
from clearbench.methods import METHODS
from clearbench.run.config import load_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def doc_code(heading: str) -> str:
    """The first Python block under a `## heading` of the page, de-indented."""
    section = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    indent = min(len(line) - len(line.lstrip()) for line in block.splitlines() if line.strip())
    return "\n".join(line[indent:] for line in block.splitlines())


@pytest.fixture
def toy_method():
    namespace: dict = {}
    exec(compile(doc_code("A method"), str(DOC), "exec"), namespace)
    yield namespace["MyMethod"]
    METHODS.remove("my_method")


@pytest.fixture
def toy_task():
    from clearbench.evaluate.tasks import Task

    task = eval(doc_code("A task"), {"Task": Task})
    register_task(task)
    yield task
    TASKS.remove(task.name)  # its origin too: a stale one made a later plugin of that name "built-in"


def test_the_documented_method_is_listed_configured_and_trained(toy_method, tmp_path, capsys):
    assert main(["methods", "--json"]) == 0
    row = next(row for row in json.loads(capsys.readouterr().out) if row["name"] == "my_method")
    # retain rows are paired because retain_weight is non-zero, though the method declares forget only
    assert row["needs"] == ["forget", "retain"] and row["hparams"] == {"retain_weight": 1.0}
    config = load_config(
        None, ["unlearn.methods=[my_method]", "unlearn.hparams={my_method: {retain_weight: 0}}"]
    )
    assert config.unlearn.methods == ["my_method"]
    with pytest.raises(UserError, match="my_method.*no hyperparameter 'beta'"):
        load_config(None, ["unlearn.methods=[my_method]", "unlearn.hparams={my_method: {beta: 1}}"])

    from clearbench.data.load import load_split
    from clearbench.data.synth import generate
    from clearbench.train.lora import LoraOptions
    from clearbench.train.options import UnlearnOptions
    from clearbench.train.unlearn import unlearn

    source = str(generate(tmp_path / "data", persons=5, seed=0, image_size=16))
    rows = load_split(source, "tofu_full")
    model, tokenizer = build_tiny("causal_lm", list(rows["question"]) + list(rows["answer"]), seed=0)
    model.save_pretrained(tmp_path / "llm")
    tokenizer.save_pretrained(tmp_path / "llm")
    options = UnlearnOptions(max_steps=2, learning_rate=1e-3, batch_size=2, lora=LoraOptions(r=0))
    result = unlearn(
        tmp_path / "llm", source, "tofu_forget10", "tofu_retain90", "my_method", tmp_path / "out", options
    )
    assert result["status"] == "completed" and result["steps"] == 2
    log = [json.loads(line) for line in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert all("forget_nll" in line and "retain_nll" in line for line in log)


def test_the_documented_task_feeds_evaluation_metrics_and_report(toy_task):
    from clearbench.evaluate.metrics import tasks_for

    assert toy_task in select_tasks()
    assert toy_task.config("forget05") == "forget05_ocr" and toy_task.forget and not toy_task.text_only
    logs = {name: {} for name in ("forget_captions", "tofu_forget", toy_task.name)}
    used = tasks_for(logs, "clearbench")
    assert toy_task.name in used["forget"]
    # The report shows the image half first, forget tasks first within it.
    order = report_order(["tofu_forget", toy_task.name, "retain_captions"])
    assert order.index(toy_task.name) < order.index("retain_captions") < order.index("tofu_forget")
