"""Faces of any size in images of any size: a face detector run on a small pyramid of bounded image copies.

YuNet (the default detector) finds faces of about 10 to 250 px in one pass; a larger face gives several
overlapping boxes of wrong sizes, and its time and memory grow with the image (libfacedetection itself
warns above 960 px).  So, as the detectors' papers do with an image pyramid:

1. the largest copy has its long side at most ``max_side`` (default DEFAULT_MAX_SIDE): that caps the time
   and memory one image can take, and sets the smallest face found in a big image to about
   ``12 * long side / max_side`` px (the cap is stated in mcl-align --help);
2. each further copy halves the previous one, until the long side is at most ``band[1] / 1.5`` px, so
   that even a face larger than the frame fits the detector's band in the last copy;
3. in copy k only boxes whose larger side lies in the detector's band (``band = (lo, hi)``) are kept:
   no lower bound in the largest copy, no upper bound in the smallest.  Since 2 lo <= hi, every face
   size lies in some copy's band; faces in two bands are found twice and merged in step 5;
4. copies whose long side is at most ``2 hi`` are padded with mid-grey (PAD_FRACTION of the side, rounded
   up to a multiple of 32 px, YuNet's largest stride, so the detector's grid does not move): a face that
   fills the frame then gets its whole box.  Unpadded, YuNet fits a smaller box to the part inside the
   frame, and in the copy where that box falls in the band it is kept: on a 1080x1080 photo whose
   landmark box spans the frame, a 996 px box (the whole face's is about 1370) and a failed shape
   (NME 0.32);
5. boxes are mapped back to the image, those below ``min_score`` or ``min_face`` dropped, and duplicates
   merged: greedy on score, a box joins a kept face when their IoU exceeds 0.3 or the smaller box lies
   mostly (0.6) inside the larger; the face keeps the best score and the box of the finest copy among
   its members of similar extent (IoU >= 0.5 with the best one), which has the most pixels.

A detector without a band (MTCNN, the Haar cascade: both scan all sizes themselves) runs once, on the
largest copy.  Boxes are (left, right, top, bottom) in image pixels, pixel centres at integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: long side of the largest copy the detector sees
DEFAULT_MAX_SIDE = 1600
#: YuNet's confidence (0-1) below which a box is dropped: on the shared IBUG, LFPW-test and AFW images the
#: annotated faces score 0.69 or more in 695 of 696 cases (1st percentiles 0.69, 0.88, 0.89), while the
#: extra boxes inside large faces score 0.2-0.7
DEFAULT_MIN_SCORE = 0.5
MERGE_IOU = 0.3
MERGE_INSIDE = 0.6
SAME_FACE_IOU = 0.5
GREY = 127
#: border added to each side of copies whose long side is at most 2 * hi (in units of that side)
PAD_FRACTION = 0.15


@dataclass(frozen=True)
class Level:
    scale_x: float
    scale_y: float
    pad: int
    lo: float  # band of kept box sizes in this copy's pixels
    hi: float


def plan_levels(height: int, width: int, max_side: int, band) -> list[Level]:
    """The copies for an image of this size (see the module docstring)."""
    long_side = max(height, width)
    s = min(1.0, max_side / long_side)
    if band is None:
        return [Level(*_axis_scales(height, width, s), 0, 0.0, np.inf)]
    lo, hi = band
    scales = [s]
    while long_side * scales[-1] > hi / 1.5:
        scales.append(scales[-1] / 2)
    levels = []
    for k, sc in enumerate(scales):
        sx, sy = _axis_scales(height, width, sc)
        side = max(round(width * sc), round(height * sc))
        pad = 32 * int(np.ceil(PAD_FRACTION * side / 32)) if side <= 2 * hi else 0
        levels.append(Level(sx, sy, pad, lo if k > 0 else 0.0, hi if k < len(scales) - 1 else np.inf))
    return levels


def _axis_scales(height: int, width: int, s: float) -> tuple[float, float]:
    w, h = max(1, int(round(width * s))), max(1, int(round(height * s)))
    return w / width, h / height


def iou_matrix(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(IoU, intersection / smaller area) of every box of a against every box of b."""
    ix = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 2], b[None, :, 2]), 0, None)
    inter = ix * iy
    area_a = (a[:, 1] - a[:, 0]) * (a[:, 3] - a[:, 2])
    area_b = (b[:, 1] - b[:, 0]) * (b[:, 3] - b[:, 2])
    union = area_a[:, None] + area_b[None, :] - inter
    small = np.minimum(area_a[:, None], area_b[None, :])
    return inter / np.maximum(union, 1e-12), inter / np.maximum(small, 1e-12)


def merge(boxes: np.ndarray, scores: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy merge of duplicate detections (step 5). NaN scores (Haar) sort last, in their given order."""
    if len(boxes) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    key = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-key, kind="stable")
    b, s, lv = boxes[order], scores[order], levels[order]
    iou, inside = iou_matrix(b, b)
    leads, members = [], []
    for i in range(len(b)):
        for j, lead in enumerate(leads):
            if iou[i, lead] > MERGE_IOU or inside[i, lead] > MERGE_INSIDE:
                members[j].append(i)
                break
        else:
            leads.append(i)
            members.append([i])
    out_b, out_s = [], []
    for lead, mem in zip(leads, members):
        similar = [m for m in mem if iou[m, lead] >= SAME_FACE_IOU]
        finest = min(similar, key=lambda m: (lv[m], m))
        out_b.append(b[finest])
        out_s.append(s[lead])
    return np.array(out_b), np.array(out_s)


class FaceFinder:
    """Run `detector` (mcl_caffe.infer.detectors) on the copies of an image; find(bgr) -> (boxes, scores),
    largest face first."""

    def __init__(
        self,
        detector,
        min_face: float = 20,
        min_score: float = DEFAULT_MIN_SCORE,
        max_side: int = DEFAULT_MAX_SIDE,
    ):
        self.detector = detector
        self.min_face = float(min_face)
        self.min_score = float(min_score)
        self.max_side = int(max_side)
        self.band = getattr(detector, "band", None)

    @property
    def name(self) -> str:
        return self.detector.name

    def find(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        h, w = image.shape[:2]
        all_b, all_s, all_l = [], [], []
        for k, lv in enumerate(plan_levels(h, w, self.max_side, self.band)):
            cw, ch = max(1, int(round(w * lv.scale_x))), max(1, int(round(h * lv.scale_y)))
            copy = image if (cw, ch) == (w, h) else cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA)
            if lv.pad:
                copy = cv2.copyMakeBorder(
                    copy,
                    lv.pad,
                    lv.pad,
                    lv.pad,
                    lv.pad,
                    cv2.BORDER_CONSTANT,
                    value=(GREY,) * (copy.shape[2] if copy.ndim == 3 else 1),
                )
            # the detector's own minimum (in copy pixels): min_face, but not below what the band keeps
            min_copy = (
                max(self.min_face * min(lv.scale_x, lv.scale_y), lv.lo)
                if self.band
                else self.min_face * min(lv.scale_x, lv.scale_y)
            )
            boxes, scores = self.detector.detect_scored(copy, min_size=min_copy)
            if len(boxes) == 0:
                continue
            size = np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2])
            keep = (size >= lv.lo) & (size <= lv.hi)
            boxes, scores = boxes[keep] - lv.pad, scores[keep]
            # copy pixel centres -> image pixel centres: x = (u + 0.5) / scale - 0.5
            boxes = (boxes + 0.5) / np.array([lv.scale_x, lv.scale_x, lv.scale_y, lv.scale_y]) - 0.5
            all_b.append(boxes)
            all_s.append(scores)
            all_l.append(np.full(len(boxes), k))
        if not all_b:
            return np.zeros((0, 4)), np.zeros(0)
        boxes, scores, levels = np.concatenate(all_b), np.concatenate(all_s), np.concatenate(all_l)
        size = np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2])
        keep = (size >= self.min_face) & ~(scores < self.min_score)  # NaN (no score) is kept
        boxes, scores = merge(boxes[keep], scores[keep], levels[keep])
        if len(boxes) == 0:
            return boxes, scores
        order = np.argsort(-np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]), kind="stable")
        return boxes[order], scores[order]
