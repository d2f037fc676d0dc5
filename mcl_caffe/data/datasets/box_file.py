"""Face-box files in the MCNet-Extension format: one ``left right top bottom`` line per image,
in the order of the dataset's list (line i is the box of face i of that list)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcl_caffe.core.box_file import BadSample, parse_float


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


def attach_list_boxes(faces, box_path) -> list[str]:
    """Give face k (in list order, `face.order`) the box on the k-th non-empty line of a dataset's box file,
    in place and strictly: the protocol depends on every box, so nothing is skipped.

    Two line formats are read: ``left right top bottom`` (the MCL author's AFLW_boundingbox.txt, tabs and
    CRLF as released; MCNet's box files) and Sun et al.'s ``path left right top bottom x1 y1 ... x5 y5``
    (trainImageList.txt), whose path must name the face's image. Raises ValueError naming the file and line
    for a malformed line, a missing line or a path of another image. (A box outside its image is an error
    of mcl_caffe.data.prepare, which reads the image.)

    Returns notes on the faces whose box does not overlap their landmarks: a detector that found something
    else. That is part of a detector protocol (2 of the 2,995 AFLW test faces), so those faces keep their
    box and the notes are reported."""
    from mcl_caffe.data.datasets.sun_list import read_sun_list

    box_path = Path(box_path)
    if not box_path.is_file():
        raise FileNotFoundError("box file not found: %s" % box_path)
    with open(box_path, "r", encoding="utf-8", errors="replace") as fh:
        first = next((ln.split() for ln in fh if ln.split()), [])
    if len(first) == 15:
        entries = [(e.box, e.path, e.line) for e in read_sun_list(box_path)]
    else:
        entries = []
        with open(box_path, "r", encoding="utf-8", errors="replace") as fh:
            lines = [(i, ln) for i, ln in enumerate(fh, start=1) if ln.split()]
        for lineno, line in lines:
            tok = line.replace(",", " ").split()
            where = "%s:%d" % (box_path, lineno)
            if len(tok) != 4:
                raise ValueError("%s: expected 4 numbers (left right top bottom), got %d fields" % (where,
                                                                                                    len(tok)))
            try:
                box = np.array([parse_float(t, where) for t in tok])
            except BadSample as exc:
                raise ValueError(exc.message) from None
            if not (box[1] > box[0] and box[3] > box[2]):
                raise ValueError("%s: box (left right top bottom) %s has no area" % (where, box.tolist()))
            entries.append((box, None, lineno))
    notes = []
    for face in faces:
        if face.order >= len(entries):
            raise ValueError(
                "%s has %d boxes; %s is entry %d of its list" % (box_path, len(entries), face.source,
                                                                 face.order + 1)
            )
        box, path, lineno = entries[face.order]
        where = "%s:%d" % (box_path, lineno)
        if path is not None and not str(face.image_path).replace("\\", "/").endswith("/" + path):
            raise ValueError("%s: the box is for %s, but entry %d of the list is %s" % (where, path,
                    face.order + 1, face.source))
        p = np.asarray(face.points)
        w = min(box[1], p[:, 0].max()) - max(box[0], p[:, 0].min())
        h = min(box[3], p[:, 1].max()) - max(box[2], p[:, 1].min())
        if not (w > 0 and h > 0):
            notes.append("%s: box %s does not overlap the landmarks of %s" % (where, box.tolist(),
                                                                              face.source))
        face.box = box.copy()
    return notes
