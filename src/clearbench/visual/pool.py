"""The images a visual run trains and attacks on, read and checked once, before any training, and
saved in the run folder (`visual/pool.safetensors`) for every job to read.

Groups: F (the source's forget people), H (holdout people: the synthetic world's holdout config,
or drawn from the remaining people), and the others, from which each split draws its retained
people. Pretraining identities must be none of these.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from clearbench import atomic
from clearbench.errors import UserError
from clearbench.visual.data import (
    Identities,
    check_enough_images,
    concatenate,
    pretraining_identities,
    read_config,
)

POOL_FILE = "visual/pool.safetensors"


@dataclass
class Pool:
    identities: Identities  # every identity that can be forgotten, held out or retained
    forget: list[str]
    holdout: list[str]
    others: list[str]
    pretraining: Identities


def build_pool(config, source: str, log=print) -> Pool:
    """Read and check the data the config asks for (UserError naming what is wrong)."""
    from clearbench.data.load import list_configs, load_split

    data = config.data
    needed = data.enroll + 1
    configs = list_configs(source)
    box = data.face_box
    parts = [read_config(source, "full", data.resolution, revision=data.revision, box=box)]
    holdout_from_config = data.holdout_config is not None and data.holdout_config in configs
    if holdout_from_config:
        parts.append(
            read_config(source, data.holdout_config, data.resolution, revision=data.revision, box=box)
        )
    identities = check_enough_images(concatenate(parts), needed, data.short_identities == "skip", log)
    present = set(identities.names)
    forget_names = load_split(source, data.forget_split, data.revision)["name"]
    forget = [name for name in dict.fromkeys(forget_names) if name in present]
    if holdout_from_config:
        holdout = [name for name in parts[1].names if name in present]
    else:  # a source without holdout people (therem/CLEAR): as many drawn from the rest
        rest = [name for name in identities.names if name not in set(forget)]
        holdout = sorted(random.Random(f"clearbench-visual-holdout:{config.seed}").sample(rest, len(forget)))
    count = min(len(forget), len(holdout))
    if count < len(forget) or count < len(holdout):
        log(f"[visual] forget and holdout groups trimmed to {count} people each (the design swaps them)")
    forget, holdout = forget[:count], holdout[:count]
    others = [name for name in identities.names if name not in set(forget) | set(holdout)]
    pretrain_source = data.pretrain_source or source
    pretraining = pretraining_identities(
        pretrain_source, data.pretrain_config, data.resolution, data.pretrain_name_column, box=box
    )
    shared = sorted(set(pretraining.names) & present)
    if shared:
        raise UserError(
            f"pretraining identities are also in the pool (they must be disjoint): {', '.join(shared[:5])}"
        )
    if len(pretraining.names) < 2:
        raise UserError(f"pretraining config '{data.pretrain_config}' has fewer than 2 identities")
    return Pool(identities, forget, holdout, others, pretraining)


def save_pool(pool: Pool, root: Path) -> str:
    """Write the pool (atomically, unless the same is there) and return its content hash."""
    from safetensors.torch import save

    tensors = {
        "images": pool.identities.images.contiguous(),
        "labels": pool.identities.labels.contiguous(),
        "pretrain_images": pool.pretraining.images.contiguous(),
        "pretrain_labels": pool.pretraining.labels.contiguous(),
    }
    names = {
        "names": pool.identities.names,
        "forget": pool.forget,
        "holdout": pool.holdout,
        "others": pool.others,
        "pretrain_names": pool.pretraining.names,
    }
    blob = save(tensors, metadata={"groups": json.dumps(names)})
    digest = hashlib.sha256(blob).hexdigest()
    path = Path(root) / POOL_FILE
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        atomic.write_bytes(path, blob)
    return digest


def load_pool(root: Path, digest: str | None = None) -> Pool:
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(root) / POOL_FILE
    if digest is not None and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        raise UserError(f"{path} changed since the run planned its jobs; re-run the command")
    with safe_open(str(path), framework="pt") as handle:
        groups = json.loads(handle.metadata()["groups"])
    tensors = load_file(str(path))
    return Pool(
        Identities(tensors["images"], tensors["labels"], groups["names"]),
        groups["forget"],
        groups["holdout"],
        groups["others"],
        Identities(tensors["pretrain_images"], tensors["pretrain_labels"], groups["pretrain_names"]),
    )


def query_people(identities: Identities, enroll: int) -> list[str]:
    """The identity of each query (non-enrolment) image, in row order."""
    queries = ~identities.enrolment_mask(enroll)
    return [identities.names[label] for label in identities.labels[queries].tolist()]
