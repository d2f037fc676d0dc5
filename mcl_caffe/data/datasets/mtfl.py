"""MTFL / AFLW 5-point lists: ``path x1 x2 x3 x4 x5 y1 y2 y3 y4 y5 [attributes...]``.

Paths are relative to the list file's folder; Windows separators (the original MTFL files
use ``lfw_5590\\name.jpg``) are accepted, as are CRLF line ends, a leading space and the four attribute
columns of the release.  Point order: left eye, right eye, nose tip, left mouth corner, right mouth
corner ("left" = image left).

Coordinates: the MTFL release is 1-based (MATLAB pixel centres): each of its training points equals the
0-based point of Sun et al.'s list for the same face plus exactly 1.0 (tests/data/test_sun_list.py), so the
loader subtracts ``origin`` (default 1) to give this project's 0-based pixel centres. The AFLW test lines
come from the same release and are read the same way.  No face boxes: the box is derived from the points,
or attached from a box file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.box_file import BadSample, parse_float, token_lines
from mcl_caffe.data.datasets.sample import Face, FaceCollector, LoadResult

N_POINTS = 5


#: the MTFL release's coordinate origin (1-based, see the module docstring)
MTFL_ORIGIN = 1.0


def load_mtfl_list(list_path, limit: int | None = None, origin: float = MTFL_ORIGIN) -> LoadResult:
    """Read one MTFL-format list. `limit` keeps only the first `limit` non-empty lines; `origin` is the
    file's coordinate origin (1 for the MTFL release), subtracted to give 0-based pixel centres."""
    list_path = Path(list_path)
    lines = token_lines(list_path, "MTFL list file")
    scheme = get_scheme("aflw5")
    root = list_path.resolve().parent
    out = FaceCollector(scheme)
    order = 0
    for _, where, tokens in lines:
        if limit is not None and order >= limit:
            break
        with out.skipping():
            if len(tokens) < 1 + 2 * N_POINTS:
                raise BadSample(
                    "wrong point count",
                    "%s: expected an image path and %d coordinates, got %d fields"
                    % (where, 2 * N_POINTS, len(tokens)),
                )
            rel = tokens[0].replace("\\", "/")
            vals = [
                parse_float(t, "%s column %d" % (where, i + 2))
                for i, t in enumerate(tokens[1 : 1 + 2 * N_POINTS])
            ]
            xs, ys = vals[:N_POINTS], vals[N_POINTS:]
            out.keep(Face(source="%s (%s)" % (where, rel), points=np.stack([xs, ys], axis=1) - origin,
                          image_path=str(root / rel), group=rel, order=order))
        order += 1
    return out.result()
