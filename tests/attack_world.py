"""A tiny world for the attack tests: a synthetic source (4 people, one of them forgotten) and a tiny
LLaVA whose tokenizer is fitted to the source's text, saved as a checkpoint."""

from pathlib import Path

from clearbench.attacks.options import AttackOptions
from clearbench.data.format import CAPTION_QUESTIONS, FACE_QUESTION
from clearbench.evaluate.options import EvalOptions
from clearbench.models import registry

# Cheap settings: a relearning step or two, 4 generated tokens.
FAST = AttackOptions(relearn_steps=2, relearn_learning_rate=1e-3, quantize=["int8"], queries=["blur"])


FAST_EVAL = EvalOptions(batch_size=16, max_new_tokens=4)


def build_world(root: Path, seeds: tuple[int, ...] = (0,)) -> tuple[str, Path]:
    """(source, checkpoint of seed 0); a checkpoint `model-<seed>` for every other seed (same
    tokenizer, other weights)."""
    from clearbench.attacks.variants import REWORDED_CAPTION_QUESTIONS, REWORDED_FACE_QUESTION
    from clearbench.data.load import load_split
    from clearbench.data.synth import generate

    source = str(generate(root / "synth", persons=4, seed=0, image_size=16))
    texts = [*CAPTION_QUESTIONS, FACE_QUESTION, *REWORDED_CAPTION_QUESTIONS, REWORDED_FACE_QUESTION]
    for config in ("forget10_perturbed", "tofu_forget10_perturbed"):
        rows = load_split(source, config)
        for column in rows.column_names:
            if column != "image":
                texts += [
                    t for value in rows[column] for t in (value if isinstance(value, list) else [value])
                ]
    adapter = next(a for a in registry.ADAPTERS if a.family == "llava")
    for seed in seeds:
        model, processor = adapter.build_tiny(texts, seed=seed)
        folder = root / ("model" if seed == 0 else f"model-{seed}")
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    return source, root / "model"
