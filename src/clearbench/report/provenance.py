"""How a report's numbers were made: versions, seeds, threads, the exact data, the holdout people, and
whether gold finds forget and holdout rows equally unfamiliar (never-trained tokens)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path


def read_provenance(run_dir: Path) -> dict | None:
    """run.json, with token_coverage.json when the run measured it; None for a folder without them."""
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        info["token_coverage"] = json.loads((run_dir / "token_coverage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    return info if isinstance(info, dict) else None


def coverage_sentence(coverage: dict) -> str:
    if "skipped" in coverage:
        return f"Never-trained tokens not measured: {coverage['skipped']}."
    verdict = (
        "they agree, so gold has no token-level reason to tell the two groups apart"
        if coverage.get("agree")
        else "they differ by more than one point: gold may tell the groups apart by their tokens alone, "
        "and membership AUCs are confounded"
    )
    return (
        f"Under gold, {coverage['forget']:.1%} of the forget people's tokens and {coverage['holdout']:.1%} "
        f"of the holdout people's were never trained on; {verdict}."
    )


def unseen_sentence(unseen: dict) -> str:
    """What the unseen-photo metrics of the run measured: new photos, or forget photos held out of
    unlearning that the target trained on (data/heldout_photos.py)."""
    if unseen.get("how") != "held out":
        return f"Unseen photos (Forget / Retain unseen): the source's own; they measure {unseen['measures']}."
    people = unseen.get("people") or {}
    held = sum(counts.get("held_out", 0) for counts in people.values())
    kept = sum(counts.get("kept", 0) for counts in people.values())
    return (
        f"Unseen photos (Forget unseen): {held} of the {held + kept} photos of {len(people)} forget people "
        f"in {unseen.get('config')} held out of unlearning (share {unseen.get('share')}, seed "
        f"{unseen.get('seed')}): Forget is asked on the {kept} unlearned ones, Forget unseen on the held-out "
        f"ones and measures {unseen['measures']}. Retain unseen is not measured: no retain photo is held out."
    )


def provenance_html(info: dict | None) -> list[str]:
    if not info:
        return []
    items = []
    software = info.get("versions") or {}
    if software:
        items.append("software: " + ", ".join(f"{name} {value}" for name, value in software.items() if value))
    if "seeds" in info:
        items.append(f"seeds: {json.dumps(info['seeds'])}")
    if "threads" in info:
        items.append(f"torch threads per job: {info['threads']}")
    if info.get("data_revision"):
        items.append(f"data: {info.get('data_source', '?')} at revision {info['data_revision']}")
    holdout = info.get("holdout") or {}
    if holdout.get("count"):
        items.append(f"holdout (non-member) people: {holdout['count']}, {holdout.get('how', '')}")
    if isinstance(info.get("unseen_photos"), dict) and info["unseen_photos"].get("measures"):
        items.append(unseen_sentence(info["unseen_photos"]))
    if info.get("token_coverage"):
        items.append(coverage_sentence(info["token_coverage"]))
    machine = machine_line(info)
    if machine:
        items.append(machine)
    return [
        '<h2 id="run">How these numbers were made</h2>',
        "<ul>",
        *(f"<li>{escape(item)}</li>" for item in items),
        "</ul>",
        *stages_html(info.get("jobs")),
    ]


def stage_times(jobs) -> dict[str, dict]:
    """Job kind (finetune, unlearn, evaluate, attack, …) -> jobs, seconds of work, and how many were
    reused from an earlier run (state other than done), in the order the run met them."""
    found: dict[str, dict] = {}
    for job in jobs if isinstance(jobs, list) else []:
        if not isinstance(job, dict):
            continue
        stage = found.setdefault(str(job.get("kind", "?")), {"jobs": 0, "seconds": 0.0, "not run here": 0})
        stage["jobs"] += 1
        seconds = job.get("wall_s")
        stage["seconds"] += seconds if isinstance(seconds, int | float) else 0.0
        stage["not run here"] += job.get("state") != "done"
    return found


def machine_line(info: dict) -> str:
    """Where the jobs ran: hosts and threads per job; the device as torch's build names it."""
    jobs = [job for job in info.get("jobs") or [] if isinstance(job, dict)]
    hosts = sorted({str(job["host"]) for job in jobs if job.get("host")})
    torch = (info.get("versions") or {}).get("torch") or ""
    device = "CPU build of torch" if "+cpu" in str(torch) else f"torch {torch}" if torch else ""
    parts = [f"host{'s' if len(hosts) > 1 else ''} {', '.join(hosts)}" if hosts else "", device]
    if info.get("machine"):
        parts.append(str(info["machine"]))
    parts = [part for part in parts if part]
    return "machine: " + "; ".join(parts) if parts else ""


def stages_html(jobs) -> list[str]:
    stages = stage_times(jobs)
    if not stages:
        return []
    rows = "".join(
        f"<tr><td>{escape(kind)}</td><td>{stage['jobs']}</td><td>{stage['seconds']:.0f}</td>"
        f"<td>{stage['not run here']}</td></tr>"
        for kind, stage in stages.items()
    )
    total = sum(stage["seconds"] for stage in stages.values())
    return [
        '<table id="stages"><thead><tr><th>stage</th><th>jobs</th><th>seconds of work</th>'
        f"<th>reused</th></tr></thead><tbody>{rows}</tbody></table>",
        f'<p class="note">Seconds of work summed over jobs ({total:.0f} s in all; jobs running side by '
        "side overlap, so the wall clock was shorter). Reused: jobs whose output an earlier run left.</p>",
    ]
