"""Crop geometry: face box -> square crop -> 50x50 patch, and back. Used by data prep and inference.

Conventions
-----------
* Coordinates are pixel-centre-at-integer on both sides: pixel (i, j) of an image covers
  [i-0.5, i+0.5] x [j-0.5, j+0.5], so the image spans [-0.5, W-0.5].  This is OpenCV's
  convention, so ``cv2.warpAffine(img, A, (50, 50))`` and ``apply_affine(A, points)`` agree.
* A face box is ``(left, right, top, bottom)`` in image pixels (MCNet-Extension box-file order).
* The crop of a box is the square centred on the box centre with
  ``side = CROP_SCALE[scheme] * max(box width, box height)``.  It is stored as
  ``crop = (x0, y0, side)`` where (x0, y0) is the image position of the centre of patch pixel
  (0, 0); then ``patch = (img - (x0, y0)) * 50 / side`` and ``img = patch * side / 50 + (x0, y0)``.
  The box centre lands on the patch centre (24.5, 24.5).
* The face box of a face without a dataset box is ``face_box_from_landmarks``: the tight box
  of its ground-truth points (300-W's bb_ground_truth convention).  The same rule is used at
  training and at test time.

CROP_SCALE (chosen by drawing crops of the shared MTFL and 300-W data at several scales and
looking at them; the numbers are in units of the tight landmark box's larger side)
* ``aflw5 = 2.6``: the 5-point box spans only eyes to mouth corners.  On the 300-W faces the
  68-point box is a median 2.01x the box of the 5 equivalent points (eye centres, nose tip,
  mouth corners), so 2.6 = 1.3 x 2.0 gives the 68-point crop; looking at MTFL (LFW and web)
  and AFLW test faces, 2.6 keeps the chin and both cheeks inside with a small margin, while
  2.2-2.4 cut the chin of long faces.
* ``cofw29 = 1.35``: the 29-point box spans eyebrow ends to chin tip.  No COFW data here:
  on the 300-W faces the 68-point box is a median 1.03x the box of the 29-point-like subset
  (brows, eyes, nose, mouth, chin point 9), hence 1.3 x 1.03 = 1.34, rounded up to 1.35.
* ``300w68 = 1.3``: the 68-point box already covers jaw, chin and eyebrows; 1.3x adds ~12% of
  the face on every side (part of the forehead), which leaves room for the scale/shift
  augmentation to keep every point inside the patch: the smallest one-decimal scale that does at
  scale 0.9 and shift 0.05 is 1 / (2 x 0.9 x (0.5 - 0.05)) = 1.23 -> 1.3.
tests/core/test_crop.py re-derives all three from the data and the augmentation settings.

Faces with a dataset/box-file box (COFW, or --box-file) are cropped with ``crop_for_given_box``:
the same square rule with a ``BoxCalibration`` (scale and centre offset relative to the given
box) fitted on the training faces so that, on average, a given-box crop equals the landmark
crop the network was trained on.  Without a fit it is exactly ``crop_for_box``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

PATCH_SIZE = 50
PIXEL_MEAN = 128.0
PIXEL_SCALE = 0.0078125  # (p - 128) * 0.0078125 in [-1, 1)

CROP_SCALE = {"aflw5": 2.6, "cofw29": 1.35, "300w68": 1.3}


def _scheme_name(scheme) -> str:
    return scheme if isinstance(scheme, str) else scheme.name


# ----------------------------------------------------------------------------- boxes
def face_box_from_landmarks(points: np.ndarray, scheme=None) -> np.ndarray:
    """THE face-box rule for faces without a dataset box: tight box (left, right, top, bottom) of the
    ground-truth points.  `scheme` (name or Scheme) only checks the point count."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if scheme is not None and not isinstance(scheme, str) and len(pts) != scheme.n_points:
        raise ValueError("expected %d points for %s, got %d" % (scheme.n_points, scheme.name, len(pts)))
    return np.array([pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max()])


def box_from_xywh(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([x, x + w, y, y + h], dtype=np.float64)


def box_size(box) -> tuple[float, float]:
    left, right, top, bottom = (float(v) for v in box)
    return right - left, bottom - top


def box_center(box) -> np.ndarray:
    left, right, top, bottom = (float(v) for v in box)
    return np.array([(left + right) / 2.0, (top + bottom) / 2.0])


def box_area(box) -> float:
    w, h = box_size(box)
    return max(w, 0.0) * max(h, 0.0)


# ----------------------------------------------------------------------------- crops
def square_crop(center, side: float, size: int = PATCH_SIZE) -> np.ndarray:
    """crop = (x0, y0, side) of the square of `side` pixels centred on `center`."""
    cx, cy = float(center[0]), float(center[1])
    half = side / 2.0 - 0.5 * side / size
    return np.array([cx - half, cy - half, float(side)])


def crop_for_box(box, scheme, scale: float | None = None, size: int = PATCH_SIZE) -> np.ndarray:
    """The team's crop rule: square on the box centre, side = CROP_SCALE[scheme] * max(w, h)."""
    if scale is None:
        scale = CROP_SCALE[_scheme_name(scheme)]
    w, h = box_size(box)
    side = scale * max(w, h)
    if not side > 0:
        raise ValueError("zero-area face box %s" % (list(np.round(box, 3)),))
    return square_crop(box_center(box), side, size)


@dataclass(frozen=True)
class BoxCalibration:
    """Crop of a given (dataset / detector) box: side = scale * max(w, h), centre = box centre +
    (dx, dy) * max(w, h)."""

    scale: float
    dx: float = 0.0
    dy: float = 0.0
    fitted_on: int = 0  # number of training faces the fit used (0 = default, not fitted)

    def as_dict(self) -> dict:
        return asdict(self)


def default_calibration(scheme) -> BoxCalibration:
    return BoxCalibration(scale=CROP_SCALE[_scheme_name(scheme)])


def fit_box_calibration(given_boxes, landmark_boxes, scheme, min_faces: int = 10) -> BoxCalibration:
    """Medians over training faces of the landmark crop's side and centre relative to the given box."""
    given = np.asarray(given_boxes, dtype=np.float64).reshape(-1, 4)
    tight = np.asarray(landmark_boxes, dtype=np.float64).reshape(-1, 4)
    if len(given) < min_faces:
        return default_calibration(scheme)
    k = CROP_SCALE[_scheme_name(scheme)]
    m_given = np.maximum(given[:, 1] - given[:, 0], given[:, 3] - given[:, 2])
    m_tight = np.maximum(tight[:, 1] - tight[:, 0], tight[:, 3] - tight[:, 2])
    c_given = np.stack([(given[:, 0] + given[:, 1]) / 2, (given[:, 2] + given[:, 3]) / 2], axis=1)
    c_tight = np.stack([(tight[:, 0] + tight[:, 1]) / 2, (tight[:, 2] + tight[:, 3]) / 2], axis=1)
    off = (c_tight - c_given) / m_given[:, None]
    return BoxCalibration(
        scale=float(np.median(k * m_tight / m_given)),
        dx=float(np.median(off[:, 0])),
        dy=float(np.median(off[:, 1])),
        fitted_on=int(len(given)),
    )


def given_box_square(box, calibration: BoxCalibration) -> tuple[np.ndarray, float]:
    """(centre, side) of the square crop of a given box under `calibration`."""
    w, h = box_size(box)
    m = max(w, h)
    if not m > 0:
        raise ValueError("zero-area face box %s" % (list(np.round(box, 3)),))
    return box_center(box) + np.array([calibration.dx, calibration.dy]) * m, calibration.scale * m


def crop_for_given_box(box, calibration: BoxCalibration, size: int = PATCH_SIZE) -> np.ndarray:
    c, side = given_box_square(box, calibration)
    return square_crop(c, side, size)


def crop_matrix(crop, size: int = PATCH_SIZE) -> np.ndarray:
    """2x3 affine A with patch = A @ [x, y, 1] for the axis-aligned crop (x0, y0, side)."""
    x0, y0, side = (float(v) for v in crop)
    s = size / side
    return np.array([[s, 0.0, -s * x0], [0.0, s, -s * y0]])


def crop_from_matrix(A: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """Inverse of crop_matrix for an axis-aligned, isotropic A."""
    A = np.asarray(A, dtype=np.float64)
    s = A[0, 0]
    if abs(A[0, 1]) > 1e-9 or abs(A[1, 0]) > 1e-9 or abs(A[1, 1] - s) > 1e-9 * abs(s):
        raise ValueError("not an axis-aligned isotropic crop matrix")
    return np.array([-A[0, 2] / s, -A[1, 2] / s, size / s])


# ----------------------------------------------------------------------------- affine helpers
def to3x3(A: np.ndarray) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    if A.shape == (3, 3):
        return A
    return np.vstack([A, [0.0, 0.0, 1.0]])


def compose(*mats) -> np.ndarray:
    """compose(A, B, C) = A o B o C (C applied first), as a 2x3 matrix."""
    M = np.eye(3)
    for A in mats:
        M = M @ to3x3(A)
    return M[:2]


def invert_affine(A: np.ndarray) -> np.ndarray:
    return np.linalg.inv(to3x3(A))[:2]


def apply_affine(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Transform (..., 2) points by the 2x3 matrix A."""
    A = np.asarray(A, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    return pts @ A[:, :2].T + A[:, 2]


def rotation_about(center, angle_deg: float) -> np.ndarray:
    """2x3 rotation by `angle_deg` (counter-clockwise on screen, i.e. y down) about `center`."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    cx, cy = float(center[0]), float(center[1])
    R = np.array([[c, s], [-s, c]])
    t = np.array([cx, cy]) - R @ np.array([cx, cy])
    return np.hstack([R, t[:, None]])


def image_to_patch(points: np.ndarray, crop, size: int = PATCH_SIZE) -> np.ndarray:
    return apply_affine(crop_matrix(crop, size), points)


def patch_to_image(points: np.ndarray, crop, size: int = PATCH_SIZE) -> np.ndarray:
    """Map patch coordinates (e.g. predictions) back into the original image."""
    x0, y0, side = (float(v) for v in crop)
    return np.asarray(points, dtype=np.float64) * (side / size) + np.array([x0, y0])


def patch_to_image_affine(points: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Map patch coordinates back with the (possibly rotated) image->patch matrix A."""
    return apply_affine(invert_affine(A), points)


# ----------------------------------------------------------------------------- pixels
def to_gray(image: np.ndarray, order: str = "bgr") -> np.ndarray:
    """uint8 grayscale of an HxW, HxWx1, HxWx3 or HxWx4 image (channel order 'bgr' or 'rgb')."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        code = {
            ("bgr", 3): cv2.COLOR_BGR2GRAY,
            ("rgb", 3): cv2.COLOR_RGB2GRAY,
            ("bgr", 4): cv2.COLOR_BGRA2GRAY,
            ("rgb", 4): cv2.COLOR_RGBA2GRAY,
        }[(order, img.shape[2])]
        return cv2.cvtColor(np.ascontiguousarray(img), code)
    raise ValueError("unsupported image shape %s" % (img.shape,))


def face_gray(face) -> np.ndarray:
    """uint8 grayscale of a loaded Face: its decoded pixels (COFW .mat) or else its image file."""
    if face.image is not None:
        return to_gray(face.image, face.channel_order)
    return load_gray(face.image_path)


def load_gray(path) -> np.ndarray:
    """Read an image file as uint8 grayscale (decoded in colour, then BT.601 luma, as `to_gray`).
    Raises OSError naming the file when it is missing or cannot be decoded."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        import os

        if not os.path.exists(path):
            raise OSError("image file not found: %s" % path)
        raise OSError("cannot decode image file: %s" % path)
    if img.dtype != np.uint8:  # 16-bit PNG etc.
        img = (img / (256.0 if img.dtype == np.uint16 else 1.0)).clip(0, 255).astype(np.uint8)
    return to_gray(img, "bgr")


def load_color(path) -> np.ndarray:
    """Read an image file as uint8 BGR, decoded as `load_gray` decodes it (to_gray(load_color(p)) equals
    load_gray(p)).  Raises OSError naming the file when it is missing or cannot be decoded."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        import os

        if not os.path.exists(path):
            raise OSError("image file not found: %s" % path)
        raise OSError("cannot decode image file: %s" % path)
    if img.dtype != np.uint8:
        img = (img / (256.0 if img.dtype == np.uint16 else 1.0)).clip(0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    return img


def face_color(face) -> np.ndarray:
    """uint8 BGR of a loaded Face: its decoded pixels (COFW .mat) or else its image file."""
    if face.image is None:
        return load_color(face.image_path)
    img = np.asarray(face.image)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(np.ascontiguousarray(img.reshape(img.shape[:2])), cv2.COLOR_GRAY2BGR)
    code = {("bgr", 3): None, ("rgb", 3): cv2.COLOR_RGB2BGR, ("bgr", 4): cv2.COLOR_BGRA2BGR,
            ("rgb", 4): cv2.COLOR_RGBA2BGR}[(face.channel_order, img.shape[2])]
    return np.ascontiguousarray(img) if code is None else cv2.cvtColor(np.ascontiguousarray(img), code)


def downscale_factor(A: np.ndarray) -> float:
    """Image pixels per patch pixel of the 2x3 matrix A (> 1 means the warp shrinks the image)."""
    A = np.asarray(A, dtype=np.float64)
    return 1.0 / np.sqrt(abs(np.linalg.det(A[:, :2])))


def warp_to_patch(
    gray: np.ndarray, A: np.ndarray, size: int = PATCH_SIZE, antialias: bool = True
) -> np.ndarray:
    """Sample the size x size patch of `gray` defined by the image->patch matrix A (bilinear).

    With antialias, a Gaussian of sigma = (f - 1) / 2 source pixels (scikit-image's rule for
    anti-aliased rescaling; f = downscale factor) is applied first when f > 1.  Outside the
    image the border pixels are replicated.  The blur is symmetric, so it does not move points.
    """
    src = gray
    if antialias:
        f = downscale_factor(A)
        sigma = (f - 1.0) / 2.0
        if sigma > 0.1:
            src = cv2.GaussianBlur(gray, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(
        src,
        np.asarray(A, dtype=np.float64),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def normalize_patch(patch: np.ndarray) -> np.ndarray:
    """uint8 patch(es) -> float32 (p - 128) * 0.0078125."""
    return ((np.asarray(patch, dtype=np.float32) - PIXEL_MEAN) * PIXEL_SCALE).astype(np.float32)


def denormalize_patch(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) / PIXEL_SCALE + PIXEL_MEAN), 0, 255).astype(
        np.uint8
    )
