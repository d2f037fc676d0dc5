"""Face-level splits, made before any augmentation so that no face (nor photo) leaks across splits.

Omega_t / Omega_v of Algorithm 1 are a training / validation split of the dataset's training
faces; a dataset without a test set here (the shared 300-W subset) can also hold out a test
fraction.  Faces that share a ``group`` (several faces of one photograph) go to the same split.
Groups are shuffled with a generator seeded by (seed, 1); the test split takes groups until it
holds >= round(test_fraction * N) faces, then validation until >= round(val_fraction * N); the
rest is training.  Within a split, faces keep their source order.
"""

from __future__ import annotations

import numpy as np


def split_faces(faces, val_fraction: float = 0.1, test_fraction: float = 0.0, seed: int = 0) -> dict:
    """-> {'train': [...], 'val': [...], 'test': [...]} (lists of the given faces)."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError("need 0 <= val_fraction, test_fraction and val_fraction + test_fraction < 1")
    n = len(faces)
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(faces):
        groups.setdefault(f.group if f.group is not None else "#%d" % i, []).append(i)
    keys = sorted(groups)
    order = np.random.default_rng([int(seed), 1]).permutation(len(keys))
    want = {"test": int(round(test_fraction * n)), "val": int(round(val_fraction * n))}
    assign = {}
    counts = {"test": 0, "val": 0}
    for gi in order:
        key = keys[gi]
        if counts["test"] < want["test"]:
            split = "test"
        elif counts["val"] < want["val"]:
            split = "val"
        else:
            split = "train"
        if split != "train":
            counts[split] += len(groups[key])
        for i in groups[key]:
            assign[i] = split
    out = {"train": [], "val": [], "test": []}
    for i, f in enumerate(faces):
        out[assign[i]].append(f)
    return out
