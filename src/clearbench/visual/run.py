"""`clearbench run visual`: the whole visual track, as jobs on the run's executor.

    data (synthetic world generated into RUN/data) → pool checked and saved (RUN/visual/)
    → pretrain → per split: finetune (original), gold, and each method on the original
    → the Table-5 rows → RUN/visual/report.md, results.json, ulira_vs_retain.png

Every split's models are jobs (`clearbench.jobs`), so `--workers N` runs N at once on Ray and a
re-run redoes only what is not done.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import yaml

from clearbench import atomic
from clearbench.errors import UserError
from clearbench.jobs.job import Job
from clearbench.visual.config import VisualConfig
from clearbench.visual.methods import GOLD, ORIGINAL, PAPER_ORDER
from clearbench.visual.pool import build_pool, query_people, save_pool
from clearbench.visual.splits import Split, plan_splits

KIND = "visual"


def run_visual(config: VisualConfig, out: Path, log=print) -> tuple[Path, list[str]]:
    """Run (or resume) the track in `out`; returns the report and the names of failed jobs."""
    started = time.time()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    source = _prepare_data(config, out)
    pool = build_pool(config, source, log)
    splits = plan_splits(
        pool.forget,
        pool.holdout,
        pool.others,
        config.splits.count,
        config.splits.retain_people,
        config.splits.seed,
    )
    atomic.write_text(out / "visual" / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    digest = save_pool(pool, out)
    log(
        f"[visual] {len(pool.identities.names)} people ({len(pool.forget)} forget, {len(pool.holdout)} holdout), "
        f"{len(pool.pretraining.names)} pretraining identities, {len(splits)} splits × "
        f"{len(config.methods) + 1} models"
    )
    jobs, by_method = plan_jobs(config, splits, digest)
    states = _executor(config, log).run(jobs, out)
    failed = [job.name for job in jobs if states[job.key]["state"] != "done"]
    rows = collect(config, pool, splits, by_method, states, out)
    from clearbench.visual.report import write_report

    minutes = (time.time() - started) / 60
    header = (
        f"{len(splits)} splits ({len(splits) // 2} target models), {len(pool.forget)} people forgotten, "
        f"{config.splits.retain_people} retained per split, ResNet-18 width {config.model.width} at "
        f"{config.data.resolution} px; this invocation took {minutes:.1f} min."
    )
    report = write_report(rows, out / "visual", header)
    _record(config, source, out, minutes, failed)
    return report, failed


def _record(config: VisualConfig, source: str, out: Path, minutes: float, failed: list[str]) -> None:
    """What made the numbers: the resolved config, the software, the data's revision, the seed."""
    from clearbench.data.load import dataset_revision
    from clearbench.versions import versions

    atomic.write_json(
        out / "visual" / "run.json",
        {
            "config": config.to_dict(),
            "versions": versions(),
            "data_revision": dataset_revision(source, config.data.revision),
            "seed": config.seed,
            "minutes_this_invocation": round(minutes, 2),
            "failed_jobs": failed,
        },
    )


def _prepare_data(config: VisualConfig, out: Path) -> str:
    if config.data.source != "synthetic":
        return config.data.source
    from clearbench.data import synth

    target = out / "data"
    if not (target / "README.md").exists():
        synth.generate(
            target, persons=config.data.persons, seed=config.data.seed, image_size=config.data.image_size
        )
    return str(target)


def plan_jobs(config: VisualConfig, splits: list[Split], digest: str) -> tuple[list[Job], dict]:
    """Every job (the originals, then each method on every split), and {model name: {split index:
    job}} for the rows of the table."""
    shared = {
        "pool": digest,
        "width": config.model.width,
        "threads": config.jobs.threads,
        "enroll": config.data.enroll,
    }

    def job(name: str, **spec) -> Job:
        return Job(KIND, name, shared | spec, cpus=config.jobs.threads)

    pretrain = job("visual pretrain", step="pretrain", seed=config.seed, recipe=_recipe(config.pretrain))
    jobs, by_method = [pretrain], {ORIGINAL: {}, **{m: {} for m in config.methods}}
    for split in splits:
        described = dataclasses.asdict(split)
        seed = config.seed * 100_003 + split.index
        finetune = job(
            f"visual original [split {split.index}]",
            step="finetune",
            pretrained={"job": pretrain.key},
            split=described,
            seed=seed,
            recipe=_recipe(config.finetune),
        )
        jobs.append(finetune)
        by_method[ORIGINAL][split.index] = finetune
        for method in config.methods:
            name = f"visual {method} [split {split.index}]"
            if method == GOLD:
                unit = job(
                    name,
                    step="gold",
                    pretrained={"job": pretrain.key},
                    split=described,
                    seed=seed,
                    recipe=_recipe(config.finetune),
                )
            else:
                unit = job(
                    name,
                    step="unlearn",
                    finetuned={"job": finetune.key},
                    split=described,
                    seed=seed,
                    method=method,
                    hparams=config.hparams.get(method, {}),
                    weight_decay=config.finetune.weight_decay,
                )
            by_method[method][split.index] = unit
    # Method by method, so that a run cut short has whole rows (every split of the first methods).
    jobs += [by_method[method][split.index] for method in config.methods for split in splits]
    return jobs, by_method


def _recipe(section) -> dict:
    return dataclasses.asdict(section)


def collect(config, pool, splits, by_method, states, out: Path) -> dict[str, dict]:
    from clearbench.visual.jobs import read_result
    from clearbench.visual.results import method_row

    people = {
        "forget": query_people(pool.identities.of(pool.forget), config.data.enroll),
        "holdout": query_people(pool.identities.of(pool.holdout), config.data.enroll),
    }
    retain_people = {s.index: query_people(pool.identities.of(s.retain), config.data.enroll) for s in splits}
    order = [m for m in PAPER_ORDER if m in by_method] + [m for m in by_method if m not in PAPER_ORDER]
    rows = {}
    for method in order:
        jobs = by_method[method]
        missing = [i for i, j in jobs.items() if states[j.key]["state"] != "done"]
        if missing:
            rows[method] = {"failed": f"splits {missing} did not complete"}
            continue
        results = {i: read_result(out, j.key) for i, j in jobs.items()}
        rows[method] = method_row(
            splits, results, people, retain_people, config.report.bootstrap, config.seed
        )
        diverged = [i for i, r in results.items() if r.get("status") == "diverged"]
        if diverged:
            rows[method]["diverged_splits"] = diverged
    return rows


def _executor(config: VisualConfig, log):
    from clearbench.jobs.executors import InProcess, RayExecutor

    if not config.jobs.workers and not config.jobs.ray_address:
        return InProcess(log)
    jobs = config.jobs
    return RayExecutor(workers=jobs.workers or None, address=jobs.ray_address, log=log, job_cpus=jobs.threads)


def run_visual_command(args) -> int:
    """The `clearbench run` command for a preset that declares `track: visual`."""
    from clearbench.visual.config import load_visual_config

    for flag, value in (("--reuse", args.reuse), ("--report-to", args.report_to)):
        if value is not None:
            raise UserError(f"{flag} does not apply to the visual track")
    overrides = list(args.overrides)
    if args.workers is not None:
        overrides.append(f"jobs.workers={args.workers}")
    if args.ray_address is not None:
        overrides.append(f"jobs.ray_address={args.ray_address}")
    config = load_visual_config(args.preset, overrides)
    report, failed = run_visual(config, args.out)
    print((report.parent / "report.md").read_text(encoding="utf-8").split("\n\n![")[0])
    print(f"report: {report}")
    if failed:
        print(f"{len(failed)} job(s) failed: {', '.join(failed[:5])}" + (" …" if len(failed) > 5 else ""))
        return 1
    return 0
