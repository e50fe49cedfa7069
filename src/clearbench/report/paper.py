"""The CLEAR paper's numbers beside a run's, when the run repeats one of the paper's setups.

The numbers are quoted from the paper (arXiv 2410.18057 v4): Table 1 (LLaVA-1.5-7B, forget 10 %,
both modalities), Table 3 (the same per modality of the forget set) and Table 6 (Qwen2-VL-2B, no
LoRA); each quadruple is Real / Retain / Forget / forget quality (1 − JS). The paper's "Base" row is
the fine-tuned model before unlearning: our target. Its Forget mixes directions and its 1 − JS is
index-aligned; ours agree with them only under compat "clear-official", which the note says.
"""

from __future__ import annotations

from clearbench.report.entries import ReportEntry
from clearbench.report.tables import Table, format_number

KEYS = ("real", "retain", "forget", "forget_quality_js")
LLAVA = "llava-hf/llava-1.5-7b-hf"
QWEN2_VL = "Qwen/Qwen2-VL-2B-Instruct"

# (model, modality of the forget set) -> (the table cited, method -> quadruple)
PAPER = {
    (LLAVA, "both"): (
        "CLEAR v4, Table 1",
        {
            "gold": (0.50, 0.51, 0.19, 1.00),
            "target": (0.48, 0.51, 0.35, 0.85),
            "dpo": (0.46, 0.48, 0.22, 0.84),
            "gd": (0.29, 0.00, 0.00, 0.18),
            "ga": (0.27, 0.00, 0.00, 0.67),
            "idk": (0.48, 0.51, 0.33, 0.84),
            "kl": (0.25, 0.00, 0.00, 0.67),
            "llmu": (0.47, 0.51, 0.25, 0.84),
            "npo": (0.46, 0.14, 0.11, 0.76),
            "retain_ft": (0.49, 0.51, 0.37, 0.85),
            "rmu": (0.24, 0.00, 0.00, 0.75),
            "scrub": (0.49, 0.52, 0.36, 0.85),
            "sku": (0.40, 0.32, 0.37, 0.83),
        },
    ),
    (LLAVA, "text"): (
        "CLEAR v4, Table 3 (text)",
        {
            "rmu": (0.31, 0.01, 0.02, 0.75),
            "gd": (0.26, 0.00, 0.00, 0.79),
            "retain_ft": (0.49, 0.51, 0.37, 0.85),
            "ga": (0.34, 0.00, 0.00, 0.22),
            "kl": (0.49, 0.32, 0.23, 0.71),
            "idk": (0.48, 0.50, 0.39, 0.85),
            "npo": (0.51, 0.51, 0.29, 0.85),
            "scrub": (0.49, 0.51, 0.37, 0.85),
            "dpo": (0.47, 0.45, 0.42, 0.85),
            "llmu": (0.48, 0.46, 0.40, 0.85),
        },
    ),
    (LLAVA, "images"): (
        "CLEAR v4, Table 3 (visual)",
        {
            "rmu": (0.24, 0.00, 0.00, 0.75),
            "gd": (0.29, 0.00, 0.00, 0.20),
            "retain_ft": (0.46, 0.45, 0.42, 0.85),
            "ga": (0.29, 0.00, 0.00, 0.32),
            "kl": (0.29, 0.00, 0.00, 0.28),
            "idk": (0.44, 0.45, 0.35, 0.84),
            "npo": (0.48, 0.43, 0.24, 0.84),
            "scrub": (0.48, 0.49, 0.39, 0.85),
            "dpo": (0.48, 0.49, 0.23, 0.84),
            "llmu": (0.49, 0.50, 0.37, 0.85),
        },
    ),
    (QWEN2_VL, "both"): (
        "CLEAR v4, Table 6",
        {
            "gold": (0.27, 0.66, 0.05, 1.00),
            "target": (0.27, 0.65, 0.40, 0.97),
            "gd": (0.20, 0.15, 0.05, 0.36),
            "ga": (0.17, 0.10, 0.05, 0.89),
            "idk": (0.04, 0.65, 0.40, 0.98),
            "kl": (0.18, 0.04, 0.05, 0.87),
            "llmu": (0.07, 0.63, 0.33, 0.99),
            "npo": (0.16, 0.20, 0.13, 0.97),
            "retain_ft": (0.25, 0.66, 0.32, 0.98),
            "scrub": (0.25, 0.65, 0.39, 0.98),
        },
    ),
}
# The paper's gold and base rows hold for every modality of its Table 3 too.
REFERENCES_OF = {(LLAVA, "text"): (LLAVA, "both"), (LLAVA, "images"): (LLAVA, "both")}


def paper_setup(config: dict | None) -> str | None:
    """The paper's model when the run repeats its setup (that model on CLEAR's forget10), else None."""
    config = config if isinstance(config, dict) else {}
    model, data = config.get("model"), config.get("data")  # any shape: build_report takes any dict
    model = model.get("name") if isinstance(model, dict) else None
    source = data.get("source") if isinstance(data, dict) else None
    # CLEAR itself, from the Hub or a local copy; never the synthetic world
    if model in (LLAVA, QWEN2_VL) and config.get("forget_split") == "forget10" and source != "synthetic":
        return model
    return None


def paper_row(model: str, entry: ReportEntry) -> tuple[str, tuple] | None:
    """(the table cited, the paper's quadruple) for one of our rows, or None when the paper has none."""
    if entry.kind in ("gold", "target"):
        cited, numbers = PAPER[(model, "both")]
        return (cited, numbers[entry.kind]) if entry.kind in numbers else None
    found = PAPER.get((model, entry.modality or "both"))
    method = (entry.method or "").lower()
    if found is None or method not in found[1]:
        return None
    return found[0], found[1][method]


def paper_table(entries: list[ReportEntry], config: dict | None) -> Table | None:
    """Each row the paper also has: ours / the paper's, on Real, Retain, Forget and 1 − JS."""
    model = paper_setup(config)
    if model is None:
        return None
    rows = []
    for entry in entries:
        found = paper_row(model, entry) if entry.status == "completed" else None
        if found is None:
            continue
        cited, numbers = found
        cells = [
            f"{format_number(entry.metric(key), digits=2)} / {value:.2f}" for key, value in zip(KEYS, numbers)
        ]
        rows.append([entry.name, entry.modality or "", *cells, cited])
    if not rows:
        return None
    compat = next((e.metrics.get("compat") for e in entries if e.metrics), None) or "clearbench"
    note = (
        f"Ours / the paper's, for the rows both have (the paper's Base row is our target). Ours are "
        f"computed under compat {compat!r}"
        + (
            "; the paper's Forget mixes directions and its 1 − JS is index-aligned, so compare them with "
            "a run under compat 'clear-official'."
            if compat != "clear-official"
            else ", the paper's definitions."
        )
    )
    header = ["model", "modality", "Real", "Retain", "Forget", "1 − JS", "paper table"]
    return Table("paper", "The paper beside this run (ours / paper)", header, rows, note)
