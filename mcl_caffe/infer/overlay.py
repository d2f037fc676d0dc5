"""mcl-align's overlay pictures: face box, network crop and points drawn on the upright image.

Line width and dot size follow each face's size (not the image's), so a 30 px face in a 12-megapixel photo
gets thin lines and small dots and a full-frame face bold ones; images smaller than `min_side` are enlarged
for viewing, larger ones are drawn at full size (PNG, fast compression)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: point radius and line width as fractions of the face's size (the box's larger side, in overlay pixels)
DOT_FRACTION = 0.008
LINE_FRACTION = 0.006
MIN_DOT, MIN_LINE = 0.5, 1


def face_marks(face_side: float) -> tuple[float, int]:
    """(dot radius in pixels, line width in whole pixels) for a face this many overlay pixels across."""
    return max(MIN_DOT, DOT_FRACTION * face_side), max(MIN_LINE, int(round(LINE_FRACTION * face_side)))


def draw_overlay(image: np.ndarray, faces, out_path: Path, min_side: int = 512) -> None:
    """PNG of the BGR `image` with each face's box (orange), network crop (blue) and points (green); `faces`
    are dicts with box, crop and points (mcl_caffe.infer.results.ImageResult.faces)."""
    import cv2

    img = image
    h, w = img.shape[:2]
    s = max(1.0, min_side / max(h, w))
    img = (
        cv2.resize(img, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_LINEAR)
        if s > 1
        else img.copy()
    )
    shift = 4
    one = 1 << shift

    def xy(p):  # pixel-centre coordinates -> enlarged image, fixed point
        return (int(round(((p[0] + 0.5) * s - 0.5) * one)), int(round(((p[1] + 0.5) * s - 0.5) * one)))

    for face in faces:
        left, r, t, b = face["box"]
        radius, thick = face_marks(s * max(r - left, b - t))
        cv2.rectangle(img, xy((left, t)), xy((r, b)), (0, 200, 255), thick, cv2.LINE_AA, shift)
        x0, y0, side = face["crop"]
        half = 0.5 * side / 50  # the crop square's outer edge is half a patch pixel outside (x0, y0)
        cv2.rectangle(
            img,
            xy((x0 - half, y0 - half)),
            xy((x0 - half + side, y0 - half + side)),
            (255, 160, 0),
            thick,
            cv2.LINE_AA,
            shift,
        )
        for p in face["points"]:
            cv2.circle(img, xy(p), max(1, int(round(radius * one))), (0, 255, 0), -1, cv2.LINE_AA, shift)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_path), img, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError("cannot write %s" % out_path)


def overlay_name(path: Path, used: set) -> str:
    name = path.stem + ".png"
    k = 1
    while name in used:
        k += 1
        name = "%s_%d.png" % (path.stem, k)
    used.add(name)
    return name
