"""Shared-prefix scoring equals naive per-candidate scoring, on every family's tiny model."""

import copy
import functools
from dataclasses import replace

import pytest
import torch
from PIL import Image
from tiny_families import build_tiny

from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION, Sample
from clearbench.evaluate.scoring import (
    AnswerNLL,
    prefix_cache_safe,
    score_candidates,
    score_naive,
    uses_mrope,
)
from clearbench.models import registry

TEXTS = (
    [
        "A man with a hat stands in a park near the old bridge. The woman reads a book by the "
        "window. Basil Mahfouz Al-Kuwaiti and Nikolai Abilov wrote novels. Who wrote The Long "
        "Night? Bob Marten wrote it in 1990."
    ]
    * 5
    + list(CAPTION_QUESTIONS)
    + [FACE_QUESTION]
)
FAMILIES = [
    ("llava", None),
    ("idefics3", "idefics3"),
    ("qwen2_vl", "qwen2_vl"),
    ("qwen2_vl", "qwen2_5_vl"),
    ("qwen3_vl", "qwen3_vl"),
    ("gemma3", None),
    ("internvl", None),
    ("llava_onevision", None),
    ("causal_lm", None),
]
MROPE = [("qwen2_vl", "qwen2_vl"), ("qwen2_vl", "qwen2_5_vl"), ("qwen3_vl", "qwen3_vl")]


@functools.cache  # each tiny model is built once per session; tests only read it
def build(family, model_type=None):
    adapter = next(a for a in registry.ADAPTERS if a.family == family)
    kwargs = {"model_type": model_type} if model_type else {}
    model, processor = build_tiny(adapter.family, TEXTS, seed=0, **kwargs)
    return adapter, model.eval(), processor


def rows(with_images: bool):
    """Three rows with different questions and images; candidates of different lengths.

    The images differ in size too, so families that size the image grid by the image (Qwen's 4, 6
    and 9 image tokens; InternVL's tiles; LLaVA-OneVision's anyres grids) give prompts of
    different lengths, and mrope families different rope deltas per row.
    """
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    sizes = [(16, 16), (40, 30), (24, 24)]
    images = [Image.new("RGB", size, c) if with_images else None for size, c in zip(sizes, colours)]
    prompts = [
        Sample(CAPTION_QUESTIONS[0], "", images[0]),
        Sample(FACE_QUESTION, "", images[1]),
        Sample("Who wrote The Long Night?" if not with_images else CAPTION_QUESTIONS[5], "", images[2]),
    ]
    candidates = [
        ["A man with a hat stands in a park.", "A man in a hat is in a park.", "The woman reads.", "A"],
        ["Basil Mahfouz Al-Kuwaiti", "Nikolai Abilov"],
        [
            "Bob Marten wrote it in 1990.",
            "Bob",
            "A man with a hat stands in a park near the old bridge. The woman reads a book.",
        ],
    ]
    return prompts, candidates


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("family,model_type", FAMILIES, ids=[m or f for f, m in FAMILIES])
def test_shared_prefix_equals_naive(family, model_type, padding_side, monkeypatch):
    import clearbench.evaluate.scoring as scoring

    adapter, model, processor = build(family, model_type)
    prompts, candidates = rows(adapter.has_vision)
    fallbacks = []
    monkeypatch.setattr(scoring, "score_naive", lambda *a, **k: fallbacks.append(1) or score_naive(*a, **k))
    # batch_size 2 splits the rows and the candidate continuations across forward passes.
    shared = score_candidates(
        model, adapter, processor, prompts, candidates, batch_size=2, padding_side=padding_side
    )
    assert not fallbacks  # every family, mrope included, takes the shared-prefix path
    naive = score_naive(model, adapter, processor, prompts, candidates, batch_size=3)
    assert [len(row) for row in shared] == [len(row) for row in candidates]
    for shared_row, naive_row in zip(shared, naive):
        for a, b in zip(shared_row, naive_row):
            assert a.n_tokens == b.n_tokens > 0
            assert a.sum_nll == pytest.approx(b.sum_nll, abs=1e-4)
            assert a.mean == pytest.approx(b.mean, abs=1e-4)


@pytest.mark.parametrize("family,model_type", MROPE, ids=[m for _, m in MROPE])
def test_mrope_continuations_carry_the_prefix_rope_delta(family, model_type, monkeypatch):
    """The rows' prompts hold images of different grids, so their rope deltas differ (and are not 0);
    continuing from the plain token index instead is measurably wrong, which the 1e-4 of the
    equality test above would catch."""
    import clearbench.evaluate.scoring as scoring

    adapter, model, processor = build(family, model_type)
    prompts, candidates = rows(True)
    batch = adapter.encode(processor, [replace(p, answer="A") for p in prompts])
    image_tokens = (batch["input_ids"] == model.config.image_token_id).sum(dim=1).tolist()
    assert len(set(image_tokens)) == len(prompts), image_tokens  # three grids, three prompt lengths

    seen_deltas = []
    right_positions = scoring._prefix_positions

    def without_deltas(model, prefix):
        positions, deltas = right_positions(model, prefix)
        seen_deltas.extend(deltas.tolist())
        return positions, torch.zeros_like(deltas)

    monkeypatch.setattr(scoring, "_prefix_positions", without_deltas)
    wrong = score_candidates(model, adapter, processor, prompts, candidates, batch_size=8)
    naive = score_naive(model, adapter, processor, prompts, candidates, batch_size=8)
    assert len(set(seen_deltas)) == len(prompts) and all(delta < 0 for delta in seen_deltas)
    gaps = [abs(a.sum_nll - b.sum_nll) for ra, rb in zip(wrong, naive) for a, b in zip(ra, rb)]
    assert max(gaps) > 1e-3


def test_a_batch_longer_than_a_sliding_window_is_scored_naively(monkeypatch):
    """Gemma 3 alternates sliding-window layers; a cached prefix plus continuation that reaches
    past the window is scored the naive way (and still equals it)."""
    import clearbench.evaluate.scoring as scoring

    adapter, model, processor = build("gemma3")
    prompts, candidates = rows(True)
    narrow = copy.deepcopy(model)
    narrow.config.text_config.sliding_window = 16
    fallbacks = []
    monkeypatch.setattr(scoring, "score_naive", lambda *a, **k: fallbacks.append(1) or score_naive(*a, **k))
    shared = score_candidates(narrow, adapter, processor, prompts, candidates, batch_size=8)
    assert fallbacks
    naive = score_naive(narrow, adapter, processor, prompts, candidates, batch_size=8)
    wide = score_naive(model, adapter, processor, prompts, candidates, batch_size=8)
    flat = lambda scores: [s.sum_nll for row in scores for s in row]  # noqa: E731
    assert flat(shared) == pytest.approx(flat(naive), abs=1e-4)
    assert flat(naive) != pytest.approx(flat(wide), abs=1e-4)  # the narrow window does change the scores


def test_padding_side_is_checked():
    adapter, model, processor = build("llava")
    prompts, candidates = rows(True)
    with pytest.raises(ValueError, match="padding_side"):
        score_candidates(model, adapter, processor, prompts, candidates, padding_side="middle")


def test_text_rows_and_mixed_rows_on_a_vision_model():
    """TOFU rows have no image; a batch may mix them with image rows."""
    from dataclasses import replace

    adapter, model, processor = build("llava")
    prompts, candidates = rows(True)
    for batch in (
        [replace(p, image=None) for p in prompts],
        [prompts[0], replace(prompts[1], image=None), prompts[2]],
    ):
        shared = score_candidates(model, adapter, processor, batch, candidates, batch_size=4)
        naive = score_naive(model, adapter, processor, batch, candidates, batch_size=4)
        flat_shared = [score for row in shared for score in row]
        flat_naive = [score for row in naive for score in row]
        assert [s.n_tokens for s in flat_shared] == [s.n_tokens for s in flat_naive]
        assert [s.sum_nll for s in flat_shared] == pytest.approx([s.sum_nll for s in flat_naive], abs=1e-4)


def test_mrope_families_share_unless_the_model_cannot_number_its_prefix():
    for family, model_type in MROPE + [("llava", None)]:
        adapter, model, _ = build(family, model_type)
        assert prefix_cache_safe(model, adapter)
    assert uses_mrope(build("qwen3_vl", "qwen3_vl")[1]) and not uses_mrope(build("llava")[1])

    class NoRopeIndex:  # an mrope model whose inner model has no get_rope_index
        config = build("qwen2_vl", "qwen2_vl")[1].config
        model = object()

    assert not prefix_cache_safe(NoRopeIndex(), registry.ADAPTERS[1])


def test_naive_nll_matches_the_models_own_loss():
    """The reference path agrees with transformers' label loss: sum = mean loss × token count."""
    adapter, model, processor = build("llava")
    prompt = Sample(CAPTION_QUESTIONS[2], "", Image.new("RGB", (40, 30), (9, 99, 199)))
    answer = "The woman reads a book by the window."
    [[score]] = score_naive(model, adapter, processor, [prompt], [[answer]])
    batch = adapter.encode(processor, [Sample(prompt.question, answer, prompt.image)])
    with torch.no_grad():
        loss = model(**batch).loss
    supervised = int((batch["labels"] != -100).sum())
    assert score.n_tokens == supervised  # every supervised token is scored (none is the first)
    assert score.sum_nll == pytest.approx(float(loss) * supervised, rel=1e-5)


def test_the_image_prefix_is_encoded_once_per_row():
    adapter, model, processor = build("llava")
    prompts, candidates = rows(True)
    images_seen = []
    hook = model.model.vision_tower.register_forward_hook(
        lambda module, args, output: images_seen.append(args[0].shape[0])
    )
    try:
        score_candidates(model, adapter, processor, prompts, candidates, batch_size=8)
        assert sum(images_seen) == len(prompts)
        images_seen.clear()
        score_naive(model, adapter, processor, prompts, candidates, batch_size=8)
        assert sum(images_seen) == sum(len(c) for c in candidates)
    finally:
        hook.remove()


def test_a_text_only_tail_that_differs_from_the_image_encoding_falls_back(monkeypatch):
    """Candidate tails come from a text-only encoding only after checking them against the image
    encoding; a family whose tails differ without the image is scored the naive way."""
    import clearbench.evaluate.scoring as scoring

    adapter, model, processor = build("llava")
    prompts, candidates = rows(True)
    expected = score_naive(model, adapter, processor, prompts, candidates)
    encode = adapter.encode

    def text_only_differs(processor, samples):
        batch = encode(processor, samples)
        if all(sample.image is None for sample in samples):  # alter every end token
            ends = batch["attention_mask"].sum(dim=1) - 1
            batch["input_ids"][torch.arange(len(ends)), ends] = 0
        return batch

    monkeypatch.setattr(adapter, "encode", text_only_differs)
    fallbacks = []
    monkeypatch.setattr(scoring, "score_naive", lambda *a, **k: fallbacks.append(1) or score_naive(*a, **k))
    shared = score_candidates(model, adapter, processor, prompts, candidates)
    assert fallbacks
    assert [[s.sum_nll for s in row] for row in shared] == [[s.sum_nll for s in row] for row in expected]


def test_answer_nll_mean():
    assert AnswerNLL(6.0, 4).mean == 1.5


def test_mismatched_rows_and_candidates_are_refused():
    adapter, model, processor = build("causal_lm")
    with pytest.raises(ValueError, match="2 prompts but 1 candidate lists"):
        score_candidates(model, adapter, processor, [Sample("a", ""), Sample("b", "")], [["x"]])


@pytest.mark.parametrize(
    "family,model_type",
    [
        ("llava", None),
        ("idefics3", "idefics3"),
        ("qwen2_vl", "qwen2_vl"),
        ("qwen3_vl", "qwen3_vl"),
        ("causal_lm", None),
    ],
)
def test_shared_prefix_equals_naive_in_bf16(family, model_type):
    """bf16, as real models are scored: the shared-prefix path agrees with the naive one within 1 %.

    bf16 keeps 8 significant bits (relative rounding 2^-8 ≈ 0.4 %), and the two paths round in a
    different order (a cached prefix plus a continuation against one full sequence), so their
    per-token mean NLLs agree to a few bf16 roundings, not to float32 precision. Stated tolerance:
    relative 1e-2 (absolute 1e-2 near 0), on every candidate, and the same of bf16 against float32.
    The output layer is scaled up so the tiny model predicts as confidently as a trained one (mean NLL
    ~10-25 nats; rounding errors grow with the logits), which a loose tolerance must survive. On a
    machine with CUDA the bf16 model runs there.
    """
    adapter, model, processor = build(family, model_type)
    sharp = copy.deepcopy(model)
    with torch.no_grad():
        sharp.get_output_embeddings().weight.mul_(30)
    half = copy.deepcopy(sharp).to("cuda" if torch.cuda.is_available() else "cpu", torch.bfloat16)
    prompts, candidates = rows(adapter.has_vision)
    assert prefix_cache_safe(half, adapter)
    shared = score_candidates(half, adapter, processor, prompts, candidates, batch_size=2)
    naive = score_naive(half, adapter, processor, prompts, candidates, batch_size=3)
    exact = score_naive(sharp, adapter, processor, prompts, candidates, batch_size=3)
    for shared_row, naive_row, exact_row in zip(shared, naive, exact):
        for a, b, c in zip(shared_row, naive_row, exact_row):
            assert a.n_tokens == b.n_tokens == c.n_tokens > 0
            assert a.mean == pytest.approx(b.mean, rel=1e-2, abs=1e-2)
            assert a.mean == pytest.approx(c.mean, rel=1e-2, abs=1e-2)
    # Not vacuous: the scores are confident, and a wrong path (another row's prompt) is far off.
    assert max(s.mean for row in exact for s in row) > 9
    swapped = score_naive(half, adapter, processor, prompts[::-1], candidates, batch_size=3)
    assert any(
        a.mean != pytest.approx(b.mean, rel=1e-2, abs=1e-2)
        for shared_row, swapped_row in zip(shared, swapped)
        for a, b in zip(shared_row, swapped_row)
    )
