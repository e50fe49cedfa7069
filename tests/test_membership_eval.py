"""Membership scores in the eval logs: the same forward pass as the losses, holdout logs, resume."""

import json

import pytest
import torch

from clearbench.data.load import load_split
from clearbench.errors import UserError
from clearbench.evaluate import logs, membership
from clearbench.evaluate.metrics import compute_metrics
from clearbench.evaluate.runner import evaluate_model, evaluate_task
from clearbench.evaluate.scoring import score_candidates, token_z_scores
from clearbench.evaluate.tasks import TASKS
from clearbench.models import registry

FAST = dict(max_new_tokens=4, progress=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from clearbench.data.synth import generate

    root = tmp_path_factory.mktemp("membership")
    source = str(generate(root / "synth", persons=4, seed=0, image_size=16))
    texts = [
        json.dumps(row, default=str)
        for config in ("forget10_perturbed", "holdout10", "tofu_holdout10")
        for row in load_split(source, config).remove_columns(
            [c for c in ("image",) if c in load_split(source, config).features]
        )
    ]
    adapter = next(a for a in registry.ADAPTERS if a.family == "llava")
    model, processor = adapter.build_tiny(texts, seed=0)
    model.save_pretrained(root / "llava")
    processor.save_pretrained(root / "llava")
    return source, str(root / "llava")


def test_logged_scores_come_from_the_answers_token_log_probs(world, tmp_path):
    source, model_path = world
    out = evaluate_model(
        model_path,
        source,
        "forget10",
        tmp_path / "eval",
        tasks=["forget_captions", "holdout_captions", "tofu_holdout"],
        max_rows=3,
        membership_k=0.5,
        **FAST,
    )
    evaluated = logs.read_eval(out)
    forget, holdout = evaluated["forget_captions"], evaluated["holdout_captions"]
    assert forget["mia_k"] == holdout["mia_k"] == 0.5
    assert holdout["holdout"] is True and forget["holdout"] is False
    # A holdout log: the true answer and the membership keys; no alternatives, no generation.
    assert "avg_paraphrased_loss" not in holdout and "generated_text" not in holdout
    assert holdout["config"] == "holdout10" and len(holdout["avg_gt_loss"]) == 3
    for log in (forget, holdout, evaluated["tofu_holdout"]):
        for row in log["avg_gt_loss"]:
            token_logprobs = log["gt_token_logprobs"][row]
            assert len(token_logprobs) == len(log["gt_token_z"][row]) == log["num_token_gt"][row]
            assert sum(token_logprobs) == pytest.approx(-log["gt_loss"][row], abs=1e-5)
            assert log["mia_loss"][row] == pytest.approx(-log["avg_gt_loss"][row])
            assert log["mia_min_k"][row] == pytest.approx(membership.lowest_k_mean(token_logprobs, 0.5))
            assert log["mia_min_k_plus_plus"][row] == pytest.approx(
                membership.lowest_k_mean(log["gt_token_z"][row], 0.5)
            )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["membership_k"] == 0.5 and summary["tasks"]["holdout_captions"]["rows"] == 3
    # The metrics read them: AUC on 3 forget vs 3 holdout rows, the text half has no forget task.
    result = compute_metrics(evaluated)
    assert result["membership"]["images"]["rows"] == [3, 3] and 0 <= result["mia_auc"] <= 1
    assert result["mia_auc_text"] is None
    # Another k is another evaluation: a resumed run with it is refused.
    with pytest.raises(UserError, match=r"membership_k 0\.5 → 0\.2"):
        evaluate_model(model_path, source, "forget10", tmp_path / "eval", tasks=["forget_captions"], **FAST)


def test_z_scores_match_an_independent_full_forward_and_no_pass_is_added(world):
    source, model_path = world
    model, processor, adapter = registry.load(model_path)
    model.eval()
    rows = load_split(source, "holdout10").select(range(2))
    task = TASKS["holdout_captions"]
    calls = []
    hook = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        log = evaluate_task(model, adapter, processor, task, rows, seed=0, config="holdout10")
        with_scores = len(calls)
        calls.clear()
        items = task.items(rows, seed=0)
        score_candidates(
            model, adapter, processor, [i.prompt for i in items], [i.candidates() for i in items]
        )
        assert with_scores == len(calls)  # the membership scores cost no forward pass of their own
    finally:
        hook.remove()
    # Independently: one full forward of row 1 with its answer, z from the logits by hand.
    item = items[1]
    batch = adapter.encode(processor, [item.prompt])
    labels = batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch).logits[0, :-1].double()
    targets = labels[0, 1:]
    keep = targets != -100
    log_probs = torch.log_softmax(logits[keep], dim=-1)
    token_logprobs = log_probs[torch.arange(int(keep.sum())), targets[keep]]
    probs = log_probs.exp()
    mu = (probs * log_probs).sum(-1)
    sigma = ((probs * log_probs**2).sum(-1) - mu**2).sqrt()
    assert log["gt_token_logprobs"]["1"] == pytest.approx(token_logprobs.tolist(), abs=1e-4)
    assert log["gt_token_z"]["1"] == pytest.approx(((token_logprobs - mu) / sigma).tolist(), abs=1e-3)
    assert token_z_scores(log_probs.float(), token_logprobs.float()).tolist() == pytest.approx(
        log["gt_token_z"]["1"], abs=1e-3
    )


def test_a_log_cannot_be_forget_and_holdout(tmp_path):
    log = {"forget": True, "holdout": True, "prob_kind": "answer", "avg_gt_loss": {"0": 1.0}}
    with pytest.raises(UserError, match="cannot be both 'forget' and 'holdout'"):
        logs.write_task_log(tmp_path, "mystery", log)
    with pytest.raises(UserError, match="key 'holdout' must be true or false"):
        logs.normalise("mystery", {**log, "forget": False, "holdout": "yes"})
    path = logs.write_task_log(tmp_path, "mystery", {**log, "forget": False})
    assert json.loads(path.read_text())["holdout"] is True


def test_a_derived_holdout_is_evaluated_from_the_withheld_peoples_rows(world, tmp_path, monkeypatch):
    from clearbench.data import holdout, load

    source, model_path = world
    configs = [c for c in load.list_configs(source) if "holdout" not in c]
    monkeypatch.setattr(load, "list_configs", lambda _: configs)
    plan = holdout.plan_holdout(source, "forget10", seed=0)
    out = evaluate_model(
        model_path,
        source,
        "forget10",
        tmp_path / "eval",
        tasks=["holdout_captions", "tofu_holdout"],
        holdout=plan,
        **FAST,
    )
    evaluated = logs.read_eval(out)
    captions = plan.eval_rows(load_split(source, "full"))
    assert evaluated["holdout_captions"]["config"] == "full (holdout people)"
    assert len(evaluated["holdout_captions"]["avg_gt_loss"]) == len(captions)
    assert evaluated["tofu_holdout"]["config"] == "tofu_full (holdout people)"
    assert json.loads((out / "summary.json").read_text())["holdout_people"] == list(plan.people)
    nobody = holdout.HoldoutPlan(("Nobody Known",), "forget10")
    with pytest.raises(UserError, match="holds no rows of the holdout people Nobody Known"):
        evaluate_model(
            model_path, source, "forget10", tmp_path / "other", tasks=["tofu_holdout"], holdout=nobody
        )


def test_token_values_do_not_depend_on_the_chunk_of_positions(world, monkeypatch):
    from clearbench.evaluate import scoring

    source, model_path = world
    model, processor, adapter = registry.load(model_path)
    items = TASKS["tofu_holdout"].items(load_split(source, "tofu_holdout10").select(range(3)), seed=0)
    args = (model.eval(), adapter, processor, [i.prompt for i in items], [i.candidates() for i in items])
    whole = scoring.score_naive(*args)
    monkeypatch.setattr(scoring, "TOKEN_CHUNK", 2)
    chunked = scoring.score_naive(*args)
    for [a], [b] in zip(whole, chunked):
        assert a.n_tokens == b.n_tokens > 2 and a.sum_nll == pytest.approx(b.sum_nll, abs=1e-5)
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-5)
        assert a.token_z == pytest.approx(b.token_z, abs=1e-5)


def test_holdout_people_by_name_as_a_job_spec_carries_them(world, tmp_path, monkeypatch):
    from clearbench.data import holdout

    source, model_path = world
    members = set(load_split(source, "forget10")["name"]) | set(
        load_split(source, "retain_perturbed")["name"]
    )
    plan_people = sorted(set(load_split(source, "full")["name"]) - members)[:1]  # never forget or retain
    out = evaluate_model(
        model_path,
        source,
        "forget10",
        tmp_path / "eval",
        tasks=["holdout_captions"],
        holdout=plan_people,
        **FAST,
    )
    rows = holdout.HoldoutPlan(tuple(plan_people), "forget10").eval_rows(load_split(source, "full"))
    assert len(logs.read_eval(out)["holdout_captions"]["avg_gt_loss"]) == len(rows) > 0
    with pytest.raises(UserError, match="the holdout set is empty"):
        evaluate_model(model_path, source, "forget10", tmp_path / "other", holdout=[], **FAST)


def test_gradnorm_and_greedy_hits_match_an_independent_backward_and_argmax(world):
    from clearbench.evaluate import memorization

    source, model_path = world
    model, processor, adapter = registry.load(model_path)
    model.eval()
    rows = load_split(source, "tofu_holdout10").select(range(2))
    task = TASKS["tofu_holdout"]
    log = evaluate_task(model, adapter, processor, task, rows, seed=0, config="tofu_holdout10", gradnorm=True)
    # Independently: the model's own loss (mean over the answer tokens), .backward(), each tensor's
    # gradient norm averaged; the greedy hits from the full forward's argmax.
    item = task.items(rows, seed=0)[1]
    batch = adapter.encode(processor, [item.prompt])
    model.zero_grad()
    output = model(**batch)
    output.loss.backward()
    norms = [p.grad.norm() for p in model.parameters() if p.grad is not None]
    assert log[membership.GRADNORM_LOG_KEY]["1"] == pytest.approx(-float(torch.stack(norms).mean()), rel=1e-4)
    model.zero_grad()
    targets = batch["labels"][0, 1:]
    keep = targets != -100
    hits = (output.logits[0, :-1].argmax(-1) == targets)[keep].tolist()
    assert log["exact_memorization"]["1"] == pytest.approx(memorization.exact_memorization(hits))
    assert log["extraction_strength"]["1"] == pytest.approx(memorization.extraction_strength(hits))
    # Off by default: no key, no backward pass.
    plain = evaluate_task(model, adapter, processor, task, rows, seed=0, config="tofu_holdout10")
    assert membership.GRADNORM_LOG_KEY not in plain and "exact_memorization" in plain


def test_leak_samples_are_logged_reproducibly_with_the_persons_name_as_key(world):
    from clearbench.evaluate import people as people_log
    from clearbench.evaluate import sampling_leak

    source, model_path = world
    model, processor, adapter = registry.load(model_path)
    model.eval()
    rows = load_split(source, "forget10_perturbed").select(range(2))
    task, people = TASKS["forget_captions"], people_log.known_people([rows])
    runs = [
        evaluate_task(
            model, adapter, processor, task, rows, seed=0, config="forget10_perturbed", people=people,
            max_new_tokens=3, leak_samples=2, leak_temperature=1.5,
        )
        for _ in range(2)
    ]  # fmt: skip
    first, again = runs
    assert first["sampled_text"] == again["sampled_text"]  # seeded per row
    assert first["leak_samples"] == 2 and first["leak_temperature"] == 1.5
    for row in ("0", "1"):
        assert len(first["sampled_text"][row]) == 2
        assert first["leak_key"][row] == sampling_leak.words(rows[int(row)]["name"])
        assert first["leaked"][row] == sampling_leak.row_leak(
            first["sampled_text"][row], first["leak_key"][row]
        )
    plain = evaluate_task(model, adapter, processor, task, rows, seed=0, config="x", max_new_tokens=3)
    assert "sampled_text" not in plain
