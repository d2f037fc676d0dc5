"""Face boxes from OpenCV's Haar cascade detector, and the calibration of any detector's boxes to the
training crop (the other detectors are in mcl_caffe.infer.detectors).

The cascade files ship in the opencv-python 4.x wheels (``cv2.data.haarcascades``) and in Debian's
``opencv-data`` package (/usr/share/opencv4/haarcascades).  OpenCV 5 moved ``cv2.CascadeClassifier``
to the contrib modules (opencv-contrib-python-headless 5.x has it, without cascade files: take them from
opencv-data; its detections equal OpenCV 4.14's on the shared 300-W faces).  With an OpenCV that has
no CascadeClassifier the detector is unavailable and says so (DetectorUnavailable), and face boxes must
come from a box file.

A Haar box is not the box the network was trained on (the tight box of the landmarks, see
mcl_caffe.core.crop): it is larger, square, and sits higher.  ``fit_detector_calibration`` measures, on
training faces, the median ratio of the landmark box's larger side to the detector box's and the median
centre offset (``crop.fit_box_calibration``); the fitted numbers are stored per landmark scheme in
``detector_calibration.json`` next to this file (tools/fit_detector_calibration.py writes it), and
``detector_calibration(name, scheme, crop_scale)`` turns them into the BoxCalibration for a model.
The same fit is made for every detector of mcl_caffe.infer.detectors, keyed by its name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mcl_caffe.core import crop as C

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"
CALIBRATION_FILE = Path(__file__).with_name("detector_calibration.json")
SYSTEM_CASCADE_DIRS = (Path("/usr/share/opencv4/haarcascades"), Path("/usr/share/opencv/haarcascades"))


class DetectorUnavailable(RuntimeError):
    pass


def cascade_dirs() -> list[Path]:
    import cv2

    dirs = []
    data = getattr(cv2, "data", None)
    if data is not None and getattr(data, "haarcascades", None):
        dirs.append(Path(data.haarcascades))
    return dirs + list(SYSTEM_CASCADE_DIRS)


def find_cascade(path=None, name: str = DEFAULT_CASCADE) -> Path:
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DetectorUnavailable("cascade file not found: %s" % p)
        return p
    for d in cascade_dirs():
        if (d / name).is_file():
            return d / name
    raise DetectorUnavailable(
        "no %s in %s; install opencv-python(-headless) 4.x or Debian's opencv-data, or give "
        "--cascade" % (name, ", ".join(str(d) for d in cascade_dirs()))
    )


class HaarFaceDetector:
    """Frontal-face Haar cascade. detect(gray) -> (k, 4) boxes (left, right, top, bottom), largest first."""

    def __init__(self, cascade=None, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 20):
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise DetectorUnavailable(
                "this OpenCV (%s) has no cv2.CascadeClassifier (OpenCV 5 moved the Haar detector to the "
                "contrib modules): install opencv-contrib-python-headless (cascade files from Debian's "
                "opencv-data) or opencv-python-headless<5, or give face boxes with --boxes" % cv2.__version__
            )
        self.path = find_cascade(cascade)
        self.classifier = cv2.CascadeClassifier(str(self.path))
        if self.classifier.empty():
            raise DetectorUnavailable("OpenCV could not load the cascade %s" % self.path)
        self.name = self.path.stem
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def detect(self, image: np.ndarray, min_size: float | None = None) -> np.ndarray:
        """Faces in a grayscale or BGR uint8 image (BGR is turned into BT.601 luma, as crop.to_gray);
        `min_size` overrides the smallest window for this call."""
        m = int(round(self.min_size if min_size is None else min_size))
        rects = self.classifier.detectMultiScale(
            C.to_gray(image),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(m, m),
        )
        if len(rects) == 0:
            return np.zeros((0, 4))
        r = np.asarray(rects, dtype=np.float64)
        # OpenCV's rectangle covers pixels x .. x + w - 1; with pixel centres at integers,
        # its edges are x - 0.5 and x + w - 0.5
        boxes = np.stack(
            [r[:, 0] - 0.5, r[:, 0] + r[:, 2] - 0.5, r[:, 1] - 0.5, r[:, 1] + r[:, 3] - 0.5], axis=1
        )
        return boxes[np.argsort(-(r[:, 2] * r[:, 3]), kind="stable")]


def match_detection(boxes: np.ndarray, tight_box) -> int | None:
    """Index of the detection holding the landmark box's centre (nearest centre first), else None."""
    c = C.box_center(tight_box)
    best, best_d = None, np.inf
    for i, b in enumerate(boxes):
        if b[0] <= c[0] <= b[1] and b[2] <= c[1] <= b[3]:
            d = np.linalg.norm(C.box_center(b) - c)
            if d < best_d:
                best, best_d = i, d
    return best


def fit_calibration_from_boxes(
    boxes_per_face, faces, scheme, min_faces: int = 20, match_boxes_per_face=None
) -> dict:
    """Match each face's detections (list of (k, 4) arrays) to its landmark box, fit the ratio and
    offset. -> JSON-able dict.  `match_boxes_per_face` (default: the boxes themselves) are the boxes to
    match with, row for row (e.g. a detector's face boxes when the boxes fitted are its points' boxes)."""
    given, tight, missed = [], [], 0
    match = boxes_per_face if match_boxes_per_face is None else match_boxes_per_face
    for face, boxes, mboxes in zip(faces, boxes_per_face, match):
        tb = C.face_box_from_landmarks(face.points)
        i = match_detection(mboxes, tb)
        if i is None:
            missed += 1
            continue
        given.append(boxes[i])
        tight.append(tb)
    if len(given) < min_faces:
        raise RuntimeError(
            "only %d of %d faces detected; too few to fit a calibration" % (len(given), len(faces))
        )
    cal = C.fit_box_calibration(given, tight, scheme, min_faces=min_faces)
    k = C.CROP_SCALE[scheme.name]
    return {"ratio": cal.scale / k, "dx": cal.dx, "dy": cal.dy, "fitted_on": cal.fitted_on, "missed": missed}


def fit_detector_calibration(detector, faces, scheme, min_faces: int = 20) -> dict:
    """Detect every face (any detector of mcl_caffe.infer.detectors: detect(BGR image) -> boxes), match it to
    its landmark box, fit the ratio and offset. -> JSON-able dict."""
    boxes = [detector.detect(C.face_color(face)) for face in faces]
    return fit_calibration_from_boxes(boxes, faces, scheme, min_faces)


def load_calibrations(path=CALIBRATION_FILE) -> dict:
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else {}


def detector_calibration(
    detector_name: str, scheme: str, crop_scale: float, path=CALIBRATION_FILE
) -> C.BoxCalibration:
    """BoxCalibration that turns this detector's boxes into the model's training crop.

    Without a fitted entry, the detector box is used as if it were the landmark box (a known bias)."""
    entry = load_calibrations(path).get(detector_name, {}).get(scheme)
    if not entry:
        return C.BoxCalibration(scale=float(crop_scale))
    return C.BoxCalibration(
        scale=float(crop_scale) * float(entry["ratio"]),
        dx=float(entry["dx"]),
        dy=float(entry["dy"]),
        fitted_on=int(entry["fitted_on"]),
    )
