"""The visual track's jobs (kind "visual", one `step` each), functions of their spec and the run folder:

    pretrain   the embedder on the pretraining identities            → model.safetensors
    finetune   one split's original model: pretrained → F∪retain (or H∪retain)
                                                                      → model.safetensors, result.json
    gold       one split's retrained model: pretrained → retain only  → model.safetensors, result.json
    unlearn    one method on one split's original model               → result.json

A result holds, for the pool's F and H people and the split's retained people, whether each query
image is identified correctly and its attack logit (`metrics.identify`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from clearbench import atomic
from clearbench.jobs.job import resolve
from clearbench.visual import model as face_model
from clearbench.visual.metrics import identify
from clearbench.visual.pool import Pool, load_pool
from clearbench.visual.train import Recipe, embed, fit_identities, frozen_copy, train

MODEL, RESULT = "model.safetensors", "result.json"


def visual_job(spec: dict[str, Any], root: Path, out: Path) -> dict:
    """One step of the track; `jobs.work.execute` runs it with the spec's thread count."""
    pool = load_pool(root, spec["pool"])
    step = {"pretrain": _pretrain, "finetune": _finetune, "gold": _gold, "unlearn": _unlearn}
    return step[spec["step"]](spec, pool, root, Path(out))


def evaluate(embedder, pool: Pool, retain: list[str], enroll: int) -> dict:
    result = {}
    for group, names in (("forget", pool.forget), ("holdout", pool.holdout), ("retain", retain)):
        identities = pool.identities.of(names)
        enrolment = identities.enrolment_mask(enroll).numpy()
        correct, logit = identify(
            embed(embedder, identities.images), identities.labels.numpy(), enrolment, len(names)
        )
        result[group] = {"correct": correct.astype(int).tolist(), "logit": logit.round(6).tolist()}
    return result


def _recipe(spec: dict) -> Recipe:
    return Recipe(**spec["recipe"])


def _write_result(out: Path, result: dict) -> dict:
    atomic.write_json(out / RESULT, result)
    return {"status": result["status"]}


def _pretrain(spec, pool: Pool, root: Path, out: Path) -> dict:
    torch.manual_seed(spec["seed"])
    embedder = face_model.FaceEmbedder(spec["width"])
    data = pool.pretraining
    _, status = fit_identities(
        embedder, data.images, data.labels, len(data.names), _recipe(spec), spec["seed"]
    )
    face_model.save(out / MODEL, embedder)
    return status


def _finetune(spec, pool: Pool, root: Path, out: Path) -> dict:
    embedder, _ = face_model.load(Path(resolve(spec["pretrained"], root)) / MODEL)
    split = spec["split"]
    data = pool.identities.of(split["forget"] + split["retain"])
    head, status = fit_identities(
        embedder, data.images, data.labels, len(data.names), _recipe(spec), spec["seed"]
    )
    face_model.save(out / MODEL, embedder, head)
    return _write_result(out, {**status, **evaluate(embedder, pool, split["retain"], spec["enroll"])})


def _gold(spec, pool: Pool, root: Path, out: Path) -> dict:
    embedder, _ = face_model.load(Path(resolve(spec["pretrained"], root)) / MODEL)
    split = spec["split"]
    data = pool.identities.of(split["retain"])
    head, status = fit_identities(
        embedder, data.images, data.labels, len(data.names), _recipe(spec), spec["seed"]
    )
    face_model.save(out / MODEL, embedder, head)
    return _write_result(out, {**status, **evaluate(embedder, pool, split["retain"], spec["enroll"])})


def _unlearn(spec, pool: Pool, root: Path, out: Path) -> dict:
    from clearbench.visual.methods import Models, get_method

    method = get_method(spec["method"], spec["hparams"])
    embedder, head_weight = face_model.load(Path(resolve(spec["finetuned"], root)) / MODEL)
    head = face_model.AMSoftmaxHead(embedder.dim, head_weight.shape[0])
    head.weight.data.copy_(head_weight)
    split = spec["split"]
    forget_count = len(split["forget"])
    data = pool.identities.of(split["forget"] + split["retain"])
    is_forget = data.labels < forget_count
    models = Models(
        embedder, head, frozen_copy(embedder), frozen_copy(head), torch.arange(forget_count, len(data.names))
    )
    generator = torch.Generator().manual_seed(spec["seed"])
    method.prepare(models, generator)
    images, labels, forget = training_rows(data.images, data.labels, is_forget, method)
    recipe = Recipe(
        epochs=method.epochs,
        learning_rate=method.learning_rate,
        batch_size=method.batch_size,
        weight_decay=spec["weight_decay"],
        schedule=method.schedule,
    )
    status = train(
        [embedder, head],
        images,
        labels,
        forget,
        lambda x, y, f: method.loss(models, x, y, f),
        recipe,
        spec["seed"],
        extra_parameters=method.parameters(),
    )
    settings = {"hparams": dataclasses.asdict(method)}
    return _write_result(
        out, {**status, **settings, **evaluate(embedder, pool, split["retain"], spec["enroll"])}
    )


def training_rows(images, labels, is_forget, method):
    """The retain rows, and the forget rows repeated `balance` times when the method uses them."""
    retain = ~is_forget
    if not method.uses_forget:
        return images[retain], labels[retain], is_forget[retain]
    repeat = torch.cat([torch.nonzero(is_forget).flatten()] * method.balance)
    rows = torch.cat([repeat, torch.nonzero(retain).flatten()])
    return images[rows], labels[rows], is_forget[rows]


def read_result(root: Path, key: str) -> dict:
    from clearbench.jobs.job import output

    return json.loads((output(root, key) / RESULT).read_text(encoding="utf-8"))
