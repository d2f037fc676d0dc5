"""The Face record every loader returns; the error type for bad input is core.box_file.BadSample."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from mcl_caffe.core.box_file import BadSample


@dataclass
class Face:
    """One annotated face.

    points    (n, 2) float64 image coordinates, pixel centres at integers, 0-based.
    box       (left, right, top, bottom) from the dataset or a box file, or None (then the
              face box is derived from the points, see mcl_caffe.core.crop.face_box_from_landmarks).
    image     the decoded image when the dataset stores pixels (COFW .mat), else None and
              `image_path` names the file.  `channel_order` says how to make it grayscale.
    source    human-readable origin for messages, e.g. 'training.txt:12 (lfw_5590/x.jpg)'.
    group     faces with the same group (e.g. several faces of one photo) stay in one split.
    """

    source: str
    points: np.ndarray
    image_path: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    channel_order: str = "bgr"
    box: np.ndarray | None = None
    occlusion: np.ndarray | None = None
    group: str | None = None
    order: int = -1  # position in its source list (matches line i of a box file)

    @property
    def image_id(self) -> str:
        return self.image_path if self.image_path is not None else self.source


@dataclass
class LoadResult:
    """Faces read from one source list, plus the problems met (one BadSample per skipped face)."""

    faces: list[Face]
    problems: list[BadSample]


class FaceCollector:
    """The faces a loader reads, and the problems it meets: `keep(face)` checks a face against the scheme and
    keeps it; a BadSample raised inside `with collector.skipping():` is kept as a problem instead."""

    def __init__(self, scheme):
        self.scheme, self.faces, self.problems = scheme, [], []

    @contextmanager
    def skipping(self):
        try:
            yield
        except BadSample as exc:
            self.problems.append(exc)

    def keep(self, face: Face) -> None:
        check_face(face, self.scheme)
        self.faces.append(face)

    def result(self) -> LoadResult:
        return LoadResult(self.faces, self.problems)


def check_face(face: Face, scheme) -> None:
    """Raise BadSample for a face whose annotation cannot be used: wrong point count, non-finite
    values, zero-area box (given, or the landmarks' tight box), coincident eye centres (d = 0)."""
    n_points = scheme.n_points
    pts = np.asarray(face.points, dtype=np.float64)
    if pts.shape != (n_points, 2):
        raise BadSample(
            "wrong point count", "%s: expected %d points, got %d" % (face.source, n_points, pts.size // 2)
        )
    if not np.all(np.isfinite(pts)):
        raise BadSample("non-numeric value", "%s: landmark coordinates are not finite numbers" % face.source)
    if face.box is not None:
        box = np.asarray(face.box, dtype=np.float64)
        if box.shape != (4,) or not np.all(np.isfinite(box)):
            raise BadSample("non-numeric value", "%s: face box is not 4 finite numbers" % face.source)
        if not (box[1] > box[0] and box[3] > box[2]):
            raise BadSample(
                "zero-area box",
                "%s: zero-area face box (left, right, top, bottom) = %s"
                % (face.source, [round(float(v), 3) for v in box]),
            )
    else:
        w = pts[:, 0].max() - pts[:, 0].min()
        h = pts[:, 1].max() - pts[:, 1].min()
        if not (w > 0 and h > 0):
            raise BadSample(
                "zero-area box",
                "%s: the landmarks' tight box has zero area (%.3g x %.3g px)" % (face.source, w, h),
            )
    if not scheme.interocular(pts) > 0:
        raise BadSample("zero eye distance", "%s: the two eye centres coincide (d = 0)" % face.source)
