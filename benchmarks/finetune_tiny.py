"""Pretrain the tiny base, fine-tune the target on the default synthetic data, and measure it.

Prints, for base and target: retain caption ROUGE-L recall, face→name accuracy (retain persons),
real-face accuracy (the "famous" pretraining faces), and seconds per optimizer step.

    python benchmarks/finetune_tiny.py --work /tmp/clearbench-bench
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path

import torch

from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION, Sample
from clearbench.data.load import load_split
from clearbench.data.synth import generate
from clearbench.models.registry import load
from clearbench.models.tiny import PRESET_SIZE
from clearbench.train.finetune import finetune
from clearbench.train.lora import LoraOptions
from clearbench.train.options import TrainOptions


def generations(model, processor, adapter, samples, batch_size=32, max_new_tokens=64) -> list[str]:
    model.eval()
    texts = []
    for start in range(0, len(samples), batch_size):
        batch = adapter.encode_prompts(processor, samples[start : start + batch_size])
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        new = out[:, batch["input_ids"].shape[1] :]
        texts += adapter.tokenizer(processor).batch_decode(new, skip_special_tokens=True)
    return [text.strip() for text in texts]


def measure(checkpoint: Path, data: Path) -> dict[str, float]:
    from rouge_score.rouge_scorer import RougeScorer

    model, processor, adapter = load(checkpoint)
    retain = load_split(str(data), "retain_perturbed")
    rng = random.Random(0)
    captions = [Sample(rng.choice(CAPTION_QUESTIONS), row["caption"], row["image"]) for row in retain]
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    recalls = [
        scorer.score(target=s.answer, prediction=g)["rougeL"].recall
        for s, g in zip(captions, generations(model, processor, adapter, captions))
    ]
    faces = [Sample(FACE_QUESTION, row["name"], row["image"]) for row in retain]
    real = load_split(str(data), "real_faces")
    famous = [Sample(FACE_QUESTION, row["answer"], row["image"]) for row in real]

    def accuracy(samples):
        said = generations(model, processor, adapter, samples, max_new_tokens=12)
        return sum(g.lower().startswith(s.answer.lower()) for s, g in zip(samples, said)) / len(samples)

    return {
        "retain_caption_rougeL_recall": sum(recalls) / len(recalls),
        "retain_face_name_accuracy": accuracy(faces),
        "real_face_accuracy": accuracy(famous),
    }


def seconds_per_step(out: Path) -> float:
    run = json.loads((out / "run.json").read_text())
    return run["seconds"] / max(run["steps"], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/clearbench-bench"))
    parser.add_argument("--persons", type=int, default=20)
    parser.add_argument("--base-epochs", type=float, default=12)
    parser.add_argument("--target-epochs", type=float, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--freeze-vision",
        action="store_true",
        help="keep the base's vision tower fixed while fine-tuning the target",
    )
    parser.add_argument("--lora-r", type=int, default=0, help="0: full fine-tuning (the tiny default)")
    parser.add_argument(
        "--tiny",
        nargs="*",
        default=[],
        metavar="FIELD=VALUE",
        help="TinySize overrides for the base, e.g. image_size=64 vision_layers=3",
    )
    parser.add_argument("--seed", type=int, default=0, help="weights and batch order (not the data)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for tiny)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = args.work / "data"
    if not (data / "README.md").is_file():
        generate(data, persons=args.persons, seed=0)
    tiny_size = dataclasses.replace(
        PRESET_SIZE, **{k: int(v) for k, v in (i.split("=", 1) for i in args.tiny)}
    )
    stages = [
        ("base", "tiny-llava", "pretraining", args.base_epochs, None),
        ("target", str(args.work / "base"), "full+tofu", args.target_epochs, args.freeze_vision),
    ]
    results = {}
    for name, model, split, epochs, freeze in stages:
        out = args.work / name
        started = time.time()
        finetune(
            model,
            str(data),
            split,
            out,
            TrainOptions(
                epochs=epochs,
                learning_rate=args.lr,
                warmup_steps=20,
                batch_size=args.batch_size,
                lora=LoraOptions(r=args.lora_r if name != "base" else 0),
                freeze_vision=freeze,
            ),
            seed=args.seed,
            tiny_size=tiny_size,
        )
        trained = time.time() - started
        results[name] = {
            **measure(out, data),
            "train_seconds": round(trained, 1),
            "seconds_per_step": round(seconds_per_step(out), 3),
        }
        print(name, json.dumps(results[name]), flush=True)


if __name__ == "__main__":
    main()
