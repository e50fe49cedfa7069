"""From the splits' results to the Table-5 numbers of one method: accuracies on the forget, holdout
and retain people, U-LiRA and U-MIA (logistic regression, and the tree), each with an interval that
resamples people.

Roles follow each split: its "forget" people are its member group (F in the first half of the
splits, H in the second), its "holdout" people the other group. Accuracies pool every split;
the attacks are fitted on the shadow splits and scored on the target splits (`splits.py`).
"""

from __future__ import annotations

import numpy as np

from clearbench.visual.metrics import people_bootstrap, ulira_correct, umia_correct
from clearbench.visual.splits import Split

COLUMNS = ("forget_acc", "holdout_acc", "retain_acc", "u_lira", "u_mia", "u_mia_tree")


def method_row(
    splits: list[Split],
    results: dict[int, dict],
    people: dict[str, list[str]],
    retain_people: dict[int, list[str]],
    resamples: int,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """{column: {mean, low, high}} for one method; `results[split index]` its result on that split,
    `people["forget" | "holdout"]` the identity of each query image of F and H (in result order),
    `retain_people[split index]` that of each retained query image."""
    accuracy = {"forget_acc": ([], []), "holdout_acc": ([], []), "retain_acc": ([], [])}
    for split in splits:
        result = results[split.index]
        unseen_group = "holdout" if split.member_group == "forget" else "forget"
        for column, group, names in (
            ("forget_acc", split.member_group, people[split.member_group]),
            ("holdout_acc", unseen_group, people[unseen_group]),
            ("retain_acc", "retain", retain_people[split.index]),
        ):
            accuracy[column][0].extend(result[group]["correct"])
            accuracy[column][1].extend(names)
    row = {
        column: people_bootstrap(np.array(values), np.array(names), resamples, seed)
        for column, (values, names) in accuracy.items()
    }
    logits, member, target = attack_inputs(splits, results, len(people["forget"]))
    image_people = np.array(people["forget"] + people["holdout"])
    row["u_lira"] = people_bootstrap(ulira_correct(logits, member, target), image_people, resamples, seed)
    for column, kind in (("u_mia", "logistic"), ("u_mia_tree", "tree")):
        correct = umia_correct(logits, member, target, kind, seed)
        row[column] = people_bootstrap(correct, image_people, resamples, seed)
    return row


def attack_inputs(
    splits: list[Split], results: dict[int, dict], forget_images: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """logits [splits, F images + H images], member (the split trained on the image's group), target."""
    logits = np.array(
        [results[s.index]["forget"]["logit"] + results[s.index]["holdout"]["logit"] for s in splits]
    )
    is_forget_image = np.arange(logits.shape[1]) < forget_images
    member = np.array([is_forget_image if s.member_group == "forget" else ~is_forget_image for s in splits])
    target = np.array([s.target for s in splits])
    return logits, member, target
