"""COFW (29 points) from the official .mat files.

Field layout (RCPR release, Burgos-Artizzu et al. ICCV'13; confirmed from RCPR's demoRCPR.m
and shapeGt.m, and from public Python readers of COFW_train_color.mat):

* ``IsTr`` / ``IsT``        cell array (N x 1) of images, each H x W (grayscale) or H x W x 3 (RGB), uint8;
* ``phisTr`` / ``phisT``    N x 87 double: x1..x29, y1..y29, occlusion flags o1..o29 (1 = occluded);
* ``bboxesTr`` / ``bboxesT`` N x 4 double: [x y w h] ("left top width height" in shapeGt.m;
  RCPR draws it as [x y x+w y+h]).

Training data: 1,345 faces (845 LFPW + 500 COFW); test data: 507 faces.

Two file layouts are read:

* MATLAB v7.3 (``COFW_train_color.mat`` / ``COFW_test_color.mat``) is HDF5, read with h5py.
  MATLAB is column-major and the HDF5 dataset holds the array with its dimensions reversed,
  so every array is transposed back (``.T``): phis comes as (87, N), bboxes as (4, N), an RGB
  image as (3, W, H).  A cell array is a dataset of HDF5 object references (shape (1, N) or
  (N, 1)); each reference is dereferenced with ``f[ref]``.
* MATLAB v5 (the original grayscale ``COFW_train.mat`` / ``COFW_test.mat`` or ``COFW.mat``)
  is read with scipy.io.loadmat: the cell array is an (N, 1) object array.

MATLAB pixel indices are 1-based (RCPR indexes ``img(round(y), round(x))``), so 1 is
subtracted from x, y and from the box corner to get this project's 0-based pixel centres.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.box_file import BadSample
from mcl_caffe.data.datasets.sample import Face, FaceCollector, LoadResult

N_POINTS = 29
VARS = {"train": ("IsTr", "phisTr", "bboxesTr"), "test": ("IsT", "phisT", "bboxesT")}
FILES = {
    "train": ("COFW_train_color.mat", "COFW_train.mat", "COFW.mat"),
    "test": ("COFW_test_color.mat", "COFW_test.mat", "COFW.mat"),
}


def _is_hdf5(path: Path) -> bool:
    import h5py

    return h5py.is_hdf5(str(path))


def _read_v73(path: Path, names):
    import h5py

    img_name, phis_name, box_name = names
    with h5py.File(path, "r") as f:
        missing = [n for n in names if n not in f]
        if missing:
            raise KeyError("%s has no variable(s) %s" % (path, ", ".join(missing)))
        refs = np.asarray(f[img_name]).reshape(-1)
        images = []
        for ref in refs:
            arr = np.asarray(f[ref])
            images.append(np.ascontiguousarray(arr.T))  # (W,H) -> (H,W); (3,W,H) -> (H,W,3)
        phis = np.asarray(f[phis_name], dtype=np.float64).T
        boxes = np.asarray(f[box_name], dtype=np.float64).T
    return images, phis, boxes


def _read_v5(path: Path, names):
    from scipy.io import loadmat

    img_name, phis_name, box_name = names
    m = loadmat(str(path), variable_names=list(names))
    missing = [n for n in names if n not in m]
    if missing:
        raise KeyError("%s has no variable(s) %s" % (path, ", ".join(missing)))
    cells = m[img_name].reshape(-1)
    images = [np.asarray(c) for c in cells]
    return images, np.asarray(m[phis_name], dtype=np.float64), np.asarray(m[box_name], dtype=np.float64)


def read_cofw_mat(path, split: str):
    """-> (images list, phis (N, 87 or 58), bboxes (N, 4)) exactly as stored, MATLAB orientation restored."""
    path = Path(path)
    names = VARS[split]
    if not path.is_file():
        raise FileNotFoundError("COFW file not found: %s" % path)
    images, phis, boxes = (_read_v73 if _is_hdf5(path) else _read_v5)(path, names)
    n = len(images)
    if phis.ndim != 2 or boxes.ndim != 2:
        raise ValueError("%s: %s/%s are not 2-D matrices" % (path, names[1], names[2]))
    # tolerate a file written without the transpose convention (N as the 2nd dimension)
    if phis.shape[0] != n and phis.shape[1] == n:
        phis = phis.T
    if boxes.shape[0] != n and boxes.shape[1] == n:
        boxes = boxes.T
    if phis.shape[0] != n or boxes.shape[0] != n:
        raise ValueError(
            "%s: %d images but %s has %d rows and %s %d rows"
            % (path, n, names[1], phis.shape[0], names[2], boxes.shape[0])
        )
    return images, phis, boxes


def find_cofw_file(root, split: str) -> Path:
    root = Path(root)
    if root.is_file():
        return root
    for name in FILES[split]:
        p = root / name
        if p.is_file():
            return p
    raise FileNotFoundError("no COFW %s file in %s (looked for %s)" % (split, root, ", ".join(FILES[split])))


def load_cofw(root, split: str = "train", limit: int | None = None) -> LoadResult:
    """Read the COFW `split` ('train' or 'test') from a folder holding the official .mat file(s)
    (or from one .mat file)."""
    path = find_cofw_file(root, split)
    images, phis, boxes = read_cofw_mat(path, split)
    scheme = get_scheme("cofw29")
    img_name = VARS[split][0]
    out = FaceCollector(scheme)
    n = len(images) if limit is None else min(limit, len(images))
    for i in range(n):
        src = "%s:%s{%d}" % (path.name, img_name, i + 1)
        with out.skipping():
            row = phis[i]
            if row.size not in (2 * N_POINTS, 3 * N_POINTS):
                raise BadSample(
                    "wrong point count",
                    "%s: %s row has %d values, expected %d (x, y, occlusion of 29 points)"
                    % (src, VARS[split][1], row.size, 3 * N_POINTS),
                )
            if not np.all(np.isfinite(row)) or not np.all(np.isfinite(boxes[i])):
                raise BadSample("non-numeric value", "%s: non-finite landmark or box values" % src)
            pts = np.stack([row[:N_POINTS], row[N_POINTS : 2 * N_POINTS]], axis=1) - 1.0
            occ = row[2 * N_POINTS : 3 * N_POINTS].astype(np.float32) if row.size == 3 * N_POINTS else None
            x, y, w, h = boxes[i]
            box = np.array([x - 1.0, x - 1.0 + w, y - 1.0, y - 1.0 + h])
            img = np.asarray(images[i])
            if img.ndim not in (2, 3) or img.size == 0:
                raise BadSample("unreadable image", "%s: image has shape %s" % (src, img.shape))
            out.keep(Face(source=src, points=pts, image=img, channel_order="rgb", box=box, occlusion=occ,
                          group=src, order=i))
    return out.result()
