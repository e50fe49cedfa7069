"""`clearbench jobs`: every job of a run and its state, so a user sees what a sweep is doing and
what a re-run will redo, and why (not run yet, failed, or made by other code or settings).

The run is planned from its config.yaml, as a re-run would plan it, so a run that stopped early
still shows every job it will make; a run that stopped before its data is ready shows the jobs
made so far."""

from __future__ import annotations

from pathlib import Path

from clearbench.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "jobs",
        help="list a run's jobs with their state (done / running / failed / pending) and why a re-run redoes one",
        description="List every job of RUN_DIR (train, unlearn, evaluate, attack) with its state, wall "
        "time and threads; a re-run of the same command redoes exactly the jobs that are not done.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a `clearbench run --out` directory")
    parser.add_argument("--state", choices=("done", "running", "interrupted", "failed", "pending"))
    parser.set_defaults(func=run)


def run(args) -> int:
    from clearbench.jobs import job_states
    from clearbench.jobs.job import changed, read_state

    if not (args.run_dir / "config.yaml").is_file():
        raise UserError(f"{args.run_dir}: no config.yaml; is this a `clearbench run` directory?")
    planned, note = _plan(args.run_dir)
    if planned is None:
        jobs = job_states(args.run_dir)
    else:
        redo = changed(planned, args.run_dir)
        jobs = []
        for job in planned:
            state = read_state(args.run_dir, job.key)
            if job.key in redo:
                state = {**state, "reason": f"made by other code or settings: {redo[job.key]}"}
            jobs.append({"key": job.key, "kind": job.kind, "name": job.name, **state})
    for job in jobs:
        if args.state and job["state"] != args.state:
            continue
        print(f"{job['state']:<12} {job['kind']:<9} {job['name']:<28} {job['key']}  {_detail(job)}".rstrip())
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["state"]] = counts.get(job["state"], 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no jobs yet"
    redo_count = sum(job["state"] != "done" for job in jobs)
    if note:
        print(note)
    print(f"{len(jobs)} jobs: {summary}; a re-run redoes {redo_count}")
    return 0


def _detail(job: dict) -> str:
    if job["state"] == "running":
        return f"since {job.get('time')} on {job.get('host')} (process {job.get('pid')})"
    cost = f"{job['wall_s']:.1f}s, {job.get('threads')} threads" if "wall_s" in job else ""
    return "  ".join(part for part in (cost, job.get("reason") or "") if part)


def _plan(run_dir: Path):
    """The run's jobs as a re-run plans them, or (None, why not) before its data and run.json exist."""
    from clearbench.run.config import load_config
    from clearbench.run.pipeline import Pipeline

    if not (run_dir / "run.json").is_file():
        return None, "(the run stopped before planning its jobs: these are the ones made so far)"
    try:
        config = load_config(str(run_dir / "config.yaml"))
        return Pipeline(config, run_dir, log=lambda line: None).plan_all(), None
    except (UserError, OSError, ValueError, KeyError) as error:
        return None, f"(cannot plan the whole run: {error}; these are the jobs made so far)"
