"""How one model is evaluated, declared once as settings (type, default, help, rule).

`clearbench eval`'s flags (`settings.add_arguments`), the run config's `eval` keys (`EvalSection`
extends this class), the evaluate job's spec (`job_spec`) and `evaluate_model`'s keywords all come
from these fields, so a new evaluation setting is one field here and its use in `evaluate_model`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from clearbench.settings import AT_LEAST_ONE, FRACTION, SEED, setting


@dataclass
class EvalOptions:
    max_rows: int | None = setting(None, "rows per task; none = every row (no silent cap)", AT_LEAST_ONE)
    batch_size: int = setting(8, "sequences per forward pass", AT_LEAST_ONE)
    max_new_tokens: int = setting(64, "greedy generation length", AT_LEAST_ONE)
    seed: int = setting(0, "seed of the per-row caption questions", SEED)
    membership_k: float = setting(
        0.2, "k of the Min-K % and Min-K %++ membership scores (a fraction)", FRACTION
    )
    membership_gradnorm: bool = setting(
        False, "also log each row's GradNorm membership score (a backward pass per row, so opt-in)"
    )


def job_spec(options: EvalOptions) -> dict:
    """The options as an evaluate job's spec keys (its key is their hash). An opt-in switch (a
    setting off by default) joins only when on, so that existing evaluations keep their key."""
    spec = {}
    for field in dataclasses.fields(EvalOptions):
        value = getattr(options, field.name)
        if field.default is False and value is False:
            continue
        spec[field.name] = value
    return spec


def from_spec(spec: dict) -> EvalOptions:
    """The options of a job spec (a switch it does not name is off)."""
    return EvalOptions(
        **{field.name: spec[field.name] for field in dataclasses.fields(EvalOptions) if field.name in spec}
    )
