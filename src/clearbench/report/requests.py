"""Sequential forget requests: each method's metrics after every request, beside one-shot unlearning
of their union (the run's forget split). The sequential models are not leaderboard rows: each is
measured on its own forget split, against the gold model that never saw it."""

from __future__ import annotations

from clearbench.report.entries import ReportEntry
from clearbench.report.tables import Table

KEYS = ("forget_quality", "forget_quality_js", "model_utility")


def split_requests(entries: list[ReportEntry]) -> tuple[list[ReportEntry], list[ReportEntry]]:
    """(one-shot and reference entries, sequential-request entries)."""
    return [e for e in entries if e.request is None], [e for e in entries if e.request is not None]


def requests_table(one_shot: list[ReportEntry], sequential: list[ReportEntry]) -> Table | None:
    from clearbench.report.tables import format_number

    if not sequential:
        return None
    rows = []
    shots = {(e.method, e.modality, str(e.point)): e for e in one_shot if e.kind == "unlearned"}
    last: dict[tuple, str] = {}
    for entry in sequential:
        if entry.kind != "unlearned":
            continue
        rows.append([entry.method or entry.name, entry.name, entry.request, *_cells(entry, format_number)])
        last[(entry.method, entry.modality, str(entry.point))] = entry.request
    for key, request in last.items():
        if key in shots:
            shot = shots[key]
            rows.append(
                [shot.method or shot.name, shot.name, f"one-shot {request}", *_cells(shot, format_number)]
            )
    rows.sort(key=lambda row: row[0])
    golds = ", ".join(f"{e.name} ({e.request})" for e in sequential if e.kind == "gold")
    note = (
        "Each sequential model unlearned its request's new rows from the model of the request before; "
        f"its metrics are on that request's forget split, against that split's gold model ({golds}, and "
        "gold for the last). 'one-shot': the union unlearned at once from the target."
    )
    return Table("requests", "Sequential forget requests", ["method", "model", "after", *KEYS], rows, note)


def _cells(entry: ReportEntry, format_number) -> list[str]:
    return [format_number(entry.metric(key)) for key in KEYS]
