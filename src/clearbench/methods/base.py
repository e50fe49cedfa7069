"""What an unlearning method is, the registry of methods, and the loss pieces they share.

A method is a loss function, not a trainer: the engine (`clearbench.train.unlearn`) owns data,
optimiser, loop, reference model and checkpointing. A method sees

    loss(model, batch, ref, step) -> (loss tensor, {name: float})

where `batch` maps "forget" / "retain" / "idk" / "mismatch" to batches from `Adapter.encode`
(labels = answer + end-of-turn tokens, -100 elsewhere) and `ref` is the frozen starting model
(`clearbench.train.reference.Reference`: `ref.logits(enc)`, `ref.layer_output(enc, index)`).

The contract, kept by the engine so that a method file holds only its formula:
  * `batch` holds every kind in `method.needs`: the class's own `data` plus "retain" whenever the
    hyperparameters have a non-zero `retain_weight`;
  * a method that trains in passes (`passes`, e.g. SCRUB's max and min passes) gets, in each pass,
    batches holding exactly that pass's kinds;
  * "mismatch" holds `method.mismatch_count` rows per forget row, k-major (rows k·B … k·B+B−1 are
    the k-th mismatched answers of the B forget rows);
  * `ref` is a `Reference` exactly when `method.needs_reference` is true, and None otherwise;
  * `step` is the index of the optimizer step (the same for every micro-batch it accumulates).

Every token-level term here is taken over answer tokens only: position t of the logits predicts
token t+1, so a position counts when labels[t+1] != -100. Prompt, image and padding positions never
enter a loss. A batch with no answer tokens at all gives a loss of 0 that still has a gradient path.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from clearbench.errors import UserError
from clearbench.models.forward import capture_output, forward_logits  # noqa: F401 (methods' toolkit)
from clearbench.registry import Registry

if TYPE_CHECKING:
    from clearbench.models.base import Adapter
    from clearbench.train.reference import Reference

IGNORE_INDEX = -100
DATA_KINDS = ("forget", "retain", "idk", "mismatch")

Encoding = dict[str, torch.Tensor]
"""One encoded batch from `Adapter.encode`: input_ids, attention_mask, labels, pixel_values, …"""
Batch = Mapping[str, Encoding]
"""What a loss sees: one `Encoding` per data kind the method needs ("forget", "retain", …)."""
LossOutput = tuple[torch.Tensor, dict[str, float]]
"""The loss to minimise and the named values to log with it."""


# ---- the method contract -------------------------------------------------------------------
@dataclasses.dataclass
class NoHparams:
    pass


class Method:
    """Base class. Subclasses set the class attributes and implement `loss`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""  # one line, shown by `clearbench methods`
    source: ClassVar[str] = ""  # paper the formula comes from
    data: ClassVar[frozenset[str]] = frozenset({"forget"})  # the data kinds the formula reads
    needs_reference: bool = False  # a property where it depends on the hyperparameters
    Hparams: ClassVar[type] = NoHparams

    def __init__(self, **overrides: Any):
        self.hparams = parse_hparams(self.name, self.Hparams, overrides)

    @property
    def needs(self) -> frozenset[str]:
        """The data kinds the engine pairs into each batch: `data`, plus "retain" for λ_R ≠ 0."""
        if getattr(self.hparams, "retain_weight", 0.0):
            return self.data | {"retain"}
        return self.data

    @property
    def mismatch_count(self) -> int:
        """How many mismatched answers ("mismatch" rows) each forget row gets: `mismatches`, else 1."""
        return int(getattr(self.hparams, "mismatches", 1))

    def passes(self, epoch: int) -> list[frozenset[str]]:
        """The passes over the forget rows that make up training epoch `epoch` (0-based): in each, the
        engine's batches hold exactly the kinds listed. Default: one pass holding everything needed."""
        return [self.needs]

    def loss(self, model: nn.Module, batch: Batch, ref: Reference | None, step: int) -> LossOutput:
        raise NotImplementedError

    # Optional hooks; the defaults do nothing.
    def prepare(self, model: nn.Module, adapter: Adapter) -> None:
        """Called once before training (e.g. to locate the layers a method reads)."""

    def trainable_parameters(self, model: nn.Module, adapter: Adapter) -> list[str] | None:
        """Names of the parameters to train, or None for every trainable one."""
        return None

    def finalize(self, model: nn.Module, ref: Reference | None) -> None:
        """Called after training, before saving (e.g. SKU's task-vector negation)."""

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "needs": [kind for kind in DATA_KINDS if kind in self.needs],
            "needs_reference": bool(self.needs_reference),
            "hparams": dataclasses.asdict(self.hparams),
        }


def hparam(default: Any, rule) -> Any:
    """A hyperparameter with its range rule (`clearbench.settings`: POSITIVE, NOT_NEGATIVE, …),
    checked whenever the method is built: `beta: float = hparam(0.1, POSITIVE)`."""
    return dataclasses.field(default=default, metadata={"rule": rule})


def parse_hparams(method: str, cls: type, overrides: dict[str, Any]):
    """Build the hyperparameter dataclass; `--set` strings are converted to the field's type, and
    every value (defaults too) checked: NaN nowhere, each declared rule held."""
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in overrides.items():
        if key not in fields:
            valid = ", ".join(fields) or "none"
            raise UserError(f"method {method!r} has no hyperparameter {key!r}; valid: {valid}")
        values[key] = _convert(method, key, value, hints[key])
    built = cls(**values)
    from clearbench.settings import refuse_nan

    for field in dataclasses.fields(built):
        value, rule = getattr(built, field.name), field.metadata.get("rule")
        if rule is not None and value is not None and not _holds(rule, value):
            raise UserError(f"method {method!r}: hyperparameter {field.name} {rule.says}, got {value!r}")
        refuse_nan(value, f"method {method!r}: hyperparameter {field.name}")
    return built


def _holds(rule, value: Any) -> bool:
    try:
        return bool(rule.holds(value))
    except TypeError:  # a value of another type (a list where a number belongs) breaks the rule
        return False


def _convert(method: str, key: str, value: Any, kind: Any) -> Any:
    if not isinstance(value, str):
        return value
    target = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
    try:
        if target is bool:
            lowered = value.strip().lower()
            if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(value)
            return lowered in {"true", "1", "yes"}
        return target(value)
    except (TypeError, ValueError):
        raise UserError(
            f"method {method!r}: hyperparameter {key}={value!r} is not a valid "
            f"{getattr(target, '__name__', target)}"
        ) from None


def check_choice(method: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"method {method!r}: {key}={value!r} is not one of {', '.join(choices)}")


# ---- registry ------------------------------------------------------------------------------
METHODS: Registry[type[Method]] = Registry("method", "clearbench.methods")


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: a built-in method (another method of the same name is a DuplicateError)."""
    return METHODS.add(cls)


def get_method(name: str, **hparams: Any) -> Method:
    return METHODS.find(name)(**hparams)


# ---- answer positions ----------------------------------------------------------------------
def answer_mask(labels: torch.Tensor) -> torch.Tensor:
    """[B, T-1] bool: logit positions that predict a supervised (answer) token."""
    return labels[:, 1:] != IGNORE_INDEX


def at_answers(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[N, …] the rows of `values` ([B, T, …]: logits, hidden states) at the N positions that
    predict answer tokens."""
    return values[:, :-1][answer_mask(labels)]


def answer_targets(labels: torch.Tensor) -> torch.Tensor:
    """[N] the answer tokens those N positions predict."""
    return labels[:, 1:][answer_mask(labels)]


def mean_or_zero(values: torch.Tensor) -> torch.Tensor:
    """Mean of `values` (taken at answer positions); with no answer positions at all, a zero that
    still belongs to the autograd graph (zero gradients) instead of the NaN of an empty mean."""
    return values.mean() if values.numel() else values.sum()


# ---- answer-token losses -------------------------------------------------------------------
def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B, T-1] NLL of each next token; 0 where the token is not supervised."""
    shifted = logits[:, :-1].float()
    targets = labels[:, 1:]
    nll = F.cross_entropy(
        shifted.reshape(-1, shifted.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    return nll.view(targets.shape)


def nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Token-mean NLL over all answer tokens of the batch (the usual causal-LM loss)."""
    mask = answer_mask(labels)
    return token_nll(logits, labels).sum() / mask.sum().clamp(min=1)


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B] log π(y|x): the summed log-probability of each answer."""
    return -token_nll(logits, labels).sum(dim=1)


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B] length-normalised NLL of each answer, −log π(y|x) / |y|."""
    return token_nll(logits, labels).sum(dim=1) / answer_mask(labels).sum(dim=1).clamp(min=1)


def answer_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[N, V] float logits at the N positions that predict answer tokens."""
    return at_answers(logits, labels).float()


def answer_kl(ref_logits: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over answer positions of KL(p_ref ‖ p_θ) = Σ_v p_ref (log p_ref − log p_θ)."""
    ref_logp = F.log_softmax(answer_logits(ref_logits, labels), dim=-1)
    logp = F.log_softmax(answer_logits(logits, labels), dim=-1)
    ref_p = ref_logp.exp()
    # 0·log 0 = 0: tokens the reference rules out contribute nothing, even where logits are −inf
    terms = torch.where(ref_p > 0, ref_p * (ref_logp - logp), torch.zeros_like(ref_p))
    return mean_or_zero(terms.sum(dim=-1))


def answer_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over answer positions of the predictive entropy −Σ_v p log p."""
    probs = torch.softmax(answer_logits(logits, labels), dim=-1)
    return mean_or_zero(-torch.special.xlogy(probs, probs).sum(dim=-1))


# ---- whole-model terms ---------------------------------------------------------------------
def model_nll(model: nn.Module, enc: Encoding) -> torch.Tensor:
    """NLL of `enc`'s answers under `model`: the L(D) of the method formulas."""
    return nll(forward_logits(model, enc), enc["labels"])


def model_kl(model: nn.Module, ref: Reference, enc: Encoding) -> torch.Tensor:
    """KL(p_ref‖p_θ) over `enc`'s answer tokens."""
    return answer_kl(ref.logits(enc), forward_logits(model, enc), enc["labels"])


def optional_retain_nll(
    model: nn.Module, batch: Batch, weight: float, extras: dict[str, float]
) -> torch.Tensor | float:
    """λ_R·NLL(R): the optional retain term of forget-side methods (0 when λ_R = 0, and then the
    batch holds no retain data: see `Method.needs`). Logs "retain_nll" into `extras`."""
    if not weight:
        return 0.0
    retain_nll = model_nll(model, batch["retain"])
    extras["retain_nll"] = retain_nll.item()
    return weight * retain_nll
