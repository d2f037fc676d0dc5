"""Where the eye sits in the image relative to its label: a model-free check of labelling conventions.

The report's *validation versus test* section finds that, on the AFLW test faces, every landmark's
prediction lies left of and above its label, much more than on the validation faces. A network trained on
one labelling convention and tested on labels drawn with another would show exactly that. This module
measures the same thing without any network: it looks at the image around each labelled eye centre and
finds where the dark part of the eye (pupil, iris, lashes) is.

For each labelled eye centre p with eye-centre distance d, the *dark centroid* is the centroid of the
pixels within RADIUS * d of p, each weighted by (brightest - value) ** POWER, so that the darkest pixels
dominate. Its offset from p, in units of d, is one face's measurement. The window follows the label and
the darkness weighting does not, so a label that sits off the pupil gives an offset towards the pupil.

Eyebrows, shadows and eyelids pull the centroid upwards on every set, so one offset alone means
little; the comparison between sets is what counts. Two things could make sets differ for reasons other
than their labels, and both can be controlled for:

* **Resolution:** each face is first resampled so that d = `target_d` pixels (the same for every set).
* **Pose:** `max_abs_yaw` keeps only near-frontal faces (mcl_caffe.evaluation.error_breakdown.yaw_proxy).

Image coordinates follow mcl_caffe.core.crop: pixel centres at integers, so resampling by s maps x to
(x + 0.5) * s - 0.5.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np

from mcl_caffe.core import crop as C
from mcl_caffe.evaluation.error_breakdown import yaw_proxy

RADIUS = 0.2  # search window radius, in units of d
POWER = 4.0  # darkness exponent
SAMPLES = 41  # grid points per window side
TARGET_D = 15.0  # common eye-centre distance, in pixels, before measuring


def dark_centroid_offset(gray, point, d: float, radius: float = RADIUS, power: float = POWER) -> np.ndarray:
    """(2,) offset (x, y) in pixels of the dark centroid within radius * d of `point` in `gray`."""
    if not d > 0:
        raise ValueError("eye-centre distance must be positive, got %r" % (d,))
    r = radius * float(d)
    g = np.linspace(-r, r, SAMPLES)
    gx, gy = np.meshgrid(g, g)
    x = (float(point[0]) + gx).astype(np.float32)
    y = (float(point[1]) + gy).astype(np.float32)
    img = np.asarray(gray, dtype=np.float32)
    patch = cv2.remap(img, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
    inside = np.hypot(gx, gy) <= r
    w = np.clip(patch[inside].max() - patch, 0.0, None) ** power * inside
    total = w.sum()
    if not total > 0:  # a flat window: no dark part to find
        return np.array([np.nan, np.nan])
    return np.array([(w * gx).sum() / total, (w * gy).sum() / total])


def resample(gray, points, scale: float):
    """`gray` resized by `scale` (area averaging when shrinking) and `points` mapped onto it."""
    h, w = gray.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = cv2.resize(np.asarray(gray, dtype=np.float32), size, interpolation=interp)
    sx, sy = out.shape[1] / w, out.shape[0] / h
    pts = np.asarray(points, dtype=np.float64)
    return out, np.stack([(pts[:, 0] + 0.5) * sx - 0.5, (pts[:, 1] + 0.5) * sy - 0.5], axis=1)


def face_offsets(gray, points, scheme, target_d: float | None = TARGET_D) -> np.ndarray:
    """(2, 2) dark-centroid offsets of the (left, right) eye centres, in units of d."""
    pts = np.asarray(points, dtype=np.float64)
    d = scheme.interocular(pts)
    if target_d:
        gray, pts = resample(gray, pts, target_d / d)
        d = scheme.interocular(pts)
    left, right = scheme.eye_centres(pts)
    return np.stack([dark_centroid_offset(gray, left, d), dark_centroid_offset(gray, right, d)]) / d


def source_of(face) -> str:
    """The image source of a face: the first folder of its path (lfw_5590, net_7876, AFLW, afw, helen)."""
    return str(face.group or face.source).replace("\\", "/").split("/")[0]


def measure(
    faces, scheme, target_d: float | None = TARGET_D, max_abs_yaw: float | None = None, progress=None
):
    """Per-source summary over `faces`: OrderedDict source -> {'faces', 'left', 'right', 'eyes'}.

    'left'/'right' are the mean (dx, dy) offsets of that eye in percent of d; 'eyes' their mean. Faces whose
    |yaw proxy| exceeds `max_abs_yaw` are left out; faces with a flat window around an eye are counted in
    'flat' and left out."""
    per: dict = OrderedDict()
    flat: dict = {}
    if max_abs_yaw is not None and len(faces):
        yaw = yaw_proxy(np.stack([f.points for f in faces]), scheme)
        faces = [f for f, y in zip(faces, yaw) if abs(y) <= max_abs_yaw]
    for face in faces if progress is None else progress(faces):
        off = face_offsets(C.face_gray(face), face.points, scheme, target_d)
        src = source_of(face)
        if not np.all(np.isfinite(off)):
            flat[src] = flat.get(src, 0) + 1
            continue
        per.setdefault(src, []).append(off)
    out: dict = OrderedDict()
    for src, rows in per.items():
        a = np.asarray(rows) * 100.0  # (N, 2 eyes, 2)
        out[src] = {
            "faces": int(len(a)),
            "flat": int(flat.get(src, 0)),
            "left": a[:, 0].mean(axis=0).tolist(),
            "right": a[:, 1].mean(axis=0).tolist(),
            "eyes": a.mean(axis=(0, 1)).tolist(),
            "eyes_sem": (a.mean(axis=1).std(axis=0, ddof=1) / np.sqrt(len(a))).tolist()
            if len(a) > 1
            else [0, 0],
        }
    return out


def format_table(summary: dict) -> str:
    """A markdown table of measure()'s result."""
    lines = [
        (
            "| source | faces | left eye dx | left eye dy | right eye dx | right eye dy "
            "| both eyes dx | both eyes dy |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for src, s in summary.items():
        (lx, ly), (rx, ry), (ex, ey) = s["left"], s["right"], s["eyes"]
        sx, sy = s["eyes_sem"]
        lines.append(
            "| %s | %d | %+.2f | %+.2f | %+.2f | %+.2f | %+.2f ± %.2f | %+.2f ± %.2f |"
            % (src, s["faces"], lx, ly, rx, ry, ex, sx, ey, sy)
        )
    return "\n".join(lines)


def run(dataset: str = "aflw", splits=("train", "test"), data_root=None, target_d: float = TARGET_D,
        max_abs_yaw: float | None = None, limit: int | None = None, json_path=None) -> int:
    """`make eye-labels`: measure and print every split's table (and write the numbers as JSON when json_path
    is given); 0, or 2 when a split cannot be read."""
    import json
    import sys
    from functools import partial

    from tqdm import tqdm

    from mcl_caffe.data.eval_faces import load_faces

    result = {
        "dataset": dataset,
        "target_d": target_d,
        "max_abs_yaw": max_abs_yaw,
        "splits": {},
    }
    for split in splits:
        try:
            faces, scheme = load_faces(dataset, split, data_root, limit)
        except (ValueError, FileNotFoundError) as exc:
            print("eye_label_offset: %s" % exc, file=sys.stderr)
            return 2
        summary = measure(
            faces,
            scheme,
            target_d or None,
            max_abs_yaw,
            progress=partial(tqdm, desc=split, unit="face", dynamic_ncols=True, file=sys.stderr),
        )
        result["splits"][split] = summary
        print(
            "\n%s split (%s), %s, %s:\n"
            % (
                split,
                dataset,
                "d resampled to %g px" % target_d if target_d else "images as they are",
                "all poses" if max_abs_yaw is None else "|yaw proxy| <= %g" % max_abs_yaw,
            )
        )
        print(format_table(summary))
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0
