"""The figures of the comparison with the paper's model (mcl_caffe.evaluation.paper_compare): both CEDs on one
plot (matplotlib, Agg) and a contact sheet of the faces with the largest gap (OpenCV), each face with the
ground truth and both models' points drawn."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mcl_caffe.core import crop as C
from mcl_caffe.core import metrics as M
from mcl_caffe.evaluation.ced_plot import plot_ced_series

#: BGR colours of the contact sheet; the CED uses the same hues
COLOURS = {"gt": (0, 190, 0), "ours": (0, 0, 230), "paper": (230, 120, 0)}
LABELS = {"gt": "ground truth", "ours": "this model", "paper": "the paper's model"}
MPL_COLOURS = {"ours": "#e60000", "paper": "#0078e6"}
# contact sheet layout, in pixels
TILE = 240  # the square view of one face
CAPTION = 44  # two text lines under each tile
HEADER = 34  # the legend line on top
PAD = 4
COLS = 4
#: the view around a face: its test crop enlarged by this factor about the crop centre, so that points
#: outside the network's crop stay visible
VIEW_SCALE = 1.25


def sheet_size(n: int, cols: int = COLS) -> tuple[int, int]:
    """(height, width) in pixels of the contact sheet of n faces."""
    rows = (n + cols - 1) // cols
    return HEADER + rows * (TILE + CAPTION) + (rows + 1) * PAD, cols * TILE + (cols + 1) * PAD


def plot_ced_pair(ours_nme, paper_nme, out: Path, title: str) -> Path:
    """Both models' CEDs on one plot, with the failure threshold; the legend gives mean and failure rate."""
    series = []
    for k, e in (("ours", ours_nme), ("paper", paper_nme)):
        e = np.asarray(e, np.float64)
        series.append((LABELS[k], MPL_COLOURS[k], e, M.mean_error(e), M.failure_rate(e)))
    return plot_ced_series(series, out, title, legend_loc="upper left")


def _view_matrix(crop) -> np.ndarray:
    """image -> tile matrix of the view around a face's test crop (x0, y0, side)."""
    x0, y0, side = (float(v) for v in crop)
    centre = np.array([x0, y0]) + side / 2.0 - 0.5 * side / C.PATCH_SIZE  # inverse of crop.square_crop
    return C.crop_matrix(C.square_crop(centre, VIEW_SCALE * side, TILE), TILE)


def draw_face(image_bgr: np.ndarray, crop, points: dict) -> np.ndarray:
    """TILE x TILE BGR view of one face with each point set of `points` ({'gt'|'ours'|'paper': (68, 2)} in
    image pixels) drawn in its colour; the ground truth first, so the predictions lie on top."""
    A = _view_matrix(crop)
    src, sigma = image_bgr, (C.downscale_factor(A) - 1.0) / 2.0  # crop.warp_to_patch's anti-aliasing rule
    if sigma > 0.1:
        src = cv2.GaussianBlur(image_bgr, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    # outside the image: plain gray (the network's patches replicate the border instead)
    tile = cv2.warpAffine(src, A, (TILE, TILE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(200, 200, 200))
    shift = 4
    one = 1 << shift
    for key in ("gt", "paper", "ours"):
        for x, y in C.apply_affine(A, np.asarray(points[key], np.float64)):
            if -TILE < x < 2 * TILE and -TILE < y < 2 * TILE:
                cv2.circle(tile, (int(round(x * one)), int(round(y * one))), int(2.2 * one), COLOURS[key], -1,
                           cv2.LINE_AA, shift)
    return tile


def _text(img, text, org, colour, scale=0.42):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def contact_sheet(cmp, indices, out: Path, cols: int = COLS) -> Path:
    """PNG of the faces `indices` of a Comparison (e.g. the largest gaps): each face's view with the ground
    truth and both predictions, captioned with its name, roll and both NMEs; a legend line on top."""
    from mcl_caffe.evaluation.paper_compare import roll_degrees

    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("contact sheet: no faces to draw")
    h, w = sheet_size(len(indices), cols)
    sheet = np.full((h, w, 3), 255, np.uint8)
    x = PAD + 6
    for key in ("gt", "ours", "paper"):
        cv2.circle(sheet, (x + 5, HEADER // 2), 5, COLOURS[key], -1, cv2.LINE_AA)
        _text(sheet, LABELS[key], (x + 15, HEADER // 2 + 5), (0, 0, 0), 0.5)
        x += 30 + cv2.getTextSize(LABELS[key], cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)[0][0]
    _text(sheet, "NME in % of the eye-centre distance", (x + 10, HEADER // 2 + 5), (90, 90, 90), 0.45)
    nme = {k: cmp.face_nme(k) for k in ("ours", "paper")}
    roll = roll_degrees(cmp.gt)
    for k, i in enumerate(indices):
        r, c = divmod(k, cols)
        top, left = HEADER + PAD + r * (TILE + CAPTION + PAD), PAD + c * (TILE + PAD)
        img = C.load_color(cmp.image_paths[i])
        sheet[top:top + TILE, left:left + TILE] = draw_face(
            img, cmp.crops[i], {"gt": cmp.gt[i], "ours": cmp.ours[i], "paper": cmp.paper[i]})
        _text(sheet, "%s  roll %.0f deg" % (cmp.names[i], roll[i]), (left + 2, top + TILE + 16), (0, 0, 0))
        _text(sheet, "this %.1f %%" % (100 * nme["ours"][i]), (left + 2, top + TILE + 36), COLOURS["ours"])
        _text(sheet, "paper %.1f %%" % (100 * nme["paper"][i]), (left + 120, top + TILE + 36),
              COLOURS["paper"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise OSError("cannot write %s" % out)
    return out
