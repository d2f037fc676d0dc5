"""Model assembling (Eq. 2): one shape prediction layer from the m cluster-specific ones.

w^a_{2j-1} = w^i_{2j-1}, w^a_{2j} = w^i_{2j} for j in P^i: the rows of the InnerProduct weight (2n x D) and
bias (2n) that predict cluster i's landmarks are taken from the i-th multi-center model.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def coordinate_rows(points: Sequence[int]) -> np.ndarray:
    """InnerProduct output rows (0-based) of the given 0-based landmarks: x at 2j, y at 2j + 1."""
    pts = np.asarray(points, dtype=np.intp)
    return np.stack([2 * pts, 2 * pts + 1], axis=1).ravel()


def splice(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray],
           clusters: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 2. `weights[i]` (2n x D) and `biases[i]` (2n) belong to the model tuned for `clusters[i]`."""
    if not (len(weights) == len(biases) == len(clusters)) or not clusters:
        raise ValueError("need one weight matrix and one bias per cluster")
    n_out = weights[0].shape[0]
    owner = np.full(n_out, -1)
    for i, cluster in enumerate(clusters):
        rows = coordinate_rows(cluster)
        if np.any(owner[rows] >= 0):
            raise ValueError("landmarks of cluster %d also belong to another cluster" % i)
        owner[rows] = i
    if np.any(owner < 0):
        missing = sorted(set((np.flatnonzero(owner < 0) // 2).tolist()))
        raise ValueError("landmarks %s belong to no cluster" % missing)
    w = np.empty_like(weights[0])
    b = np.empty_like(biases[0])
    for i, cluster in enumerate(clusters):
        rows = coordinate_rows(cluster)
        w[rows] = weights[i][rows]
        b[rows] = biases[i][rows]
    return w, b
