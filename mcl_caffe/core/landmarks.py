"""Landmark schemes (5, 29 and 68 points), kept as data.

Each scheme holds, for one labelling pattern of the paper (Section IV-A, Fig. 3):

* ``point_names``  -- the dataset's point order (0-based here);
* ``eye_indices``  -- two lists of indices; the mean of each list is an eye centre, and the
  distance between the two centres is the normaliser d of Eq. 4;
* ``clusters``     -- the partition P^1..P^m used by multi-center fine-tuning;
* ``flip_perm``    -- after mirroring the image, point i of the mirrored face is point
  ``flip_perm[i]`` of the original face (an involution).

"Left"/"right" always mean the left/right side of the *image*, as in MTFL's README, so a
"left eye" cluster holds the points that appear on the image's left half of a frontal face.

Sources
-------
5 points (MTFL/AFLW): order left eye, right eye, nose tip, left mouth corner, right mouth
  corner (MTFL readme).  d = |p1 - p2| (the issue).  Clusters: left eye, right eye, nose,
  mouth (paper, 4 clusters).

29 points (COFW, the LFPW 29-point order used by RCPR): the order and the mirror pairs are
  those of the RCPR release as reproduced by HRNet-Facial-Landmark-Detection and mmpose
  (1-based pairs 1-2, 3-4, 5-7, 6-8, 9-10, 11-12, 13-15, 14-16, 17-18, 19-20, 23-24; points
  21, 22, 25-29 lie on the midline).  d = distance between the pupils, points 17 and 18
  (1-based), exactly as RCPR's ``shapeGt>dist`` computes ``distPup`` for 'cofw'.
  Fig. 3(b) of the paper is not readable in our copy, so the 5 clusters follow the paper's
  text (seven semantic parts; 29 points have no side contour): left eye (left brow, left eye
  corners and lids, left pupil), right eye (the same on the right), nose (19-22), mouth
  (23-28), chin (29).  Eyebrows go with their eye because the paper's seven parts have no
  eyebrow part (the same choice as for 68 points below).

68 points (300-W / Multi-PIE): the standard iBUG order.  d = distance between the mean of
  points 37-42 and the mean of points 43-48 (1-based), the definition of the 300-W
  evaluation code (and RCPR's 'pie' model).  7 clusters (paper): left eye = left brow 18-22
  + left eye 37-42; right eye = right brow 23-27 + right eye 43-48; nose 28-36; mouth 49-68;
  left contour 1-6; chin 7-11; right contour 12-17.  The 17 jaw points are split 6/5/6 so
  that the split is mirror-symmetric (the flip maps every cluster onto a cluster).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Scheme:
    name: str
    n_points: int
    point_names: tuple[str, ...]
    eye_indices: tuple[tuple[int, ...], tuple[int, ...]]
    clusters: tuple[tuple[str, tuple[int, ...]], ...]
    flip_perm: tuple[int, ...]
    description: str = ""
    _flip_arr: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if len(self.point_names) != self.n_points or len(self.flip_perm) != self.n_points:
            raise ValueError("scheme %s: point_names/flip_perm length != n_points" % self.name)
        object.__setattr__(self, "_flip_arr", np.asarray(self.flip_perm, dtype=np.intp))

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    def cluster_of(self) -> np.ndarray:
        """Array (n,) giving the cluster number of every point."""
        out = np.full(self.n_points, -1, dtype=np.intp)
        for c, (_, idx) in enumerate(self.clusters):
            out[list(idx)] = c
        return out

    def eye_centres(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, self.n_points, 2)
        left = pts[:, list(self.eye_indices[0])].mean(axis=1)
        right = pts[:, list(self.eye_indices[1])].mean(axis=1)
        if np.ndim(points) == 2:
            return left[0], right[0]
        return left, right

    def interocular(self, points: np.ndarray) -> np.ndarray | float:
        """Eq. 4's d: distance between the two eye centres. (n,2) -> float; (N,n,2) -> (N,)."""
        left, right = self.eye_centres(points)
        d = np.linalg.norm(np.asarray(left) - np.asarray(right), axis=-1)
        return float(d) if np.ndim(points) == 2 else d

    def flip_points(self, points: np.ndarray, width: float) -> np.ndarray:
        """Mirror points for an image of `width` pixels (pixel centres at integers: x -> width-1-x)
        and permute them so that index i keeps its meaning."""
        pts = np.asarray(points, dtype=np.float64)
        out = pts[..., self._flip_arr, :].copy()
        out[..., 0] = (width - 1) - out[..., 0]
        return out


def _scheme_5() -> Scheme:
    names = ("left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right")
    return Scheme(
        name="aflw5",
        n_points=5,
        point_names=names,
        eye_indices=((0,), (1,)),
        clusters=(("left_eye", (0,)), ("right_eye", (1,)), ("nose", (2,)), ("mouth", (3, 4))),
        flip_perm=(1, 0, 2, 4, 3),
        description="MTFL/AFLW 5 points",
    )


def _scheme_29() -> Scheme:
    names = (
        "left_brow_outer",
        "right_brow_outer",
        "left_brow_inner",
        "right_brow_inner",  # 1-4
        "left_brow_top",
        "left_brow_bottom",
        "right_brow_top",
        "right_brow_bottom",  # 5-8
        "left_eye_outer",
        "right_eye_outer",
        "left_eye_inner",
        "right_eye_inner",  # 9-12
        "left_eye_top",
        "left_eye_bottom",
        "right_eye_top",
        "right_eye_bottom",  # 13-16
        "left_pupil",
        "right_pupil",  # 17-18
        "nose_left",
        "nose_right",
        "nose_tip",
        "nose_bottom",  # 19-22
        "mouth_left",
        "mouth_right",
        "upper_lip_top",
        "upper_lip_bottom",  # 23-26
        "lower_lip_top",
        "lower_lip_bottom",
        "chin",  # 27-29
    )
    pairs = [
        (1, 2),
        (3, 4),
        (5, 7),
        (6, 8),
        (9, 10),
        (11, 12),
        (13, 15),
        (14, 16),
        (17, 18),
        (19, 20),
        (23, 24),
    ]
    perm = list(range(29))
    for a, b in pairs:
        perm[a - 1], perm[b - 1] = b - 1, a - 1
    one = lambda *xs: tuple(x - 1 for x in xs)  # noqa: E731 (1-based -> 0-based)
    return Scheme(
        name="cofw29",
        n_points=29,
        point_names=names,
        eye_indices=(one(17), one(18)),
        clusters=(
            ("left_eye", one(1, 3, 5, 6, 9, 11, 13, 14, 17)),
            ("right_eye", one(2, 4, 7, 8, 10, 12, 15, 16, 18)),
            ("nose", one(19, 20, 21, 22)),
            ("mouth", one(23, 24, 25, 26, 27, 28)),
            ("chin", one(29)),
        ),
        flip_perm=tuple(perm),
        description="COFW / LFPW 29 points (RCPR order)",
    )


def _scheme_68() -> Scheme:
    names = tuple(
        ["jaw_%d" % i for i in range(1, 18)]
        + ["left_brow_%d" % i for i in range(1, 6)]
        + ["right_brow_%d" % i for i in range(1, 6)]
        + ["nose_bridge_%d" % i for i in range(1, 5)]
        + ["nose_base_%d" % i for i in range(1, 6)]
        + ["left_eye_%d" % i for i in range(1, 7)]
        + ["right_eye_%d" % i for i in range(1, 7)]
        + ["mouth_outer_%d" % i for i in range(1, 13)]
        + ["mouth_inner_%d" % i for i in range(1, 9)]
    )
    perm = list(range(68))

    def pair(a, b):
        perm[a], perm[b] = b, a

    for i in range(8):
        pair(i, 16 - i)  # jaw
    for i in range(5):
        pair(17 + i, 26 - i)  # brows
    pair(31, 35)
    pair(32, 34)  # nostrils
    for a, b in [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]:
        pair(a, b)  # eyes
    for a, b in [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]:
        pair(a, b)  # mouth
    rng = lambda a, b: tuple(range(a - 1, b))  # noqa: E731 (1-based inclusive -> 0-based)
    return Scheme(
        name="300w68",
        n_points=68,
        point_names=names,
        eye_indices=(rng(37, 42), rng(43, 48)),
        clusters=(
            ("left_eye", rng(18, 22) + rng(37, 42)),
            ("right_eye", rng(23, 27) + rng(43, 48)),
            ("nose", rng(28, 36)),
            ("mouth", rng(49, 68)),
            ("left_contour", rng(1, 6)),
            ("chin", rng(7, 11)),
            ("right_contour", rng(12, 17)),
        ),
        flip_perm=tuple(perm),
        description="300-W 68 points (iBUG order)",
    )


SCHEMES: dict[str, Scheme] = {s.name: s for s in (_scheme_5(), _scheme_29(), _scheme_68())}
#: the scheme of each dataset name accepted by tools/make_data.py
#: the benchmarks `make data` reads and the runner trains, each with its landmark scheme below
DATASETS = ("aflw", "cofw", "300w")
DATASET_SCHEME = {"aflw": "aflw5", "mtfl": "aflw5", "cofw": "cofw29", "300w": "300w68"}


def get_scheme(key: str | int) -> Scheme:
    """Scheme by name ('aflw5', 'cofw29', '300w68'), dataset name ('aflw', 'cofw', '300w') or point count."""
    if isinstance(key, (int, np.integer)):
        for s in SCHEMES.values():
            if s.n_points == key:
                return s
        raise KeyError("no landmark scheme with %d points (known: 5, 29, 68)" % key)
    key = str(key).lower()
    if key in SCHEMES:
        return SCHEMES[key]
    if key in DATASET_SCHEME:
        return SCHEMES[DATASET_SCHEME[key]]
    raise KeyError(
        "unknown landmark scheme %r (known: %s)" % (key, ", ".join(list(SCHEMES) + list(DATASET_SCHEME)))
    )
