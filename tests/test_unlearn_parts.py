"""Engine parts: pairing, IDK answers, the reference model under LoRA (no second copy), L1 from the
start, the SalUn mask, and the LoRA forms of RMU's layer choice and SKU's negation."""

import copy

import datasets
import pytest
import torch
from PIL import Image

from clearbench.data.format import CAPTION_QUESTIONS, Sample
from clearbench.errors import UserError
from clearbench.methods import get_method
from clearbench.methods.base import forward_logits, nll
from clearbench.models.llava import LlavaAdapter
from clearbench.models.tiny import TinySize, build_tiny_llava
from clearbench.train.lora import apply_lora
from clearbench.train.pairing import (
    PairedDataset,
    check_disjoint,
    collate_pairs,
    forget_modality,
    load_idk_answers,
)
from clearbench.train.reference import Reference
from clearbench.train.regularizers import L1FromStart, lora_layers
from clearbench.train.saliency import apply_gradient_mask, saliency_scores, top_fraction_mask

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


def rows(captions=(), qa=(), names=None):
    table = {
        "image": [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i, _ in enumerate(captions)]
        + [None] * len(qa),
        "caption": list(captions) + [None] * len(qa),
        "question": [None] * len(captions) + [q for q, _ in qa],
        "answer": [None] * len(captions) + [a for _, a in qa],
    }
    if names is not None:
        table = {"image": table["image"], "caption": table["caption"], "name": names}
    return datasets.Dataset.from_dict(table)


FORGET = rows(
    ["Ann Lee reads a map", "Ann Lee rides a bike"],
    [("Who is Ann Lee?", "A poet"), ("Where was Ann Lee born?", "In Oslo")],
)
RETAIN = rows(["Bo Ray swims", "Bo Ray sings", "Cy Dunn cooks"], [("Who is Bo Ray?", "A diver")])


# ---- pairing and data checks ----------------------------------------------------------------
def test_pairing_is_seeded_per_item_and_epoch_and_builds_idk_and_mismatch():
    dataset = PairedDataset(
        FORGET,
        RETAIN,
        ["forget", "retain", "idk", "mismatch"],
        idk_answers=["I don't know.", "No idea."],
        seed=3,
    )
    again = PairedDataset(
        FORGET,
        RETAIN,
        ["forget", "retain", "idk", "mismatch"],
        idk_answers=["I don't know.", "No idea."],
        seed=3,
    )
    assert len(dataset) == len(FORGET)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item == again[index]  # same seed, same epoch → same pairing, on any process
        assert item["forget"].answer == (FORGET[index]["caption"] or FORGET[index]["answer"])
        assert item["idk"].question == item["forget"].question and item["idk"].image is item["forget"].image
        assert item["idk"].answer in {"I don't know.", "No idea."}
        (mismatch,) = item["mismatch"]  # one mismatched answer unless asked for more
        assert mismatch.question == item["forget"].question
        assert mismatch.answer != item["forget"].answer
        is_caption = index < 2  # the mismatched answer comes from a row of the same kind
        assert mismatch.answer in (FORGET["caption"][:2] if is_caption else FORGET["answer"][2:])
        assert item["retain"].answer in set(RETAIN["caption"][:3]) | {"A diver"}
    draws = set()
    for epoch in range(8):
        dataset.set_epoch(epoch)
        draws.add(dataset[0]["retain"].answer)
    assert len(draws) > 1  # epochs vary the pairing


def test_pairing_by_pass_and_k_mismatches_collated_k_major():
    model, processor = build_tiny_llava(["Ann Lee reads a map rides a bike Bo Ray swims"], SIZE)
    dataset = PairedDataset(
        FORGET,
        RETAIN,
        ["forget", "retain", "mismatch"],
        passes=[frozenset({"forget", "mismatch"}), frozenset({"retain"})],
        mismatches=3,
    )
    assert set(dataset[0]) == {"forget", "mismatch"}  # pass 0
    mismatches = dataset[2]["mismatch"]  # a QA row: its one other QA row, drawn with replacement
    assert len(mismatches) == 3 and {m.answer for m in mismatches} == {"In Oslo"}
    batch = collate_pairs(LlavaAdapter(), processor)([dataset[0], dataset[1]])
    assert batch["mismatch"]["input_ids"].shape[0] == 6 and batch["forget"]["input_ids"].shape[0] == 2
    # k-major: rows 0, 2, 4 are forget row 0's mismatches, whose answer is forget row 1's caption
    tokenizer = processor.tokenizer
    decoded = [
        tokenizer.decode(ids[labels != -100])
        for ids, labels in zip(batch["mismatch"]["input_ids"], batch["mismatch"]["labels"])
    ]
    assert all("rides a bike" in decoded[r] for r in (0, 2, 4)) and all(
        "reads a map" in decoded[r] for r in (1, 3, 5)
    )
    for epoch in (1, 2, 7):  # pass 1, and past the end the last pass repeats
        dataset.set_epoch(epoch)
        assert set(dataset[0]) == {"retain"}
    with pytest.raises(ValueError, match="outside"):
        PairedDataset(FORGET, RETAIN, ["forget"], passes=[frozenset({"retain"})])
    # K = the number of other rows: each of them once (drawn without replacement while there are enough)
    three = rows(["Ann Lee reads a map", "Ann Lee rides a bike", "Ann Lee swims"])
    dataset = PairedDataset(three, RETAIN, ["mismatch"], mismatches=2)
    for epoch in range(8):
        dataset.set_epoch(epoch)
        assert sorted(m.answer for m in dataset[0]["mismatch"]) == ["Ann Lee rides a bike", "Ann Lee swims"]


def test_pass_schedule_counts_epochs_in_passes():
    from clearbench.train.unlearn import pass_schedule

    scrub = get_method("scrub", msteps=2)
    passes, count = pass_schedule(scrub, 3.0)
    assert [sorted(p) for p in passes] == [["forget"], ["retain"], ["forget"], ["retain"], ["retain"]]
    assert count == 5
    assert pass_schedule(scrub, 2.5)[1] == 4.5 and pass_schedule(scrub, 0.5)[1] == 1.0  # ½ of max+min
    assert pass_schedule(get_method("scrub", msteps=0), 2.0)[1] == 2
    assert pass_schedule(get_method("ga"), 2.5) == ([frozenset({"forget"})] * 3, 2.5)


def test_pairing_only_builds_what_the_method_needs_and_collates_each_kind():
    model, processor = build_tiny_llava(["Ann Lee reads a map. Bo Ray swims. I don't know."], SIZE)
    dataset = PairedDataset(FORGET, RETAIN, ["retain", "idk"], idk_answers=["I don't know."])
    assert set(dataset[0]) == {"retain", "idk"}
    batch = collate_pairs(LlavaAdapter(), processor)([dataset[0], dataset[1]])
    assert set(batch) == {"retain", "idk"} and batch["idk"]["input_ids"].shape[0] == 2


def test_data_checks_name_what_is_wrong():
    with pytest.raises(UserError, match="needs IDK answers"):
        PairedDataset(FORGET, RETAIN, ["idk"], idk_answers=[])
    with pytest.raises(UserError, match="needs retain data, but the retain set is empty"):
        PairedDataset(FORGET, RETAIN.select([]), ["retain"])
    with pytest.raises(UserError, match="at least two forget rows of each kind"):
        PairedDataset(FORGET.select([0, 2, 3]), RETAIN, ["mismatch"])
    with pytest.raises(UserError, match="forget set 'f' is empty"):
        check_disjoint(FORGET.select([]), RETAIN, "f", "r")


def test_forget_and_retain_sharing_people_or_rows_is_refused():
    named_forget = rows(["a", "b"], names=["Ann Lee", "Ann Lee"])
    named_retain = rows(["c", "d", "e"], names=["Bo Ray", "Ann Lee", "Cy Dunn"])
    with pytest.raises(UserError, match="'forget10' and retain set 'retain90' share 1 people: Ann Lee"):
        check_disjoint(named_forget, named_retain, "forget10", "retain90")
    assert check_disjoint(named_forget, rows(["c"], names=["Bo Ray"]), "f", "r") == "names"
    with pytest.raises(UserError, match="share 1 rows .*Who is Ann Lee"):
        check_disjoint(FORGET, rows([], [("Who is Ann Lee?", "A poet")]), "f", "r")
    assert check_disjoint(FORGET, RETAIN, "f", "r") == "rows"


def test_forget_modality_from_the_config_name():
    assert [forget_modality(c) for c in ("forget10+tofu", "forget10", "tofu_forget10")] == [
        "both",
        "images",
        "text",
    ]


def test_idk_answers_are_ours_and_a_bad_file_is_a_user_error(tmp_path):
    answers = load_idk_answers()
    assert 90 <= len(set(answers)) == len(answers) <= 120
    assert all(a == a.strip() and a for a in answers)
    empty = tmp_path / "idk.txt"
    empty.write_text("\n  \n")
    with pytest.raises(UserError, match=f"IDK answers file {empty} holds no answers"):
        load_idk_answers(empty)
    with pytest.raises(UserError, match="cannot read it"):
        load_idk_answers(tmp_path / "missing.txt")


# ---- LoRA: reference, L1, RMU layers, SKU negation -------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    model, processor = build_tiny_llava([" ".join(CAPTION_QUESTIONS) + " Ann Lee reads a map"] * 3, SIZE)
    adapter = LlavaAdapter()
    enc = adapter.encode(
        processor,
        [
            Sample(CAPTION_QUESTIONS[0], "Ann Lee reads a map", Image.new("RGB", (8, 8))),
            Sample("Who is Ann Lee?", "A poet"),
        ],
    )
    return model, adapter, enc


def lora_model(tiny):
    model, adapter, enc = tiny
    peft_model = apply_lora(copy.deepcopy(model), adapter, r=4, alpha=8)
    with torch.no_grad():  # move the adapters off zero so "adapters on" differs from the base
        for module in lora_layers(peft_model):
            module.lora_B["default"].weight.normal_(0, 0.5)
    return peft_model, adapter, enc


def storages(module):
    return {t.untyped_storage().data_ptr() for t in list(module.parameters()) + list(module.buffers())}


def test_lora_reference_is_the_same_weights_with_adapters_off(tiny):
    model, _, enc = tiny
    peft_model, adapter, _ = lora_model(tiny)
    before = storages(peft_model)
    ref = Reference.for_model(peft_model, adapter)
    assert ref.shares_weights and ref.model is None
    assert storages(peft_model) == before  # no second copy of any weight
    with torch.no_grad():
        base_logits = forward_logits(model, enc)
        live_logits = forward_logits(peft_model, enc)
    peft_model.train()
    torch.testing.assert_close(ref.logits(enc), base_logits)
    assert peft_model.training  # the reference pass ran in eval mode and restored training mode
    assert not torch.allclose(live_logits, base_logits)
    torch.testing.assert_close(forward_logits(peft_model, enc).detach(), live_logits)  # adapters back on
    # without LoRA the reference is a frozen copy
    copy_ref = Reference.for_model(copy.deepcopy(model), adapter)
    assert not copy_ref.shares_weights
    assert all(not p.requires_grad for p in copy_ref.model.parameters())


def test_a_reference_pass_restores_every_requires_grad(tiny):
    peft_model, adapter, enc = lora_model(tiny)
    method = get_method("rmu", layer=2)  # trains the adapters of layers 0-2's down_proj only
    method.prepare(peft_model, adapter)
    keep = set(method.trainable_parameters(peft_model, adapter))
    for name, param in peft_model.named_parameters():
        param.requires_grad_(name in keep)
    before = {name: p.requires_grad for name, p in peft_model.named_parameters()}
    assert 0 < sum(before.values()) < sum("lora_" in name for name in before)
    ref = Reference.for_model(peft_model, adapter)
    ref.logits(enc)
    ref.layer_output(enc, 1)
    assert {name: p.requires_grad for name, p in peft_model.named_parameters()} == before


def test_l1_on_lora_is_the_merged_update_not_the_factors(tiny):
    model, adapter, _ = tiny
    fresh = apply_lora(copy.deepcopy(model), adapter, r=4, alpha=8)
    assert L1FromStart(fresh)().item() == 0.0  # B = 0: no distance yet, although A is random
    peft_model, _, _ = lora_model(tiny)
    expected = sum(
        (m.lora_B["default"].weight @ m.lora_A["default"].weight * m.scaling["default"]).abs().sum()
        for m in lora_layers(peft_model)
    )
    distance = L1FromStart(peft_model)()
    assert distance.item() == pytest.approx(expected.item(), rel=1e-5)
    distance.backward()
    assert all(m.lora_B["default"].weight.grad is not None for m in lora_layers(peft_model))


def test_l1_without_lora_is_the_distance_from_the_snapshot(tiny):
    model, _, _ = tiny
    live = copy.deepcopy(model)
    l1 = L1FromStart(live)
    weight = live.lm_head.weight
    with torch.no_grad():
        weight[0, :3] += torch.tensor([0.5, -0.25, 1.0])
    assert l1().item() == pytest.approx(1.75, rel=1e-5)


def test_rmu_with_lora_trains_only_the_adapters_of_its_layers(tiny):
    peft_model, adapter, _ = lora_model(tiny)
    method = get_method("rmu", layer=2, window=2)
    method.prepare(peft_model, adapter)
    names = method.trainable_parameters(peft_model, adapter)
    assert names and all("lora_" in n and (".layers.1." in n or ".layers.2." in n) for n in names)
    assert {".layers.1.", ".layers.2."} == {
        part for n in names for part in (".layers.1.", ".layers.2.") if part in n
    }
    with pytest.raises(UserError, match="layer=9 but the model has 4 decoder layers"):
        get_method("rmu", layer=9).prepare(peft_model, adapter)


def test_sku_negation_with_lora_flips_the_merged_update(tiny):
    peft_model, _, enc = lora_model(tiny)
    deltas = {id(m): m.get_delta_weight("default").clone() for m in lora_layers(peft_model)}
    get_method("sku", negation=0.5).finalize(peft_model, None)
    for module in lora_layers(peft_model):
        torch.testing.assert_close(module.get_delta_weight("default"), -0.5 * deltas[id(module)])


# ---- SalUn mask -----------------------------------------------------------------------------
def test_top_fraction_mask_by_hand():
    scores = {"a": torch.tensor([0.1, 0.9, 0.3]), "b": torch.tensor([[0.8, 0.2], [0.05, 0.5]])}
    masks = top_fraction_mask(scores, 3 / 7)
    assert masks["a"].tolist() == [False, True, False]
    assert masks["b"].tolist() == [[True, False], [False, True]]
    with pytest.raises(ValueError):
        top_fraction_mask(scores, 0.0)


def test_saliency_mask_freezes_all_but_the_most_salient_weights(tiny):
    model, _, enc = tiny
    live = copy.deepcopy(model)
    scores = saliency_scores(live, [enc])
    masks = top_fraction_mask(scores, 0.05)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    assert 0 < kept <= 0.06 * total
    start = {n: p.detach().clone() for n, p in live.named_parameters()}
    handles = apply_gradient_mask(live, masks)
    optimizer = torch.optim.SGD(live.parameters(), lr=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        (-nll(forward_logits(live, enc), enc["labels"])).backward()
        optimizer.step()
    for name, param in live.named_parameters():
        changed = param.detach() != start[name]
        assert not (changed & ~masks[name]).any(), name
    assert any(bool((p.detach() != start[n]).any()) for n, p in live.named_parameters())
    for handle in handles:
        handle.remove()
