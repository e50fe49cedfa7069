"""`clearbench export RUN_DIR OUT`: a run's reference artefacts as a folder to share.

    OUT/README.md                 the repository's card: what is inside, the data, the leaderboard
    OUT/config.yaml, run.json     the run's resolved config and record (versions, data revision)
    OUT/runs.json, metrics/       every evaluated model and its metrics
    OUT/report/                   leaderboard (markdown, CSV), plots, HTML report
    OUT/jobs/KEY/output/          the base, target and gold checkpoints, each with its model card
    OUT/jobs/KEY/output/          (evaluation jobs) their eval logs, one JSON per task

The folder keeps the run's own layout (`jobs/KEY/` as the run wrote it), so `clearbench run --reuse
OUT` (or the Hub repository it is uploaded to) reads it like the run itself. Everything is a plain
file, so `huggingface_hub.upload_folder` uploads it as it is; `push_to_hub` does that.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from clearbench import files
from clearbench.data.split_names import retain_split
from clearbench.errors import UserError
from clearbench.run.reuse import ReferenceJob, read_run, reference_jobs

RUN_FILES = ("config.yaml", "run.json", "runs.json")
RUN_FOLDERS = ("metrics", "report")
ABOUT = {
    "base": "the tiny world's pretrained base: what a real VLM would already know",
    "target": "fine-tuned on every fictitious person (`full+tofu`): the model to unlearn from",
    "gold": "fine-tuned on the retained people only (`{retain}+tofu`): it never saw the forget set, so "
    "it is what unlearning aims at",
}


def export_run(run_dir: Path, out: Path) -> Path:
    """Write the shareable folder of the finished run `run_dir` to `out` (a new or empty folder)."""

    run_dir, out = Path(run_dir), Path(out)
    config, record = read_run(run_dir)
    jobs = reference_jobs(run_dir)
    if not jobs:
        raise UserError(f"{run_dir}: no finished base, target or gold model to export")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder; choose another OUT")
    files.refuse_input(out, [run_dir], "OUT")
    tmp = out.with_name(f".{out.name}.exporting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _export_into(run_dir, tmp, jobs, config, record)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out


def _export_into(run_dir: Path, tmp: Path, jobs: list[ReferenceJob], config: dict, record: dict) -> None:
    """Every exported file copied from inside `run_dir`: a link out of it is refused, never followed
    (the folder may be uploaded), and `loop_state*` (training's resumable state) left out."""
    from clearbench.jobs.job import JOBS

    for name in RUN_FILES:
        files.require_inside(run_dir, run_dir / name, "export")
        shutil.copy2(run_dir / name, tmp / name)
    for name in RUN_FOLDERS:
        if (run_dir / name).is_dir():
            files.copy_tree(files.require_inside(run_dir, run_dir / name, "export"), tmp / name)
    for job in jobs:
        for key in [job.key] + ([job.eval_key] if job.eval_key else []):
            (tmp / JOBS).mkdir(exist_ok=True)
            job_dir = files.require_inside(run_dir, run_dir / JOBS / key, "export")
            files.copy_tree(job_dir, tmp / JOBS / key, skip=lambda name: name.startswith("loop_state"))
        metrics = _metrics(run_dir, job.name)
        (tmp / JOBS / job.key / "output" / "README.md").write_text(
            model_card(job, config, record, metrics), encoding="utf-8"
        )
    (tmp / "README.md").write_text(repository_card(run_dir, jobs, config, record), encoding="utf-8")


def _metrics(run_dir: Path, name: str) -> dict:
    path = run_dir / "metrics" / f"{name}.json"
    return files.read_json_object(files.require_inside(run_dir, path)) if path.is_file() else {}


def _card_data(config: dict, record: dict):
    from huggingface_hub import ModelCardData

    source, model = (
        str(config.get("data", {}).get("source", "")),
        str(config.get("model", {}).get("name", "")),
    )
    hub = lambda name: name.count("/") == 1 and not name.startswith((".", "/", "~"))  # noqa: E731
    return ModelCardData(
        library_name="transformers",
        tags=["clearbench", "machine-unlearning", "CLEAR", "multimodal"],
        datasets=[source] if hub(source) else None,
        base_model=model if hub(model) else None,
    )


def model_card(job: ReferenceJob, config: dict, record: dict, metrics: dict) -> str:
    """The card of one reference checkpoint: what it is, how it was trained, on which data, its metrics."""
    retain = retain_split(config.get("forget_split", "forget10"))
    section = config.get("pretrain" if job.kind == "base" else "finetune", {})
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    lines = [
        f"# {job.name}: the {job.kind} model of a CLEAR unlearning benchmark run",
        "",
        f"The {job.kind} model {ABOUT[job.kind].format(retain=retain)}. Made by clearbench "
        f"{record.get('versions', {}).get('clearbench', '')} (`clearbench run`); `clearbench run --reuse` "
        "takes it, with its eval logs, instead of training it again.",
        "",
        f"- data: `{config.get('data', {}).get('source')}` at revision `{record.get('data_revision')}`",
        f"- model: `{config.get('model', {}).get('name')}`; seeds: {config.get('seeds', {}).get('train')}",
        f"- training: epochs {section.get('epochs')}, learning rate {section.get('learning_rate')}, "
        f"batch {section.get('batch_size')} x {section.get('grad_accum')}, LoRA r {section.get('lora', {}).get('r')}",
        f"- job `{job.key}`; eval logs: " + (f"`jobs/{job.eval_key}/output/`" if job.eval_key else "none"),
    ]
    if numbers:
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {value:.4g} |" for key, value in sorted(numbers.items())]
    return _card(config, record, lines)


def _card(config: dict, record: dict, lines: list[str]) -> str:
    """A model card: huggingface_hub's metadata header, then `lines`; parsed back as a check."""
    from huggingface_hub import ModelCard

    text = f"---\n{_card_data(config, record).to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"
    return ModelCard(text).content


def repository_card(run_dir: Path, jobs: list[ReferenceJob], config: dict, record: dict) -> str:
    """The folder's own card: the models, where they are, how to reuse them, the leaderboard."""
    leaderboard = run_dir / "report" / "leaderboard.md"
    lines = [
        "# CLEAR unlearning benchmark: reference models and eval logs",
        "",
        f"Exported from a `clearbench run` on `{config.get('data', {}).get('source')}` (revision "
        f"`{record.get('data_revision')}`) with `{config.get('model', {}).get('name')}`.",
        "",
        "| model | kind | checkpoint | eval logs |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {job.name} | {job.kind} | `jobs/{job.key}/output/` | "
        + (f"`jobs/{job.eval_key}/output/` |" if job.eval_key else "none |")
        for job in jobs
    ]
    lines += [
        "",
        "Reuse them instead of training: `clearbench run --reuse THIS_FOLDER_OR_REPO` with the same data "
        "revision and the same `data`, `model`, `pretrain`, `finetune` settings (`config.yaml`).",
    ]
    if leaderboard.is_file() and files.inside(run_dir, leaderboard):
        text = files.read_bytes(leaderboard, files.MAX_JSON_BYTES).decode("utf-8", "replace")
        lines += ["", "## Leaderboard", "", text.strip()]
    return _card(config, record, lines)


def push_to_hub(folder: Path, repo: str, *, private: bool = True) -> str:
    """Upload an exported folder as it is to the Hub model repository `repo`; returns its URL."""
    from clearbench.data.load import hub_offline

    check_can_push(repo)
    if hub_offline():  # checked again: the folder may have been written offline
        raise UserError(f"--push-to-hub {repo}: HF_HUB_OFFLINE is set; upload needs the network")
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="model")
    except Exception as error:  # network, auth, permissions: the user's to fix
        raise UserError(f"--push-to-hub {repo}: upload failed: {error}") from None
    return f"https://huggingface.co/{repo}"


def check_can_push(repo: str) -> None:
    """Refuse, before exporting, a push that cannot happen: a bad repo id, or no network."""
    from clearbench.data.load import hub_offline

    if repo.count("/") != 1 or any(not part for part in repo.split("/")):
        raise UserError(f"--push-to-hub {repo!r}: a Hub repository is owner/name")
    if hub_offline():
        raise UserError(f"--push-to-hub {repo}: HF_HUB_OFFLINE is set; upload needs the network")
