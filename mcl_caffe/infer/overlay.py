"""mcl-align's overlay pictures: face box, network crop and points drawn on the image."""

from __future__ import annotations

from pathlib import Path

from mcl_caffe.core import crop as C


def draw_overlay(path: Path, result, out_path: Path, min_side: int = 512) -> None:
    """PNG of the image with each face's box (orange), network crop (blue) and points (green); `result`
    has .faces, dicts with box, crop and points (mcl_caffe.infer.cli.ImageResult)."""
    import cv2

    img = C.load_color(path)
    h, w = img.shape[:2]
    s = max(1.0, min_side / max(h, w))
    if s > 1:
        img = cv2.resize(img, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_LINEAR)
    shift = 4
    one = 1 << shift

    def xy(p):  # pixel-centre coordinates -> enlarged image, fixed point
        return (int(round(((p[0] + 0.5) * s - 0.5) * one)), int(round(((p[1] + 0.5) * s - 0.5) * one)))

    thick = max(1, int(round(max(img.shape[:2]) / 400)))
    radius = max(2.0, max(img.shape[:2]) / 180)
    for face in result.faces:
        left, r, t, b = face["box"]
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
            cv2.circle(img, xy(p), int(round(radius * one)), (0, 255, 0), -1, cv2.LINE_AA, shift)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_path), img):
        raise OSError("cannot write %s" % out_path)


def overlay_name(path: Path, used: set) -> str:
    name = path.stem + ".png"
    k = 1
    while name in used:
        k += 1
        name = "%s_%d.png" % (path.stem, k)
    used.add(name)
    return name
