"""`clearbench run`: data → base → target / gold → unlearn each method → evaluate → metrics → report.

The models are trained and evaluated as jobs (`clearbench.jobs`): one per model to train (target and
gold per training seed, each method per training × unlearning seed and modality) and one per model
to evaluate, each in a folder named by a hash of what it computes, written atomically and skipped
once done, so a killed or failed run re-run redoes only what is not done. The executor (this process
by default; `jobs.workers` / `jobs.ray_address`: Ray) decides only where jobs run. Under `accelerate
launch`, training jobs use every process and each process evaluates its own share of the models.
Metrics and the report are then computed here, from the eval logs.
"""

from __future__ import annotations

import errno
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

from clearbench import atomic, settings
from clearbench.data.split_names import retain_split
from clearbench.errors import UserError
from clearbench.jobs import Job
from clearbench.methods import method_name, resolve_method
from clearbench.run import sweep
from clearbench.run.config import RunConfig, forget_config, synth_density
from clearbench.versions import computing_software, machine, source_digest, versions


def _results_part(config: dict) -> dict:
    """The config without `jobs`: where jobs run never changes what they compute (`jobs.threads`
    does, and is in every job's spec instead, so another count makes other jobs, not a refusal)."""
    return {key: value for key, value in config.items() if key != "jobs"}


def final_point(point: dict, options) -> dict | None:
    """The grid point of a run's final model; with a trajectory, its epoch count is part of it."""
    if getattr(options, "trajectory", False):
        return {**point, "epoch": options.max_steps and "final" or options.epochs}
    return point or None


def _request_label(request: str | None) -> str:
    return f"[request={request}]" if request else ""


def _people(rows) -> set[str] | None:
    return set(rows["name"]) if "name" in rows.column_names else None


def _attacked(run: ModelRun) -> bool:
    """Attacks take target, gold and each one-shot unlearned model (not the base, requests, epochs)."""
    return run.kind != "base" and run.request is None and not run.snapshot


def _counted(reasons) -> str:
    """`torch 2.12.0 → 2.13.0 (7 jobs); my.py edited (1 job)`."""
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return "; ".join(f"{why} ({n} job{'s' if n > 1 else ''})" for why, n in counts.items())


def _forget_quality(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if key.startswith("forget_quality")}


def eval_tasks(config: RunConfig, has_vision: bool) -> list:
    """The tasks each model is evaluated on: with held-out forget photos, also the forget tasks of
    unseen photos (asked on them), never the retain ones (there are no such retain photos)."""
    from clearbench.evaluate.tasks import select_tasks

    heldout = config.data.heldout_forget_photos is not None
    tasks = select_tasks(
        config.eval.tasks, has_vision=has_vision, unseen=config.eval.unseen_photos or heldout
    )
    return [task for task in tasks if not (heldout and task.unseen and not task.forget)]


@dataclass
class ModelRun:
    """One model that gets evaluated: the job that made it, and how it came to be."""

    name: str
    kind: str  # base | target | gold | unlearned
    job: Job
    method: str | None = None
    modality: str | None = None
    train_seed: int | None = None
    unlearn_seed: int | None = None
    point: dict | None = None  # the sweep's grid point, when the method is swept
    forget_split: str | None = None  # what it is evaluated on (None: none is forgotten, the target)
    request: str | None = None  # the sequential request it answers (None: one-shot)
    snapshot: str | None = None  # an epoch's snapshot inside the job's output (a trajectory point)
    status: str = "completed"  # completed | diverged | failed
    error: str | None = None
    evaluation: Job | None = None

    @property
    def group(self) -> str:
        """The name without its seeds: what the leaderboard aggregates over seeds."""
        return self.name.split("~")[0]


class Pipeline:
    def __init__(
        self,
        config: RunConfig,
        out: Path,
        log: Callable[[str], None] = print,
        reuse: str | Path | None = None,
        rerun_changed: bool = False,
    ):
        from accelerate import PartialState

        from clearbench.train.loop import cpu_processes

        self.config, self.out = config, Path(out)
        self.state = PartialState(cpu=cpu_processes())
        self.log = log if self.state.is_main_process else (lambda line: None)
        self.data = config.data.source
        self.eval_tasks: list = []  # set by run() once the model is known
        self.holdout = None  # the holdout people (data.holdout.HoldoutPlan), set by check_data()
        # forget photos kept out of unlearning (data.heldout_photos.HeldoutPhotos), set by check_data()
        self.heldout_photos = None
        self.reuse = reuse  # a run (folder, export or Hub repo) whose target, gold and their logs to adopt
        self.rerun_changed = rerun_changed  # redo jobs made by other code or settings (else refuse)
        self.failed: list[str] = []  # the names of the jobs that failed, once run() returns
        self.ran: set[str] = set()  # the keys of this run's jobs (the folder may hold others')

    # ---- the whole run ---------------------------------------------------------------------
    def run(self) -> Path:
        """The whole run, with the run's TOFU source, attention implementation and trackers."""
        from clearbench.data.load import tofu_source
        from clearbench.models.base import attention
        from clearbench.train import tracking

        config = self.config
        with (
            tofu_source(config.data.tofu_source),
            attention(config.model.attn_implementation, "config key 'model.attn_implementation'"),
            tracking.reporting(config.report_to, self.out / "tracking", where="config key 'report_to'"),
        ):
            if config.report_to:
                self.log(
                    f"[tracking] {', '.join(config.report_to)}: curves and metrics under {self.out / 'tracking'}"
                )
            return self._run()

    def _run(self) -> Path:
        # Everything that can be checked without writing is checked first, so that a refused command
        # leaves --out as it was (and the corrected command is not refused for a half-made --out).
        self._check_out()
        self._check_jobs()
        adapter = self._check_model()
        self.eval_tasks = eval_tasks(self.config, has_vision=adapter is None or adapter.has_vision)
        if self.config.data.source != "synthetic":
            from clearbench.data.load import check_source_exists

            check_source_exists(self.config.data.source, self.config.data.revision)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.state.is_main_process:
                atomic.clean_leftovers(self.out)  # temporaries of a killed earlier run
            self._record_config()
            self._stage("data", self.prepare_data)
            from clearbench.data.load import dataset_revision

            self.data_revision = dataset_revision(self.data, self.config.data.revision)
            if self.state.is_main_process:
                atomic.write_json(self.out / "run.json", self._environment())
            if self.reuse is not None:
                self._stage("reuse", self.adopt_references)
            executor = self._executor()
            try:
                runs = self._stage("train", lambda: self.train_all(executor))
                self._stage("eval", lambda: self.evaluate_all(executor, runs))
                self._stage("metrics", lambda: self.metrics_all(runs))
                if self.config.attack.attacks:
                    self._stage("attacks", lambda: self.attack_all(executor, runs))
            finally:
                getattr(executor, "close", lambda: None)()
            return self._stage("report", lambda: self.report(runs))
        except Exception as error:
            failure = atomic.output_failure(error)
            if failure is None:
                raise
            raise self._stopped(error, failure) from None

    def _stopped(self, error: BaseException, failure: OSError) -> UserError:
        """The one-line error of a run stopped because its outputs cannot be written."""
        what = str(error) if isinstance(error, UserError) else f"cannot write under {self.out}: "
        if not isinstance(error, UserError):
            what += atomic.reason(failure)
        if failure.errno in atomic.DISK_FULL or failure.errno == errno.EIO:
            fix = "free some space"
        else:
            fix = f"make {self.out} writable"
        return UserError(
            f"{what}; the run stopped, completed stages are kept: {fix} and re-run the same command to resume"
        )

    def _check_out(self) -> None:
        """--out must be (or become) a directory: not a file, not a broken symbolic link."""
        out = self.out
        if out.is_symlink() and not out.exists():
            raise UserError(f"--out {out} is a broken symbolic link (to {os.readlink(out)})")
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} exists and is not a directory")
        for parent in out.absolute().parents:
            if parent.is_symlink() and not parent.exists():
                raise UserError(f"--out {out}: {parent} is a broken symbolic link (to {os.readlink(parent)})")
            if parent.exists():
                if not parent.is_dir():
                    raise UserError(f"--out {out}: {parent} exists and is not a directory")
                break

    def _check_jobs(self) -> None:
        """Ray, when asked for, is installed and its cluster reachable (before anything is written)."""
        jobs = self.config.jobs
        if not (jobs.workers or jobs.ray_address):
            return
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UserError("jobs.workers / --ray-address need Ray: pip install 'clearbench[ray]'") from None
        if jobs.ray_address:
            from clearbench.jobs.executors import check_reachable

            check_reachable(jobs.ray_address)

    def _check_model(self):
        """The model's adapter (an unknown model is refused here, before anything is written)."""
        from clearbench.models import registry
        from clearbench.train.steps import TINY_PRESET

        if self.config.model.name == TINY_PRESET:
            return None
        return registry.adapter_for(
            self.config.model.name, trust_remote_code=self.config.model.trust_remote_code
        )

    def _stage(self, name: str, work: Callable):
        started = time.perf_counter()
        result = work()
        self.log(f"[{name}] done in {time.perf_counter() - started:.1f}s")
        return result

    def _record_config(self) -> None:
        """Save the resolved config once; refuse to resume a run made with different settings."""
        resolved = self.config.to_dict()
        path = self.out / "config.yaml"
        if path.exists():
            try:
                previous = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                raise UserError(
                    f"{path} cannot be read ({type(error).__name__}); it is not a clearbench run's "
                    "config: use another --out"
                ) from None
            if not isinstance(previous, dict):
                raise UserError(f"{path} is not a clearbench run's config; use another --out")
            if _results_part(previous) != _results_part(resolved):
                changed = sorted(k for k in _results_part(resolved) if previous.get(k) != resolved[k])
                raise UserError(
                    f"{self.out} holds a run made with a different config (sections "
                    f"{', '.join(changed)} differ); use another --out to keep both"
                )
        elif self.state.is_main_process:
            atomic.write_text(path, yaml.safe_dump(resolved, sort_keys=False))
        # Every process meets here, also one that finds the file the main process just wrote:
        # a skipped barrier pairs each later one with the wrong step of the other processes.
        self.state.wait_for_everyone()

    # ---- stages ---------------------------------------------------------------------------
    def prepare_data(self) -> str:
        if self.config.data.source == "synthetic":
            from clearbench.data import synth

            target = self.out / "data"
            if self.state.is_main_process and not (target / "README.md").exists():
                synth.generate(
                    target,
                    persons=self.config.data.persons,
                    seed=self.config.data.seed,
                    image_size=self.config.data.image_size,
                    density=synth_density(self.config.data),
                )
            self.state.wait_for_everyone()
            self.data = str(target)
        self.check_data()
        return self.data

    def check_data(self) -> None:
        """Load every config the run will use: each is validated as it loads (bad images, empty or
        overlong text, missing columns), so bad data stops the run now rather than after hours of
        training. Later stages' loads of the same configs are not validated again."""
        from clearbench.data.load import load_split, quiet

        config = self.config
        needed = ["full+tofu", f"{config.retain_split}+tofu", *config.finetune.replay]
        if config.model.pretrain:
            needed.insert(0, "pretraining")
        for forget in [config.forget_split, *config.requests]:
            needed += [f"{retain_split(forget)}+tofu"]
            needed += [forget_config(forget, modality) for modality in config.unlearn.modalities]
        with quiet():
            self.holdout = self._plan_holdout()
            self.check_people()
            self.heldout_photos = self._plan_heldout_photos()
            needed += [self._eval_config(task) for task in self.eval_tasks]
            for name in dict.fromkeys(needed):
                load_split(self.data, name, config.data.revision)

    def _eval_config(self, task) -> str:
        """The source config an evaluation task reads (derived rows: the config they come from)."""
        from clearbench.data.heldout_photos import eval_config

        if self.holdout.derived and task.holdout:
            return "tofu_full" if task.text_only else "full"
        if self.heldout_photos is not None and task.forget and not task.text_only:
            return eval_config(self.config.forget_split)
        if task.unseen:
            self._check_unseen_config(task.config(self.config.forget_split))
        return task.config(self.config.forget_split)

    def _check_unseen_config(self, name: str) -> None:
        """Unseen photos asked of a source without them: say what to do instead."""
        from clearbench.data.load import list_configs

        if name not in list_configs(self.data):
            raise UserError(
                f"eval.unseen_photos: data source '{self.data}' has no config '{name}' (new photos no model "
                "trained on; only the synthetic world has them): leave eval.unseen_photos off, or set "
                "data.heldout_forget_photos to hold part of each forget person's photos out of unlearning"
            )

    def check_people(self) -> None:
        """Each split the run forgets holds at least `data.min_people` forget, holdout and retain
        people, and each request forgets someone the one before did not: refused before training."""
        from clearbench.data.load import load_split

        config, least = self.config, self.config.data.min_people
        where = f"data source '{self.data}'"
        earlier: set[str] = set()
        for split in config.requests or [config.forget_split]:
            forget, retain = (
                _people(load_split(self.data, name, config.data.revision))
                for name in (split, retain_split(split))
            )
            if forget is None:
                return  # a source without names: its people cannot be counted
            counts = {
                split: len(forget),
                "holdout": len(self.holdout.people),
                retain_split(split): len(retain or ()),
            }
            if min(counts.values()) < least:
                shown = ", ".join(f"{n} in {name}" for name, n in counts.items())
                raise UserError(
                    f"forget split {split} of {where}: {shown}; each needs at least {least} people "
                    "(data.min_people; statistics are over people): use a larger world or forget split"
                )
            if config.requests and not forget - earlier:
                raise UserError(
                    f"requests {config.requests} of {where}: {split} holds no one the request before it "
                    f"does not ({len(forget)} people in both); each request must forget new people"
                )
            earlier = forget

    def _plan_holdout(self):
        """The run's holdout people: the source's own, or people withheld from training (recorded)."""
        from clearbench.data.holdout import plan_holdout

        data = self.config.data
        return plan_holdout(
            self.data,
            self.config.forget_split,
            data.revision,
            count=data.holdout_count,
            seed=self.config.seeds.train[0],
            people=data.holdout_people,
        )

    def _plan_heldout_photos(self):
        """The forget photos kept out of unlearning (None without data.heldout_forget_photos), each
        unlearned forget config checked to hold them, before any training."""
        from clearbench.data.heldout_photos import check_unlearned_config, plan_heldout_photos

        config = self.config
        share = config.data.heldout_forget_photos
        if share is None:
            return None
        seed, revision = config.seeds.train[0], config.data.revision
        plan = plan_heldout_photos(self.data, config.forget_split, share, seed, revision)
        for split in dict.fromkeys([config.forget_split, *config.requests]):
            for modality in config.unlearn.modalities:
                if modality != "text":  # the text forget set has no photos
                    check_unlearned_config(plan, self.data, split, forget_config(split, modality), revision)
        return plan

    def _heldout(self, modality: str | None = None) -> dict:
        """What a job's spec says of the held-out forget photos (nothing without them, and nothing for
        unlearning the text half alone, whose forget set has no photos)."""
        share = self.config.data.heldout_forget_photos
        if share is None or modality == "text":
            return {}
        spec = {"share": share, "seed": self.config.seeds.train[0], "forget_split": self.config.forget_split}
        return {"heldout_photos": spec}

    def _withhold(self) -> dict:
        """What a training job's spec says of the withheld people (nothing when the source has its own)."""
        if self.holdout is None or not self.holdout.derived:
            return {}
        return {"withhold": list(self.holdout.people), "forget_split": self.config.forget_split}

    def adopt_references(self) -> None:
        """Target, gold (and base) and their eval logs from the --reuse run, checked to be the same."""
        from clearbench.run.reuse import adopt_reference_models

        if self.state.is_main_process:
            adopted = adopt_reference_models(self.reuse, self.out, self.config.to_dict(), self.data_revision)
            self.log(f"[reuse] adopted {', '.join(adopted['models'])} from {self.reuse}")
        self.state.wait_for_everyone()

    def plan_training(self) -> list[ModelRun]:
        """The models to train, as jobs: base, target and gold per training seed, each method per
        (training seed, unlearning seed, modality). Names carry seeds only when there are several."""
        from clearbench.train.options import TrainOptions

        config, seeds = self.config, self.config.seeds
        model: str | dict = config.model.name
        runs: list[ModelRun] = []
        if config.model.pretrain:
            base = self._job(
                "finetune",
                "base",
                model=model,
                split="pretraining",
                seed=seeds.train[0],
                options=asdict(settings.narrow(config.pretrain, TrainOptions)),
            )
            runs.append(ModelRun("base", "base", base, train_seed=seeds.train[0]))
            model = {"job": base.key}
        finetune_options = asdict(settings.narrow(config.finetune, TrainOptions))
        # One-shot unlearning of the forget split; with `requests`, also each request in turn, every
        # step from the model of the step before (the last request is the forget split: the union).
        schedules = [[config.forget_split]] + ([config.requests] if config.requests else [])
        for train_seed in seeds.train:
            name = "target" + self._seed_suffix(train_seed)
            target = self._job(
                "finetune", name, model=model, split=self._with_replay("full+tofu"), seed=train_seed,
                options=finetune_options, **self._withhold(),
            )  # fmt: skip
            runs.append(ModelRun(name, "target", target, train_seed=train_seed))
            for forget in dict.fromkeys([config.forget_split, *config.requests]):
                request = None if forget == config.forget_split else forget
                name = "gold" + _request_label(request) + self._seed_suffix(train_seed)
                split = self._with_replay(f"{retain_split(forget)}+tofu")
                job = self._job(
                    "finetune", name, model=model, split=split, seed=train_seed, options=finetune_options,
                    **self._withhold(),
                )  # fmt: skip
                runs.append(
                    ModelRun(name, "gold", job, train_seed=train_seed, forget_split=forget, request=request)
                )
            for unlearn_seed in seeds.unlearn:
                runs += self._unlearning(target, train_seed, unlearn_seed, schedules)
        return runs

    def _unlearning(self, target: Job, train_seed: int, unlearn_seed: int, schedules) -> list[ModelRun]:
        """Each method × modality × grid point from `target`: one-shot, and along the requests."""
        from clearbench.train.options import UnlearnOptions

        section, runs = self.config.unlearn, []
        for modality, method in itertools.product(section.modalities, section.methods):
            label = method_name(method)  # a file.py:Class method is named by its class
            label = label if section.modalities == ["both"] else f"{label}@{modality}"
            for point in sweep.points(section.grid.get(method, {})):
                options, hparams = sweep.apply(section, method, point)
                for schedule in schedules:
                    source, earlier = target, None
                    for forget in schedule:
                        request = forget if schedule is not schedules[0] else None
                        name = label + sweep.label(point) + _request_label(request)
                        job = self._job(
                            "unlearn",
                            name + self._seed_suffix(train_seed, unlearn_seed),
                            model={"job": source.key},
                            forget=forget_config(forget, modality),
                            retain=f"{retain_split(forget)}+tofu",
                            method=method,
                            method_code=source_digest(resolve_method(method)),
                            options=asdict(settings.narrow(options, UnlearnOptions)),
                            hparams=hparams,
                            seed=unlearn_seed,
                            **({"earlier": forget_config(earlier, modality)} if earlier else {}),
                            **({"trajectory": True} if section.trajectory else {}),
                            **self._withhold(),
                            **self._heldout(modality),
                        )
                        runs.append(
                            ModelRun(
                                job.name, "unlearned", job, method, modality, train_seed, unlearn_seed,
                                final_point(point, options), forget_split=forget, request=request,
                            )
                        )  # fmt: skip
                        source, earlier = job, forget
        return runs

    def train_all(self, executor) -> list[ModelRun]:
        runs = self.plan_training()
        states = self._run_jobs(executor, [run.job for run in runs])
        runs += self._snapshots(runs, states)
        for run in runs:
            state = states[run.job.key]
            result = state.get("result") or {}
            if state["state"] == "failed":
                run.status, run.error = "failed", state.get("reason")
            else:
                run.status, run.error = result.get("status", "completed"), result.get("reason")
            if run.kind != "unlearned" and run.status != "completed":
                raise UserError(f"{run.name} could not be trained: {run.error}")
            if run.kind == "unlearned":
                self.log(f"[unlearn] {run.name}: {run.status}" + (f" ({run.error})" if run.error else ""))
        unlearned = [run for run in runs if run.kind == "unlearned"]
        counts = {s: sum(run.status == s for run in unlearned) for s in ("completed", "diverged", "failed")}
        self.log("[unlearn] " + ", ".join(f"{count} {status}" for status, count in counts.items()))
        return runs

    def _snapshots(self, runs: list[ModelRun], states: dict) -> list[ModelRun]:
        """One more model per saved epoch of each unlearning run with a trajectory: a sweep point
        (`epoch`) beside the run's final model."""
        from clearbench.train.unlearn import SNAPSHOTS

        found = []
        for run in runs:
            if not (run.job.spec.get("trajectory") and states[run.job.key]["state"] == "done"):
                continue
            folder = run.job.output(self.out) / SNAPSHOTS
            epochs = (
                sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []
            )
            base, _, seeds = run.name.partition("~")
            for epoch in epochs:
                point = {**(run.point or {}), "epoch": epoch}
                name = f"{base.split('[')[0]}{sweep.label(point)}{_request_label(run.request)}"
                snapshot = replace(run, name=name + (f"~{seeds}" if seeds else ""), point=point)
                snapshot.snapshot = f"{SNAPSHOTS}/{epoch}"
                found.append(snapshot)
        return found

    def evaluate_all(self, executor, runs: list[ModelRun]) -> None:
        ready = [run for run in runs if run.status == "completed"]
        for run in ready:
            run.evaluation = self._evaluation(run)
        states = self._run_jobs(executor, [run.evaluation for run in ready])
        for run in ready:
            state = states[run.evaluation.key]
            if state["state"] == "failed":
                if run.kind != "unlearned":
                    raise UserError(f"{run.name} could not be evaluated: {state.get('reason')}")
                run.status, run.error = "failed", f"evaluation: {state.get('reason')}"

    def _evaluation(self, run: ModelRun) -> Job:
        from clearbench.evaluate.options import job_spec

        section, heldout = self.config.eval, self._heldout()
        named = section.unseen_photos or bool(heldout)
        return self._job(
            "evaluate",
            f"eval {run.name}",
            model={"job": run.job.key, **({"path": run.snapshot} if run.snapshot else {})},
            forget_split=run.forget_split or self.config.forget_split,
            # Unseen photos name their tasks, so that existing evaluations keep their key.
            tasks=[task.name for task in self.eval_tasks] if named else section.tasks,
            holdout=self._withhold().get("withhold"),
            **heldout,
            **job_spec(section),
        )

    def metrics_all(self, runs: list[ModelRun]) -> None:
        """Each model's metrics against the gold of its training seed. A model that is the only seed
        run of its row gets bootstrap-over-people intervals; golds are also scored against each other
        (the noise floor of forget quality)."""
        from clearbench.evaluate.bootstrap import bootstrap_intervals
        from clearbench.evaluate.logs import read_eval
        from clearbench.evaluate.metrics import compute_metrics
        from clearbench.train import tracking

        if not self.state.is_main_process:
            return
        compat, resamples = self.config.eval.compat, self.config.eval.bootstrap
        golds = {
            (run.train_seed, run.forget_split): run
            for run in runs
            if run.kind == "gold" and self._evaluated(run)
        }
        gold_logs = {key: read_eval(self._eval_dir(run)) for key, run in golds.items()}
        # The base knows the world but not the people: the reference of the reference-model attack.
        bases = [run for run in runs if run.kind == "base" and self._evaluated(run)]
        reference = read_eval(self._eval_dir(bases[0])) if bases else None
        self._token_coverage(golds)
        sizes = {}
        for run in runs:
            sizes[run.group] = sizes.get(run.group, 0) + 1
        for run in runs:
            if run.status != "completed" or not self._evaluated(run):
                continue
            forget = run.forget_split or self.config.forget_split
            logs, gold = read_eval(self._eval_dir(run)), gold_logs.get((run.train_seed, forget))
            metrics = compute_metrics(logs, gold, compat=compat, reference=reference)
            tracking.log_final_metrics(run.name, metrics)
            if resamples and sizes[run.group] == 1:
                try:  # over people; too few people to draw from leaves the row without intervals
                    metrics["intervals"] = bootstrap_intervals(
                        logs, gold, compat=compat, resamples=resamples, reference=reference
                    )
                except UserError as error:
                    metrics["intervals"] = {"method": None, "values": {}, "reason": str(error)}
            if run.kind == "gold" and run.request is None:
                metrics["gold_vs_gold"] = {
                    golds[key].name: _forget_quality(compute_metrics(gold_logs[key], logs, compat=compat))
                    for key in golds
                    if key != (run.train_seed, forget) and golds[key].request is None
                }
            atomic.write_json(self.out / "metrics" / f"{run.name}.json", metrics)

    def _token_coverage(self, golds: dict) -> None:
        """Never-trained tokens of forget vs holdout rows under the first gold (data/coverage.py): a
        fair membership attack needs them equal; the report shows them."""
        from clearbench.data.coverage import gold_token_coverage

        key = (self.config.seeds.train[0], self.config.forget_split)
        if key not in golds or (self.out / "token_coverage.json").exists():
            return
        trained = [f"{self.config.retain_split}+tofu", *self.config.finetune.replay]
        trained += ["pretraining"] if self.config.model.pretrain and "pretraining" not in trained else []
        checkpoint = str(golds[key].job.output(self.out))
        coverage = gold_token_coverage(
            checkpoint, self.data, self.config.data.revision, self.config.forget_split, trained
        )
        atomic.write_json(self.out / "token_coverage.json", coverage)

    def attack_all(self, executor, runs: list[ModelRun]) -> None:
        """Every configured attack on target, gold and each one-shot unlearned model: one job per
        model (its attacked models and logs under `attacks/`), then the scores (`attacks/records.json`)."""
        from clearbench.attacks.base import Source
        from clearbench.attacks.options import AttackOptions
        from clearbench.attacks.stage import score

        if self.state.num_processes > 1:  # relearning starts an accelerator of its own
            self.log("[attacks] skipped under a multi-process launch; run `clearbench attack` on the models")
            return
        section = self.config.attack
        options = settings.narrow(section, AttackOptions)
        chosen = [run for run in runs if run.status == "completed" and _attacked(run)]
        jobs = [self._attack(run) for run in chosen]
        states = self._run_jobs(executor, jobs)
        for job in jobs:
            if states[job.key]["state"] == "failed":
                self.log(f"[attacks] {job.name}: failed ({states[job.key].get('reason')})")
                self.failed.append(job.name)
        sources = [
            Source(run.name, run.kind, run.job.output(self.out), run.method, group=run.train_seed)
            for run in chosen
        ]
        if sources:
            score(self.out, sources, section.attacks, options)

    def _attack(self, run: ModelRun) -> Job:
        from clearbench.attacks.options import AttackOptions
        from clearbench.evaluate.options import job_spec

        section, evaluation = self.config.attack, self.config.eval
        return self._job(
            "attack",
            f"attack {run.name}",
            model={"job": run.job.key},
            model_name=run.name,
            model_kind=run.kind,
            method=run.method,
            group=run.train_seed,
            attacks=section.attacks,
            options=asdict(settings.narrow(section, AttackOptions)),
            eval={"tasks": evaluation.tasks, **job_spec(evaluation)},
            seed=self.config.seeds.unlearn[0],
            forget_split=self.config.forget_split,
            **self._clean_logs(run),
        )

    def _clean_logs(self, run: ModelRun) -> dict:
        """The run's evaluation of `run`, as an attack job's spec names it, when it asked the forget
        tasks exactly as the attacks' clean variant asks them (the same split and rows, and the only
        evaluation settings an attack takes); nothing otherwise."""
        from clearbench.evaluate.options import EvalOptions, job_spec

        section = self.config.eval
        attacks_ask = EvalOptions(
            batch_size=section.batch_size, max_new_tokens=section.max_new_tokens, seed=section.seed
        )
        same = (
            job_spec(section) == job_spec(attacks_ask)
            and not self._heldout()
            and not self._withhold()
            and (run.forget_split or self.config.forget_split) == self.config.forget_split
        )
        return {"clean": {"job": self._evaluation(run).key}} if same else {}

    def plan_all(self) -> list[Job]:
        """Every job a run of this config in --out makes, as if each succeeds: what `clearbench jobs`
        counts for a run that stopped before planning all of them. Needs the run's data and run.json."""
        import json

        from clearbench.jobs.job import read_state

        if self.config.data.source == "synthetic":
            self.data = str(self.out / "data")
        self.data_revision = json.loads((self.out / "run.json").read_text(encoding="utf-8"))["data_revision"]
        self.holdout = self._plan_holdout()
        # The evaluations name their tasks when unseen photos are asked: the same list as run() makes.
        adapter = self._check_model()
        self.eval_tasks = eval_tasks(self.config, has_vision=adapter is None or adapter.has_vision)
        runs = self.plan_training()
        runs += self._snapshots(runs, {run.job.key: read_state(self.out, run.job.key) for run in runs})
        jobs = [run.job for run in runs] + [self._evaluation(run) for run in runs]
        if self.config.attack.attacks:
            jobs += [self._attack(run) for run in runs if _attacked(run)]
        return list({job.key: job for job in jobs}.values())

    def report(self, runs: list[ModelRun]) -> Path:
        from clearbench.report import ReportEntry, build_report
        from clearbench.report.provenance import read_provenance
        from clearbench.report.run_dir import read_attacks, read_entries, write_runs

        report_dir = self.out / "report"
        self.failed[:0] = [run.name for run in runs if run.status == "failed"]
        if self.state.is_main_process:
            entries = [
                ReportEntry(
                    name=run.name,
                    kind=run.kind,
                    method=run.method,
                    modality=run.modality,
                    status=run.status,
                    error=run.error,
                    train_log=run.job.output(self.out) / "train_log.jsonl"
                    if run.kind == "unlearned"
                    else None,
                    group=run.group,
                    train_seed=run.train_seed,
                    unlearn_seed=run.unlearn_seed,
                    point=run.point or None,
                    request=run.request,
                    job=run.job.key,
                )
                for run in runs
            ]
            write_runs(self.out, entries)
            self._record_jobs()
            build_report(
                read_entries(self.out),
                report_dir,
                config=self.config.to_dict(),
                retain_fail_threshold=self.config.report.retain_fail_threshold,
                selection=self.config.selection,
                attacks=read_attacks(self.out),
                provenance=read_provenance(self.out),
            )
        self.state.wait_for_everyone()
        return report_dir

    # ---- helpers --------------------------------------------------------------------------
    def _record_jobs(self) -> None:
        """run.json gains each job's state, wall time and threads (as `clearbench jobs` shows them)."""
        import json

        from clearbench.jobs import job_states

        path = self.out / "run.json"
        if not path.is_file():  # stages called one by one (tests, tools), not through run()
            return
        info = json.loads(path.read_text(encoding="utf-8"))
        info["jobs"] = [
            {field: job.get(field) for field in ("name", "kind", "key", "state", "wall_s", "threads", "host")}
            for job in job_states(self.out)
            if job["key"] in self.ran
        ]
        atomic.write_json(path, info)

    def _environment(self) -> dict:
        """What a reader needs to reproduce the run: versions, seeds, the exact data, the machine."""
        return {
            "versions": versions(),
            "seeds": asdict(self.config.seeds),
            "threads": self.config.jobs.threads,
            "machine": machine(),
            "data_source": self.data,
            "data_revision": self.data_revision,
            "holdout": self.holdout.record(),
            **self._unseen_record(),
        }

    def _unseen_record(self) -> dict:
        """What the unseen-photo metrics measured in this run (run.json; the report repeats it)."""
        from clearbench.data.heldout_photos import MEASURES

        if self.heldout_photos is not None:
            return {"unseen_photos": self.heldout_photos.record()}
        if any(task.unseen for task in self.eval_tasks):
            return {"unseen_photos": {"how": "never seen", "measures": MEASURES["never seen"]}}
        return {}

    def _job(self, kind: str, name: str, **spec) -> Job:
        """A job of this run: its spec plus what every job shares (the data, exactly, and trust)."""
        shared = {
            "data": self.config.data.source,
            "data_revision": self.data_revision,
            "revision": self.config.data.revision,
            "trust_remote_code": self.config.model.trust_remote_code,
            "threads": self.config.jobs.threads,  # the numbers depend on it, and on these versions
            "software": computing_software(),
        }
        # Where the TOFU half is read from and which attention kernel runs: only when set, so the
        # jobs of a run without them keep their keys.
        for key, value in (
            ("tofu_source", self.config.data.tofu_source),
            ("attn_implementation", self.config.model.attn_implementation),
        ):
            if value is not None:
                shared[key] = value
        jobs = self.config.jobs
        return Job(kind, name, shared | spec, cpus=jobs.cpus or jobs.threads, gpus=jobs.gpus)

    def _run_jobs(self, executor, jobs: list[Job]) -> dict[str, dict]:
        """Run `jobs`, after refusing (unless --rerun-changed) to silently redo those whose earlier
        result in this folder was made by other code or settings."""
        from clearbench.jobs.job import changed

        redo = changed(jobs, self.out)
        if redo:
            names = {job.key: job.name for job in jobs}
            why = _counted(redo.values())
            if not self.rerun_changed:
                shown = ", ".join(names[key] for key in list(redo)[:5]) + (", …" if len(redo) > 5 else "")
                raise UserError(
                    f"{self.out} holds {len(redo)} finished jobs made by other code or settings ({why}): "
                    f"{shown}; re-run with --rerun-changed to redo them, or use another --out"
                )
            self.log(f"[jobs] redoing {len(redo)} jobs made by other code or settings ({why})")
        self.ran.update(job.key for job in jobs)
        return executor.run(jobs, self.out)

    def _seed_suffix(self, train_seed: int, unlearn_seed: int | None = None) -> str:
        """`~t1` / `~t1u0` when the run has several seeds of that kind, so one-seed names stay plain."""
        seeds = self.config.seeds
        suffix = f"t{train_seed}" if len(seeds.train) > 1 else ""
        if unlearn_seed is not None and len(seeds.unlearn) > 1:
            suffix += f"u{unlearn_seed}"
        return f"~{suffix}" if suffix else ""

    def _executor(self):
        from clearbench.jobs.executors import InProcess, RayExecutor

        jobs = self.config.jobs
        if not jobs.workers and not jobs.ray_address:
            return InProcess(self.log)
        if self.state.num_processes > 1:
            raise UserError("jobs.workers / jobs.ray_address cannot be used under accelerate launch")
        return RayExecutor(
            workers=jobs.workers or None,
            address=jobs.ray_address,
            log=self.log,
            job_cpus=jobs.cpus or jobs.threads,
        )

    def _with_replay(self, split: str) -> str:
        return ",".join([split, *self.config.finetune.replay])

    def _eval_dir(self, run: ModelRun) -> Path:
        return run.evaluation.output(self.out)

    def _evaluated(self, run: ModelRun) -> bool:
        return run.evaluation is not None and (self._eval_dir(run) / "summary.json").exists()
