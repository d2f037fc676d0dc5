"""Draw patches with their landmarks in a grid (a contact sheet) for people to look at."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np

from mcl_caffe.core.crop import denormalize_patch
from mcl_caffe.data.h5_writer import read_list
from mcl_caffe.core.landmarks import get_scheme

# BGR colours per cluster: left eye, right eye, nose, mouth, left contour, chin, right contour
CLUSTER_COLOURS = [
    (0, 220, 0),
    (0, 220, 220),
    (255, 80, 0),
    (0, 0, 255),
    (255, 0, 255),
    (255, 255, 0),
    (0, 128, 255),
]


def draw_patch(
    patch_u8: np.ndarray, points: np.ndarray, scheme, up: int = 4, text: str | None = None
) -> np.ndarray:
    """patch (50,50) uint8 + points (n,2) in patch pixels -> (50*up, 50*up, 3) BGR image."""
    size = patch_u8.shape[0]
    big = cv2.resize(patch_u8, (size * up, size * up), interpolation=cv2.INTER_NEAREST)
    big = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    cl = scheme.cluster_of()
    r = max(1, up // 2)
    for j, (x, y) in enumerate(np.asarray(points).reshape(-1, 2)):
        # patch pixel centre x maps to big-image pixel (x + 0.5) * up - 0.5
        c = (int(round((x + 0.5) * up - 0.5)), int(round((y + 0.5) * up - 0.5)))
        cv2.circle(big, c, r, CLUSTER_COLOURS[cl[j] % len(CLUSTER_COLOURS)], -1, lineType=cv2.LINE_AA)
    if text:
        cv2.putText(big, text, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 255), 1, cv2.LINE_AA)
    return big


def grid(tiles: list, cols: int, pad: int = 3) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[
            pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w
        ] = t
    return sheet


def contact_sheet(h5_or_list, out_png, n: int = 48, cols: int = 8, up: int = 4, seed: int = 0) -> Path:
    """Sheet of n random samples (fixed seed) from a chunk or list file; points in cluster colours."""
    src = Path(h5_or_list)
    files = read_list(src) if src.suffix == ".txt" else [src]
    with h5py.File(files[0], "r") as f:
        data = f["data"][...]
        label = f["label"][...]
        flipped = f["flipped"][...] if "flipped" in f else np.zeros(len(data), np.uint8)
    scheme = get_scheme(label.shape[1] // 2)
    pick = np.sort(np.random.default_rng(seed).choice(len(data), size=min(n, len(data)), replace=False))
    tiles = [
        draw_patch(
            denormalize_patch(data[k, 0]),
            label[k].reshape(-1, 2),
            scheme,
            up,
            "#%d%s" % (k, " F" if flipped[k] else ""),
        )
        for k in pick
    ]
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), grid(tiles, cols))
    return out_png
