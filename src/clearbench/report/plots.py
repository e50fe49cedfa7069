"""The report's figures: forget quality vs model utility, per-task bars, training curves.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot): no global state, no
display needed, safe to call from any thread.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from clearbench.evaluate.metric_table import METRICS
from clearbench.evaluate.tasks import report_order, task_label
from clearbench.report.entries import ReportEntry, read_train_log
from clearbench.report.leaderboard import Row

REFERENCE_STYLE = {  # kind -> (colour, marker)
    "gold": ("#d4a017", "*"),
    "target": ("#222222", "s"),
    "base": ("#888888", "D"),
}
# Paul Tol's "muted" scheme (sron.nl/~pault): told apart under every common colour-vision deficiency.
# Its sand is left out (close to gold's colour) and its grey (for missing data). Past these 8 colours
# a series also gets its own marker, hatching and line style, so no two series of a figure look alike.
RUN_COLOURS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#CC6677", "#882255", "#AA4499")
MARKERS = ("o", "^", "v", "P", "h", "<", ">", "p")
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
LINE_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)), (0, (3, 1, 1, 1)))


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str = "o"
    hatch: str = ""
    line: str | tuple = "-"


def style(index: int) -> Style:
    """The look of a figure's index-th series: a colour, then past the palette another marker,
    hatching and line style with each colour (distinct for the first 64 series)."""
    turn = index // len(RUN_COLOURS) % len(MARKERS)
    return Style(RUN_COLOURS[index % len(RUN_COLOURS)], MARKERS[turn], HATCHES[turn], LINE_STYLES[turn])


TASK_SCORES = (("prob", "Prob."), ("truth_ratio", "Truth ratio score"), ("rouge", "ROUGE-L recall"))


def png_bytes(figure: Figure, dpi: int = 110) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def styles(entries: list[ReportEntry]) -> dict[str, Style]:
    """One look per entry, the same in every figure: gold, target and base their own, each other
    entry the next `style`."""
    runs = [e for e in entries if e.kind not in REFERENCE_STYLE]
    looks = {e.name: style(i) for i, e in enumerate(runs)}
    looks.update({e.name: Style(*REFERENCE_STYLE[e.kind]) for e in entries if e.kind in REFERENCE_STYLE})
    return looks


def colours(entries: list[ReportEntry]) -> dict[str, str]:
    """One colour per entry (see `styles`: past 8 entries colours repeat, with other markers)."""
    return {name: look.colour for name, look in styles(entries).items()}


def fq_vs_utility_figure(rows: list[Row]) -> Figure:
    """Model utility (x) against forget quality (y): KS p-value on a log axis, and 1 − JS.

    The model utility and the two forget qualities are the leaderboard's paper columns, on CLEAR's
    image tasks. Gold and target keep their own markers; hollow
    markers fail on retain; × did not complete.
    """
    figure = Figure(figsize=(11, 4.6))
    looks = styles([row.entry for row in rows])
    utility = METRICS["model_utility"]
    panels = (METRICS["forget_quality"], METRICS["forget_quality_js"])
    for axes, metric in zip(figure.subplots(1, 2), panels):
        points = [(row, row.values[utility.key], row.values[metric.key]) for row in rows]
        points = [(row, x, y) for row, x, y in points if x is not None and y is not None]
        if metric.p_value:
            points = floor_zero_p_values(points)
            if points:
                axes.set_yscale("log")
        for row, x, y in points:
            colour, marker = looks[row.entry.name].colour, looks[row.entry.name].marker
            if row.entry.status != "completed":
                marker = "X"
            face = "none" if row.fails_on_retain else colour
            size = 220 if marker == "*" else 80
            axes.scatter(
                [x],
                [y],
                s=size,
                marker=marker,
                facecolors=face,
                edgecolors=colour,
                linewidths=1.6,
                label=row.entry.name,
                zorder=3,
            )
        label_points(axes, points)
        if not points:
            axes.text(
                0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes, color="#888888"
            )
        axes.set_xlabel(utility.header())
        axes.set_ylabel(metric.header())
        axes.grid(alpha=0.3)
    figure.suptitle(
        "Forget quality vs model utility (hollow: fails on retain; ×: diverged / failed)", fontsize=10
    )
    return figure


# Where a point's name may go, in points relative to the point: tried in order.
LABEL_SPOTS = (
    (7, 4, "left"),
    (7, -12, "left"),
    (-7, 4, "right"),
    (-7, -12, "right"),
    (7, 14, "left"),
    (7, -22, "left"),
)


def label_points(axes, points: list, fontsize: int = 8) -> None:
    """Name every point, each label on the first side that overlaps no point or earlier label."""
    axes.autoscale_view()  # final limits, so data -> display positions are right
    to_points = 72 / axes.figure.dpi
    anchors = [tuple(axes.transData.transform((x, y)) * to_points) for _, x, y in points]
    taken = [(px - 6, py - 6, px + 6, py + 6) for px, py in anchors]  # the markers themselves
    for (row, x, y), (px, py) in zip(points, anchors):
        width, height = 0.6 * fontsize * len(row.entry.name), fontsize
        spots = [
            (dx, dy, align, label_box(px, py, dx, dy, align, width, height)) for dx, dy, align in LABEL_SPOTS
        ]
        free = [spot for spot in spots if not any(overlaps(spot[3], other) for other in taken)]
        dx, dy, align, box = (free or spots)[0]
        taken.append(box)
        axes.annotate(
            row.entry.name, (x, y), xytext=(dx, dy), textcoords="offset points", ha=align, fontsize=fontsize
        )


def label_box(px, py, dx, dy, align, width, height) -> tuple:
    left = px + dx if align == "left" else px + dx - width
    return (left, py + dy, left + width, py + dy + height)


def overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def floor_zero_p_values(points: list) -> list:
    """A p-value of exactly 0 cannot sit on a log axis: draw it a decade under the smallest one."""
    positive = [y for _, _, y in points if y > 0]
    floor = min(positive) / 10 if positive else 1e-300
    return [(row, x, y if y > 0 else floor) for row, x, y in points]


def task_names(entries: list[ReportEntry]) -> list[str]:
    """The tasks any entry has scores for, in the report's order (tasks.report_order)."""
    return report_order(task for entry in entries for task in entry.task_names())


def tasks_figure(entries: list[ReportEntry]) -> Figure | None:
    """Grouped bars: one panel per score, one group per task, one bar per model. None without data."""
    entries = [e for e in entries if e.task_names()]
    tasks = task_names(entries)
    if not tasks:
        return None
    looks = styles(entries)
    figure = Figure(figsize=(max(8.0, 1.1 * len(tasks) + 2), 9.5), layout="constrained")
    width = 0.8 / len(entries)
    for axes, (score, title) in zip(figure.subplots(len(TASK_SCORES), 1, sharex=True), TASK_SCORES):
        for i, entry in enumerate(entries):
            heights = [entry.task_metric(task, score) for task in tasks]
            xs = [t + (i - (len(entries) - 1) / 2) * width for t in range(len(tasks))]
            kept = [(x, h) for x, h in zip(xs, heights) if h is not None and math.isfinite(h)]
            look = looks[entry.name]
            axes.bar(
                [x for x, _ in kept],
                [h for _, h in kept],
                width,
                label=entry.name,
                color=look.colour,
                hatch=look.hatch,
                edgecolor="white" if look.hatch else None,
            )
        axes.set_ylabel(title)
        axes.grid(axis="y", alpha=0.3)
    axes.set_xticks(range(len(tasks)), [task_label(t).replace(" ", "\n") for t in tasks], fontsize=8)
    figure.legend(
        *figure.axes[0].get_legend_handles_labels(),
        loc="outside upper center",
        ncol=min(len(entries), 6),
        fontsize=8,
    )
    return figure


def training_figure(entries: list[ReportEntry]) -> Figure | None:
    """Loss per optimizer step of the unlearning runs. None when no run has a log."""
    curves = [(e, read_train_log(e.train_log)) for e in entries if e.kind == "unlearned"]
    curves = [(e, points) for e, points in curves if points]
    if not curves:
        return None
    looks = styles([e for e, _ in curves])
    figure = Figure(figsize=(9, 4.6))
    axes = figure.subplots()
    finite_losses = []
    for entry, points in curves:
        finite = [(s, loss) for s, loss in points if math.isfinite(loss)]
        broken = len(finite) < len(points)
        label = entry.name + (" (diverged)" if broken or entry.status == "diverged" else "")
        colour = looks[entry.name].colour
        axes.plot(
            [s for s, _ in finite],
            [loss for _, loss in finite],
            color=colour,
            linestyle=looks[entry.name].line,
            label=label,
            linewidth=1.4,
        )
        if broken and finite:  # where the loss stopped being a number
            axes.plot([finite[-1][0]], [finite[-1][1]], marker="x", markersize=10, color=colour, mew=2.5)
        finite_losses += [abs(loss) for _, loss in finite]
    typical = max(sorted(finite_losses)[len(finite_losses) // 2], 1e-3) if finite_losses else 1.0
    if finite_losses and max(finite_losses) > 100 * typical:
        # A blown-up run would flatten every other curve: linear near the typical loss, log beyond.
        axes.set_yscale("symlog", linthresh=2 * typical, linscale=2)
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title("Unlearning runs: loss per step (× : last finite loss before divergence)", fontsize=10)
    return figure


def sweep_figure(points: list[ReportEntry], shown: list[ReportEntry], fq: str, utility: str) -> Figure:
    """Every swept point of every method: utility (x) against forget quality (y), the points of one
    method joined in order of utility (its frontier), the selected point ringed."""
    figure = Figure(figsize=(7, 4.6))
    axes = figure.subplots()
    families: dict[tuple, list[ReportEntry]] = {}
    for entry in points:
        if entry.kind == "unlearned" and entry.metric(fq) is not None and entry.metric(utility) is not None:
            families.setdefault((entry.method, entry.modality), []).append(entry)
    chosen = {id(entry) for entry in shown}
    for index, ((method, modality), members) in enumerate(families.items()):
        look = style(index)
        members.sort(key=lambda e: e.metric(utility))
        xs, ys = [e.metric(utility) for e in members], [e.metric(fq) for e in members]
        label = method if modality in (None, "both") else f"{method}@{modality}"
        axes.plot(xs, ys, marker=look.marker, linestyle=look.line, color=look.colour, alpha=0.8, label=label)
        for entry, x, y in zip(members, xs, ys, strict=True):
            if id(entry) in chosen:
                axes.scatter([x], [y], s=160, facecolors="none", edgecolors="black", linewidths=1.5, zorder=4)
    axes.set_xlabel(METRICS[utility].header())
    axes.set_ylabel(METRICS[fq].header())
    if METRICS[fq].p_value and any(e.metric(fq) for m in families.values() for e in m):
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    if families:
        axes.legend(fontsize=8)
    figure.suptitle("Swept points per method (ringed: selected)", fontsize=10)
    return figure
