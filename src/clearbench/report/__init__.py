"""The benchmark report: leaderboard (CSV / Markdown / LaTeX), modality table, figures, report.html."""

from __future__ import annotations

from pathlib import Path

from clearbench import atomic, files
from clearbench.errors import UserError
from clearbench.report.entries import ReportEntry, read_train_log
from clearbench.report.headline import build_headline
from clearbench.report.html import render_html
from clearbench.report.leaderboard import (
    leaderboard_csv,
    leaderboard_latex,
    leaderboard_markdown,
    leaderboard_rows,
    modalities_of,
    modality_csv,
    modality_latex,
    modality_markdown,
    modality_rows,
)
from clearbench.report.matrices import privacy_matrix, robustness_matrix
from clearbench.report.measured import leak_table, probe_table, split_measured
from clearbench.report.paper import paper_table
from clearbench.report.plots import (
    fq_vs_utility_figure,
    png_bytes,
    sweep_figure,
    tasks_figure,
    training_figure,
)
from clearbench.report.privacy import privacy_section
from clearbench.report.requests import requests_table, split_requests
from clearbench.report.robustness import robustness_figure, robustness_table
from clearbench.report.seeds import aggregate, gold_like_table, noise_floor_table, significance_table
from clearbench.report.selection import Selection, select

# The extra tables a report may write (removed when this report has none of them).
# The privacy section's figures (removed when this report has none of them).
PRIVACY_FIGURES = ("roc_images.png", "roc_text.png", "leakage.png")
# Figures written to plots/ but not put on the page, which shows the same numbers as a matrix.
FILE_ONLY = ("robustness.png",)
TABLE_NAMES = (
    "paper",
    "sweep",
    "requests",
    "significance",
    "noise_floor",
    "gold_like",
    "robustness",
    "probes",
    "leak",
    "privacy",
    "leakage",
)

__all__ = ["ReportEntry", "build_report", "read_train_log"]


def build_report(
    entries: list[ReportEntry],
    out_dir: str | Path,
    *,
    title: str = "CLEAR benchmark",
    config: dict | None = None,
    retain_fail_threshold: float | None = 0.4,
    selection: Selection | None = None,
    attacks: list[dict] | None = None,
    provenance: dict | None = None,
) -> Path:
    """Write the report into `out_dir` and return the path of `report.html`.

    Every file is written atomically and `report.html` last (removed first), so its presence means
    the report is complete. Outputs of a previous report that this one has no data for are removed,
    so the directory never mixes two runs.
    """
    out_dir = Path(out_dir)
    if retain_fail_threshold is not None and not 0 <= retain_fail_threshold <= 1:  # NaN fails too
        raise UserError(
            f"the retain-fail threshold must be a number in [0, 1], got {retain_fail_threshold!r}"
        )
    # Never written through a link: `RUN/report` linked elsewhere would overwrite that folder's files.
    files.require_real_folder(out_dir, out_dir.parent, "report folder")
    files.require_real_folder(out_dir / "plots", out_dir, "report folder")
    seed_runs, selection = entries, selection or Selection()
    points, sequential = split_requests(aggregate(entries))
    entries, sweep_table = select(points, selection)
    rows = leaderboard_rows(entries, retain_fail_threshold)
    modality = modality_rows(rows) if len(modalities_of(entries)) > 1 else None
    html_path = out_dir / "report.html"
    html_path.unlink(missing_ok=True)  # until rewritten, the directory holds no complete report

    _write_leaderboards(out_dir, rows, modality)
    attacks, measured = split_measured(attacks or [])
    tables = [
        paper_table(entries, config),
        sweep_table,
        requests_table(entries, sequential),
        significance_table([run for run in seed_runs if run.request is None]),
        noise_floor_table(seed_runs),
        gold_like_table(entries, seed_runs),
        robustness_table(attacks) if attacks else None,
        probe_table(measured),
        leak_table(measured),
    ]
    privacy_tables, privacy_figures = privacy_section(entries)
    tables = [table for table in tables + privacy_tables if table]
    seed_rows = leaderboard_rows(seed_runs, retain_fail_threshold) if len(seed_runs) > len(entries) else None
    _write_tables(out_dir, tables, seed_rows)
    drawn = _figures(rows, entries, attacks, points, selection, sweep_table) + privacy_figures
    drawn += [(name, "", None) for name in PRIVACY_FIGURES if name not in {f[0] for f in drawn}]
    figures = _write_figures(out_dir, drawn)

    headline = build_headline(rows, seed_runs, attacks)
    matrices = robustness_matrix(attacks) if attacks else []
    matrices += privacy_matrix(entries)
    page = render_html(title, rows, modality, figures, config, tables, provenance, headline, matrices)
    atomic.write_text(html_path, page)
    return html_path


def _figures(rows, entries, attacks, points, selection, sweep_table) -> list[tuple]:
    """(file name, caption, figure or None) of the report's plots outside the privacy section."""
    return [
        (
            "fq_vs_utility.png",
            "Forget quality against model utility; gold and target marked.",
            fq_vs_utility_figure(rows),
        ),
        ("tasks.png", "Prob., truth-ratio score and ROUGE per task and model.", tasks_figure(entries)),
        ("training.png", "Training loss of the unlearning runs.", training_figure(entries)),
        (
            "robustness.png",
            "Forget score before (black) and after each attack (coloured), per model.",
            robustness_figure(attacks) if attacks else None,
        ),
        (
            "sweep.png",
            "Every swept point: forget quality against model utility, selected points ringed.",
            sweep_figure(points, entries, selection.forget_quality, selection.utility)
            if sweep_table
            else None,
        ),
    ]


def _write_leaderboards(out_dir: Path, rows, modality) -> None:
    """leaderboard.{csv,md,tex}, and modality.* when the run has several modalities (else removed)."""
    atomic.write_text(out_dir / "leaderboard.csv", leaderboard_csv(rows))
    atomic.write_text(out_dir / "leaderboard.md", leaderboard_markdown(rows))
    atomic.write_text(out_dir / "leaderboard.tex", leaderboard_latex(rows))
    if modality:
        atomic.write_text(out_dir / "modality.csv", modality_csv(*modality))
        atomic.write_text(out_dir / "modality.md", modality_markdown(*modality))
        atomic.write_text(out_dir / "modality.tex", modality_latex(*modality))
    else:
        for suffix in ("csv", "md", "tex"):
            (out_dir / f"modality.{suffix}").unlink(missing_ok=True)


def _write_tables(out_dir: Path, tables, seed_rows) -> None:
    """Each table as CSV and Markdown (a previous report's tables removed first), and every seed's
    run as seed_runs.csv when there are several."""
    if seed_rows is not None:
        atomic.write_text(out_dir / "seed_runs.csv", leaderboard_csv(seed_rows))
    else:
        (out_dir / "seed_runs.csv").unlink(missing_ok=True)
    for name in TABLE_NAMES:
        for suffix in ("csv", "md"):
            (out_dir / f"{name}.{suffix}").unlink(missing_ok=True)
    for table in tables:
        atomic.write_text(out_dir / f"{table.name}.csv", table.csv())
        atomic.write_text(out_dir / f"{table.name}.md", table.markdown())


def _write_figures(out_dir: Path, candidates) -> list[tuple[str, str, bytes]]:
    """plots/NAME for each (name, caption, figure) that has a figure (a stale one removed where it
    has none); the page's figures: those not kept as files only."""
    figures = []
    for name, caption, figure in candidates:
        if figure is None:
            (out_dir / "plots" / name).unlink(missing_ok=True)
            continue
        png = png_bytes(figure)
        atomic.write_bytes(out_dir / "plots" / name, png)
        if name not in FILE_ONLY:
            figures.append((name, caption, png))
    return figures
