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
    if info.get("token_coverage"):
        items.append(coverage_sentence(info["token_coverage"]))
    return [
        "<h2>How these numbers were made</h2>",
        "<ul>",
        *(f"<li>{escape(item)}</li>" for item in items),
        "</ul>",
    ]
