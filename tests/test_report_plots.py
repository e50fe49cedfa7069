"""The report's figures: the data each one draws, and PNGs that are not blank."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.colors import to_rgba
from PIL import Image
from test_report import metrics, sample_entries, write_log

from clearbench.report import ReportEntry
from clearbench.report.leaderboard import leaderboard_rows
from clearbench.report.plots import fq_vs_utility_figure, png_bytes, tasks_figure, training_figure


def scatter_points(axes) -> dict[str, tuple]:
    return {c.get_label(): tuple(c.get_offsets()[0]) for c in axes.collections}


def test_fq_vs_utility_draws_every_evaluated_model_at_its_numbers(tmp_path):
    entries = sample_entries(tmp_path)
    entries.append(
        ReportEntry("npo@both", "unlearned", "npo", "both", metrics=metrics(0.4, 0.5, 0.2, 0.0, 0.7, 0.3))
    )
    ks_axes, js_axes = fq_vs_utility_figure(leaderboard_rows(entries)).axes
    ks, js = scatter_points(ks_axes), scatter_points(js_axes)
    # Failed / diverged runs without metrics have no point.
    assert set(ks) == set(js) == {"gold", "target", "ga@both", "npo@text", "npo@both"}
    assert ks["ga@both"] == (0.1, 1.2e-9) and js["ga@both"] == (0.1, 0.67)
    assert ks["gold"] == (0.47, 1.0)
    # p = 0 cannot sit on the log axis: a decade under the smallest positive p-value.
    assert ks_axes.get_yscale() == "log" and ks["npo@both"] == (0.3, 1.2e-10)
    # Failing on retain: hollow marker; the others filled.
    hollow = {
        c.get_label()
        for c in ks_axes.collections
        if c.get_facecolors().size == 0 or c.get_facecolors()[0][3] == 0
    }
    assert hollow == {"ga@both"}
    labels = {t.get_text() for t in ks_axes.texts}
    assert labels == set(ks)


def test_fq_vs_utility_without_numbers_says_so():
    figure = fq_vs_utility_figure(
        leaderboard_rows([ReportEntry("gold", "gold", metrics={"model_utility": 0.4})])
    )
    assert [t.get_text() for a in figure.axes for t in a.texts] == ["no data", "no data"]


def test_task_bars_match_the_per_task_scores(tmp_path):
    entries = sample_entries(tmp_path)
    figure = tasks_figure(entries)
    prob_axes, truth_axes, rouge_axes = figure.axes
    bars = {c.get_label(): [b.get_height() for b in c] for c in prob_axes.containers}
    # Entries without per-task metrics (the failed runs) get no bars.
    assert set(bars) == {"ga@both", "target", "gold", "npo@text"}
    # Tasks in report order: forget_captions, retain_captions, real_faces; prob = 0.2 (i+1) * scale.
    assert np.allclose(bars["ga@both"], [0.1, 0.2, 0.3]) and np.allclose(bars["gold"], [0.2, 0.4, 0.6])
    rouge = {c.get_label(): [b.get_height() for b in c] for c in rouge_axes.containers}
    assert np.allclose(rouge["npo@text"], [0.08, 0.16, 0.24])
    assert [t.get_text() for t in rouge_axes.get_xticklabels()] == [
        "forget\ncaptions",
        "retain\ncaptions",
        "real\nfaces",
    ]
    assert tasks_figure([ReportEntry("gold", "gold", metrics={"real": 0.5})]) is None


def test_training_curves_mark_where_a_run_diverged(tmp_path):
    entries = sample_entries(tmp_path)
    entries.append(
        ReportEntry("gold", "gold", train_log=write_log(tmp_path / "gold.jsonl", [3.0, 2.0]))
    )  # not a run
    axes = training_figure(entries).axes[0]
    curves = {line.get_label(): line for line in axes.lines if not line.get_label().startswith("_")}
    assert set(curves) == {"ga@both", "npo@text", "rmu@images (diverged)"}
    assert list(curves["ga@both"].get_ydata()) == [2.0, 1.0, 0.0, -1.0]
    assert list(curves["rmu@images (diverged)"].get_xdata()) == [0, 1, 2]
    marks = [line for line in axes.lines if line.get_marker() == "x"]
    assert len(marks) == 1 and (marks[0].get_xdata()[0], marks[0].get_ydata()[0]) == (2, 1e4)
    assert axes.get_yscale() == "symlog"  # the 1e4 blow-up would flatten the other curves
    assert training_figure([ReportEntry("ga", "unlearned", train_log=tmp_path / "missing.jsonl")]) is None


def test_figures_render_to_non_blank_pngs(tmp_path):
    entries = sample_entries(tmp_path)
    for figure in (
        fq_vs_utility_figure(leaderboard_rows(entries)),
        tasks_figure(entries),
        training_figure(entries),
    ):
        image = np.asarray(Image.open(io.BytesIO(png_bytes(figure))).convert("RGB"))
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert (image < 200).any(axis=2).mean() > 0.01  # ink, not an empty canvas
    gold = np.array(to_rgba("#d4a017")[:3]) * 255
    image = np.asarray(Image.open(io.BytesIO(png_bytes(tasks_figure(entries)))).convert("RGB")).astype(float)
    assert (np.abs(image - gold).sum(axis=2) < 10).sum() > 100  # the gold model's bars are drawn


def test_no_two_series_of_a_figure_look_alike_past_the_palette():
    from clearbench.report.plots import REFERENCE_STYLE, RUN_COLOURS, Style, style

    looks = [style(i) for i in range(64)]
    assert len({(look.colour, look.marker, look.hatch, look.line) for look in looks}) == 64
    assert len({look.colour for look in looks[:8]}) == 8  # first, colours alone
    assert looks[8] == Style(RUN_COLOURS[0], "^", "//", "--")  # then the same colours, marked apart
    assert not {colour for colour, _ in REFERENCE_STYLE.values()} & set(RUN_COLOURS)
