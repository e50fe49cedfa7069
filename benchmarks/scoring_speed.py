"""Shared-prefix vs naive per-candidate scoring, same rows, one run, at a family's real image-token count.

A random model of the family's architecture, with its real image geometry (LLaVA-1.5's CLIP at 336 px
/ patch 14: 576 image tokens; Qwen2-VL's 14-pixel patches merged 2x2: 144 for a 336-pixel image; …),
a small vision tower and a small decoder, scores each row's true caption, paraphrase and K
perturbations both ways. Prints rows/second of each path, the speed-up and the largest score
difference. Families with multimodal rope (qwen2_vl, qwen2_5_vl, qwen3_vl) continue the cached prompt
from the model's own rope deltas.

    python benchmarks/scoring_speed.py --threads 1    # LLaVA on a CPU, under a minute; 1 thread is steadier on a shared CPU
    python benchmarks/scoring_speed.py --family qwen3_vl --threads 1
    python benchmarks/scoring_speed.py --device cuda --hidden 1024 --layers 8 --rows 64
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from clearbench.data.format import CAPTION_QUESTIONS, Sample
from clearbench.evaluate.scoring import prefix_cache_safe, score_candidates, score_naive, uses_mrope
from clearbench.models.registry import adapter_for
from clearbench.models.tiny import TinySize, build_tiny_llava

# The other families' tiny random models are test helpers (tests/tiny_families/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_families import build_tiny  # noqa: E402

WORDS = (
    "a portrait of the author standing near an old stone bridge in warm evening light with "
    "a red umbrella books on a wooden table and a window behind her while she smiles at the "
    "camera wearing glasses and a grey coat in a quiet library full of shelves"
).split()


# family -> (adapter family, build_tiny keywords giving the real model's image geometry). The rows'
# images are 336 x 336 pixels.
FAMILIES = {
    "llava": ("llava", {}),  # CLIP 336 px / patch 14: 576 tokens
    "qwen2_vl": ("qwen2_vl", dict(model_type="qwen2_vl", patch=14, max_pixels=336 * 336)),  # 24x24 -> 144
    "qwen2_5_vl": ("qwen2_vl", dict(model_type="qwen2_5_vl", patch=14, max_pixels=336 * 336)),  # 144
    "qwen3_vl": ("qwen3_vl", dict(model_type="qwen3_vl", patch=16, max_pixels=336 * 336)),  # 20x20 -> 100
    "gemma3": ("gemma3", dict(image_size=224, patch=14, image_tokens=256)),  # Gemma 3's 256 per image
    "internvl": ("internvl", dict(tile=448, patch=14)),  # one 448-pixel tile: 256
    "llava_onevision": ("llava_onevision", dict(crop=384, patch=14)),  # 729 per crop, anyres: ~1.5k
}


def build(family: str, texts: list[str], hidden: int, layers: int):
    """(model, processor) of `family` at its real image geometry, with a small decoder."""
    if family == "llava":
        size = TinySize(
            image_size=336,
            patch_size=14,
            vision_hidden=64,
            vision_layers=2,
            hidden=hidden,
            layers=layers,
            heads=max(1, hidden // 32),
        )
        return build_tiny_llava(texts, size, seed=0)
    name, geometry = FAMILIES[family]
    return build_tiny(name, texts, seed=0, hidden=hidden, layers=layers, **geometry)


def caption(rng: random.Random, length: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(length)).capitalize() + "."


def build_rows(n_rows: int, n_perturbations: int, seed: int):
    rng = random.Random(seed)
    prompts, candidates = [], []
    for _ in range(n_rows):
        colour = tuple(rng.randrange(256) for _ in range(3))
        prompts.append(Sample(rng.choice(CAPTION_QUESTIONS), "", Image.new("RGB", (336, 336), colour)))
        # true caption, paraphrase, perturbations: 20-40 words each, like CLEAR's captions
        candidates.append([caption(rng, rng.randint(20, 40)) for _ in range(2 + n_perturbations)])
    return prompts, candidates


def timed(functions: dict, repeats: int) -> tuple[dict, dict]:
    """Best wall time of each function over `repeats` rounds, interleaved so that both paths
    see the same machine load (the CPU may be shared)."""
    best = {name: float("inf") for name in functions}
    results = {}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            results[name] = function()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="llava", choices=sorted(FAMILIES))
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--perturbations", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=128, help="decoder hidden size")
    parser.add_argument("--layers", type=int, default=4, help="decoder layers")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.set_grad_enabled(False)
    model, processor = build(args.family, WORDS * 20 + list(CAPTION_QUESTIONS), args.hidden, args.layers)
    model = model.to(args.device, getattr(torch, args.dtype)).eval()
    adapter = adapter_for(model)
    if not prefix_cache_safe(model, adapter):
        print(f"note: {args.family} falls back to naive scoring; both paths below are the naive one")
    prompts, candidates = build_rows(args.rows, args.perturbations, seed=0)
    encoded = adapter.encode(
        processor,
        [
            Sample(p.question, answer, p.image)
            for p, answers in zip(prompts, candidates)
            for answer in answers
        ],
    )
    image_tokens = int((encoded["input_ids"][0] == model.config.image_token_id).sum())
    answer_tokens = (encoded["labels"] != -100).sum(dim=1).float()
    sequence_tokens = encoded["attention_mask"].sum(dim=1).float()
    # What each path feeds the decoder: naive = every full sequence; shared = one prompt per row
    # plus each candidate's answer tokens (and the token before them).
    naive_tokens = float(sequence_tokens.sum())
    prompt_tokens = float((sequence_tokens - answer_tokens).view(args.rows, -1)[:, 0].sum())
    shared_tokens = prompt_tokens + float((answer_tokens + 1).sum())

    # Warm up both paths once (allocator, kernels) on one row.
    score_candidates(model, adapter, processor, prompts[:1], candidates[:1], args.batch_size)
    score_naive(model, adapter, processor, prompts[:1], candidates[:1], args.batch_size)
    seconds, results = timed(
        {
            "shared": lambda: score_candidates(
                model, adapter, processor, prompts, candidates, args.batch_size
            ),
            "naive": lambda: score_naive(model, adapter, processor, prompts, candidates, args.batch_size),
        },
        args.repeats,
    )
    (shared_s, shared), (naive_s, naive) = [(seconds[k], results[k]) for k in ("shared", "naive")]
    gap = max(abs(a.mean - b.mean) for ra, rb in zip(shared, naive) for a, b in zip(ra, rb))

    positions = "mrope, continued from the prefix's rope deltas" if uses_mrope(model) else "rope"
    print(
        f"family {args.family} ({type(model).__name__}, positions: {positions}); image tokens per prompt: "
        f"{image_tokens}; rows: {args.rows}; candidates per row: {2 + args.perturbations} (answer, "
        f"paraphrase, {args.perturbations} perturbations); decoder {args.layers}x{args.hidden}; "
        f"device {args.device} {args.dtype}"
    )
    print(f"naive per-candidate : {args.rows / naive_s:8.2f} rows/s ({naive_s:.2f} s)")
    print(f"shared prefix       : {args.rows / shared_s:8.2f} rows/s ({shared_s:.2f} s)")
    print(
        f"speed-up            : {naive_s / shared_s:8.2f}x (decoder tokens {naive_tokens:.0f} vs "
        f"{shared_tokens:.0f}: {naive_tokens / shared_tokens:.2f}x fewer; images {len(encoded['input_ids'])} "
        f"vs {args.rows})"
    )
    print(f"max |mean NLL| gap  : {gap:.2e}")


if __name__ == "__main__":
    main()
