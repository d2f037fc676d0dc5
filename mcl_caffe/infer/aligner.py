"""onnxruntime inference for an exported MCL model: face boxes in images -> landmarks in image coordinates.

The ONNX file carries everything needed (mcl_caffe.deploy.onnx_export writes it into metadata_props): the
landmark scheme, the crop size, the crop scale, the box calibration and the input normalisation.
Crops are made exactly as in training with mcl_caffe.core.crop (``crop_for_given_box`` -> ``crop_matrix`` ->
``warp_to_patch`` -> ``normalize_patch``), many faces go through onnxruntime as one batch, and the
predicted patch points are mapped back with ``crop.patch_to_image``.  ``warp_region`` gives the same patch
as ``warp_to_patch`` while blurring only the part of the image the patch samples (a face in a 12-megapixel
photo would otherwise blur all 12 megapixels).

This is the low-level layer (grayscale images, boxes given); ``mcl_caffe.FaceAligner`` is the one-call API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcl_caffe.core import crop as C


class ModelError(RuntimeError):
    """The model file is missing, unreadable, or not an MCL landmark model."""


class FaceError(ValueError):
    """One face cannot be processed (bad box); the message says why."""


@dataclass(frozen=True)
class ModelInfo:
    scheme: str
    n_points: int
    crop_size: int
    crop_scale: float
    calibration: C.BoxCalibration
    pixel_mean: float
    pixel_scale: float
    input_name: str
    output_name: str
    metadata: dict


def read_model_info(session, path) -> ModelInfo:
    from mcl_caffe.core.model_metadata import META_PREFIX

    meta_all = session.get_modelmeta().custom_metadata_map
    meta = {k[len(META_PREFIX) :]: v for k, v in meta_all.items() if k.startswith(META_PREFIX)}
    need = ("scheme", "n_points", "crop_size", "crop_scale", "pixel_mean", "pixel_scale")
    missing = [k for k in need if k not in meta]
    if missing:
        raise ModelError(
            "%s is an ONNX model but not an MCL landmark model: its metadata lacks %s (an MCL model is "
            "exported with its landmark scheme, crop and normalisation in the ONNX metadata)"
            % (path, ", ".join(META_PREFIX + k for k in missing))
        )
    inputs, outputs = session.get_inputs(), session.get_outputs()
    n_points = int(meta["n_points"])
    size = int(meta["crop_size"])
    if len(inputs) != 1 or list(inputs[0].shape[1:]) != [1, size, size]:
        raise ModelError(
            "%s: input %s, expected N x 1 x %d x %d" % (path, [i.shape for i in inputs], size, size)
        )
    if len(outputs) != 1 or outputs[0].shape[-1] != 2 * n_points:
        raise ModelError("%s: output %s, expected N x %d" % (path, [o.shape for o in outputs], 2 * n_points))
    scale = float(meta["crop_scale"])
    cal = C.BoxCalibration(scale=scale)
    if "box_calibration" in meta:
        c = json.loads(meta["box_calibration"])
        cal = C.BoxCalibration(
            scale=float(c["scale"]),
            dx=float(c.get("dx", 0.0)),
            dy=float(c.get("dy", 0.0)),
            fitted_on=int(c.get("fitted_on", 0)),
        )
    return ModelInfo(
        meta["scheme"],
        n_points,
        size,
        scale,
        cal,
        float(meta["pixel_mean"]),
        float(meta["pixel_scale"]),
        inputs[0].name,
        outputs[0].name,
        meta,
    )


def make_session(path, threads: int | None = None, sequential: bool = True, optimization: str = "all"):
    """onnxruntime CPU session. threads=None lets onnxruntime choose; 1 = the paper's single-core protocol."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads is not None:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL if sequential else ort.ExecutionMode.ORT_PARALLEL
    so.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    so.log_severity_level = 3
    path = Path(path)
    if not path.is_file():
        raise ModelError("model file not found: %s" % path)
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError("cannot load %s as an ONNX model: %s" % (path, first)) from None


def check_box(box, image_shape) -> np.ndarray:
    """Validate a (left, right, top, bottom) box for an image of shape (H, W[, C]). -> float64 (4,)."""
    try:
        b = np.asarray(box, dtype=np.float64).reshape(4)
    except (TypeError, ValueError):
        raise FaceError("face box %r is not 4 numbers (left right top bottom)" % (box,)) from None
    if not np.all(np.isfinite(b)):
        raise FaceError("face box %s has non-finite values" % b.tolist())
    left, right, top, bottom = b
    if not (right > left and bottom > top):
        raise FaceError("zero-area face box (left right top bottom) = %s" % _fmt(b))
    h, w = image_shape[:2]
    # pixel centres at integers: the image covers [-0.5, w - 0.5] x [-0.5, h - 0.5]
    if right <= -0.5 or left >= w - 0.5 or bottom <= -0.5 or top >= h - 0.5:
        raise FaceError(
            "face box (left right top bottom) = %s lies outside the %dx%d image" % (_fmt(b), w, h)
        )
    return b


def _fmt(b) -> str:
    return " ".join("%g" % round(float(v), 3) for v in b)


def gaussian_radius(sigma: float) -> int:
    """Half the kernel size OpenCV's GaussianBlur picks for a uint8 image: ksize = round(6 sigma + 1) | 1."""
    return (int(round(sigma * 6 + 1)) | 1) // 2


def warp_region(gray: np.ndarray, A: np.ndarray, size: int = C.PATCH_SIZE) -> np.ndarray:
    """C.warp_to_patch(gray, A, size) (anti-aliased), blurring only the region the patch samples plus the
    blur's reach: equal to it pixel for pixel (tests/infer/test_face_aligner.py checks), without
    blurring a whole large image for one face."""
    A = np.asarray(A, dtype=np.float64)
    f = C.downscale_factor(A)
    sigma = (f - 1.0) / 2.0
    if sigma <= 0.1:
        return C.warp_to_patch(gray, A, size)
    h, w = gray.shape[:2]
    inv = C.invert_affine(A)
    corners = C.apply_affine(inv, np.array([[-1.0, -1.0], [size, -1.0], [-1.0, size], [size, size]]))
    reach = gaussian_radius(sigma) + 2  # the blur's kernel, plus the bilinear neighbour, plus rounding
    x0 = int(np.clip(np.floor(corners[:, 0].min()) - reach, 0, w - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()) + reach, 0, w - 1)) + 1
    y0 = int(np.clip(np.floor(corners[:, 1].min()) - reach, 0, h - 1))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()) + reach, 0, h - 1)) + 1
    if (x0, y0, x1, y1) == (0, 0, w, h):
        return C.warp_to_patch(gray, A, size)
    shifted = C.compose(A, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]]))  # region pixel -> image -> patch
    return C.warp_to_patch(gray[y0:y1, x0:x1], shifted, size)


class Aligner:
    """Run an exported MCL model: `model` is a shipped model's name ('300w68', 'aflw5') or an .onnx path
    (mcl_caffe.infer.shipped.UnknownModel for neither).  `threads` = onnxruntime intra-op threads (None: its
    default)."""

    def __init__(self, model, threads: int | None = None, optimization: str = "all", int8: bool = False):
        from mcl_caffe.infer.shipped import resolve_model

        if int8 or not Path(model).is_file():  # a shipped name, or an error naming the shipped models
            model = resolve_model(str(model), int8)
        self.path = Path(model)
        self.session = make_session(self.path, threads=threads, optimization=optimization)
        self.info = read_model_info(self.session, self.path)

    @property
    def n_points(self) -> int:
        return self.info.n_points

    def crop_for_box(self, box, calibration: C.BoxCalibration | None = None) -> np.ndarray:
        """The training crop (x0, y0, side) for a given face box. `calibration` (default: the model's, for
        box-file boxes) maps boxes of another kind, e.g. a detector's, onto the training crop."""
        return C.crop_for_given_box(box, calibration or self.info.calibration, self.info.crop_size)

    def patch(self, gray: np.ndarray, crop) -> np.ndarray:
        return warp_region(gray, C.crop_matrix(crop, self.info.crop_size), self.info.crop_size)

    def normalize(self, patches: np.ndarray) -> np.ndarray:
        p = np.asarray(patches, np.float32)
        x = (p - np.float32(self.info.pixel_mean)) * np.float32(self.info.pixel_scale)
        return x.reshape(-1, 1, self.info.crop_size, self.info.crop_size).astype(np.float32)

    def predict_inputs(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Normalised inputs (N, 1, 50, 50) float32 -> (N, n, 2) points in patch coordinates."""
        x = np.asarray(x, np.float32)
        outs = []
        for s in range(0, len(x), batch_size):
            outs.append(
                self.session.run([self.info.output_name], {self.info.input_name: x[s : s + batch_size]})[0]
            )
        if not outs:
            return np.zeros((0, self.n_points, 2))
        return np.concatenate(outs).reshape(-1, self.n_points, 2).astype(np.float64)

    def predict_patches(self, patches: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 patches (N, 50, 50) -> (N, n, 2) points in patch coordinates."""
        return self.predict_inputs(self.normalize(patches), batch_size)

    def align(self, grays, boxes, batch_size: int = 256, calibration: C.BoxCalibration | None = None):
        """Faces as (grayscale image, box) pairs -> (points (N, n, 2) in image coordinates, crops (N, 3)).
        Each image must be 2-D uint8 grayscale (C.to_gray of a colour image; mcl_caffe.FaceAligner takes
        colour images).  Raises FaceError for a bad box (check boxes with `check_box` first to skip them
        instead) and ValueError for an image that is not 2-D uint8."""
        patches, crops = [], []
        for gray, box in zip(grays, boxes):
            gray = np.asarray(gray)
            if gray.ndim != 2 or gray.dtype != np.uint8:
                raise ValueError(
                    "Aligner.align takes 2-D uint8 grayscale images, got shape %s dtype %s: convert with "
                    "mcl_caffe.core.crop.to_gray(image, 'bgr' or 'rgb'), or use mcl_caffe.FaceAligner, "
                    "which takes colour images" % (gray.shape, gray.dtype)
                )
            b = check_box(box, gray.shape)
            crop = self.crop_for_box(b, calibration)
            crops.append(crop)
            patches.append(self.patch(gray, crop))
        if not patches:
            return np.zeros((0, self.n_points, 2)), np.zeros((0, 3))
        pts = self.predict_patches(np.stack(patches), batch_size)
        img_pts = np.stack([C.patch_to_image(p, c, self.info.crop_size) for p, c in zip(pts, crops)])
        return img_pts, np.stack(crops)
