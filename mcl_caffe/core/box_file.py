"""Face-box files in the MCNet-Extension format (one ``left right top bottom`` line per image), and the error
type for any unusable input line or face, BadSample, which the data loaders share. Needs numpy only, so that
mcl-align reads box files without the data package."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class BadSample(ValueError):
    """A sample that cannot be used. `reason` is a short key counted in the summary
    (e.g. 'missing image', 'wrong point count'); the message names the file and the problem."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __reduce__(self):  # picklable across worker processes
        return (BadSample, (self.reason, self.message))


def parse_float(token: str, where: str) -> float:
    """float(token), or BadSample('non-numeric value') naming `where`; NaN and inf count as non-numeric."""
    try:
        v = float(token)
    except ValueError:
        raise BadSample("non-numeric value", "%s: non-numeric value %r" % (where, token)) from None
    if not np.isfinite(v):
        raise BadSample("non-numeric value", "%s: non-finite value %r" % (where, token))
    return v


def token_lines(path, what: str, commas: bool = False):
    """The non-empty lines of a text file as (line number, 'file:line', whitespace-separated tokens), in
    order; with `commas`, commas separate tokens too. Raises FileNotFoundError naming `what` (e.g. 'box
    file') at once when the file is missing; the lines are read as they are iterated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError("%s not found: %s" % (what, path))
    return _token_lines(path, commas)


def _token_lines(path: Path, commas: bool):
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            tok = (line.replace(",", " ") if commas else line).split()
            if tok:
                yield lineno, "%s:%d" % (path, lineno), tok


def read_box_file(path) -> list:
    """-> list with one entry per non-empty line: a (4,) array, or a BadSample for a bad line."""
    out = []
    for _, where, tok in token_lines(path, "box file", commas=True):
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
