"""The paper's evaluation metrics (Section IV-A-3), in one place.

* **NME** of a face: the mean over its landmarks of ||p_j - g_j|| / d, where d is the ground-truth eye-centre
  distance (``Scheme.interocular``: points 1 and 2 for 5 points, pupils 17/18 for 29 points, the means of
  points 37-42 and 43-48 for 68 points, 1-based).  The "mean error" of a model is the mean NME over faces.
* **Failure rate**: the fraction of faces whose NME is larger than 10 %.
* **CED**: the cumulative error distribution, the fraction of faces with NME <= x, as a function of x.
* Per-landmark and per-cluster mean errors (Eqs. 5/9 use the former, Table IV the latter).

Everything here is plain numpy (no Caffe), takes predictions and ground truth in the same coordinates
(patch pixels or image pixels: a similarity transform without rotation changes the points and d by the same
factor, so the NME is the same) and returns fractions; ``percent`` converts for tables, which use percent like
the paper.

Shapes: points are ``(N, n, 2)`` or flat ``(N, 2n)`` (x1, y1, x2, y2, ...), d is ``(N,)``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

#: a face whose NME is above this is a failure (Section IV-A-3: "mean error larger than 10%")
FAILURE_THRESHOLD = 0.10


def as_points(points, n_faces: int | None = None) -> np.ndarray:
    """(N, n, 2) float64 from (N, n, 2) or flat (N, 2n) coordinates (x1, y1, x2, y2, ...)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 2:
        if p.shape[1] % 2:
            raise ValueError("flat coordinates need an even number of columns, got %s" % (p.shape,))
        p = p.reshape(len(p), -1, 2)
    if p.ndim != 3 or p.shape[2] != 2:
        raise ValueError("points must be (N, n, 2) or (N, 2n), got %s" % (np.shape(points),))
    if n_faces is not None and len(p) != n_faces:
        raise ValueError("%d faces of points but %d normalisers d" % (len(p), n_faces))
    return p


def point_errors(pred, gt, d) -> np.ndarray:
    """(N, n): ||p_j - g_j|| / d of every landmark on every face."""
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    p, g = as_points(pred, len(d)), as_points(gt, len(d))
    if p.shape != g.shape:
        raise ValueError("prediction %s and ground truth %s differ in shape" % (p.shape, g.shape))
    if not np.all(d > 0):
        raise ValueError("every eye-centre distance d must be positive")
    return np.linalg.norm(p - g, axis=2) / d[:, None]


def nme(pred, gt, d, points: Sequence[int] | None = None) -> np.ndarray:
    """(N,) per-face NME: mean over the landmarks (or over `points`, 0-based) of ||p_j - g_j|| / d."""
    e = point_errors(pred, gt, d)
    if points is not None:
        e = e[:, list(points)]
    return e.mean(axis=1)


def mean_error(face_nme) -> float:
    """The paper's "mean error": the mean NME over faces (a fraction)."""
    return float(np.mean(np.asarray(face_nme, dtype=np.float64)))


def failure_rate(face_nme, threshold: float = FAILURE_THRESHOLD) -> float:
    """Fraction of faces with NME > threshold (10 % in the paper)."""
    return float(np.mean(np.asarray(face_nme, dtype=np.float64) > threshold))


def per_landmark_errors(pred, gt, d) -> np.ndarray:
    """(n,) mean over faces of each landmark's normalised error (the eps_j of Eqs. 5 and 9)."""
    return point_errors(pred, gt, d).mean(axis=0)


def cluster_errors(point_errs, clusters: Iterable) -> dict[str, float]:
    """Mean error of each cluster's landmarks over all faces: {name: fraction}, as in Table IV.

    `point_errs` is the (N, n) array of ``point_errors``; `clusters` is ``Scheme.clusters``
    (pairs of name and 0-based indices)."""
    e = np.asarray(point_errs, dtype=np.float64)
    return {name: float(e[:, list(idx)].mean()) for name, idx in clusters}


def ced(
    face_nme, thresholds=None, max_error: float = 0.15, steps: int = 301
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: (x, fraction of faces with NME <= x).

    Default x: `steps` evenly spaced values from 0 to `max_error`."""
    e = np.sort(np.asarray(face_nme, dtype=np.float64).reshape(-1))
    x = np.linspace(0.0, max_error, steps) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if len(e) == 0:
        return x, np.zeros_like(x)
    return x, np.searchsorted(e, x, side="right") / len(e)


def auc(face_nme, max_error: float = FAILURE_THRESHOLD, steps: int = 1001) -> float:
    """Area under the CED curve up to `max_error`, divided by `max_error` (1 = every face perfect).
    Not a figure of the paper; reported as an extra."""
    x, y = ced(face_nme, max_error=max_error, steps=steps)
    return float(np.trapezoid(y, x) / max_error)


def percent(x):
    """Fraction(s) -> percent, the paper's unit (floats and arrays; dicts and lists recursively)."""
    if isinstance(x, dict):
        return {k: percent(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [percent(v) for v in x]
    if x is None:
        return None
    return np.asarray(x, dtype=np.float64) * 100.0 if np.ndim(x) else float(x) * 100.0


def summary(face_nme, threshold: float = FAILURE_THRESHOLD) -> dict:
    """{'faces', 'mean_error', 'failure_rate', 'auc_0.1'} of per-face NMEs, as fractions."""
    e = np.asarray(face_nme, dtype=np.float64)
    return {
        "faces": int(len(e)),
        "mean_error": mean_error(e),
        "failure_rate": failure_rate(e, threshold),
        "auc_0.1": auc(e),
    }
