"""CLEAR's visual-only track (the paper's Table 5): a face-identification network forgets people
and is attacked with per-example (U-LiRA) and population (U-MIA) membership inference.

model.py (ResNet-18 embedder, AM-Softmax head) · data.py (identities from a CLEAR-layout source) ·
pool.py (the groups, checked and saved once) · splits.py (the shadow design) · train.py (one loop)
· methods.py (the unlearning losses) · metrics.py (accuracy by enrolment, U-LiRA, U-MIA, intervals)
· results.py (a method's row) · report.py (table, plot) · jobs.py, run.py (`clearbench run visual`).
"""

from clearbench.visual.config import declares_visual_track


def run_visual_command(args) -> int:
    from clearbench.visual.run import run_visual_command as command

    return command(args)


__all__ = ["declares_visual_track", "run_visual_command"]
