"""Every test runs offline (never the Hugging Face Hub) on one CPU thread.

Tiny models run several times faster on one thread than on two contended cores; OMP_NUM_THREADS
carries the same setting into the subprocesses some tests start.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
# Jobs with 2 threads (the Ray test's default settings) share the cores with the other test worker:
# idle OpenMP threads then sleep instead of spinning, which changes timing, never a number.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("CLEARBENCH_THREADS", "1")  # jobs.threads' default here (the user's is 2)
os.environ.setdefault("CLEARBENCH_MIN_PEOPLE", "1")  # the tiny worlds' one forget person (the user's: 2)

import pytest  # noqa: E402
import torch  # noqa: E402  (after the environment it reads)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A synthetic source and a tiny causal LM fitted to its text half, saved as a checkpoint."""
    from tiny_families import build_tiny

    from clearbench.data.load import load_split
    from clearbench.data.synth import generate

    root = tmp_path_factory.mktemp("world")
    source = str(generate(root / "data", persons=5, seed=0, image_size=16))
    rows = load_split(source, "tofu_full")
    model, tokenizer = build_tiny("causal_lm", list(rows["question"]) + list(rows["answer"]), seed=0)
    model.save_pretrained(root / "llm")
    tokenizer.save_pretrained(root / "llm")
    return source, root / "llm"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Under `pytest -n 2 --dist loadgroup` (the README's command) each file's tests stay on one worker,
    so module fixtures (a trained tiny model) are built once; tests that start processes of their own
    (accelerate launch on one port, a Ray runtime) form one group that runs one test at a time."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
