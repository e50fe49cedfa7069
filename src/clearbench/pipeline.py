"""`clearbench run`: data → base → target / gold → unlearn each method → evaluate → metrics → report.

Every stage writes its output atomically and skips itself when that output is complete, so a killed
run resumes where it stopped. Under `accelerate launch`, training stages use every process; the
evaluations are independent, so each process evaluates its own share of the models.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from clearbench import atomic, settings
from clearbench.config import RunConfig, forget_config
from clearbench.errors import UserError
from clearbench.versions import versions


@dataclass
class ModelRun:
    """One model that gets evaluated: its checkpoint, and how it came to be."""

    name: str
    kind: str  # base | target | gold | unlearned
    path: Path
    method: str | None = None
    modality: str | None = None
    status: str = "completed"  # completed | diverged | failed
    error: str | None = None
    train_log: Path | None = None


class Pipeline:
    def __init__(self, config: RunConfig, out: Path, log: Callable[[str], None] = print):
        from accelerate import PartialState

        from clearbench.train.loop import cpu_processes

        self.config, self.out = config, Path(out)
        self.state = PartialState(cpu=cpu_processes())
        self.log = log if self.state.is_main_process else (lambda line: None)
        self.data = config.data.source
        self.eval_tasks: list = []  # set by run() once the model is known

    # ---- the whole run ---------------------------------------------------------------------
    def run(self) -> Path:
        # Everything that can be checked without writing is checked first, so that a refused command
        # leaves --out as it was (and the corrected command is not refused for a half-made --out).
        from clearbench.evaluate.tasks import select_tasks

        self._check_out()
        adapter = self._check_model()
        has_vision = adapter is None or adapter.has_vision
        self.eval_tasks = select_tasks(self.config.eval.tasks, has_vision=has_vision)
        if self.config.data.source != "synthetic":
            from clearbench.data.load import check_source_exists

            check_source_exists(self.config.data.source, self.config.data.revision)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.state.is_main_process:
                atomic.clean_leftovers(self.out)  # temporaries of a killed earlier run
            self._record_config()
            self._stage("data", self.prepare_data)
            if self.state.is_main_process:
                atomic.write_json(self.out / "run.json", self._environment())
            base = self._stage("base", self.train_base)
            target = self._stage(
                "target", lambda: self.finetune("target", base, self._with_replay("full+tofu"))
            )
            gold = self._stage(
                "gold",
                lambda: self.finetune("gold", base, self._with_replay(f"{self.config.retain_split}+tofu")),
            )
            runs = [ModelRun("target", "target", target), ModelRun("gold", "gold", gold)]
            if self.config.model.pretrain:
                runs.insert(0, ModelRun("base", "base", base))
            runs += self._stage("unlearn", lambda: self.unlearn_all(target))
            self._stage("eval", lambda: self.evaluate_all(runs))
            self._stage("metrics", lambda: self.metrics_all(runs))
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
            if previous != resolved:
                changed = sorted(k for k in resolved if previous.get(k) != resolved[k])
                raise UserError(
                    f"{self.out} holds a run made with a different config (sections "
                    f"{', '.join(changed)} differ); use another --out to keep both"
                )
            return
        if self.state.is_main_process:
            atomic.write_text(path, yaml.safe_dump(resolved, sort_keys=False))
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
        needed += [forget_config(config.forget_split, modality) for modality in config.unlearn.modalities]
        needed += [task.config(config.forget_split) for task in self.eval_tasks]
        with quiet():
            for name in dict.fromkeys(needed):
                load_split(self.data, name, config.data.revision)

    def train_base(self) -> str:
        if not self.config.model.pretrain:
            return self.config.model.name
        return str(self.finetune("base", self.config.model.name, "pretraining", section=self.config.pretrain))

    def finetune(self, name: str, model: str | Path, split: str, section=None) -> Path:
        from clearbench.train.finetune import finetune
        from clearbench.train.options import TrainOptions

        out = self.out / "models" / name
        options = settings.narrow(section or self.config.finetune, TrainOptions)
        finetune(str(model), self.data, split, out, options, **self._model_options())
        return out

    def unlearn_all(self, target: Path) -> list[ModelRun]:
        from clearbench.train.options import UnlearnOptions
        from clearbench.train.unlearn import unlearn

        section = self.config.unlearn
        runs = []
        for modality in section.modalities:
            for method in section.methods:
                name = method if section.modalities == ["both"] else f"{method}@{modality}"
                out = self.out / "models" / "unlearn" / name
                run = ModelRun(name, "unlearned", out, method, modality, train_log=out / "train_log.jsonl")
                try:
                    result = unlearn(
                        str(target),
                        self.data,
                        forget_config(self.config.forget_split, modality),
                        f"{self.config.retain_split}+tofu",
                        method,
                        out,
                        settings.narrow(section, UnlearnOptions),
                        hparams=section.hparams.get(method, {}),
                        **self._model_options(),
                    )
                    run.status = result.get("status", "completed")
                    run.error = result.get("reason")
                except Exception as error:  # one broken method must not stop the others
                    if atomic.output_failure(error) is not None:
                        raise  # a full disk or an unwritable --out stops every method alike
                    run.status, run.error = "failed", f"{type(error).__name__}: {error}"
                self.log(f"[unlearn] {name}: {run.status}" + (f" ({run.error})" if run.error else ""))
                runs.append(run)
        counts = {
            status: sum(run.status == status for run in runs)
            for status in ("completed", "diverged", "failed")
        }
        self.log("[unlearn] " + ", ".join(f"{count} {status}" for status, count in counts.items()))
        return runs

    def evaluate_all(self, runs: list[ModelRun]) -> None:
        from clearbench.evaluate.runner import evaluate_model

        section = self.config.eval
        ready = [run for run in runs if run.status == "completed"]
        for run in ready[self.state.process_index :: self.state.num_processes]:
            try:
                evaluate_model(
                    run.path,
                    self.data,
                    self.config.forget_split,
                    self._eval_dir(run),
                    tasks=section.tasks,
                    max_rows=section.max_rows,
                    batch_size=section.batch_size,
                    max_new_tokens=section.max_new_tokens,
                    seed=section.seed,
                    revision=self.config.data.revision,
                )
            except Exception as error:
                if atomic.output_failure(error) is not None:
                    raise
                if isinstance(error, UserError) and run.kind != "unlearned":
                    raise
                run.status, run.error = "failed", f"evaluation: {type(error).__name__}: {error}"
        self.state.wait_for_everyone()

    def metrics_all(self, runs: list[ModelRun]) -> None:
        from clearbench.evaluate.logs import read_eval
        from clearbench.evaluate.metrics import compute_metrics

        if not self.state.is_main_process:
            return
        gold = next(run for run in runs if run.kind == "gold")
        gold_logs = read_eval(self._eval_dir(gold)) if self._evaluated(gold) else None
        for run in runs:
            if run.status != "completed" or not self._evaluated(run):
                continue
            metrics = compute_metrics(
                read_eval(self._eval_dir(run)), gold_logs, compat=self.config.eval.compat
            )
            atomic.write_json(self.out / "metrics" / f"{run.name}.json", metrics)

    def report(self, runs: list[ModelRun]) -> Path:
        from clearbench.report import ReportEntry, build_report
        from clearbench.report.run_dir import read_entries, write_runs

        report_dir = self.out / "report"
        if self.state.is_main_process:
            entries = [
                ReportEntry(
                    name=run.name,
                    kind=run.kind,
                    method=run.method,
                    modality=run.modality,
                    status=run.status,
                    error=run.error,
                    train_log=run.train_log,
                )
                for run in runs
            ]
            write_runs(self.out, entries)
            build_report(
                read_entries(self.out),
                report_dir,
                config=self.config.to_dict(),
                retain_fail_threshold=self.config.report.retain_fail_threshold,
            )
        self.state.wait_for_everyone()
        return report_dir

    # ---- helpers --------------------------------------------------------------------------
    def _environment(self) -> dict:
        """What a reader needs to reproduce the run: versions, seeds, the exact data."""
        from clearbench.data.load import dataset_revision

        return {
            "versions": versions(),
            "seed": self.config.seed,
            "data_source": self.data,
            "data_revision": dataset_revision(self.data, self.config.data.revision),
        }

    def _model_options(self) -> dict:
        """What every training stage of the run shares: the seed and where the model comes from."""
        return {
            "seed": self.config.seed,
            "revision": self.config.data.revision,
            "trust_remote_code": self.config.model.trust_remote_code,
        }

    def _with_replay(self, split: str) -> str:
        return ",".join([split, *self.config.finetune.replay])

    def _eval_dir(self, run: ModelRun) -> Path:
        return self.out / "evals" / run.name

    def _evaluated(self, run: ModelRun) -> bool:
        return (self._eval_dir(run) / "summary.json").exists()
