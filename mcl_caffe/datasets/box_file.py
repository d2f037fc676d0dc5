"""Face-box files in the MCNet-Extension format: one ``left right top bottom`` line per image,
in the order of the dataset's list (line i is the box of face i of that list)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .sample import BadSample, parse_float


def read_box_file(path) -> list:
    """-> list with one entry per non-empty line: a (4,) array, or a BadSample for a bad line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError("box file not found: %s" % path)
    out = []
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            tok = line.replace(",", " ").split()
            if not tok:
                continue
            where = "%s:%d" % (path, lineno)
            try:
                if len(tok) != 4:
                    raise BadSample(
                        "malformed box file",
                        "%s: expected 4 numbers (left right top bottom), got %d" % (where, len(tok)),
                    )
                box = np.array([parse_float(t, where) for t in tok])
                if not (box[1] > box[0] and box[3] > box[2]):
                    raise BadSample(
                        "zero-area box", "%s: zero-area box (left right top bottom) = %s" % (where, tok)
                    )
                out.append(box)
            except BadSample as exc:
                out.append(exc)
    return out


def attach_boxes(result, boxes, box_path) -> None:
    """Give face k of `result` the box on line `face.order` of the box file (in place).
    Faces whose line is bad or missing move to result.problems."""
    kept = []
    for face in result.faces:
        if face.order >= len(boxes):
            result.problems.append(
                BadSample(
                    "missing box",
                    "%s: box file %s has only %d lines, no box for list entry %d"
                    % (face.source, box_path, len(boxes), face.order + 1),
                )
            )
            continue
        b = boxes[face.order]
        if isinstance(b, BadSample):
            result.problems.append(BadSample(b.reason, "%s (box for %s)" % (b.message, face.source)))
            continue
        face.box = b
        kept.append(face)
    result.faces[:] = kept
