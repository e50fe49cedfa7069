"""The method contract: a method declares the data and the reference it needs, the engine supplies
exactly that, and a batch with no answer tokens is a zero loss rather than a NaN.

`needs` and `needs_reference` are checked two ways: against a table written by hand, and against
what each loss (and `finalize`) actually reads from the batch and the reference.
"""

import copy
import dataclasses
import inspect
import math
from collections.abc import Mapping

import pytest
import torch
from PIL import Image

from clearbench.data.format import CAPTION_QUESTIONS, Sample
from clearbench.errors import UserError
from clearbench.methods import METHODS, get_method
from clearbench.methods.base import DATA_KINDS, IGNORE_INDEX, Method
from clearbench.models.llava import LlavaAdapter
from clearbench.models.tiny import TinySize, build_tiny_llava
from clearbench.train.reference import Reference

SIZE = TinySize(
    image_size=16,
    patch_size=8,
    vision_hidden=32,
    vision_layers=1,
    hidden=32,
    layers=4,
    heads=2,
    vocab_size=1000,
)
ANSWERS = ["Alice Smith holds a red umbrella", "Bob Marten wrote a book", "I don't know.", "No idea."]

# (method, hyperparameters, expected needs, expected needs_reference)
DECLARED = [
    ("ga", {}, {"forget"}, False),
    ("gd", {}, {"forget", "retain"}, False),
    ("gd", {"forget_term": "entropy"}, {"forget", "retain"}, False),
    ("gd", {"forget_term": "kl"}, {"forget", "retain"}, True),
    ("gd", {"retain_term": "kl"}, {"forget", "retain"}, True),
    ("kl", {}, {"forget", "retain"}, True),
    ("idk", {}, {"retain", "idk"}, False),
    ("retain_ft", {}, {"retain"}, False),
    ("dpo", {}, {"forget", "idk"}, True),
    ("dpo", {"retain_weight": 0.5}, {"forget", "idk", "retain"}, True),
    ("npo", {}, {"forget"}, True),
    ("npo", {"retain_weight": "1"}, {"forget", "retain"}, True),
    ("simnpo", {}, {"forget", "retain"}, False),  # its default λ_R is 1
    ("simnpo", {"retain_weight": 0.0}, {"forget"}, False),
    ("undial", {}, {"forget"}, True),
    ("undial", {"retain_weight": 2.0}, {"forget", "retain"}, True),
    ("llmu", {}, {"forget", "retain", "idk"}, True),
    ("llmu", {"retain_weight": 0.0}, {"forget", "retain", "idk"}, True),  # KL on retain, weight 0
    ("scrub", {}, {"forget", "retain"}, True),
    ("rmu", {}, {"forget", "retain"}, True),
    ("sku", {}, {"forget", "retain", "mismatch"}, True),
]


def test_the_table_covers_every_registered_method():
    assert {name for name, *_ in DECLARED} == set(METHODS)


@pytest.mark.parametrize("name,hparams,needs,needs_reference", DECLARED)
def test_declared_needs_per_method_and_hyperparameters(name, hparams, needs, needs_reference):
    method = get_method(name, **hparams)
    assert method.needs == needs
    assert method.needs_reference is needs_reference
    info = method.info()
    assert info["needs"] == [kind for kind in DATA_KINDS if kind in needs]
    assert info["needs_reference"] is needs_reference


def test_method_files_declare_only_their_own_data_and_share_one_signature():
    for name, cls in METHODS.items():
        assert "data" in vars(cls), f"{name}: declare the data kinds the formula reads"
        assert cls.data <= set(DATA_KINDS), name
        assert "needs" not in vars(cls), f"{name}: the retain rule lives in Method.needs"
        assert not hasattr(cls, "require_reference"), name  # the engine guarantees the reference
        assert inspect.signature(cls.loss) == inspect.signature(Method.loss), name


def test_the_retain_rule_applies_to_any_method_with_a_retain_weight():
    class WithRetain(Method):
        name = "with_retain"
        data = frozenset({"forget", "idk"})

        @dataclasses.dataclass
        class Hparams:
            retain_weight: float = 0.0

    assert WithRetain().needs == {"forget", "idk"}
    assert WithRetain(retain_weight=0.1).needs == {"forget", "idk", "retain"}
    assert Method().needs == {"forget"}  # the default for a method that declares nothing


def test_hyperparameters_given_as_strings_take_the_fields_type():
    class Typed(Method):
        name = "typed"

        @dataclasses.dataclass
        class Hparams:
            flag: bool = False
            count: int = 1
            weight: float | None = None

    for text, value in [
        ("true", True),
        (" YES ", True),
        ("1", True),
        ("False", False),
        ("no", False),
        ("0", False),
    ]:
        assert Typed(flag=text).hparams.flag is value, text
    assert Typed(count="3", weight="0.5").hparams.count == 3 and Typed(weight="0.5").hparams.weight == 0.5
    assert Typed(flag=True).hparams.flag is True  # values that are not strings pass through
    with pytest.raises(UserError, match=r"^method 'typed': hyperparameter flag='maybe' is not a valid bool$"):
        Typed(flag="maybe")
    with pytest.raises(UserError, match=r"^method 'typed': hyperparameter count='2.5' is not a valid int$"):
        Typed(count="2.5")


# ---- what each loss reads ------------------------------------------------------------------
class RecordingBatch(Mapping):
    """A batch that remembers which data kinds were read."""

    def __init__(self, batch, read=None):
        self.batch, self.read = batch, set() if read is None else read

    def __getitem__(self, kind):
        self.read.add(kind)
        return self.batch[kind]

    def __iter__(self):
        return iter(self.batch)

    def __len__(self):
        return len(self.batch)


class RecordingReference:
    """A reference that remembers whether anything asked it for outputs or weights."""

    def __init__(self, reference):
        self.__dict__.update(inner=reference, used=False)

    def __getattr__(self, attribute):
        self.__dict__["used"] = True
        return getattr(self.inner, attribute)


@pytest.fixture(scope="module")
def world():
    torch.manual_seed(0)
    model, processor = build_tiny_llava(ANSWERS * 3 + list(CAPTION_QUESTIONS), SIZE, seed=0)
    adapter = LlavaAdapter()
    red, blue = Image.new("RGB", (20, 20), (200, 0, 0)), Image.new("RGB", (20, 20), (0, 0, 200))
    forget = [Sample(CAPTION_QUESTIONS[0], ANSWERS[0], red), Sample("Who wrote a book?", ANSWERS[1])]
    retain = [Sample(CAPTION_QUESTIONS[1], ANSWERS[1], blue), Sample("Who holds an umbrella?", ANSWERS[0])]
    batch = {
        "forget": forget,
        "retain": retain,
        "idk": [Sample(s.question, ANSWERS[2 + i], s.image) for i, s in enumerate(forget)],
        # SKU's K = 3 mismatched answers per forget row, k-major
        "mismatch": [
            Sample(s.question, ANSWERS[(1 - i + k) % 4], s.image)
            for k in range(3)
            for i, s in enumerate(forget)
        ],
    }
    return model, adapter, {kind: adapter.encode(processor, samples) for kind, samples in batch.items()}


def fresh(world):
    model, adapter, batch = world
    live = copy.deepcopy(model).train()
    return live, Reference.for_model(live, adapter), adapter, batch


def run_steps(method, live, adapter, batch, ref, read=None):
    """The loss in each pass of the first and the last epoch (SCRUB: max, min, then min only), each
    batch holding that pass's kinds, then `finalize`, as the engine calls them."""
    method.prepare(live, adapter)
    method.trainable_parameters(live, adapter)
    for step, kinds in enumerate([*method.passes(0), *method.passes(99)]):
        assert kinds <= method.needs
        part = {kind: batch[kind] for kind in kinds}
        loss, extras = method.loss(live, part if read is None else RecordingBatch(part, read), ref, step)
        assert math.isfinite(loss.item()) and all(math.isfinite(v) for v in extras.values())
    method.finalize(live, ref)


@pytest.mark.parametrize("name,hparams,needs,needs_reference", DECLARED)
def test_declarations_match_what_the_method_reads(world, name, hparams, needs, needs_reference):
    live, ref, adapter, batch = fresh(world)
    method = get_method(name, **hparams)
    read, recorded_ref = set(), RecordingReference(ref)
    run_steps(method, live, adapter, batch, recorded_ref, read)
    assert read == method.needs  # the engine pairs exactly these kinds
    assert recorded_ref.used is method.needs_reference  # and builds a reference exactly for these
    if not method.needs_reference:  # what the engine passes then
        live, _, adapter, batch = fresh(world)
        run_steps(get_method(name, **hparams), live, adapter, {k: batch[k] for k in method.needs}, None)


# ---- no answer tokens: a zero loss that backward() still goes through ----------------------
@pytest.mark.parametrize(
    "name,hparams",
    [
        ("gd", {"forget_term": "entropy", "retain_term": "kl"}),
        ("gd", {"forget_term": "kl"}),
        ("kl", {}),
        ("llmu", {}),
        ("scrub", {}),
        ("undial", {}),
        ("rmu", {}),
        ("rmu", {"variant": "clear"}),
        ("sku", {}),
    ],
)
def test_a_batch_without_answer_tokens_is_a_zero_loss_with_a_gradient_path(world, name, hparams):
    live, ref, adapter, batch = fresh(world)
    unsupervised = {
        kind: {**enc, "labels": torch.full_like(enc["labels"], IGNORE_INDEX)} for kind, enc in batch.items()
    }
    method = get_method(name, **hparams)
    method.prepare(live, adapter)
    for step, kinds in enumerate(method.passes(0)):  # SCRUB: a max pass and a min pass
        live.zero_grad()
        loss, extras = method.loss(live, {kind: unsupervised[kind] for kind in kinds}, ref, step)
        assert loss.item() == 0.0 and all(v == 0.0 for k, v in extras.items() if k != "max_step")
        assert loss.requires_grad
        loss.backward()
        grads = [p.grad for p in live.parameters() if p.grad is not None]
        assert grads and all(bool((g == 0).all()) for g in grads)
