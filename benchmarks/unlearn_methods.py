"""Cost of each unlearning method relative to plain fine-tuning on the same batches.

On the default tiny setup (synthetic CLEAR with 20 people, the tiny-llava architecture fitted to its
text, forget10+tofu / retain90+tofu) every method runs through `clearbench.train.unlearn.unlearn`
in its own process, once with LoRA (r 8, α 32) and once training all weights. "finetune" is the
baseline: the same engine minimising NLL on the forget batches.

Printed per method and mode: seconds per optimiser step (median gap between successive steps of
one run, so loading and saving do not count), peak memory (GPU: torch.cuda.max_memory_allocated;
CPU: growth of the process's peak RSS over its size before the run), the parameter bytes the reference
model adds (0 with LoRA: the reference is the same weights with adapters off), and each as a ratio to
the baseline from one run.

    python benchmarks/unlearn_methods.py                       # CPU, a few minutes on 2 cores
    python benchmarks/unlearn_methods.py --methods ga npo --modes lora --steps 8
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

BASELINE = "finetune"


def build_setup(root: Path, persons: int) -> tuple[str, Path]:
    from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION
    from clearbench.data.load import load_split
    from clearbench.data.synth import generate
    from clearbench.models.tiny import build_tiny_llava

    source = str(generate(root / "data", persons=persons, seed=0, image_size=64))
    rows = load_split(source, "full+tofu")
    texts = list(CAPTION_QUESTIONS) + [FACE_QUESTION]
    texts += [text for column in ("caption", "question", "answer") for text in rows[column] if text]
    model, processor = build_tiny_llava(texts, seed=0)
    target = root / "target"
    model.save_pretrained(target)
    processor.save_pretrained(target)
    return source, target


def child(method: str, mode: str, source: str, target: str, steps: int, batch_size: int, device: str) -> dict:
    """Run in a fresh process: one run of `steps + 1` steps, timed per step, with its peak memory."""
    from clearbench.methods import METHODS
    from clearbench.methods.base import Method, forward_logits, nll
    from clearbench.train import reference
    from clearbench.train import unlearn as unlearn_module
    from clearbench.train.lora import LoraOptions
    from clearbench.train.options import UnlearnOptions

    class Finetune(Method):
        name = BASELINE
        description = "baseline: NLL on the forget batches"

        def loss(self, model, batch, ref, step):
            forget = batch["forget"]
            return nll(forward_logits(model, forget), forget["labels"]), {}

    METHODS[BASELINE] = Finetune
    references = []
    original = reference.Reference.for_model.__func__

    def recording(cls, model, adapter):
        ref = original(cls, model, adapter)
        references.append(ref)
        return ref

    reference.Reference.for_model = classmethod(recording)
    lora = LoraOptions(r=8, alpha=32) if mode == "lora" else LoraOptions(r=0)
    work = Path(tempfile.mkdtemp(prefix=f"bench-{method}-"))
    calls: list[float] = []
    run_loop = unlearn_module.run_loop

    def timed_loop(*, loss_fn, **kwargs):
        def timed(model, batch, step):
            calls.append(time.perf_counter())
            return loss_fn(model, batch, step)

        return run_loop(loss_fn=timed, **kwargs)

    unlearn_module.run_loop = timed_loop
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    result = unlearn_module.unlearn(
        target,
        source,
        "forget10+tofu",
        "retain90+tofu",
        method,
        work / "out",
        UnlearnOptions(max_steps=steps + 1, learning_rate=1e-5, batch_size=batch_size, lora=lora),
    )
    if result["status"] != "completed":
        raise SystemExit(f"{method}: {result['status']}")
    if device == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    # one loss call per optimiser step: the gap between calls is a whole step (data, forward,
    # backward, optimiser); the median ignores the first step and stalls from other processes
    seconds = statistics.median(b - a for a, b in zip(calls[1:], calls[2:]))
    ref = references[-1] if references else None
    extra = (
        0
        if ref is None or ref.shares_weights
        else sum(p.numel() * p.element_size() for p in ref.model.parameters())
    )
    return {
        "method": method,
        "mode": mode,
        "seconds_per_step": seconds,
        "peak_mb": peak,
        "reference_mb": extra / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=None, help="default: all registered")
    parser.add_argument("--modes", nargs="*", default=["lora", "full"], choices=["lora", "full"])
    parser.add_argument("--steps", type=int, default=8, help="timed optimiser steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--persons", type=int, default=20)
    parser.add_argument(
        "--child", nargs=4, metavar=("METHOD", "MODE", "SOURCE", "TARGET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.batch_size, device)))
        return

    from clearbench.methods import METHODS

    methods = [BASELINE] + (args.methods or sorted(METHODS))
    with tempfile.TemporaryDirectory() as root:
        source, target = build_setup(Path(root), args.persons)
        print(
            f"device {device}; tiny-llava, {args.persons} people, batch {args.batch_size}, "
            f"{args.steps} timed steps; ratios against '{BASELINE}' in the same mode"
        )
        for mode in args.modes:
            print(f"\n[{mode}] {'method':<10} {'s/step':>8} {'×':>6} {'peak MB':>9} {'×':>6} {'ref MB':>7}")
            baseline = None
            for method in methods:
                command = [
                    sys.executable,
                    __file__,
                    "--steps",
                    str(args.steps),
                    "--batch-size",
                    str(args.batch_size),
                    "--child",
                    method,
                    mode,
                    source,
                    str(target),
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"[{mode}] {method:<10} failed: {done.stderr.strip().splitlines()[-1:]}")
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                baseline = baseline or row
                time_ratio = row["seconds_per_step"] / baseline["seconds_per_step"]
                memory_ratio = (
                    row["peak_mb"] / baseline["peak_mb"] if baseline["peak_mb"] > 0 else float("nan")
                )
                print(
                    f"[{mode}] {method:<10} {row['seconds_per_step']:8.3f} {time_ratio:6.2f} "
                    f"{row['peak_mb']:9.1f} {memory_ratio:6.2f} {row['reference_mb']:7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
