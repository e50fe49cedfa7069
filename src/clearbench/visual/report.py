"""The visual track's report: Table 5's shape (forget / holdout / retain accuracy, U-LiRA, U-MIA)
beside the paper's numbers for the methods both have, how the methods' order agrees with the
paper's, and a plot of U-LiRA against retain accuracy."""

from __future__ import annotations

from pathlib import Path

from clearbench import atomic

# CLEAR v4, Table 5 (clear_spec §6.4): accuracies in %, attacks as accuracies (ideal 0.5).
PAPER = {
    "original": (100.00, 18.50, 100.00, 1.00, 0.96),
    "gold": (15.43, 15.04, 97.52, 0.50, 0.50),
    "retain_ft": (100.00, 18.54, 100.00, 1.00, 0.92),
    "scrub": (99.74, 16.77, 99.93, 0.98, 0.90),
    "llmu": (85.72, 14.62, 88.99, 0.83, 0.75),
    "rmu": (67.97, 17.27, 99.99, 0.77, 0.60),
    "dpo": (50.21, 13.93, 81.49, 0.73, 0.62),
    "scrub_bio": (42.59, 14.25, 99.44, 0.71, 0.57),
    "sparsity": (66.41, 14.44, 83.57, 0.78, 0.73),
    "twins": (50.00, 20.34, 99.72, 0.73, 0.54),
}
PAPER_COLUMNS = ("forget_acc", "holdout_acc", "retain_acc", "u_lira", "u_mia")
LABELS = {
    "forget_acc": "Forget acc ↓",
    "holdout_acc": "Holdout acc",
    "retain_acc": "Retain acc ↑",
    "u_lira": "U-LiRA ↓",
    "u_mia": "U-MIA ↓",
    "u_mia_tree": "U-MIA tree",
}
PERCENT = ("forget_acc", "holdout_acc", "retain_acc")


def _cell(column: str, value: dict) -> str:
    scale, digits = (100, 1) if column in PERCENT else (1, 2)
    return (
        f"{value['mean'] * scale:.{digits}f} "
        f"[{value['low'] * scale:.{digits}f}, {value['high'] * scale:.{digits}f}]"
    )


def table_markdown(rows: dict[str, dict]) -> str:
    """Ours (mean [95 % interval over people]) and, in the next line, the paper's."""
    columns = list(LABELS)
    lines = [
        "| method | " + " | ".join(LABELS[c] for c in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for method, row in rows.items():
        if "failed" in row:
            lines.append(f"| {method} | failed: {row['failed']} |" + " |" * (len(columns) - 1))
            continue
        lines.append(f"| {method} | " + " | ".join(_cell(c, row[c]) for c in columns) + " |")
        if method in PAPER:
            paper = dict(zip(PAPER_COLUMNS, PAPER[method]))
            shown = [(f"{paper[c]:.2f}" if c in paper else "–") for c in columns]
            lines.append("| *paper* | " + " | ".join(f"*{v}*" for v in shown) + " |")
    return "\n".join(lines)


def agreement(rows: dict[str, dict]) -> dict:
    """Spearman rank correlation with the paper over the shared methods, per column, and the checks
    the paper's text makes (gold at chance, the original above it, Retain FT close to the original,
    which methods come closest to gold)."""
    from scipy.stats import spearmanr

    shared = [m for m in rows if m in PAPER and "failed" not in rows[m]]
    ranks = {}
    for index, column in enumerate(PAPER_COLUMNS):
        if len(shared) >= 3:
            ours = [rows[m][column]["mean"] for m in shared]
            theirs = [PAPER[m][index] for m in shared]
            if len(set(ours)) > 1:  # a constant column has no rank correlation
                ranks[column] = round(float(spearmanr(ours, theirs).statistic), 3)
    checks = {}
    gold, original = rows.get("gold"), rows.get("original")
    for column in ("u_lira", "u_mia"):
        if gold and "failed" not in gold:
            checks[f"gold {column} interval holds 0.5"] = gold[column]["low"] <= 0.5 <= gold[column]["high"]
        if original and "failed" not in original:
            checks[f"original {column} interval above 0.5"] = original[column]["low"] > 0.5
    unlearned = [m for m in shared if m not in ("original", "gold", "retain_ft")]
    if unlearned:
        closest = sorted(unlearned, key=lambda m: rows[m]["u_mia"]["mean"])[:2]
        checks["closest to gold by U-MIA (paper: twins, scrub_bio)"] = closest
    if "retain_ft" in shared and original:
        gap = abs(rows["retain_ft"]["forget_acc"]["mean"] - original["forget_acc"]["mean"])
        checks["retain_ft forget acc within 5 points of the original"] = gap <= 0.05
    return {"spearman_with_paper": ranks, "checks": checks, "methods_compared": shared}


def plot(rows: dict[str, dict], path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5))
    for method, row in rows.items():
        if "failed" in row:
            continue
        x, y = row["retain_acc"], row["u_lira"]
        axes.errorbar(
            x["mean"] * 100,
            y["mean"],
            xerr=[[100 * (x["mean"] - x["low"])], [100 * (x["high"] - x["mean"])]],
            yerr=[[y["mean"] - y["low"]], [y["high"] - y["mean"]]],
            fmt="o",
            capsize=2,
        )
        axes.annotate(
            method, (x["mean"] * 100, y["mean"]), textcoords="offset points", xytext=(4, 4), fontsize=8
        )
    axes.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("retain accuracy (%)")
    axes.set_ylabel("U-LiRA accuracy (0.5 = chance)")
    axes.set_title("Visual track: forgetting vs utility")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    atomic.write_bytes(path, buffer.getvalue())


def write_report(rows: dict[str, dict], out: Path, header: str) -> Path:
    """report.md (table, agreement, figure) and results.json in `out`; returns report.md."""
    summary = agreement(rows)
    atomic.write_json(out / "results.json", {"rows": rows, "agreement": summary})
    plot(rows, out / "ulira_vs_retain.png")
    checks = "\n".join(f"- {name}: {value}" for name, value in summary["checks"].items())
    text = (
        f"# CLEAR visual track (Table 5)\n\n{header}\n\n"
        "Ours: mean [95 % interval, resampling people]; *paper* lines: CLEAR v4 Table 5.\n\n"
        f"{table_markdown(rows)}\n\n"
        f"Spearman rank correlation with the paper over {', '.join(summary['methods_compared'])}: "
        f"{summary['spearman_with_paper']}\n\n{checks}\n\n![U-LiRA vs retain accuracy](ulira_vs_retain.png)\n"
    )
    atomic.write_text(out / "report.md", text)
    return out / "report.md"
