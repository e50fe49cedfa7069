"""The shared training loop: learning, schedule, log, resume after a kill, divergence stop."""

import json
import math

import pytest
import torch
from PIL import Image

from clearbench.data.format import Sample
from clearbench.models.registry import adapter_for
from clearbench.models.tiny import TinySize, build_tiny_llava
from clearbench.train.data import SampleDataset, collate, sample_loader
from clearbench.train.loop import LoopConfig, run_loop

NAMES = ["Ada Lind", "Bo Chen", "Cy Park", "Di Rao", "Ed Moss", "Fay Wu", "Gus Hall", "Hal Oduya"]
SMALL = TinySize(hidden=64, layers=2, heads=2, vocab_size=600)


def rows():
    image = Image.new("RGB", (32, 32), (90, 160, 30))
    return [
        {"question": f"Who is friend number {i}?", "answer": name, "image": image if i % 2 else None}
        for i, name in enumerate(NAMES)
    ]


def tiny(seed=0):
    model, processor = build_tiny_llava([r["question"] + " " + r["answer"] for r in rows()], SMALL, seed)
    return model, processor, adapter_for(model)


def lm_loss(model, batch, step):
    return model(**batch).loss, {"answer_tokens": float((batch["labels"] != -100).sum())}


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sample_dataset_is_reproducible_per_epoch():
    caption_rows = [{"caption": "A red house by a lake", "image": None}] * 50
    first, again = SampleDataset(caption_rows, seed=3), SampleDataset(caption_rows, seed=3)
    questions = [first[i].question for i in range(50)]
    assert questions == [again[i].question for i in range(50)]
    assert len(set(questions)) > 3  # drawn per row, not one question for all
    first.set_epoch(1)
    assert [first[i].question for i in range(50)] != questions


def test_answer_loss_falls_and_log_is_written(tmp_path):
    model, processor, adapter = tiny()
    loader = sample_loader(rows(), adapter, processor, batch_size=4)
    result = run_loop(
        model=model,
        loader=loader,
        loss_fn=lm_loss,
        out_dir=tmp_path,
        config=LoopConfig(max_steps=30, learning_rate=1e-2, warmup_steps=2),
    )
    log = read_log(tmp_path / "train_log.jsonl")
    assert result.status == "completed" and result.steps == 30 == len(log)
    assert [r["step"] for r in log] == list(range(1, 31))
    assert log[0]["answer_tokens"] > 0 and log[1]["epoch"] == 1.0  # 8 rows / batch 4 = 2 steps an epoch
    assert result.final_loss < 0.25 * log[0]["loss"]


def test_linear_schedule_with_warmup_and_accumulation(tmp_path):
    model, processor, adapter = tiny()
    loader = sample_loader(rows(), adapter, processor, batch_size=2)  # 4 batches
    run_loop(
        model=model,
        loader=loader,
        loss_fn=lm_loss,
        out_dir=tmp_path,
        config=LoopConfig(epochs=3, grad_accum=2, learning_rate=1e-3, warmup_steps=2),
    )
    log = read_log(tmp_path / "train_log.jsonl")
    # 4 batches / accumulation 2 = 2 steps an epoch, 3 epochs = 6 steps; lr ramps 0→1e-3 in 2
    # steps, then falls linearly to 0 at step 6.
    expected = [0.0, 0.5e-3, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3]
    assert [r["lr"] for r in log] == pytest.approx(expected)


def test_frozen_parameters_do_not_move(tmp_path):
    model, processor, adapter = tiny()
    for module in adapter.vision_modules(model):
        module.requires_grad_(False)
    vision_before = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    layers_before = [p.clone() for p in adapter.decoder_layers(model).parameters()]
    loader = sample_loader(rows(), adapter, processor, batch_size=4)
    run_loop(
        model=model,
        loader=loader,
        loss_fn=lm_loss,
        out_dir=tmp_path,
        config=LoopConfig(max_steps=3, learning_rate=1e-3, weight_decay=0.1),
    )
    params = dict(model.named_parameters())
    assert vision_before and all(torch.equal(params[n], p) for n, p in vision_before.items())
    assert any(
        not torch.equal(a, b) for a, b in zip(layers_before, adapter.decoder_layers(model).parameters())
    )


class Killed(Exception):
    pass


def test_killed_run_resumes_to_the_same_result(tmp_path):
    config = LoopConfig(max_steps=7, learning_rate=1e-3, save_every=2)

    def run(out, kill_at=None):
        model, processor, adapter = tiny()
        loader = sample_loader(rows(), adapter, processor, batch_size=3)  # 3 batches an epoch

        def loss_fn(model, batch, step):
            if step == kill_at:
                raise Killed
            return lm_loss(model, batch, step)

        return model, run_loop(
            model=model, loader=loader, loss_fn=loss_fn, config=config, out_dir=out, seed=5
        )

    straight, straight_result = run(tmp_path / "straight")
    with pytest.raises(Killed):
        run(tmp_path / "resumed", kill_at=5)  # dies in step 6; state saved after step 4
    assert len(read_log(tmp_path / "resumed" / "train_log.jsonl")) == 5
    resumed, resumed_result = run(tmp_path / "resumed")

    assert resumed_result.steps == straight_result.steps == 7
    straight_log = read_log(tmp_path / "straight" / "train_log.jsonl")
    resumed_log = read_log(tmp_path / "resumed" / "train_log.jsonl")
    assert [r["step"] for r in resumed_log] == list(range(1, 8))
    assert [r["loss"] for r in resumed_log] == pytest.approx([r["loss"] for r in straight_log], rel=1e-4)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # a finished run is not redone
    _, again = run(tmp_path / "resumed", kill_at=0)
    assert again.status == "completed" and again.steps == 7


def test_nan_loss_stops_at_once(tmp_path):
    model, processor, adapter = tiny()
    loader = sample_loader(rows(), adapter, processor, batch_size=4)
    before = None

    def loss_fn(model, batch, step):
        nonlocal before
        loss = model(**batch).loss
        if step == 2:
            before = [p.detach().clone() for p in model.parameters()]
            return loss * math.nan, {}
        return loss, {}

    result = run_loop(
        model=model,
        loader=loader,
        loss_fn=loss_fn,
        out_dir=tmp_path,
        config=LoopConfig(max_steps=10, learning_rate=1e-3),
    )
    log = read_log(tmp_path / "train_log.jsonl")
    assert result.status == "diverged" and result.steps == 2
    assert len(log) == 3 and log[-1]["diverged"] and math.isnan(log[-1]["loss"])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no NaN update applied


def test_collate_uses_the_adapter():
    _, processor, adapter = tiny()
    samples = [Sample("Who is friend number 1?", "Bo Chen")]
    batch = collate(adapter, processor)(samples)
    assert set(batch) >= {"input_ids", "attention_mask", "labels"}
    assert (
        processor.tokenizer.decode(batch["input_ids"][0][batch["labels"][0] != -100]).strip() == "Bo Chen</s>"
    )


class Recording(torch.optim.AdamW):
    """AdamW that records, at each step, the gradient it is about to apply."""

    grads: list = []

    def step(self, closure=None):
        Recording.grads.append([p.grad.clone() for group in self.param_groups for p in group["params"]])
        return super().step(closure)


def test_the_step_index_and_the_averaged_gradient_of_an_accumulation_window(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    monkeypatch.setattr(Recording, "grads", [])
    model = torch.nn.Linear(1, 1, bias=False)
    start = model.weight.item()
    loader = torch.utils.data.DataLoader(
        [torch.tensor(c) for c in (1.0, 3.0, 2.0, 6.0, 5.0, 7.0)], batch_size=1
    )
    seen = []

    def loss_fn(model, batch, step):  # ∂loss/∂w = c, the micro-batch's value
        seen.append(step)
        return (batch * model.weight).sum(), {}

    config = LoopConfig(epochs=1, grad_accum=2, learning_rate=1e-3, max_grad_norm=0.0)
    result = run_loop(model=model, loader=loader, loss_fn=loss_fn, config=config, out_dir=tmp_path)
    assert result.steps == 3
    assert seen == [0, 0, 1, 1, 2, 2]  # the optimizer step's index, not the micro-batch's
    # each step applies the mean of its window's gradients: (1+3)/2, (2+6)/2, (5+7)/2
    assert [g[0].item() for g in Recording.grads] == [2.0, 4.0, 6.0]
    assert read_log(tmp_path / "train_log.jsonl")[0]["loss"] == pytest.approx(2.0 * start)  # logged: the mean


class Payload:
    """Unpickling this creates a file: the proof that a pickle ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("planted", ["custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin"])
def test_resuming_never_runs_code_planted_in_the_saved_state(tmp_path, planted):
    import pickle

    from clearbench.errors import UserError

    out = tmp_path / "run"
    config = LoopConfig(max_steps=4, learning_rate=1e-3, save_every=1)

    def run(kill_at=None):
        model, processor, adapter = tiny()
        loader = sample_loader(rows(), adapter, processor, batch_size=4)

        def loss_fn(model, batch, step):
            if step == kill_at:
                raise Killed
            return lm_loss(model, batch, step)

        return run_loop(model=model, loader=loader, loss_fn=loss_fn, config=config, out_dir=out)

    with pytest.raises(Killed):
        run(kill_at=2)
    marker = tmp_path / "pwned"
    (out / "loop_state" / planted).write_bytes(pickle.dumps(Payload(str(marker))))
    if planted == "random_states_0.pkl":
        run()  # accelerate reads it with weights_only=True, refuses it and resumes without it
    else:
        with pytest.raises(UserError, match="plain data"):
            run()
    assert not marker.exists()
