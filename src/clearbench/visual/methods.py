"""The visual track's unlearning methods: each a loss on a batch of (images, labels, is-forget).

Defaults are the official `cv/unlearning/*.py` hyperparameters (clear_spec §5); `balance` is how
many times the forget images are repeated among the retain images of an epoch. The loop
(`train.train`, SGD momentum 0.9) trains the embedder and its AM-Softmax head together; "original"
is the fine-tuned model, frozen. Deliberate differences from the official code are in each
docstring. Gold (retraining on the retained people) is not a loss: `split_job` runs it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from clearbench import settings
from clearbench.errors import UserError
from clearbench.visual.model import AMSoftmaxHead, FaceEmbedder


@dataclass
class Models:
    embedder: FaceEmbedder  # trained
    head: AMSoftmaxHead  # trained
    original: FaceEmbedder  # frozen
    original_head: AMSoftmaxHead  # frozen
    retain_classes: torch.Tensor  # the labels of the retained people


@dataclass
class VisualMethod:
    name: ClassVar[str]
    uses_forget: ClassVar[bool] = True
    epochs: int = 5
    learning_rate: float = 0.01
    batch_size: int = 256
    balance: int = 10
    schedule: str = "constant"

    def prepare(self, models: Models, generator: torch.Generator) -> None:
        """State a method fixes before training (random targets, a policy head)."""

    def parameters(self) -> list[torch.nn.Parameter]:
        return []

    def loss(self, models: Models, x: torch.Tensor, y: torch.Tensor, forget: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the rows in `mask`; 0 (with a gradient path) when none are."""
    return values[mask].mean() if mask.any() else values.sum() * 0.0


def am_cross_entropy(head: AMSoftmaxHead, embeddings, labels, mask) -> torch.Tensor:
    return _mean(F.cross_entropy(head.logits(embeddings, labels), labels, reduction="none"), mask)


def kl_original_to_current(original: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Per row KL(p_orig ‖ p_cur), softmaxes over the embedding's dimensions (as the official SCRUB
    and LLMU take them)."""
    log_p = F.log_softmax(original, dim=1)
    log_q = F.log_softmax(current, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


@dataclass
class RetainFT(VisualMethod):
    """AM-Softmax cross-entropy on the retained people only."""

    name: ClassVar[str] = "retain_ft"
    uses_forget: ClassVar[bool] = False
    balance: int = 1

    def loss(self, models, x, y, forget):
        return am_cross_entropy(models.head, models.embedder(x), y, ~forget)


@dataclass
class NegGrad(VisualMethod):
    """−CE on forget + CE on retain. The official script alternates, each epoch, a pass of gradient
    ascent over the forget set and a pass of descent over the retain set; here both are in each mixed
    batch (one loop for every method). Not in the paper's table."""

    name: ClassVar[str] = "neggrad"
    epochs: int = 2
    learning_rate: float = 0.1
    balance: int = 1

    def loss(self, models, x, y, forget):
        embeddings = models.embedder(x)
        return am_cross_entropy(models.head, embeddings, y, ~forget) - am_cross_entropy(
            models.head, embeddings, y, forget
        )


@dataclass
class Scrub(VisualMethod):
    """−KL(orig ‖ cur) on forget + KL(orig ‖ cur) on retain + CE on retain, the softmax taken over
    the embedding (the official `scrub_orig`); no alternating max/min steps, as the official code."""

    name: ClassVar[str] = "scrub"
    schedule: str = "cosine"

    def loss(self, models, x, y, forget):
        embeddings = models.embedder(x)
        with torch.no_grad():
            original = models.original(x)
        kl = kl_original_to_current(original, embeddings)
        return -_mean(kl, forget) + _mean(kl, ~forget) + am_cross_entropy(models.head, embeddings, y, ~forget)


@dataclass
class ScrubBio(VisualMethod):
    """Cosine-embedding loss to the original embeddings: target +1 on retain (1 − cos), −1 on forget
    (max(0, cos − margin))."""

    name: ClassVar[str] = "scrub_bio"
    epochs: int = 4
    learning_rate: float = 0.2
    balance: int = 5
    margin: float = 0.0

    def loss(self, models, x, y, forget):
        with torch.no_grad():
            original = models.original(x)
        target = torch.where(forget, -1.0, 1.0)
        return F.cosine_embedding_loss(models.embedder(x), original, target, margin=self.margin)


@dataclass
class Twins(VisualMethod):
    """MSE(f(x_f), f_orig(hflip(x_f))) on forget + `retain_weight`·MSE(f(x_r), f_orig(x_r)).

    The paper's formula has the retain term; the official script trains on the forget term alone
    (retain_weight: 0 reproduces it)."""

    name: ClassVar[str] = "twins"
    learning_rate: float = 0.4
    batch_size: int = 128
    retain_weight: float = 1.0

    def loss(self, models, x, y, forget):
        with torch.no_grad():
            twins = models.original(torch.where(forget[:, None, None, None], x.flip(-1), x))
        squared = ((models.embedder(x) - twins) ** 2).mean(dim=1)
        return _mean(squared, forget) + self.retain_weight * _mean(squared, ~forget)


@dataclass
class LLMU(VisualMethod):
    """0.02·(−CE on forget) + KL(orig ‖ cur) of the retain embeddings + 0.01·CE of the forget images
    with random retained people's labels (drawn anew each step)."""

    name: ClassVar[str] = "llmu"
    ascent_weight: float = 0.02
    random_label_weight: float = 0.01

    def prepare(self, models, generator):
        self.generator = generator

    def loss(self, models, x, y, forget):
        embeddings = models.embedder(x)
        with torch.no_grad():
            original = models.original(x)
        choice = torch.randint(len(models.retain_classes), (len(y),), generator=self.generator)
        random_labels = models.retain_classes[choice]
        return (
            -self.ascent_weight * am_cross_entropy(models.head, embeddings, y, forget)
            + _mean(kl_original_to_current(original, embeddings), ~forget)
            + self.random_label_weight * am_cross_entropy(models.head, embeddings, random_labels, forget)
        )


@dataclass
class RMU(VisualMethod):
    """MSE of forget embeddings to one fixed random vector c·U(−1, 1)^d (c = 2) + `retain_weight`·MSE
    of retain embeddings to the original's."""

    name: ClassVar[str] = "rmu"
    epochs: int = 3
    learning_rate: float = 0.2
    steering: float = 2.0
    retain_weight: float = 1.0

    def prepare(self, models, generator):
        dim = models.embedder.dim
        self.control = self.steering * (torch.rand(dim, generator=generator) * 2 - 1)

    def loss(self, models, x, y, forget):
        embeddings = models.embedder(x)
        with torch.no_grad():
            original = models.original(x)
        to_control = ((embeddings - self.control) ** 2).mean(dim=1)
        to_original = ((embeddings - original) ** 2).mean(dim=1)
        return _mean(to_control, forget) + self.retain_weight * _mean(to_original, ~forget)


@dataclass
class DPO(VisualMethod):
    """−(1/β)·mean log σ(β·(r_retain − r_forget)), r = log π(y|x) − log π_0(y|x) with π the softmax
    of a policy head initialised from the AM-Softmax weights (π_0: the original's, frozen).

    Differences: π is the head's scaled cosine (s·cos, no margin) rather than a linear layer on the
    raw embedding (the head is a cosine classifier here, §7 item 32); a batch's retain and forget
    rows are compared in every pair rather than position by position (their counts differ)."""

    name: ClassVar[str] = "dpo"
    epochs: int = 4
    beta: float = 1.0
    schedule: str = "cosine"

    def prepare(self, models, generator):
        self.policy = AMSoftmaxHead(models.head.weight.shape[1], models.head.weight.shape[0])
        self.policy.weight.data.copy_(models.original_head.weight.data)

    def parameters(self):
        return list(self.policy.parameters())

    def loss(self, models, x, y, forget):
        log_policy = F.log_softmax(self.policy.logits(models.embedder(x)), dim=1)
        with torch.no_grad():
            log_reference = F.log_softmax(models.original_head.logits(models.original(x)), dim=1)
        ratio = (log_policy - log_reference).gather(1, y[:, None]).squeeze(1)
        if not forget.any() or forget.all():
            return ratio.sum() * 0.0
        margins = self.beta * (ratio[~forget][:, None] - ratio[forget][None, :])
        return -F.logsigmoid(margins).mean() / self.beta


@dataclass
class Sparsity(VisualMethod):
    """CE on retain + α·‖θ‖₁ over the embedder's weights."""

    name: ClassVar[str] = "sparsity"
    uses_forget: ClassVar[bool] = False
    epochs: int = 4
    batch_size: int = 32
    balance: int = 1
    alpha: float = 1e-4

    def loss(self, models, x, y, forget):
        l1 = sum(p.abs().sum() for p in models.embedder.parameters())
        return am_cross_entropy(models.head, models.embedder(x), y, ~forget) + self.alpha * l1


METHODS: dict[str, type[VisualMethod]] = {
    cls.name: cls for cls in (RetainFT, NegGrad, Scrub, ScrubBio, Twins, LLMU, RMU, DPO, Sparsity)
}
GOLD, ORIGINAL = "gold", "original"
# The paper's Table 5 rows, in its order (NegGrad is in the official code, not in the table).
PAPER_ORDER = (ORIGINAL, GOLD, "retain_ft", "scrub", "llmu", "rmu", "dpo", "scrub_bio", "sparsity", "twins")


def get_method(name: str, hparams: dict | None = None) -> VisualMethod:
    """A method with its defaults replaced by `hparams`, each checked against its type."""
    if name not in METHODS:
        raise UserError(f"unknown visual method {name!r}; methods: {', '.join([GOLD, *METHODS])}")
    cls = METHODS[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in (hparams or {}).items():
        if key not in fields:
            raise UserError(f"config key 'hparams.{name}.{key}': unknown; keys: {', '.join(fields)}")
        values[key] = settings.coerce(value, hints[key], f"config key 'hparams.{name}.{key}'")
    method = cls(**values)
    if method.epochs < 1 or method.batch_size < 1 or method.balance < 1 or method.learning_rate <= 0:
        raise UserError(f"config key 'hparams.{name}': epochs, batch_size, balance ≥ 1 and learning_rate > 0")
    if method.schedule not in ("constant", "cosine"):
        raise UserError(f"config key 'hparams.{name}.schedule': constant or cosine, got {method.schedule!r}")
    return method
