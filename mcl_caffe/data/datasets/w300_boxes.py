"""The official 300-W face-box files: ``Bounding Boxes/bounding_boxes_<subset>.mat``.

Layout, as released with 300-W (MATLAB v5): one variable ``bounding_boxes``, a 1 x N cell array; each cell
holds a 1 x 1 struct with fields ``imgName`` (the image file name), ``bb_detector`` (the official face
detector's box) and ``bb_ground_truth`` (the tight box of the 68 points), each box a 1 x 4 double
``[x_min y_min x_max y_max]`` in the image's pixel coordinates, the same frame as the image's ``.pts``.
scipy.io.loadmat returns that nesting as object arrays: ``bounding_boxes[0, i][0, 0]['bb_detector'][0]``.

Boxes are returned as this project's ``(left, right, top, bottom)``, 0-based: ``origin`` (default 1, the
frame of the 1-based .pts files, see mcl_caffe.data.datasets.w300) is subtracted, as the loader does for the
points. Nothing is skipped: a missing variable,
a cell without the three fields, a box that is not four finite numbers of positive area, or a name listed
twice raises ValueError naming the file and the entry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BOX_KINDS = ("bb_detector", "bb_ground_truth")
FILE_PATTERN = "bounding_boxes_%s.mat"


def box_file_for(root, subset: str) -> Path:
    """The official box file of a subset folder: 'helen/trainset' -> <root>/Bounding
    Boxes/bounding_boxes_helen_trainset.mat."""
    return Path(root) / "Bounding Boxes" / (FILE_PATTERN % subset.strip("/").replace("/", "_"))


def _text(value) -> str:
    a = np.asarray(value)
    while a.dtype == object and a.size == 1:
        a = np.asarray(a.reshape(-1)[0])
    if a.dtype.kind in "US" and a.size == 1:
        return str(a.reshape(-1)[0])
    raise TypeError("not a string")


def read_300w_box_file(path, origin: float = 1.0) -> dict[str, dict[str, np.ndarray]]:
    """-> {image file name: {'bb_detector': (4,), 'bb_ground_truth': (4,)}}, boxes as (left, right, top,
    bottom)."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError("300-W box file not found: %s" % path)
    try:
        m = loadmat(str(path), variable_names=["bounding_boxes"])
    except Exception as exc:  # scipy raises several types for a file that is not a MATLAB v5 file
        raise ValueError("%s: not a readable MATLAB .mat file (%s)" % (path, exc)) from None
    if "bounding_boxes" not in m:
        raise ValueError("%s: no variable 'bounding_boxes' (the official 300-W box files have one)" % path)
    cells = np.asarray(m["bounding_boxes"], dtype=object).reshape(-1)
    out: dict[str, dict[str, np.ndarray]] = {}
    for i, cell in enumerate(cells):
        where = "%s: entry %d of %d" % (path, i + 1, len(cells))
        st = np.asarray(cell)
        while st.dtype == object and st.size == 1:
            st = np.asarray(st.reshape(-1)[0])
        names = st.dtype.names or ()
        missing = [f for f in ("imgName",) + BOX_KINDS if f not in names]
        if missing:
            raise ValueError("%s: no field(s) %s" % (where, ", ".join(missing)))
        rec = st.reshape(-1)[0]
        try:
            name = _text(rec["imgName"])
        except TypeError:
            raise ValueError("%s: imgName is not a file name" % where) from None
        boxes = {}
        for kind in BOX_KINDS:
            b = np.asarray(rec[kind], dtype=np.float64).reshape(-1)
            if b.shape != (4,) or not np.all(np.isfinite(b)):
                raise ValueError("%s (%s): %s is not 4 finite numbers [x_min y_min x_max y_max]" % (where,
                        name, kind))
            if not (b[2] > b[0] and b[3] > b[1]):
                raise ValueError("%s (%s): %s %s has no area" % (where, name, kind, b.tolist()))
            boxes[kind] = np.array([b[0], b[2], b[1], b[3]]) - origin
        if name in out:
            raise ValueError("%s: %s is listed twice" % (where, name))
        out[name] = boxes
    return out


def attach_300w_boxes(faces, boxes: dict, kind: str, box_path) -> None:
    """Give every face (in place) the `kind` box of its image from a read_300w_box_file dict. A face whose
    image the file does not list is an error naming both, never a silent skip."""
    if kind not in BOX_KINDS:
        raise ValueError("box kind must be one of %s, not %r" % (", ".join(BOX_KINDS), kind))
    for face in faces:
        name = Path(face.image_path).name
        if name not in boxes:
            raise ValueError("%s: box file %s lists no box for image %s" % (face.source, box_path, name))
        face.box = boxes[name][kind].copy()
