"""Handcrafted left-eye occlusion of test faces (paper Section IV-D, Table VII, Fig. 9).

"Randomly 30% testing faces from COFW are processed with left eyes being occluded, where the tight bounding
box covering landmarks of left eye is filled with gray color."  Here, on the 50x50 test patches:

* the faces: ``round(fraction * N)`` of the N test faces, drawn without replacement with a fixed seed;
* the points: the scheme's ``left_eye`` cluster (the part whose error Table VII reports; for 29 and 68 points
  it holds the left brow and the left eye, see ``mcl_caffe.core.landmarks``), ground-truth positions in the
  patch;
* the box: their tight box [min x, max x] x [min y, max y]; every pixel whose square (centre at integer
  coordinates, side 1) overlaps the box is filled, so the whole box is gray; clipped to the patch;
* a one-point cluster (the 5-point scheme: the left eye is one point) has no extent, so its box is centred on
  the point with the size of a typical left-eye box: the median tight box of points 37-42 (1-based) on the
  shared 300-W faces, 0.40 d wide and 0.14 d high (d = eye-centre distance). The paper does not do this
  (it occludes COFW only); it is our choice so that the experiment means something on 5 points;
* the fill: gray 128 on the un-normalised pixels, i.e. the normalised value (128 - 128) * 0.0078125 = 0.
"""

from __future__ import annotations

import numpy as np

from mcl_caffe.core.crop import PATCH_SIZE, PIXEL_MEAN, PIXEL_SCALE

GRAY = 128
#: normalised value of the gray fill, (128 - 128) * 0.0078125
GRAY_NORMALISED = float((GRAY - PIXEL_MEAN) * PIXEL_SCALE)
#: size (width, height) in units of d of the box of a one-point left-eye cluster (see the module doc)
SINGLE_POINT_BOX_D = (0.40, 0.14)
DEFAULT_FRACTION = 0.30
DEFAULT_SEED = 0


def left_eye_points(scheme) -> tuple[int, ...]:
    """0-based indices of the scheme's left-eye cluster."""
    for name, idx in scheme.clusters:
        if name == "left_eye":
            return tuple(idx)
    raise ValueError("scheme %s has no left_eye cluster" % scheme.name)


def choose_faces(n_faces: int, fraction: float = DEFAULT_FRACTION, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Sorted indices of round(fraction * n_faces) faces, drawn without replacement with `seed`."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("occlusion fraction must be within [0, 1], got %r" % fraction)
    k = int(round(fraction * n_faces))
    return np.sort(np.random.default_rng(seed).choice(n_faces, size=k, replace=False))


def tight_box(points, d: float, single_point_box=SINGLE_POINT_BOX_D) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) of (k, 2) points; a single point gets a box of single_point_box * d."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) == 1:
        hw, hh = 0.5 * single_point_box[0] * d, 0.5 * single_point_box[1] * d
        x, y = p[0]
        return x - hw, x + hw, y - hh, y + hh
    return p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max()


def box_pixels(box, size: int = PATCH_SIZE) -> tuple[slice, slice]:
    """(rows, cols) slices of the pixels whose unit squares overlap the box, clipped to the patch.

    Pixel i covers [i - 0.5, i + 0.5): it overlaps [lo, hi] iff lo - 0.5 < i < hi + 0.5."""
    x0, x1, y0, y1 = box

    def span(lo, hi):
        first = int(np.floor(lo - 0.5)) + 1
        last = int(np.ceil(hi + 0.5)) - 1
        first, last = max(first, 0), min(last, size - 1)
        return slice(first, max(last + 1, first))

    return span(y0, y1), span(x0, x1)


def occlude_left_eye(
    data: np.ndarray,
    label: np.ndarray,
    d: np.ndarray,
    scheme,
    fraction: float = DEFAULT_FRACTION,
    seed: int = DEFAULT_SEED,
):
    """Copy of the normalised test patches (N, 1, H, W) with the left eye of the chosen faces gray.

    -> (occluded data, chosen face indices, boxes (len(chosen), 4) as x_min, x_max, y_min, y_max)."""
    data = np.asarray(data)
    n = len(data)
    pts = np.asarray(label, dtype=np.float64).reshape(n, -1, 2)
    idx = list(left_eye_points(scheme))
    faces = choose_faces(n, fraction, seed)
    out = data.copy()
    boxes = np.zeros((len(faces), 4))
    size = data.shape[-1]
    for k, i in enumerate(faces):
        box = tight_box(pts[i, idx], float(d[i]))
        rows, cols = box_pixels(box, size)
        out[i, ..., rows, cols] = GRAY_NORMALISED
        boxes[k] = box
    return out, faces, boxes
