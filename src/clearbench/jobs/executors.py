"""Executors decide where and when jobs run, never what they compute (that is `work.execute`).

`InProcess` runs them here, in dependency order, exactly as a run always did; under `accelerate
launch` every process trains together and evaluations are shared out. `RayExecutor` submits each job
whose dependencies are done to a Ray runtime (a local one with N workers, or a cluster's address),
with the job's CPU/GPU request; Ray retries a job whose worker died, and the job resumes from what
it had written. Either way a job that raises is recorded as failed with its reason, the jobs that
need it are failed as blocked, and every other job still runs; a re-run retries only what is not done.
A write that fails because the output cannot be written (disk full, read-only) stops everything.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path

from clearbench import atomic, versions
from clearbench.errors import UserError
from clearbench.jobs.job import Job, mark, read_state

SHARED_KINDS = ("evaluate",)  # independent of each other: each process takes its share


def run_job(job: Job, root: Path, write_state: bool = True) -> dict:
    """Run one job unless it is done; record its state; return the state record."""
    from clearbench.jobs.work import execute

    state = read_state(root, job.key)
    if state["state"] == "done":
        return {**state, "cached": True}
    if write_state:
        job.record(root)
        mark(root, job.key, "running")
    started = time.perf_counter()
    try:
        result = execute(job, root)
    except Exception as error:
        if atomic.output_failure(error) is not None:
            raise
        reason = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        record = {"reason": reason, **_cost(job, started)}
        if write_state:
            mark(root, job.key, "failed", traceback=traceback.format_exc(limit=8), **record)
        return {"state": "failed", **record}
    record = {"result": result, **_cost(job, started)}
    if write_state:
        mark(root, job.key, "done", **record)
    return {"state": "done", **record}


def _cost(job: Job, started: float) -> dict:
    """What running it took: wall seconds, and the torch threads it computed with."""
    import torch

    threads = job.spec.get("threads") or torch.get_num_threads()
    return {"wall_s": round(time.perf_counter() - started, 3), "threads": threads}


def _blocked(job: Job, jobs: dict[str, Job], states: dict[str, dict]) -> str | None:
    for key in job.needs:
        if states.get(key, {}).get("state") == "failed":
            return f"needs {jobs[key].name if key in jobs else key}, which failed"
    return None


def _waves(jobs: list[Job]) -> list[list[Job]]:
    """Jobs in dependency order, grouped: a wave needs only jobs of earlier waves (or outside the list)."""
    pending = {job.key: job for job in jobs}
    waves = []
    while pending:
        wave = [job for job in pending.values() if not any(key in pending for key in job.needs)]
        if not wave:
            raise UserError(
                f"jobs depend on each other in a cycle: {', '.join(j.name for j in pending.values())}"
            )
        waves.append(wave)
        for job in wave:
            del pending[job.key]
    return waves


class InProcess:
    def __init__(self, log: Callable[[str], None] = print):
        from accelerate import PartialState

        self.state = PartialState()
        self.log = log

    def run(self, jobs: list[Job], root: Path) -> dict[str, dict]:
        state, everything = self.state, {job.key: job for job in jobs}
        states: dict[str, dict] = {}
        for wave in _waves(jobs):
            for index, job in enumerate(wave):
                blocked = _blocked(job, everything, states)
                if blocked:
                    if state.is_main_process:
                        job.record(root)
                        mark(root, job.key, "failed", reason=blocked)
                    self.log(f"[job] {title(job)}: not run ({blocked})")
                    continue
                if read_state(root, job.key)["state"] == "done":
                    self.log(ended(job, {"state": "done", "cached": True}))
                    continue
                self.log(started(job, "here"))
                if job.kind in SHARED_KINDS:
                    if index % state.num_processes == state.process_index:
                        self.log(ended(job, run_job(job, root), "here"))
                else:  # every process trains it; the main one records it
                    self.log(ended(job, run_job(job, root, write_state=state.is_main_process), "here"))
                    state.wait_for_everyone()
            state.wait_for_everyone()
            for job in wave:
                states[job.key] = read_state(root, job.key)
        return states


# ---- what the user sees: one line as a job starts, one as it ends -----------------------------
def title(job: Job) -> str:
    """`unlearn npo [seed 0]`, `evaluate target [seed 0]`: the kind, the model, the seed."""
    name = job.name.removeprefix("eval ").removeprefix("attack ")
    seed = job.spec.get("seed")
    return f"{job.kind} {name}" + (f" [seed {seed}]" if seed is not None else "")


def started(job: Job, where: str, verb: str = "started") -> str:
    threads = job.spec.get("threads")
    count = f" ({threads} thread{'s' if threads != 1 else ''})" if threads else ""
    return f"[job] {title(job)}: {verb} {where}{count}"


def ended(job: Job, state: dict, where: str | None = None) -> str:
    """`ran here in 12.3s`, `cached (done earlier)`, `failed on HOST after 2.0s: reason`."""
    if state.get("cached"):
        return f"[job] {title(job)}: cached (done earlier)"
    if where is None:  # on a Ray worker: its host and process, from its state record
        where = f"on {state.get('host')} (process {state.get('pid')})"
    took = f" in {state['wall_s']:.1f}s" if "wall_s" in state else ""
    if state["state"] == "done":
        return f"[job] {title(job)}: ran {where}{took}"
    return f"[job] {title(job)}: {state['state']} {where}{took}: {state.get('reason')}"


def local_cpus(workers: int, job_cpus: float, cores: int) -> tuple[float, str | None]:
    """The CPUs a local runtime gets: `workers` jobs of `job_cpus` each, never more than the machine's
    cores (but always room for one job), and a warning when that runs fewer jobs at once.

    More torch threads than cores slow every job down far more than they share: on 2 cores, 2 jobs of
    2 threads (paper-scale's target and gold) each trained at 1.3-1.4 s a step, against 0.11 s alone.
    """
    wanted = workers * job_cpus
    if wanted <= cores:
        return wanted, None
    at_once = max(1, int(cores // job_cpus))
    fits = f"jobs.threads={cores // workers} runs {workers} at once" if workers <= cores else ""
    warning = (
        f"[ray] {workers} jobs of {job_cpus:g} CPUs at once need {wanted:g} and this machine has "
        f"{cores}: {at_once} at a time, since more threads than cores slow every job"
        + (f" ({fits})" if fits else "")
    )
    return at_once * job_cpus, warning


class RayExecutor:
    """Jobs on Ray: `workers` local CPU workers, or the cluster at `address`. A local runtime has
    `workers` × `job_cpus` CPUs, so that `workers` jobs run at once, each asking `job_cpus`, or the
    machine's cores where that is fewer (`local_cpus`)."""

    def __init__(
        self,
        *,
        workers: int | None = None,
        address: str | None = None,
        log=print,
        retries: int = 2,
        job_cpus: float = 1,
    ):
        try:
            import ray
        except ImportError:
            raise UserError("Ray is not installed: pip install 'clearbench[ray]'") from None
        self.ray, self.log, self.retries = ray, log, retries
        self.started = not ray.is_initialized()
        if not self.started:
            log("[ray] the Ray runtime already started in this process")
        if self.started and address:
            check_reachable(address)
        if self.started:
            try:
                if address:
                    context = ray.init(address=address, log_to_driver=False, logging_level="ERROR")
                    url = getattr(context, "dashboard_url", None)
                    log(f"[ray] the cluster at {address}; dashboard " + (f"http://{url}" if url else "off"))
                else:
                    log(f"[ray] a local runtime with {workers or 'all'} CPU workers; dashboard off")
                    cpus = None
                    if workers:
                        cpus, warning = local_cpus(workers, job_cpus, versions.cores())
                        if warning:
                            log(warning)
                    ray.init(
                        num_cpus=cpus,
                        num_gpus=0,
                        include_dashboard=False,
                        log_to_driver=False,
                        logging_level="ERROR",
                        _node_ip_address="127.0.0.1",
                    )
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
                raise UserError(f"cannot start or reach {where}: {str(error).splitlines()[0]}") from None

    def run(self, jobs: list[Job], root: Path) -> dict[str, dict]:
        ray, root = self.ray, Path(root).absolute()
        everything = {job.key: job for job in jobs}
        states = {job.key: read_state(root, job.key) for job in jobs}
        todo = {job.key: job for job in jobs if states[job.key]["state"] != "done"}
        for job in jobs:
            if job.key not in todo:
                self.log(ended(job, {"state": "done", "cached": True}))
        remote = ray.remote(_run_on_worker)
        running: dict = {}  # ray reference -> job
        while todo or running:
            for job in list(todo.values()):
                if any(key in todo or _is_running(key, running) for key in job.needs):
                    continue
                del todo[job.key]
                blocked = _blocked(job, everything, states)
                if blocked:
                    job.record(root)
                    mark(root, job.key, "failed", reason=blocked)
                    states[job.key] = read_state(root, job.key)
                    self.log(f"[job] {title(job)}: not run ({blocked})")
                    continue
                options = remote.options(num_cpus=job.cpus, num_gpus=job.gpus, max_retries=self.retries)
                running[options.remote(job, str(root))] = job
                self.log(started(job, "to Ray", "submitted"))
            if not running:
                continue
            done, _ = ray.wait(list(running), num_returns=1)
            job = running.pop(done[0])
            try:
                ray.get(done[0])
            except ray.exceptions.RayTaskError as error:  # an output that cannot be written
                raise error.as_instanceof_cause() from None
            except ray.exceptions.RayError as error:  # the worker died more often than retried
                mark(root, job.key, "failed", reason=f"worker lost: {str(error).splitlines()[0]}")
            states[job.key] = read_state(root, job.key)
            self.log(ended(job, states[job.key]))
            finished = [
                states[key]["state"]
                for key in everything
                if key not in todo and not _is_running(key, running)
            ]
            self.log(
                f"[ray] {len(running)} running, {finished.count('done')} done, "
                f"{finished.count('failed')} failed, {len(todo)} waiting"
            )
        return states

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once an address nothing listens on (Ray itself retries for minutes)."""
    import socket

    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT, auto)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise UserError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def _is_running(key: str, running: dict) -> bool:
    return any(job.key == key for job in running.values())


def _run_on_worker(job: Job, root: str) -> str:
    """A job on a Ray worker (its spec's thread count is set by `work.execute`, as in-process)."""
    return run_job(job, Path(root))["state"]
