"""The training list of Sun et al., CVPR 2013 (CUHK CNN_FacePoint ``trainImageList.txt``): the face detector's
boxes for MTFL's 10,000 training faces.

Line format, as released (CRLF, backslashes in paths)::

    lfw_5590\\Aaron_Eckhart_0001.jpg 84 161 92 169 106.25 107.75 146.75 112.25 ...
    path left right top bottom x1 y1 x2 y2 ... x5 y5

The points are 0-based: every MTFL ``training.txt`` coordinate equals the point here plus exactly 1.0,
line for line (tested on the real files). The box is the CUHK detector's, in the same pixel frame.
Nothing is skipped: a line that is not 1 + 4 + 10 fields of numbers, or a box without area, raises
ValueError naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcl_caffe.core.box_file import BadSample, parse_float, token_lines

N_POINTS = 5


@dataclass(frozen=True)
class SunEntry:
    path: str  # as listed, with '/' separators
    box: np.ndarray  # (left, right, top, bottom)
    points: np.ndarray  # (5, 2), 0-based pixel coordinates
    line: int


def read_sun_list(path) -> list[SunEntry]:
    out = []
    for lineno, where, tok in token_lines(path, "Sun et al. training list"):
        if len(tok) != 1 + 4 + 2 * N_POINTS:
            raise ValueError(
                "%s: expected a path, 4 box numbers and %d coordinates, got %d fields"
                % (where, 2 * N_POINTS, len(tok))
            )
        try:
            nums = np.array([parse_float(t, where) for t in tok[1:]])
        except BadSample as exc:
            raise ValueError(exc.message) from None
        box = nums[:4]
        if not (box[1] > box[0] and box[3] > box[2]):
            raise ValueError("%s: box (left right top bottom) %s has no area" % (where, box.tolist()))
        out.append(SunEntry(tok[0].replace("\\", "/"), box, nums[4:].reshape(N_POINTS, 2), lineno))
    return out
