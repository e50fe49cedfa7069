"""Real-size check on a GPU: LLaVA-1.5-7B's architecture with random weights, through clearbench.

No download: the model is built from the published LLaVA-1.5-7B configuration (CLIP ViT-L/14 at
336 px, Llama-2-7B decoder) with random weights, with a tokenizer fitted to the synthetic CLEAR, and
saved as a bf16 checkpoint. Then, through the same functions the commands call:

1. LoRA unlearning (the paper's setup: r 8, α 32, batch 1, 2 accumulation steps) with NPO and with
   plain fine-tuning on the forget set as the baseline: seconds per optimiser step and peak GPU memory,
   and their ratio from one run each;
2. full-weight unlearning of a bf16 checkpoint of a 1.1B decoder (TinyLlama-1.1B's configuration
   behind the same vision tower), loaded as saved and loaded in fp32: the fraction of decoder weights
   that changed after 20 steps at lr 1e-5. Each step's update is below bf16's spacing for most
   weights, so they only add up when fp32 master weights are kept.

    python benchmarks/real_size.py --work /tmp/real_size        # needs a CUDA GPU with ~80 GB
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

LLAVA_7B_TEXT = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32)
TINYLLAMA_1B_TEXT = dict(
    hidden_size=2048,
    intermediate_size=5632,
    num_hidden_layers=22,
    num_attention_heads=32,
    num_key_value_heads=4,
)
# --smoke: the same script on toy sizes, to check it on a CPU before spending GPU time.
SMOKE_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
SMOKE_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CLIP_L_336 = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=336,
    patch_size=14,
)


def build_checkpoint(texts: list[str], text_config: dict, out: Path, vision: dict = CLIP_L_336) -> Path:
    """A random-weight LLaVA of the given decoder size, saved as a bf16 checkpoint with its processor."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from clearbench.models.tiny import CHAT_TEMPLATE, train_tokenizer

    tokenizer = train_tokenizer(texts, 4000)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}
        ),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**{**CLIP_L_336, **vision}),
        text_config=LlamaConfig(
            vocab_size=32064,
            max_position_embeddings=4096,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **text_config,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
    )
    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = LlavaForConditionalGeneration._from_config(config, torch_dtype=torch.bfloat16)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    del model
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
    return out


def timed_unlearn(target: Path, source: str, method: str, out: Path, options, steps: int, dtype=None) -> dict:
    """One unlearning run; seconds per optimiser step (median gap between loss calls) and peak memory."""
    from clearbench.train import unlearn as engine

    calls: list[float] = []
    run_loop = engine.run_loop

    def timed_loop(*, loss_fn, **kwargs):
        def timed(model, batch, step):
            calls.append(time.perf_counter())
            return loss_fn(model, batch, step)

        return run_loop(loss_fn=timed, **kwargs)

    engine.run_loop = timed_loop
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    try:
        result = engine.unlearn(
            str(target), source, "forget10+tofu", "retain90+tofu", method, out, options, dtype=dtype
        )
    finally:
        engine.run_loop = run_loop
    accum = options.grad_accum
    step_starts = calls[::accum]
    return {
        "method": method,
        "status": result["status"],
        "seconds_per_step": statistics.median(b - a for a, b in zip(step_starts[1:], step_starts[2:])),
        "peak_gb": torch.cuda.max_memory_allocated() / 2**30 if DEVICE == "cuda" else None,
        "wall_s": time.perf_counter() - started,
        "steps": steps,
    }


def changed_fraction(before: Path, after: Path) -> tuple[float, int]:
    """Fraction of the decoder's weights that differ between two checkpoints, and how many were compared."""
    from safetensors import safe_open

    changed = total = 0
    with (
        safe_open(before / "model.safetensors", "pt") as a,
        safe_open(after / "model.safetensors", "pt") as b,
    ):
        for key in a.keys():
            if "language_model" not in key or "embed" in key or "lm_head" in key:
                continue
            x, y = a.get_tensor(key), b.get_tensor(key)
            changed += int((x != y).sum())
            total += x.numel()
    return changed / max(total, 1), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--skip", nargs="*", default=[], choices=["lora7b", "bf16full"])
    parser.add_argument("--smoke", action="store_true", help="toy sizes, to check the script on a CPU")
    args = parser.parse_args()
    from clearbench.data.synth import generate
    from clearbench.methods import METHODS
    from clearbench.methods.base import Method, model_nll
    from clearbench.models.tiny import source_texts
    from clearbench.train.lora import LoraOptions
    from clearbench.train.options import UnlearnOptions

    class ForgetFinetune(Method):
        name = "forget_finetune"
        description = "baseline: NLL on the forget batches"

        def loss(self, model, batch, ref, step):
            return model_nll(model, batch["forget"]), {}

    METHODS[ForgetFinetune.name] = ForgetFinetune
    source = str(generate(args.work / "data", persons=20, seed=0, image_size=64))
    texts = source_texts(source)
    results = {"device": torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"}
    big, small, vision = (
        (SMOKE_TEXT, SMOKE_TEXT, SMOKE_VISION) if args.smoke else (LLAVA_7B_TEXT, TINYLLAMA_1B_TEXT, {})
    )
    if "lora7b" not in args.skip:
        started = time.perf_counter()
        target = build_checkpoint(texts, big, args.work / "llava7b", vision)
        results["build_7b_s"] = time.perf_counter() - started
        lora = UnlearnOptions(
            max_steps=args.steps + 1,
            learning_rate=1e-5,
            batch_size=1,
            grad_accum=2,
            lora=LoraOptions(r=8, alpha=32),
        )
        runs = [
            timed_unlearn(target, source, m, args.work / f"lora_{m}", lora, args.steps)
            for m in ("forget_finetune", "npo")
        ]
        results["lora_7b"] = runs
        base, npo = runs
        results["npo_vs_finetune"] = {
            "seconds_ratio": npo["seconds_per_step"] / base["seconds_per_step"],
            "memory_ratio": npo["peak_gb"] / base["peak_gb"] if base["peak_gb"] else None,
        }
        print(json.dumps(results, indent=1), flush=True)
    if "bf16full" not in args.skip:
        target = build_checkpoint(texts, small, args.work / "llava1b", vision)
        full = UnlearnOptions(
            max_steps=20,
            learning_rate=1e-5,
            batch_size=2,
            grad_accum=1,
            lora=LoraOptions(r=0),
            weight_decay=0.0,
        )
        for dtype in (None, "float32"):
            out = args.work / f"full_ga_{dtype or 'as_saved'}"
            run = timed_unlearn(target, source, "ga", out, full, 20, dtype=dtype)
            fraction, compared = changed_fraction(target, out)
            results[f"full_ga_{dtype or 'as_saved'}"] = {
                **run,
                "changed_fraction": fraction,
                "compared": compared,
            }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
