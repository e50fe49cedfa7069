"""What each kind of job does: a function of its spec and the run folder, nothing else, so that any
process (this one, or a Ray worker on another machine sharing the folder) computes the same output.

Each returns the job's result (a small JSON record). The training and evaluation functions called
here skip work already done in the output folder, so a retried job resumes rather than restarts.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clearbench import settings
from clearbench.jobs.job import Job, resolve


def data_location(spec: dict[str, Any], root: Path) -> str:
    """The data source a job reads: the run's generated data for "synthetic", else the source."""
    return str(Path(root) / "data") if spec["data"] == "synthetic" else spec["data"]


def withheld(spec: dict[str, Any], root: Path):
    """The holdout plan whose people a training job leaves out, or None."""
    if not spec.get("withhold"):
        return None
    from clearbench.data.holdout import plan_holdout

    return plan_holdout(
        data_location(spec, root), spec["forget_split"], spec["revision"], people=spec["withhold"]
    )


def heldout_photos(spec: dict[str, Any], root: Path):
    """The forget photos a job keeps out of unlearning and asks as unseen ones, or None; drawn again
    from the spec's share, seed and forget split (the same draw in every job)."""
    if not spec.get("heldout_photos"):
        return None
    from clearbench.data.heldout_photos import plan_heldout_photos

    return plan_heldout_photos(data_location(spec, root), revision=spec["revision"], **spec["heldout_photos"])


def finetune_job(spec: dict[str, Any], root: Path, out: Path) -> dict:
    from clearbench.train import finetune
    from clearbench.train.options import TrainOptions

    finetune.finetune(
        resolve(spec["model"], root),
        data_location(spec, root),
        spec["split"],
        out,
        settings.from_dict(TrainOptions, spec["options"]),
        seed=spec["seed"],
        revision=spec["revision"],
        trust_remote_code=spec["trust_remote_code"],
        withhold=withheld(spec, root),
    )
    return {"status": "completed"}


def unlearn_job(spec: dict[str, Any], root: Path, out: Path) -> dict:
    from clearbench.train import unlearn
    from clearbench.train.options import UnlearnOptions

    result = unlearn.unlearn(
        resolve(spec["model"], root),
        data_location(spec, root),
        spec["forget"],
        spec["retain"],
        spec["method"],
        out,
        settings.from_dict(UnlearnOptions, spec["options"]),
        hparams=spec["hparams"],
        seed=spec["seed"],
        revision=spec["revision"],
        trust_remote_code=spec["trust_remote_code"],
        **({"earlier": spec["earlier"]} if "earlier" in spec else {}),
        **({"trajectory": True} if spec.get("trajectory") else {}),
        withhold=withheld(spec, root),
        heldout_photos=heldout_photos(spec, root),
    )
    return {"status": result.get("status", "completed"), "reason": result.get("reason")}


def evaluate_job(spec: dict[str, Any], root: Path, out: Path) -> dict:
    from dataclasses import asdict

    from clearbench.evaluate import runner
    from clearbench.evaluate.options import from_spec

    runner.evaluate_model(
        resolve(spec["model"], root),
        data_location(spec, root),
        spec["forget_split"],
        out,
        tasks=spec["tasks"],
        revision=spec["revision"],
        trust_remote_code=spec["trust_remote_code"],
        holdout=spec.get("holdout"),
        heldout_photos=heldout_photos(spec, root),
        **asdict(from_spec(spec)),
    )
    return {"status": "completed"}


def attack_job(spec: dict[str, Any], root: Path, out: Path) -> dict:
    """Every attack on one model; the attacked models and their logs go to RUN/attacks/VARIANT/MODEL."""
    from clearbench.attacks.base import Source
    from clearbench.attacks.options import AttackOptions
    from clearbench.attacks.stage import attack_model
    from clearbench.evaluate.options import from_spec

    model = Path(resolve(spec["model"], root))
    source = Source(spec["model_name"], spec["model_kind"], model, spec["method"], spec["group"])
    attack_model(
        root,
        data_location(spec, root),
        spec["forget_split"],
        source,
        spec["attacks"],
        settings.from_dict(AttackOptions, spec["options"]),
        from_spec(spec["eval"]),
        spec["seed"],
        print,
        tasks=spec["eval"]["tasks"],
        revision=spec["revision"],
        trust_remote_code=spec["trust_remote_code"],
        clean=Path(resolve(spec["clean"], root)) if "clean" in spec else None,
    )
    return {"status": "completed"}


def visual_job(spec: dict[str, Any], root: Path, out: Path) -> dict:
    """One step of the visual track (clearbench.visual.jobs): pretrain, finetune, gold or unlearn."""
    from clearbench.visual.jobs import visual_job as step

    return step(spec, root, out)


KINDS = {
    "finetune": finetune_job,
    "unlearn": unlearn_job,
    "evaluate": evaluate_job,
    "attack": attack_job,
    "visual": visual_job,
}


@contextmanager
def compute_threads(count: int | None):
    """Torch computes with `count` threads inside (None: as it was); the earlier count is restored."""
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def execute(job: Job, root: Path) -> dict:
    """The job's work, with the thread count, TOFU source and attention kernel its spec names, its
    training curves reported under its name (when the run reports to a tracker in this process)."""
    from clearbench.data.load import tofu_source
    from clearbench.models.base import attention
    from clearbench.train import tracking

    with (
        compute_threads(job.spec.get("threads")),
        tofu_source(job.spec.get("tofu_source")),
        attention(job.spec.get("attn_implementation")),
        tracking.stage(job.name),
    ):
        return KINDS[job.kind](job.spec, Path(root), job.output(root))
