"""One training loop for pretraining, fine-tuning, retraining (gold) and every unlearning method:
SGD with momentum over shuffled batches of (image, label, is-forget), a constant or cosine schedule
(with optional linear warm-up), and a loss given by the caller."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from clearbench.visual.model import AMSoftmaxHead, FaceEmbedder

SCHEDULES = ("constant", "cosine")


@dataclass
class Recipe:
    epochs: int
    learning_rate: float
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup: float = 0.0  # fraction of the steps with a linear warm-up


def learning_rate_factor(step: int, steps: int, schedule: str, warmup: float) -> float:
    warm = int(warmup * steps)
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, steps - warm)
    return 0.5 * (1 + math.cos(math.pi * progress))


def train(
    modules: list[nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    forget: torch.Tensor,
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    recipe: Recipe,
    seed: int,
    extra_parameters: list[nn.Parameter] = (),
) -> dict:
    """Train `modules` (and `extra_parameters`) on the rows; returns {"status", "steps"}.

    A step whose loss is not finite stops training before it is applied ("diverged"): the weights
    are the last finite ones, and the method is scored as it stands."""
    parameters = [p for m in modules for p in m.parameters() if p.requires_grad] + list(extra_parameters)
    optimiser = torch.optim.SGD(
        parameters, lr=recipe.learning_rate, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    per_epoch = math.ceil(len(images) / recipe.batch_size)
    steps = recipe.epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: learning_rate_factor(step, steps, recipe.schedule, recipe.warmup)
    )
    generator = torch.Generator().manual_seed(seed)
    for module in modules:
        module.train()
    step = 0
    for _ in range(recipe.epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order), recipe.batch_size):
            rows = order[start : start + recipe.batch_size]
            if len(rows) < 2:  # batch norm cannot train on one image (a last batch of one is dropped)
                continue
            value = loss(images[rows], labels[rows], forget[rows])
            if not torch.isfinite(value):
                return {"status": "diverged", "steps": step}
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
            scheduler.step()
            step += 1
    return {"status": "completed", "steps": step}


def fit_identities(
    embedder: FaceEmbedder,
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    recipe: Recipe,
    seed: int,
) -> tuple[AMSoftmaxHead, dict]:
    """Train the embedder with a fresh AM-Softmax head over `classes` identities."""
    torch.manual_seed(seed)
    head = AMSoftmaxHead(embedder.dim, classes)
    no_forget = torch.zeros(len(images), dtype=torch.bool)
    result = train(
        [embedder, head], images, labels, no_forget, lambda x, y, _: head.loss(embedder(x), y), recipe, seed
    )
    return head, result


@torch.no_grad()
def embed(embedder: FaceEmbedder, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    embedder.eval()
    return torch.cat(
        [embedder(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    ).numpy()


def frozen_copy(module: nn.Module) -> nn.Module:
    import copy

    clone = copy.deepcopy(module).eval()
    for parameter in clone.parameters():
        parameter.requires_grad_(False)
    return clone
