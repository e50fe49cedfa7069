"""benchmarks/gpu_smoke.py: its configurations are the published models' (counted on the meta device,
no memory used), and the script runs end to end on a CPU at toy sizes (--device cpu --small)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu_smoke  # noqa: E402
import real_size  # noqa: E402


def parameters(model_class, config) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in model_class._from_config(config).parameters())


def test_the_configurations_are_the_published_sizes():
    """Parameter counts of llava-hf/llava-1.5-7b-hf (7.06 B) and Qwen/Qwen2-VL-2B-Instruct (2.21 B),
    as their model cards give them."""
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        Qwen2VLForConditionalGeneration,
    )

    llava = LlavaConfig(
        vision_config=CLIPVisionConfig(**real_size.CLIP_L_336),
        text_config=LlamaConfig(vocab_size=32064, **real_size.LLAVA_7B_TEXT),
        vision_feature_layer=-2,
    )
    assert parameters(LlavaForConditionalGeneration, llava) == pytest.approx(7.06e9, rel=2e-3)

    class Tokens:  # the special tokens' ids only
        eos_token_id, pad_token_id = 151645, 151643

        @staticmethod
        def convert_tokens_to_ids(token):
            return {"<|image_pad|>": 151655, "<|video_pad|>": 151656}.get(token, 151652)

    qwen = gpu_smoke.qwen2_vl_config(Tokens, small=False)
    assert parameters(Qwen2VLForConditionalGeneration, qwen) == pytest.approx(2.21e9, rel=2e-3)


def test_step_figures_skip_the_first_step():
    # grad_accum 2: optimizer steps start at calls 0, 2, 4, 6 (t = 0, 10, 11, 12.5); the first gap
    # (warm-up) is not timed
    calls = [(0.0, 5), (1.0, 5), (10.0, 7), (10.5, 7), (11.0, 9), (11.5, 9), (12.5, 3), (12.7, 3)]
    figures = gpu_smoke.step_figures(calls, 2)
    assert figures["seconds_per_step"] == pytest.approx(1.25)  # median of 1.0 and 1.5
    assert figures["tokens_per_step"] == pytest.approx(16.0)  # steps 2 and 3: 14 and 18 tokens
    assert figures["tokens_per_s"] == pytest.approx(16.0 / 1.25, rel=1e-3)


@pytest.mark.slow
def test_the_script_runs_on_a_cpu_at_toy_sizes(tmp_path):
    out = tmp_path / "results.json"
    command = [sys.executable, str(BENCHMARKS / "gpu_smoke.py"), "--work", str(tmp_path / "work")]
    command += ["--device", "cpu", "--small", "--steps", "2", "--eval-rows", "2", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env={**os.environ})
    assert done.returncode == 0, done.stderr[-3000:]
    results = {r["model"]: r for r in json.loads(out.read_text())["results"]}
    assert set(results) == {"llava-1.5-7b", "qwen2-vl-2b"}
    for result in results.values():
        assert result["unlearn_npo"]["status"] == "completed"
        for phase in ("finetune", "unlearn_npo"):
            assert result[phase]["seconds_per_step"] > 0 and result[phase]["tokens_per_s"] > 0
        assert result["evaluate"]["tokens_per_s"] > 0 and result["evaluate"]["peak_rss_gb"] > 0
    assert (
        results["llava-1.5-7b"]["finetune"]["lora_r"] == 8
        and results["qwen2-vl-2b"]["finetune"]["lora_r"] == 0
    )
    assert "qwen2-vl-2b    unlearn_npo" in done.stdout
