"""Teacher-forced NLL of candidate answers, with the image + question prefix encoded once per row.

Every CLEAR row is scored against several answers that share one prompt (true answer, paraphrase,
five perturbations). The prompt is where the cost is (~576 image tokens for LLaVA-1.5), so
`score_candidates` runs it once per row with a KV cache and feeds only the candidates' own tokens
against copies of that cache (each row's image is also preprocessed only once). `score_naive` is
the reference: one full `adapter.encode` + forward per candidate.

Positions: the prefix is run with explicit position ids and each continuation goes on from them,
as the model would number the full sequence. For plain rope that is the token's index among the
row's real tokens. Families with multimodal rope (Qwen2-VL, Qwen2.5-VL, Qwen3-VL: "mrope") number
an image by its grid, so the text after it runs ahead of (or behind) the token index by a per-row
"rope delta"; the prefix's positions come from the model's own `get_rope_index` and the
continuation's are its token index plus that delta, which is what the model assigns when it
generates. An mrope model without `get_rope_index` falls back to the naive path, still batched,
and so does a batch longer than a sliding attention window (Gemma 3). An adapter can force the
choice with a `prefix_cache_safe` attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import torch

from clearbench.data.format import Sample
from clearbench.models.base import IGNORE_INDEX, unwrap


class AnswerNLL(NamedTuple):
    """Summed negative log-likelihood of an answer's supervised tokens and their count.

    Per token, from the same logits (for the membership scores, evaluate/membership.py):
    `token_logprobs` = log p(y_t | x, y_<t), and `token_z` = Min-K %++'s standardised log-prob
    (log p(y_t) − μ_t) / σ_t, with μ_t and σ_t² the mean and variance of log p(v) for v drawn from
    the model's own next-token distribution at that position (Zhang et al. 2024); `token_hits`
    = whether y_t is the model's most likely next token there (the greedy choice under teacher
    forcing), for exact memorization and extraction strength (evaluate/memorization.py).
    """

    sum_nll: float
    n_tokens: int
    token_logprobs: tuple[float, ...] = ()
    token_z: tuple[float, ...] = ()
    token_hits: tuple[bool, ...] = ()

    @property
    def mean(self) -> float:
        return self.sum_nll / self.n_tokens


def score_candidates(
    model,
    adapter,
    processor,
    prompts: Sequence[Sample],
    candidates: Sequence[Sequence[str]],
    batch_size: int = 8,
    padding_side: str = "left",
) -> list[list[AnswerNLL]]:
    """Per row, per candidate answer: (sum_nll, n_tokens) of the answer given the row's prompt.

    `prompts[i]` supplies the question and image of row i (its answer is ignored); `candidates[i]`
    are the answers scored against it. `batch_size` bounds the sequences in one forward pass.
    `padding_side` lays out prompts of different lengths in the cached prefix: "left" ends them all
    in one column, so every continuation follows its prompt directly; "right" leaves a masked gap.
    The scores do not depend on it.
    """
    _check_lengths(prompts, candidates)
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
    if not prefix_cache_safe(model, adapter):
        return score_naive(model, adapter, processor, prompts, candidates, batch_size)
    results: list[list[AnswerNLL]] = []
    for start in range(0, len(prompts), batch_size):
        stop = start + batch_size
        results.extend(
            _score_rows(
                model,
                adapter,
                processor,
                prompts[start:stop],
                candidates[start:stop],
                batch_size,
                padding_side,
            )
        )
    return results


def score_naive(
    model,
    adapter,
    processor,
    prompts: Sequence[Sample],
    candidates: Sequence[Sequence[str]],
    batch_size: int = 8,
) -> list[list[AnswerNLL]]:
    """The reference path: every candidate is a full `adapter.encode` + forward of its own."""
    _check_lengths(prompts, candidates)
    samples = [
        replace(prompt, answer=answer) for prompt, answers in zip(prompts, candidates) for answer in answers
    ]
    flat: list[AnswerNLL] = []
    for start in range(0, len(samples), batch_size):
        batch = model_inputs(adapter.encode(processor, samples[start : start + batch_size]), model)
        labels = batch.pop("labels")
        with torch.inference_mode():
            logits = model(**batch).logits
        flat.extend(_sequence_nll(logits, labels))
    return _regroup(flat, candidates)


def prefix_cache_safe(model, adapter) -> bool:
    """Whether a cached prompt can be continued: plain rope, or mrope with the model's own
    `get_rope_index` to number the prefix (and so the continuation)."""
    explicit = getattr(adapter, "prefix_cache_safe", None)
    if explicit is not None:
        return bool(explicit)
    return not uses_mrope(model) or _rope_index(model) is not None


def uses_mrope(model) -> bool:
    """Whether the model numbers positions with multimodal rope (an `mrope_section` in its rope settings)."""
    config = unwrap(model).config
    text_config = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    for holder in (config, text_config):
        for name in ("rope_parameters", "rope_scaling"):
            rope = getattr(holder, name, None)
            if isinstance(rope, dict) and "mrope_section" in rope:
                return True
    return False


def _rope_index(model):
    """The model's own mrope numbering, `get_rope_index(input_ids, mm_token_type_ids, …)`, or None."""
    inner = getattr(unwrap(model), "model", None)
    return getattr(inner, "get_rope_index", None)


def _sliding_window(model) -> int | None:
    """The shortest sliding attention window of the decoder, if any layer uses one."""
    config = unwrap(model).config
    text_config = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    window = getattr(text_config, "sliding_window", None)
    layer_types = getattr(text_config, "layer_types", None) or ()
    if window and ("sliding_attention" in layer_types or getattr(text_config, "use_sliding_window", False)):
        return int(window)
    return None


def _score_rows(model, adapter, processor, prompts, candidates, batch_size, padding_side):
    # Each row's prompt is encoded once, with its image, together with its first candidate. The
    # candidates' own tokens (the answer, the token before it, the end token) are cut from a
    # text-only encoding, which skips the image preprocessing for every other candidate; that tail
    # is checked against the image encoding of the first candidate before it is trusted.
    prompt_batch = adapter.encode(processor, [replace(p, answer=c[0]) for p, c in zip(prompts, candidates)])
    text_batch = adapter.encode(
        processor,
        [replace(p, answer=a, image=None) for p, answers in zip(prompts, candidates) for a in answers],
    )
    owner = [row for row, answers in enumerate(candidates) for _ in answers]
    tails = _tails(text_batch, owner, len(prompts))
    prefix_lengths = _prefix_lengths(prompt_batch, tails, owner, _image_token_id(model))
    window = _sliding_window(model)
    too_long = window is not None and max(prefix_lengths or [0]) + max(len(t) for t, _ in tails) >= window
    if prefix_lengths is None or too_long:  # the shortcut does not hold for this model or batch
        return score_naive(model, adapter, processor, prompts, candidates, batch_size)

    lengths = torch.tensor(prefix_lengths)
    prefix = _prefix_inputs(
        prompt_batch, lengths, max(prefix_lengths), padding_side, _pad_id(adapter, processor)
    )
    positions, deltas = _prefix_positions(model, prefix)
    cached = _prefix_cache(model, prefix, positions)
    starts = lengths + deltas
    flat = _score_tails(
        model, tails, owner, cached, prefix["attention_mask"], starts, batch_size, _pad_id(adapter, processor)
    )
    return _regroup(flat, candidates)


def _prefix_inputs(
    prompt_batch: dict, lengths: torch.Tensor, longest: int, padding_side: str, pad_id
) -> dict:
    """The prompts without their first candidate, laid out to `longest` on `padding_side`."""
    # Image inputs go with the prefix; per-token extras (token_type_ids, …) take its layout.
    per_token = {key for key, value in prompt_batch.items() if _per_token(value, prompt_batch)}
    prefix = {
        key: _lay_out(value, lengths, longest, padding_side, pad_id if key == "input_ids" else 0)
        if key in per_token
        else value
        for key, value in prompt_batch.items()
        if key != "labels"
    }
    prefix["attention_mask"] = _lay_out(
        torch.ones_like(prompt_batch["attention_mask"]), lengths, longest, padding_side, 0
    )
    return prefix


def _prefix_cache(model, prefix: dict, positions: torch.Tensor) -> list:
    """One forward pass of the prefixes: their key/value cache, layer by layer."""
    with torch.inference_mode():
        out = model(
            **model_inputs(prefix, model),
            position_ids=positions.to(_device(model)),
            use_cache=True,
            logits_to_keep=1,
        )
    return [(keys, values) for keys, values, *_ in out.cache]


def _score_tails(model, tails, owner, cached, prefix_mask, starts, batch_size: int, pad) -> list:
    """Each candidate's answer NLL, its tail continuing its row's cached prefix (`starts`: the
    position of the tail's first token)."""
    from transformers import DynamicCache  # not at import: `clearbench --help` would pay for transformers

    device = _device(model)
    prefix_mask = prefix_mask.to(device)
    flat: list[AnswerNLL | None] = [None] * len(owner)
    # Tails of similar length share a forward pass, so little of it is padding.
    order = sorted(range(len(owner)), key=lambda seq: len(tails[seq][0]))
    for start in range(0, len(order), batch_size):
        seqs = order[start : start + batch_size]
        rows = torch.tensor([owner[seq] for seq in seqs], device=device)
        ids, mask, labels = _tail_batch([tails[seq] for seq in seqs], pad)
        # A continuation token's position is its index among its row's real tokens, plus the
        # row's rope delta (0 without mrope): whatever the layout of the padded prefix.
        positions = starts[[owner[seq] for seq in seqs]].unsqueeze(1) + torch.arange(ids.shape[1]).unsqueeze(
            0
        )
        cache = DynamicCache([(k[rows], v[rows]) for k, v in cached], config=unwrap(model).config)
        with torch.inference_mode():
            logits = model(
                input_ids=ids.to(device),
                attention_mask=torch.cat([prefix_mask[rows], mask.to(device)], dim=1),
                position_ids=positions.to(device),
                cache=cache,
                use_cache=True,
            ).logits
        for seq, score in zip(seqs, _sequence_nll(logits, labels.to(device))):
            flat[seq] = score
    return flat


def _tail_batch(tails: list, pad) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, attention mask, labels) of tails padded on the right to the longest."""
    width = max(len(tail_ids) for tail_ids, _ in tails)
    ids = torch.full((len(tails), width), pad, dtype=torch.long)
    mask = torch.zeros((len(tails), width), dtype=torch.long)
    labels = torch.full((len(tails), width), IGNORE_INDEX, dtype=torch.long)
    for i, (tail_ids, tail_labels) in enumerate(tails):
        ids[i, : len(tail_ids)], labels[i, : len(tail_ids)] = tail_ids, tail_labels
        mask[i, : len(tail_ids)] = 1
    return ids, mask, labels


def _lay_out(value: torch.Tensor, lengths: torch.Tensor, width: int, side: str, pad) -> torch.Tensor:
    """The first `lengths[row]` columns of each row of a right-padded batch, padded to `width` on `side`."""
    out = torch.full((value.shape[0], width), pad, dtype=value.dtype)
    for row, length in enumerate(lengths.tolist()):
        columns = slice(width - length, width) if side == "left" else slice(0, length)
        out[row, columns] = value[row, :length]
    return out


def _prefix_positions(model, prefix: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(position ids of the prefix, per-row rope delta to add to a continuation's token index).

    Plain rope: the index among the row's real tokens, delta 0. Mrope: the model's own
    `get_rope_index`, which numbers each image by its grid and returns the delta.
    """
    mask = prefix["attention_mask"]
    if not uses_mrope(model):
        return (mask.cumsum(dim=1) - 1).clamp(min=0), torch.zeros(mask.shape[0], dtype=torch.long)
    ids = prefix["input_ids"]
    token_types = prefix.get("mm_token_type_ids")
    if token_types is None:  # a processor that does not return them: image tokens are type 1
        token_types = (ids == _image_token_id(model)).int()
    positions, deltas = _rope_index(model)(
        input_ids=ids,
        mm_token_type_ids=token_types,
        image_grid_thw=prefix.get("image_grid_thw"),
        attention_mask=mask,
    )
    return positions, deltas.view(-1).long().cpu()


def _tails(text_batch, owner, n_rows) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per candidate, (ids, labels) from the last token its row's candidates all share to its end.

    That last shared token is kept in the tail so that its logits, which predict the first answer
    token, come out of the continuation pass.
    """
    ids, labels = text_batch["input_ids"], text_batch["labels"]
    lengths = text_batch["attention_mask"].sum(dim=1).tolist()
    boundary = []
    for row in range(n_rows):
        seqs = [seq for seq, owned in enumerate(owner) if owned == row]
        shared = min(int((labels[seq] != IGNORE_INDEX).nonzero()[0]) for seq in seqs)
        for seq in seqs[1:]:
            same = (ids[seq, :shared] == ids[seqs[0], :shared]).long()
            shared = int(same.cumprod(0).sum())
        boundary.append(shared - 1)
    return [
        (ids[seq, max(boundary[row], 0) : lengths[seq]], labels[seq, max(boundary[row], 0) : lengths[seq]])
        for seq, row in enumerate(owner)
    ]


def _prefix_lengths(prompt_batch, tails, owner, image_token_id) -> list[int] | None:
    """Per row, how many tokens of its prompt encoding precede the tail; None if they do not fit.

    They fit when the first candidate's image encoding ends with exactly its text-only tail, the
    prefix is not empty, and no image placeholder falls inside the tail.
    """
    if image_token_id is not None and any((tail_ids == image_token_id).any() for tail_ids, _ in tails):
        return None
    ids, labels = prompt_batch["input_ids"], prompt_batch["labels"]
    lengths = prompt_batch["attention_mask"].sum(dim=1).tolist()
    result = []
    for row, length in enumerate(lengths):
        tail_ids, tail_labels = tails[owner.index(row)]
        start = length - len(tail_ids)
        if (
            start < 1
            or not torch.equal(ids[row, start:length], tail_ids)
            or not torch.equal(labels[row, start:length], tail_labels)
        ):
            return None
        result.append(start)
    return result


def _per_token(value, batch) -> bool:
    return torch.is_tensor(value) and value.shape == batch["input_ids"].shape


# Answer positions whose vocabulary-wide log-probs are held at once (Min-K %++ needs the whole
# distribution): 512 × a 152k vocabulary × 4 bytes is 0.3 GB per temporary.
TOKEN_CHUNK = 512


def _sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> list[AnswerNLL]:
    """(sum, count) of next-token NLL over each sequence's supervised positions, in float32, with
    each token's log-prob and Min-K %++ z-score (see `AnswerNLL`): one pass over the same logits."""
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    kept_logits, kept_targets = logits[:, :-1][keep], targets[keep]
    pieces = []  # (log-probs, z, hits) of TOKEN_CHUNK positions at a time: a few vocabulary-wide temporaries
    for start in range(0, len(kept_targets), TOKEN_CHUNK):
        log_probs = torch.log_softmax(kept_logits[start : start + TOKEN_CHUNK].float(), dim=-1)
        wanted = kept_targets[start : start + TOKEN_CHUNK]
        chosen = log_probs.gather(1, wanted.unsqueeze(1)).squeeze(1)
        pieces.append((chosen, token_z_scores(log_probs, chosen), log_probs.argmax(dim=-1) == wanted))
    empty = logits.new_zeros(0, dtype=torch.float32)
    token_logprobs = torch.cat([p[0] for p in pieces]) if pieces else empty
    z = torch.cat([p[1] for p in pieces]) if pieces else empty
    hits = torch.cat([p[2] for p in pieces]) if pieces else empty.bool()
    rows = keep.nonzero()[:, 0]
    sums = torch.zeros(labels.shape[0], dtype=torch.float64, device=logits.device)
    sums.index_add_(0, rows, -token_logprobs.double())
    counts = keep.sum(dim=1).tolist()
    per_row_logprobs = token_logprobs.double().split(counts)
    per_row_z = z.double().split(counts)
    per_row_hits = hits.cpu().split(counts)
    return [
        AnswerNLL(float(s), int(c), tuple(lp.tolist()), tuple(zs.tolist()), tuple(h.tolist()))
        for s, c, lp, zs, h in zip(sums.tolist(), counts, per_row_logprobs, per_row_z, per_row_hits)
    ]


def token_z_scores(log_probs: torch.Tensor, token_logprobs: torch.Tensor) -> torch.Tensor:
    """Min-K %++'s per-token z = (log p(y_t) − μ_t) / σ_t (Zhang et al. 2024, arXiv 2404.02936).

    `log_probs` (tokens × vocabulary) is the model's next-token log-distribution at each position:
    μ_t = Σ_v p(v) log p(v), σ_t² = Σ_v p(v) (log p(v) − μ_t)² (the two-pass form of
    E[(log p)²] − μ², free of its cancellation). Vocabulary entries of probability 0 contribute 0.
    A point-mass distribution (σ_t = 0) gives z = 0: nothing to standardise against.
    """
    probs = log_probs.exp()
    finite = probs > 0
    safe_log = torch.where(finite, log_probs, torch.zeros_like(log_probs))
    mu = (probs * safe_log).sum(dim=-1)
    sigma = (probs * (safe_log - mu.unsqueeze(1)).square()).sum(dim=-1).sqrt()
    spread = sigma > 0
    return torch.where(spread, (token_logprobs - mu) / torch.where(spread, sigma, 1.0), 0.0)


def _regroup(flat: list[AnswerNLL], candidates) -> list[list[AnswerNLL]]:
    grouped, start = [], 0
    for answers in candidates:
        grouped.append(flat[start : start + len(answers)])
        start += len(answers)
    return grouped


def _check_lengths(prompts, candidates) -> None:
    if len(prompts) != len(candidates):
        raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    empty = [row for row, answers in enumerate(candidates) if not answers]
    if empty:
        raise ValueError(f"row {empty[0]} has no candidate answers")


def _image_token_id(model):
    config = unwrap(model).config
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if value is not None:
            return value
    return None


def _pad_id(adapter, processor) -> int:
    tokenizer = adapter.tokenizer(processor)
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _device(model) -> torch.device:
    return next(model.parameters()).device


def model_inputs(batch: dict, model) -> dict:
    """Tensors onto the model's device; floating inputs (pixel values) in the model's dtype."""
    parameter = next(model.parameters())
    moved = {}
    for key, value in batch.items():
        if torch.is_tensor(value):
            dtype = parameter.dtype if value.is_floating_point() else value.dtype
            value = value.to(parameter.device, dtype)
        moved[key] = value
    return moved
