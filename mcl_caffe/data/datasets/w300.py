"""300-W: folders of images with official .pts files.

.pts format (ibug)::

    version: 1
    n_points:  68
    {
    x y          (68 lines)
    }

The folder tree is searched recursively for ``*.pts``; the image is the file with the same
stem and an image extension next to it.  Subsets are selected by folder (relative to the
root), e.g. ``afw``, ``helen/trainset``, ``lfpw/trainset``, ``ibug``.  Faces of one photograph share a split
group (``photo_id``: AFW
``111076519_1`` and ``111076519_2``, IBUG ``image_014`` and ``image_014_01``); LFPW's ``image_0001``
and ``image_0002`` are different photographs.

Coordinates: 300-W's .pts files are 1-based (MATLAB pixel centres), so the loader subtracts ``origin``
(default 1) to give this project's 0-based pixel centres; the official box files are read the same way
(mcl_caffe.data.datasets.w300_boxes). The shared copies were cropped and rescaled without a correction, which
scales that offset by the image's factor (at most 1): subtracting 1 is exact for the official files and
within (1 - factor) px for the shared ones, the same for the points and the boxes of a face.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.box_file import BadSample, parse_float
from mcl_caffe.data.datasets.sample import Face, FaceCollector, LoadResult

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG", ".BMP")
#: official 300-W training / test subsets (folders of the ibug release)
W300_TRAIN_SUBSETS = ("afw", "helen/trainset", "lfpw/trainset")
W300_TEST_SUBSETS = ("ibug",)
#: what load_300w reads when no folders are named: the official training folders, never a test folder
#: (searching the whole tree would put IBUG's and LFPW's test faces into training)
W300_DEFAULT_SUBSETS = W300_TRAIN_SUBSETS


def read_pts(path, n_expected: int = 68) -> np.ndarray:
    """Parse one .pts file -> (n, 2). Raises BadSample naming the file on any format problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BadSample(
            "unreadable annotation", "%s: cannot read (%s)" % (path, exc.strerror or exc)
        ) from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        open_i = lines.index("{")
        close_i = lines.index("}", open_i + 1)
    except ValueError:
        raise BadSample("malformed pts file", "%s: no '{' ... '}' block" % path) from None
    header = {}
    for ln in lines[:open_i]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            header[k.strip().lower()] = v.strip()
    body = lines[open_i + 1 : close_i]
    declared = header.get("n_points")
    if declared is not None:
        try:
            declared_n = int(declared)
        except ValueError:
            raise BadSample(
                "non-numeric value", "%s: n_points %r is not a number" % (path, declared)
            ) from None
        if declared_n != n_expected:
            raise BadSample(
                "wrong point count", "%s: n_points is %d, expected %d" % (path, declared_n, n_expected)
            )
    if len(body) != n_expected:
        raise BadSample(
            "wrong point count", "%s: %d point lines, expected %d" % (path, len(body), n_expected)
        )
    pts = np.empty((n_expected, 2))
    for i, ln in enumerate(body):
        tok = ln.split()
        if len(tok) != 2:
            raise BadSample(
                "malformed pts file", "%s: point line %d has %d values, expected 2" % (path, i + 1, len(tok))
            )
        pts[i] = [parse_float(t, "%s point line %d" % (path, i + 1)) for t in tok]
    return pts


_PHOTO = re.compile(r"^(.*?\d+)(?:_\d+)?$")


def photo_id(stem: str) -> str:
    """The photograph a face file belongs to: the stem without a trailing ``_<k>`` face index, where what
    remains still ends in the photo's number. AFW ``111076519_2`` and HELEN ``100040721_2`` -> the number;
    IBUG ``image_014_01`` -> ``image_014`` (and ``image_014`` itself); LFPW ``image_0001`` stays whole."""
    m = _PHOTO.match(stem)
    return m.group(1) if m else stem


def _group(subset: str, stem: str) -> str:
    return subset + "/" + photo_id(stem)


def find_subsets(root) -> list[str]:
    """Folders (relative to root) that directly contain .pts files, sorted."""
    root = Path(root)
    return sorted({str(p.parent.relative_to(root)) for p in root.rglob("*.pts")})


#: the .pts files' coordinate origin (1-based, see the module docstring)
W300_ORIGIN = 1.0


def load_300w(root, subsets=None, limit: int | None = None, origin: float = W300_ORIGIN) -> LoadResult:
    """Read all faces under root/<subset> for each subset (default: the official training folders present).
    `limit` keeps only the first `limit` faces (sorted by subset, then path)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError("300-W folder not found: %s" % root)
    if subsets is None:
        subsets = [s for s in W300_DEFAULT_SUBSETS if (root / s).is_dir()]
        if not subsets:
            raise FileNotFoundError(
                "300-W folder %s holds none of the default subsets %s; name the folders to load"
                % (root, ", ".join(W300_DEFAULT_SUBSETS))
            )
    scheme = get_scheme("300w68")
    out = FaceCollector(scheme)
    order = 0
    for subset in subsets:
        sub = root / subset
        if not sub.is_dir():
            raise FileNotFoundError("300-W subset folder not found: %s" % sub)
        for pts_path in sorted(sub.rglob("*.pts")):
            if limit is not None and order >= limit:
                return out.result()
            rel = str(pts_path.relative_to(root))
            with out.skipping():
                image_path = next(
                    (pts_path.with_suffix(e) for e in IMAGE_EXTS if pts_path.with_suffix(e).is_file()), None
                )
                if image_path is None:
                    raise BadSample(
                        "missing image",
                        "%s: no image file %s.{jpg,png,...} next to it" % (pts_path, pts_path.stem),
                    )
                pts = read_pts(pts_path, scheme.n_points) - origin
                out.keep(Face(source=rel, points=pts, image_path=str(image_path),
                              group=_group(subset, pts_path.stem), order=order))
            order += 1
    return out.result()
