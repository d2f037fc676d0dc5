"""Training-sample augmentation in the paper's order (Section IV-A-2), and the nominal crop.

For every training face:
  1. rotations: angle 0 plus ``rotations - 1`` angles drawn uniformly in [-max_angle, max_angle]
     degrees, about the centre of the landmarks' tight box; for each rotation the face box is
     the tight box of the *rotated* landmarks;
  2. uniform scaling and translation of that box: the nominal box plus ``jitters - 1`` boxes
     scaled by s ~ U[scale_min, scale_max] about their centre and moved by (tx, ty), each
     ~ U[-max_shift, max_shift] x crop side;
  3. crop: the square crop of each box (mcl_caffe.core.crop rule), resampled to 50x50 grayscale in
     one warp from the original image (rotation and crop composed, so pixels are interpolated once);
  4. horizontal flip: 'both' keeps the sample and its mirror image (points mirrored and permuted by
     the scheme's flip permutation), 'random' mirrors with probability 1/2, 'none' never;
  5. JPEG compression: with probability jpeg_prob the patch is JPEG-encoded at a quality
     ~ U{jpeg_min, ..., jpeg_max} and decoded.

Samples per face = rotations x jitters x (2 if flip == 'both' else 1).  All random numbers of a
face come from ``face_rng(seed, face_index)`` and are drawn in a fixed order whatever the options'
effect, so the output does not depend on the number of worker processes.

With ``crop_from = "box"`` a face that has a given (detector) box is cropped from that box instead, with the
same rule as at validation and test time (``crop_for_given_box`` with the fitted calibration): step 1 rotates
about the centre of that crop and keeps the crop's box, steps 2-5 are unchanged.  The training samples then
carry the detector's own per-face error, as the test crops do.

Defaults (the paper gives no numbers): 5 rotations within +-15 deg, 2 boxes per rotation with
scale in [0.9, 1.1] and shift up to 0.05 of the crop side (2.5 patch pixels), flip 'both', JPEG
with probability 0.5 at quality 30-90: 20 samples per face (180,000 for the 9,000 MTFL Omega_t
faces, 1.8 GB of float32), and every point stays inside the patch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from mcl_caffe.core import crop as C

FLIP_MODES = ("both", "random", "none")
CROP_SOURCES = ("landmarks", "box")


@dataclass(frozen=True)
class AugmentConfig:
    rotations: int = 5
    max_angle: float = 15.0
    jitters: int = 2
    scale_min: float = 0.9
    scale_max: float = 1.1
    max_shift: float = 0.05
    flip: str = "both"
    jpeg_prob: float = 0.5
    jpeg_min: int = 30
    jpeg_max: int = 90
    crop_from: str = "landmarks"  # "box": faces with a given box are cropped from it (module docstring)

    def __post_init__(self):
        if self.rotations < 1 or self.jitters < 1:
            raise ValueError("rotations and jitters must be >= 1 (the first one is the un-augmented one)")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError("need 0 < scale_min <= scale_max")
        if self.flip not in FLIP_MODES:
            raise ValueError("flip must be one of %s" % (FLIP_MODES,))
        if not 0.0 <= self.jpeg_prob <= 1.0:
            raise ValueError("jpeg_prob must be in [0, 1]")
        if not 1 <= self.jpeg_min <= self.jpeg_max <= 100:
            raise ValueError("need 1 <= jpeg_min <= jpeg_max <= 100")
        if self.max_angle < 0 or self.max_shift < 0:
            raise ValueError("max_angle and max_shift must be >= 0")
        if self.crop_from not in CROP_SOURCES:
            raise ValueError("crop_from must be one of %s" % (CROP_SOURCES,))

    @property
    def samples_per_face(self) -> int:
        return self.rotations * self.jitters * (2 if self.flip == "both" else 1)

    def as_dict(self) -> dict:
        return asdict(self)


def face_rng(seed: int, face_index: int) -> np.random.Generator:
    """The RNG of one face: a function of (seed, face index) only."""
    return np.random.default_rng([int(seed), int(face_index)])


def flip_matrix(size: int = C.PATCH_SIZE) -> np.ndarray:
    """2x3 mirror of a size-wide patch (pixel centres at integers): x -> size - 1 - x."""
    return np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]])


def flip_patch(patch: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(patch[..., ::-1])


def flip_sample(patch: np.ndarray, points: np.ndarray, scheme) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a patch and its (n, 2) points; points are permuted so index i keeps its meaning."""
    return flip_patch(patch), scheme.flip_points(points, patch.shape[-1])


def jpeg(patch: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 gray
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


@dataclass
class Samples:
    """k samples of one face. patches uint8 (k,50,50); points float64 (k,n,2) in patch pixels;
    affine (k,2,3) image->patch (flip included); flipped bool (k,); angle (k,);
    jpeg_quality (k,) (0 = not compressed)."""

    patches: np.ndarray
    points: np.ndarray
    affine: np.ndarray
    flipped: np.ndarray
    angle: np.ndarray
    jpeg_quality: np.ndarray

    def __len__(self):
        return len(self.patches)


def _stack(items) -> Samples:
    cols = list(zip(*items))
    return Samples(
        np.stack(cols[0]).astype(np.uint8),
        np.stack(cols[1]),
        np.stack(cols[2]),
        np.array(cols[3], dtype=bool),
        np.array(cols[4], dtype=np.float64),
        np.array(cols[5], dtype=np.int32),
    )


def nominal_affine(points: np.ndarray, scheme, box=None, calibration: C.BoxCalibration | None = None):
    """(crop, A) of the un-augmented sample: the given box with `calibration`, else the landmark box."""
    if box is not None:
        crop = C.crop_for_given_box(box, calibration or C.default_calibration(scheme))
    else:
        crop = C.crop_for_box(C.face_box_from_landmarks(points, scheme), scheme)
    return crop, C.crop_matrix(crop)


def nominal_sample(
    gray: np.ndarray, points: np.ndarray, scheme, box=None, calibration: C.BoxCalibration | None = None
) -> tuple[Samples, np.ndarray]:
    """The validation/test sample: no rotation, jitter, flip or JPEG. -> (Samples of 1, crop (3,))."""
    crop, A = nominal_affine(points, scheme, box, calibration)
    patch = C.warp_to_patch(gray, A)
    return _stack([(patch, C.apply_affine(A, points), A, False, 0.0, 0)]), crop


def draw_face_randomness(rng: np.random.Generator, cfg: AugmentConfig) -> dict:
    """All random numbers of one face, drawn in a fixed order and amount for given counts."""
    R, J = cfg.rotations, cfg.jitters
    return {
        "angle": rng.uniform(-cfg.max_angle, cfg.max_angle, size=R),
        "scale": rng.uniform(cfg.scale_min, cfg.scale_max, size=(R, J)),
        "shift": rng.uniform(-cfg.max_shift, cfg.max_shift, size=(R, J, 2)),
        "flip": rng.random(size=(R, J)) < 0.5,
        "jpeg_on": rng.random(size=(R, J, 2)) < cfg.jpeg_prob,
        "jpeg_q": rng.integers(cfg.jpeg_min, cfg.jpeg_max + 1, size=(R, J, 2)),
    }


def rolled_box(points: np.ndarray, angle: float, box=None, calibration: C.BoxCalibration | None = None):
    """(R, centre, side) of one rotation: R rotates the image by `angle` degrees about the crop centre.

    Without a box, the centre is the landmarks' tight box centre and the side is the crop rule's side of the
    tight box of the *rotated* points.  With a given box, the crop of that box (crop_for_given_box) is
    rotated with the face: same centre, same side."""
    if box is None:
        center = C.box_center(C.face_box_from_landmarks(points))
        Rm = C.rotation_about(center, angle)
        rbox = C.face_box_from_landmarks(C.apply_affine(Rm, points))
        return Rm, C.box_center(rbox), max(C.box_size(rbox))
    center, side = C.given_box_square(box, calibration)
    return C.rotation_about(center, angle), center, side


def rolled_samples(gray: np.ndarray, points: np.ndarray, scheme, angles) -> Samples:
    """The face rolled by each of `angles` (degrees) and cropped from the tight box of its rolled points, as a
    rotation-augmented training sample without jitter, flip or JPEG: a validation view of roll."""
    pts = np.asarray(points, dtype=np.float64)
    out = []
    for angle in angles:
        Rm, center, m = rolled_box(pts, float(angle))
        A = C.compose(C.crop_matrix(C.square_crop(center, C.CROP_SCALE[scheme.name] * m)), Rm)
        out.append((C.warp_to_patch(gray, A), C.apply_affine(A, pts), A, False, float(angle), 0))
    return _stack(out)


def augment_face(
    gray: np.ndarray, points: np.ndarray, scheme, cfg: AugmentConfig, rng: np.random.Generator,
    box=None, calibration: C.BoxCalibration | None = None,
) -> Samples:
    """All augmented training samples of one face (see the module docstring). `box` and `calibration` are
    used when cfg.crop_from == "box" (then a face without a box is an error)."""
    pts = np.asarray(points, dtype=np.float64)
    rnd = draw_face_randomness(rng, cfg)
    from_box = cfg.crop_from == "box"
    if from_box and box is None:
        raise ValueError("crop_from='box' needs the face's box")
    scale_k = 1.0 if from_box else C.CROP_SCALE[scheme.name]
    F = flip_matrix()
    out = []
    for r in range(cfg.rotations):
        angle = 0.0 if r == 0 else float(rnd["angle"][r])
        if from_box:
            Rm, center, m = rolled_box(pts, angle, box, calibration or C.default_calibration(scheme))
        else:
            Rm, center, m = rolled_box(pts, angle)
        for j in range(cfg.jitters):
            if j == 0:
                s, t = 1.0, np.zeros(2)
            else:
                s, t = float(rnd["scale"][r, j]), rnd["shift"][r, j]
            side = scale_k * m * s
            crop = C.square_crop(center + t * side, side)
            A = C.compose(C.crop_matrix(crop), Rm)
            patch = C.warp_to_patch(gray, A)
            ppts = C.apply_affine(A, pts)
            if cfg.flip == "both":
                variants = (False, True)
            elif cfg.flip == "random":
                variants = (bool(rnd["flip"][r, j]),)
            else:
                variants = (False,)
            for v, flipped in enumerate(variants):
                p, q, Av = patch, ppts, A
                if flipped:
                    p, q = flip_sample(patch, ppts, scheme)
                    Av = C.compose(F, A)
                quality = 0
                if rnd["jpeg_on"][r, j, v]:
                    quality = int(rnd["jpeg_q"][r, j, v])
                    p = jpeg(p, quality)
                out.append((p, q, Av, flipped, angle, quality))
    return _stack(out)


def sample_image_points(samples: Samples, k: int, scheme) -> np.ndarray:
    """Map sample k's patch points back to the original image (undoing flip permutation): (n, 2).
    For checking augmentation and for mapping predictions back."""
    q = C.patch_to_image_affine(samples.points[k], samples.affine[k])
    if samples.flipped[k]:
        inv = np.argsort(np.asarray(scheme.flip_perm))
        q = q[inv]
    return q
