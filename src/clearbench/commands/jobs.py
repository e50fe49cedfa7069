"""`clearbench jobs`: every job of a run and its state, so a user sees what a sweep is doing and
what a re-run will redo (everything not done)."""

from __future__ import annotations

from pathlib import Path

from clearbench.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "jobs",
        help="list a run's jobs with their state (done / running / failed / pending)",
        description="List every job of RUN_DIR (train, unlearn, evaluate) with its state; a re-run of "
        "the same command redoes exactly the jobs that are not done.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a `clearbench run --out` directory")
    parser.add_argument("--state", choices=("done", "running", "interrupted", "failed", "pending"))
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.jobs import job_states

    if not (args.run_dir / "config.yaml").is_file():
        raise UserError(f"{args.run_dir}: no config.yaml; is this a `clearbench run` directory?")
    jobs = job_states(args.run_dir)
    for job in jobs:
        if args.state and job["state"] != args.state:
            continue
        detail = job.get("reason") or ""
        if job["state"] == "running":
            detail = f"since {job.get('time')} on {job.get('host')} (process {job.get('pid')})"
        print(f"{job['state']:<12} {job['kind']:<9} {job['name']:<28} {job['key']}  {detail}".rstrip())
    counts = {}
    for job in jobs:
        counts[job["state"]] = counts.get(job["state"], 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no jobs yet"
    redo = sum(job["state"] != "done" for job in jobs)
    print(f"{len(jobs)} jobs: {summary}; a re-run redoes {redo}")
    return 0
