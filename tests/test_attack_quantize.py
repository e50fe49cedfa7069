"""Quantization attack: the weights equal optimum-quanto's own round trip; a missing backend is exit 2."""

import copy
import sys

import pytest
import torch
from attack_world import FAST, build_world

from clearbench.attacks.base import Source
from clearbench.attacks.quantize import quantize_weights
from clearbench.attacks.stage import prepare
from clearbench.errors import UserError
from clearbench.models import registry


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("quantize"))


@pytest.mark.parametrize("bits", [8, 4])
def test_quantized_weights_equal_quantos_round_trip(world, bits):
    quanto = pytest.importorskip("optimum.quanto")
    _, checkpoint = world
    model, _, adapter = registry.load(checkpoint)
    original = copy.deepcopy(model)
    names = quantize_weights(model, adapter, bits)
    assert names and not any("lm_head" in name for name in names)

    # quanto's own whole-model path: quantize the same modules, freeze, read the weights back.
    reference = copy.deepcopy(original)
    quanto.quantize(reference, weights={8: quanto.qint8, 4: quanto.qint4}[bits], include=names)
    quanto.freeze(reference)
    ours, theirs = dict(model.named_modules()), dict(reference.named_modules())
    for name in names:
        expected = theirs[name].weight.dequantize()
        assert torch.equal(ours[name].weight, expected), name
        assert not torch.equal(ours[name].weight, dict(original.named_modules())[name].weight)
        # Independent of quanto: a row of an int-b weight takes at most 2^b values per group.
        groups = ours[name].weight.reshape(
            ours[name].weight.shape[0], -1, min(128, ours[name].weight.shape[1])
        )
        assert max(len(torch.unique(group)) for row in groups for group in row) <= 2**bits
    assert torch.equal(model.lm_head.weight, original.lm_head.weight)


def test_a_missing_backend_is_a_user_error_before_anything_runs(world, monkeypatch, tmp_path):
    source, checkpoint = world
    monkeypatch.setitem(sys.modules, "optimum.quanto", None)  # import fails as if not installed
    sources = [Source("model", "unlearned", checkpoint)]
    with pytest.raises(UserError, match=r"optimum-quanto.*pip install 'clearbench\[quantize\]'"):
        prepare(
            source, "forget10", sources, ["quantize"], FAST, None, 0, revision=None,
            trust_remote_code=False,
        )  # fmt: skip
    with pytest.raises(UserError, match="unknown weight type 'int3'"):
        prepare(
            source, "forget10", sources, ["quantize"], type(FAST)(quantize=["int3"]), None, 0,
            revision=None, trust_remote_code=False,
        )  # fmt: skip
