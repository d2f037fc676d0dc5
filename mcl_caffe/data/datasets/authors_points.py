"""The paper's own 68-point output for IBUG (``../shared/data/authors/ibug_mcl_am.txt``).

Line format, one face per line::

    NAME x1 y1 x2 y2 ... x68 y68

``NAME`` is the face's file name in ``300w/ibug/`` without ``.jpg``. The points are in the frame and the
convention of that folder's ``.pts`` files (the authors' README says so), so this reader subtracts the same
``origin`` (default 1, mcl_caffe.data.datasets.w300.W300_ORIGIN) as the 300-W loader: the points come out
in the loader's 0-based frame, comparable point for point with its ground truth and with a model's
predictions mapped back to the image.

Nothing is skipped: a line that is not a name and 136 numbers, a non-numeric or non-finite value, or a name
listed twice raises ValueError naming the file and the line. ``match_faces`` pairs the file with loaded faces
and raises when a face has no line or a line names no loaded face.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcl_caffe.core.box_file import BadSample, parse_float, token_lines
from mcl_caffe.data.datasets.w300 import W300_ORIGIN

N_POINTS = 68
#: where the file sits in the shared data, relative to its root (../shared/data)
AUTHORS_IBUG_FILE = Path("authors") / "ibug_mcl_am.txt"


@dataclass(frozen=True)
class AuthorsFace:
    name: str  # the face file's stem, e.g. image_003_1
    points: np.ndarray  # (68, 2), 0-based (the 300-W loader's frame)
    line: int


def read_authors_points(path, origin: float = W300_ORIGIN) -> dict[str, AuthorsFace]:
    """-> {face name: AuthorsFace} in file order. Raises ValueError naming the file and line for bad input."""
    out: dict[str, AuthorsFace] = {}
    for lineno, where, tok in token_lines(path, "the authors' predictions file"):
        if len(tok) != 1 + 2 * N_POINTS:
            raise ValueError("%s: expected a face name and %d coordinates (x1 y1 ... x%d y%d), got %d "
                             "fields" % (where, 2 * N_POINTS, N_POINTS, N_POINTS, len(tok)))
        name = tok[0]
        try:
            vals = [parse_float(t, "%s column %d" % (where, i + 2)) for i, t in enumerate(tok[1:])]
        except BadSample as exc:
            raise ValueError(exc.message) from None
        if name in out:
            raise ValueError("%s: face %s is listed twice (first on line %d)" % (where, name,
                                                                               out[name].line))
        pts = np.asarray(vals, dtype=np.float64).reshape(N_POINTS, 2) - origin
        out[name] = AuthorsFace(name, pts, lineno)
    if not out:
        raise ValueError("%s: no face lines" % path)
    return out


def match_faces(faces, authors: dict[str, AuthorsFace], path) -> np.ndarray:
    """(N, 68, 2): the authors' points of each loaded face (matched by image file stem), in face order.
    Raises ValueError naming the file when a face has no line or a line names no loaded face: the
    comparison is face by face and must cover the same faces."""
    stems = [Path(f.image_path).stem for f in faces]
    missing = [s for s in stems if s not in authors]
    if missing:
        raise ValueError("%s has no line for %d of the %d faces: %s" % (path, len(missing), len(stems),
                                                                         ", ".join(missing[:5])))
    extra = sorted(set(authors) - set(stems))
    if extra:
        raise ValueError("%s: %d lines name faces that were not loaded: %s" % (path, len(extra),
                                                                                ", ".join(extra[:5])))
    return np.stack([authors[s].points for s in stems])
