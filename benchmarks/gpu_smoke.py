"""GPU smoke test at real size: random-weight LLaVA-1.5-7B and Qwen2-VL-2B through clearbench.

No download: each model is built from its published configuration (written out below) with random
weights and a tokenizer fitted to the synthetic CLEAR (generated at 336 pixels, the models' input
size), saved as a bf16 checkpoint, then run through the functions the commands call, with the
hyperparameters of its preset (`llava-1.5-7b`: LoRA r 8; `qwen2-vl-2b`: full weights, as the paper):

  finetune   `clearbench.train.finetune.finetune` on full+tofu
  unlearn    `clearbench.train.unlearn.unlearn` with NPO (a reference model: LoRA's adapters off,
             or a frozen copy for full weights)
  evaluate   `clearbench.evaluate.runner.evaluate_model` on an image task and a text task (scoring
             and greedy generation)

For each it prints seconds per optimizer step (median after the first), training tokens per second
(the batches' tokens, every data kind the method reads), and peak memory (GPU: allocated by torch,
reset per phase; CPU: the process's peak resident set so far). On one H200 the whole run takes a few
minutes, most of it writing and reading the 7B checkpoint.

    python benchmarks/gpu_smoke.py --work /tmp/gpu_smoke                       # a CUDA GPU, ~40 GB
    python benchmarks/gpu_smoke.py --work /tmp/gpu_smoke --device cpu --small  # toy sizes, on a CPU

Architectures are the real ones; only the sizes change with --small (2-layer decoders, 1-layer
vision towers, 64-pixel images).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the data and checkpoints")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--small", action="store_true", help="toy sizes of the same architectures")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps timed per phase")
    parser.add_argument("--eval-rows", type=int, default=16, help="rows evaluated per task")
    parser.add_argument("--models", nargs="+", default=["llava-1.5-7b", "qwen2-vl-2b"])
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


# ---- the published configurations -----------------------------------------------------------------
# llava-hf/llava-1.5-7b-hf: CLIP ViT-L/14 at 336 px (576 image tokens) + Llama-2-7B (real_size.py).
# Qwen/Qwen2-VL-2B-Instruct's config.json:
QWEN2_VL_2B_TEXT = dict(
    hidden_size=1536,
    intermediate_size=8960,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rms_norm_eps=1e-6,
    vocab_size=151936,
    tie_word_embeddings=True,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
)
QWEN2_VL_2B_VISION = dict(
    depth=32, embed_dim=1280, mlp_ratio=4, num_heads=16, hidden_size=1536, patch_size=14,
    spatial_merge_size=2, temporal_patch_size=2,
)  # fmt: skip
QWEN_MAX_PIXELS = 336 * 336  # a 336-pixel image: 24x24 patches, 144 image tokens
SMALL_QWEN_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=151936,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
)
SMALL_QWEN_VISION = dict(
    depth=1, embed_dim=32, num_heads=2, hidden_size=64, patch_size=14, spatial_merge_size=2,
    temporal_patch_size=2,
)  # fmt: skip


def build_llava(texts: list[str], out: Path, small: bool) -> Path:
    from real_size import LLAVA_7B_TEXT, SMOKE_TEXT, SMOKE_VISION, build_checkpoint

    return build_checkpoint(texts, SMOKE_TEXT if small else LLAVA_7B_TEXT, out, SMOKE_VISION if small else {})


def qwen2_vl_config(tokenizer, small: bool):
    """Qwen2-VL-2B's configuration (or the small one), its special tokens taken from `tokenizer`."""
    from transformers import Qwen2VLConfig

    ids = tokenizer.convert_tokens_to_ids
    return Qwen2VLConfig(
        text_config={
            **(SMALL_QWEN_TEXT if small else QWEN2_VL_2B_TEXT),
            "bos_token_id": None,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config=SMALL_QWEN_VISION if small else QWEN2_VL_2B_VISION,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )


def build_qwen2_vl(texts: list[str], out: Path, small: bool, device: str) -> Path:
    import torch
    from transformers import Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    # The tiny-processor builder is a test helper (tests/tiny_families/), beside this script's tree.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_families.qwen2_vl import tiny_processor

    processor = tiny_processor(Qwen2VLProcessor, texts, 14, QWEN_MAX_PIXELS)
    tokenizer = processor.tokenizer
    config = qwen2_vl_config(tokenizer, small)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    del model
    return out


# ---- measuring -----------------------------------------------------------------------------------
def batch_tokens(batch) -> int:
    """Tokens of one training batch: an encoding, or one encoding per data kind."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return sum(batch_tokens(encoding) for encoding in batch.values())


@contextmanager
def peak_memory(device: str):
    import torch

    record: dict = {}
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    yield record
    record["wall_s"] = round(time.perf_counter() - started, 2)
    if device == "cuda":
        record["peak_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    else:  # Linux reports kilobytes; the peak of the whole process so far
        record["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


@contextmanager
def timed_loop():
    """Wrap the training recipe's `run_loop` (finetune and unlearn both train through it) so each
    call of the loss records (time, batch tokens)."""
    from clearbench.train import recipe as module

    calls: list[tuple[float, int]] = []
    run_loop = module.run_loop

    def wrapped(*, loss_fn, **kwargs):
        def timed(model, batch, step):
            calls.append((time.perf_counter(), batch_tokens(batch)))
            return loss_fn(model, batch, step)

        return run_loop(loss_fn=timed, **kwargs)

    module.run_loop = wrapped
    try:
        yield calls
    finally:
        module.run_loop = run_loop


def step_figures(calls: list[tuple[float, int]], grad_accum: int) -> dict:
    """Seconds per optimizer step and tokens per second, from the loss calls after the first step."""
    starts = [time for time, _ in calls[::grad_accum]]
    tokens = [sum(n for _, n in calls[i : i + grad_accum]) for i in range(0, len(calls), grad_accum)]
    gaps = [b - a for a, b in zip(starts[1:], starts[2:])] or [float("nan")]
    seconds = statistics.median(gaps)
    timed_tokens = tokens[1 : len(gaps) + 1] or [0]
    return {
        "seconds_per_step": round(seconds, 3),
        "tokens_per_step": round(statistics.mean(timed_tokens), 1),
        "tokens_per_s": round(statistics.mean(timed_tokens) / seconds, 1),
    }


@contextmanager
def counted_forwards():
    """Tokens through every top-level model forward (prefill and each generated token) while inside."""
    from clearbench.models.base import Adapter

    counter = {"tokens": 0}
    load = Adapter.load

    def counting_load(self, *args, **kwargs):
        model, processor = load(self, *args, **kwargs)

        def count(_module, args, kwargs):
            ids = kwargs.get("input_ids", args[0] if args else None)
            if ids is not None:
                counter["tokens"] += ids.numel()

        model.register_forward_pre_hook(count, with_kwargs=True)
        return model, processor

    Adapter.load = counting_load
    try:
        yield counter
    finally:
        Adapter.load = load


# ---- the phases ----------------------------------------------------------------------------------
def preset_options(preset: str, steps: int):
    from clearbench import settings
    from clearbench.run.config import load_config
    from clearbench.train.options import TrainOptions, UnlearnOptions

    config = load_config(preset)
    finetune = replace(settings.narrow(config.finetune, TrainOptions), max_steps=steps + 1)
    unlearn = replace(settings.narrow(config.unlearn, UnlearnOptions), max_steps=steps + 1)
    return finetune, unlearn, config.eval


def run_model(name: str, args, source: str, texts: list[str]) -> dict:
    from clearbench.evaluate.runner import evaluate_model
    from clearbench.train import finetune as finetuning
    from clearbench.train import unlearn as unlearning

    finetune_options, unlearn_options, eval_section = preset_options(name, args.steps)
    if args.small:  # toy batches too, so a CPU finishes in seconds
        finetune_options = replace(finetune_options, batch_size=2, grad_accum=1)
    work = args.work / name
    result: dict = {"model": name, "size": "small" if args.small else "real"}
    with peak_memory(args.device) as build:
        if name == "llava-1.5-7b":
            checkpoint = build_llava(texts, work / "checkpoint", args.small)
        else:
            checkpoint = build_qwen2_vl(texts, work / "checkpoint", args.small, args.device)
    result["build"] = build
    with peak_memory(args.device) as figures, timed_loop() as calls:
        finetuning.finetune(str(checkpoint), source, "full+tofu", work / "target", finetune_options)
    result["finetune"] = {
        **figures,
        **step_figures(calls, finetune_options.grad_accum),
        "lora_r": finetune_options.lora.r,
    }
    with peak_memory(args.device) as figures, timed_loop() as calls:
        outcome = unlearning.unlearn(
            str(work / "target"),
            source,
            "forget10+tofu",
            "retain90+tofu",
            "npo",
            work / "npo",
            unlearn_options,
        )
    result["unlearn_npo"] = {
        **figures,
        **step_figures(calls, unlearn_options.grad_accum),
        "status": outcome["status"],
        "lora_r": unlearn_options.lora.r,
    }
    with peak_memory(args.device) as figures, counted_forwards() as counter:
        evaluate_model(
            str(work / "npo"),
            source,
            "forget10",
            work / "eval",
            tasks=["forget_captions", "tofu_forget"],
            max_rows=args.eval_rows,
            batch_size=eval_section.batch_size,
            max_new_tokens=16 if args.small else eval_section.max_new_tokens,
            progress=False,
        )
    result["evaluate"] = {
        **figures,
        "rows": 2 * args.eval_rows,
        "rows_per_s": round(2 * args.eval_rows / figures["wall_s"], 2),
        "tokens_per_s": round(counter["tokens"] / figures["wall_s"], 1),
    }
    return result


def print_table(results: list[dict]) -> None:
    memory = "peak_gb" if any("peak_gb" in r["finetune"] for r in results) else "peak_rss_gb"
    print(f"\n{'model':<14} {'phase':<12} {'s/step':>8} {'tokens/s':>10} {memory:>12} {'wall s':>8}")
    for result in results:
        for phase in ("finetune", "unlearn_npo", "evaluate"):
            row = result[phase]
            per_step = row.get("seconds_per_step", "")
            print(
                f"{result['model']:<14} {phase:<12} {per_step!s:>8} {row['tokens_per_s']!s:>10} "
                f"{row.get(memory, '')!s:>12} {row['wall_s']!s:>8}"
            )


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: nothing lands on a GPU
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # real_size.py, beside this file
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_smoke: no CUDA GPU here; use --device cpu --small to check the script")
    from clearbench.data.synth import generate
    from clearbench.models.tiny import source_texts

    args.work.mkdir(parents=True, exist_ok=True)
    with peak_memory(args.device) as data:
        source = str(generate(args.work / "data", persons=10, seed=0, image_size=64 if args.small else 336))
        texts = source_texts(source)
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(json.dumps({"device": device, "torch": torch.__version__, "data": data}), flush=True)
    results = []
    for name in args.models:
        results.append(run_model(name, args, source, texts))
        print(json.dumps(results[-1]), flush=True)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps({"device": device, "results": results}, indent=1))
    return results


if __name__ == "__main__":
    main()
