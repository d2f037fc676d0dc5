"""mcl-align's output: one CSV row per face (one row for an image without faces) or one JSON record per image,
written as each image is done, so an interrupted run keeps what it did; and reading such a file back for
--resume.

Every input gets a status: ``ok`` (faces marked), ``no_face`` (the detector found none) or ``error`` (the
message says why).  Coordinates are pixels of the upright image (EXIF orientation applied), 0-based, with
pixel centres at integers; boxes are (left, right, top, bottom).

JSON layout (valid JSON once the run ends; one record per line, so that a cut-off file can be resumed):

    {"mcl_align": VERSION, "model": ..., "scheme": ..., "n_points": n, "point_names": [...], ..., "images": [
    {"image": ..., "status": ..., "faces": [...], ...},
    ...
    ]}
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STATUSES = ("ok", "no_face", "error")
COORDINATES = (
    "pixels of the upright image (EXIF orientation applied), 0-based, pixel centres at integers "
    "(pixel (0, 0) covers -0.5..0.5)"
)
BOX_ORDER = "left, right, top, bottom"


@dataclass
class ImageResult:
    path: str
    width: int = 0  # of the upright image
    height: int = 0
    orientation: int = 0  # EXIF orientation applied (1 = none; 0 = not decoded)
    faces: list = field(default_factory=list)  # dicts: box, box_source, score, crop, points
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.errors:
            return "error"
        return "ok" if self.faces else "no_face"


def csv_header(n_points: int) -> list[str]:
    head = [
        "image",
        "status",
        "message",
        "exif_orientation",
        "upright_width",
        "upright_height",
        "face",
        "box_source",
        "score",
        "left",
        "right",
        "top",
        "bottom",
    ]
    for j in range(1, n_points + 1):
        head += ["x%d" % j, "y%d" % j]
    return head


def _num(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else "%.3f" % v


def csv_rows(r: ImageResult, n_points: int) -> list[list[str]]:
    message = "; ".join(r.errors + r.warnings)
    base = [r.path, r.status, message, str(r.orientation or ""), str(r.width or ""), str(r.height or "")]
    if not r.faces:
        return [base + [""] * (7 + 2 * n_points)]
    rows = []
    for k, f in enumerate(r.faces):
        row = base + [str(k), f["box_source"], _num(f["score"])] + ["%.3f" % v for v in f["box"]]
        rows.append(row + ["%.3f" % v for v in np.asarray(f["points"]).reshape(-1)])
    return rows


def json_record(r: ImageResult) -> dict:
    return {
        "image": r.path,
        "status": r.status,
        "errors": r.errors,
        "warnings": r.warnings,
        "width": r.width,
        "height": r.height,
        "exif_orientation": r.orientation,
        "faces": [
            {
                "box": [round(float(v), 3) for v in f["box"]],
                "box_source": f["box_source"],
                "score": None if f["score"] is None or np.isnan(f["score"]) else round(float(f["score"]), 4),
                "crop": [round(float(v), 3) for v in f["crop"]],
                "points": np.round(np.asarray(f["points"]), 3).tolist(),
            }
            for f in r.faces
        ],
    }


def json_head(version: str, model_path, scheme, n_points: int) -> dict:
    return {
        "mcl_align": version,
        "model": str(model_path),
        "scheme": scheme.name,
        "n_points": n_points,
        "point_names": list(scheme.point_names),
        "coordinates": COORDINATES,
        "box_order": BOX_ORDER,
        "crop": "x0, y0, side: the square the network saw; (x0, y0): centre of its top-left patch pixel",
    }


def _head_line(head: dict) -> str:
    text = json.dumps(dict(head, images=[]))
    assert text.endswith("[]}")
    return text[:-2]  # ... "images": [


class ResultWriter:
    """Writes results as they come to an open text file; close() ends a JSON document."""

    def __init__(
        self, fmt: str, fh, n_points: int, head: dict, start_fresh: bool = True, records_written: int = 0
    ):
        self.fmt, self.fh, self.n_points = fmt, fh, n_points
        self.count = records_written
        if fmt == "csv":
            self.csv = csv.writer(fh, lineterminator="\n")
            if start_fresh:
                self.csv.writerow(csv_header(n_points))
        elif start_fresh:
            fh.write(_head_line(head))
        fh.flush()

    def write(self, r: ImageResult) -> None:
        if self.fmt == "csv":
            self.csv.writerows(csv_rows(r, self.n_points))
        else:
            self.fh.write((",\n" if self.count else "\n") + json.dumps(json_record(r)))
        self.count += 1
        self.fh.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.fh.write("\n]}\n")
        self.fh.flush()


class ResumeError(ValueError):
    pass


def read_previous(path: Path, fmt: str, n_points: int, head: dict) -> tuple[list, set]:
    """What an earlier run wrote to `path`: (items to keep, paths done).  Done = status ok or no_face; an
    image with an error is kept out (and so tried again).  CSV: rows (lists); the last image in the file is
    tried again too, since a cut-off run may have written only some of its rows.  JSON: record dicts; a
    cut-off last line is dropped.  Raises ResumeError when the file was written for another model or
    layout."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return [], set()
        if rows[0] != csv_header(n_points):
            raise ResumeError(
                "%s has other CSV columns than this run writes (another model or mcl-align "
                "version?); give another -o or leave out --resume" % path
            )
        rows = [r for r in rows[1:] if len(r) == len(rows[0])]
        last = rows[-1][0] if rows else None
        status = {}
        for r in rows:
            status.setdefault(r[0], set()).add(r[1])
        done = {p for p, st in status.items() if p != last and st <= {"ok", "no_face"}}
        return [r for r in rows if r[0] in done], done
    lines = text.splitlines()
    if not lines:
        return [], set()
    try:
        prev = json.loads(lines[0] + "]}")
    except json.JSONDecodeError:
        raise ResumeError(
            "%s does not start like mcl-align's JSON output; give another -o or leave out --resume" % path
        ) from None
    for key in ("model", "scheme", "n_points"):
        if prev.get(key) != head.get(key):
            raise ResumeError(
                "%s was written with %s %r, this run uses %r; give another -o or leave out "
                "--resume" % (path, key, prev.get(key), head.get(key))
            )
    records = []
    for line in lines[1:]:
        s = line.strip().rstrip(",")
        if s.startswith("]"):
            break
        try:
            rec = json.loads(s)
        except json.JSONDecodeError:
            continue  # a line cut off by an interrupted run
        if isinstance(rec, dict) and rec.get("status") in ("ok", "no_face"):
            records.append(rec)
    return records, {r["image"] for r in records}


def rewrite_previous(path: Path, fmt: str, n_points: int, head: dict, kept: list):
    """Replace `path` by the kept part of an earlier run (written to a temporary file, then renamed, so
    the earlier results survive a crash here), and return it open for appending with a ResultWriter."""
    tmp = path.with_name(path.name + ".resume-tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(csv_header(n_points))
            w.writerows(kept)
        else:
            fh.write(_head_line(head))
            for k, rec in enumerate(kept):
                fh.write((",\n" if k else "\n") + json.dumps(rec))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fh = open(path, "a", encoding="utf-8", newline="")
    return ResultWriter(fmt, fh, n_points, head, start_fresh=False, records_written=len(kept))
