"""Where a model's error comes from: a comparison of two face sets (say validation and test) under one model.

The report uses it to explain a gap between the validation error and the test error. Three views:

* **Signed offset per landmark:** the mean of (prediction - ground truth) / d over the faces, in percent of d.
  The NME takes the length of the error, so it cannot show a shift in one direction. This view can.
  A shift shared by every landmark points to a difference in labelling or cropping conventions between
  the sets. A shift at only some landmarks points to a difference in how those landmarks were annotated.
* **NME with each landmark's mean offset removed:** how much of the NME the shift accounts for. It is a
  diagnostic that uses the ground truth (an oracle), not a model result, and is never reported as one.
* **Pose:** the faces grouped by a yaw proxy computed from the ground truth: the nose tip's position along
  the line through the eye centres, relative to the eyes' midpoint, in units of d (0 for a frontal face,
  about +-0.5 when the nose reaches an eye). A set with more turned faces, on which the error is higher,
  has a higher mean error for that reason alone.

Everything is plain numpy, in the coordinates of the inputs (patch pixels in the report).
"""

from __future__ import annotations

import numpy as np

from mcl_caffe.core import metrics as M

#: edges of the |yaw proxy| groups (the last group is open)
YAW_EDGES = (0.0, 0.1, 0.2, 0.3)


def nose_tip_index(scheme) -> int:
    """Index of the nose tip: 'nose_tip' (5 and 29 points) or the lowest nose-bridge point (68 points)."""
    for name in ("nose_tip", "nose_bridge_4"):
        if name in scheme.point_names:
            return scheme.point_names.index(name)
    raise ValueError("scheme %s has no nose-tip point" % scheme.name)


def yaw_proxy(gt, scheme) -> np.ndarray:
    """(N,) the nose tip's offset from the eyes' midpoint along the eye axis, in units of d."""
    g = M.as_points(gt)
    left, right = scheme.eye_centres(g)
    axis = right - left
    d2 = np.einsum("ij,ij->i", axis, axis)
    if not np.all(d2 > 0):
        raise ValueError("every face needs two distinct eye centres")
    nose = g[:, nose_tip_index(scheme)]
    return np.einsum("ij,ij->i", nose - (left + right) / 2.0, axis) / d2


def signed_offsets(pred, gt, d) -> np.ndarray:
    """(n, 2) mean over the faces of (prediction - ground truth) / d, per landmark and axis."""
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    p, g = M.as_points(pred, len(d)), M.as_points(gt, len(d))
    return ((p - g) / d[:, None, None]).mean(axis=0)


def nme_without_offset(pred, gt, d, offsets) -> np.ndarray:
    """(N,) per-face NME after subtracting `offsets` ((n, 2), in units of d) from every prediction."""
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    p = M.as_points(pred, len(d)) - np.asarray(offsets)[None] * d[:, None, None]
    return M.nme(p, gt, d)


def yaw_groups(yaw, face_nme, edges=YAW_EDGES) -> list[dict]:
    """Faces grouped by |yaw proxy|: [{'low', 'high' (None: open), 'faces', 'share', 'nme'}]."""
    a = np.abs(np.asarray(yaw, dtype=np.float64))
    e = np.asarray(face_nme, dtype=np.float64)
    out = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        m = (a >= low) & (a < high) if high is not None else (a >= low)
        n = int(m.sum())
        out.append(
            {
                "low": float(low),
                "high": None if high is None else float(high),
                "faces": n,
                "share": n / len(a) if len(a) else 0.0,
                "nme": float(e[m].mean()) if n else None,
            }
        )
    return out


def breakdown(pred, gt, d, scheme) -> dict:
    """Every view for one set of faces (fractions; the report converts to percent)."""
    face = M.nme(pred, gt, d)
    off = signed_offsets(pred, gt, d)
    yaw = yaw_proxy(gt, scheme)
    return {
        "faces": int(len(face)),
        "nme": float(face.mean()),
        "offsets": off.tolist(),
        "mean_offset": off.mean(axis=0).tolist(),
        "nme_without_offset": float(nme_without_offset(pred, gt, d, off).mean()),
        "mean_abs_yaw": float(np.abs(yaw).mean()),
        "yaw_groups": yaw_groups(yaw, face),
    }


def reweighted_nme(groups: list[dict], to_groups: list[dict]) -> float | None:
    """The mean NME of `groups` if its faces were spread over the yaw groups as `to_groups`'s are.

    Groups that are empty in `groups` but not in `to_groups` make the answer undefined (None)."""
    total = 0.0
    for g, t in zip(groups, to_groups):
        if t["share"] == 0:
            continue
        if g["nme"] is None:
            return None
        total += t["share"] * g["nme"]
    return total
