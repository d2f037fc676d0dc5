"""mcl-align-batch's output: Parquet shards in a folder, written whole or not at all, and read back to resume.

One row per face, with the fields of mcl-align's JSON records (mcl_caffe.infer.results.json_record):
image, status, errors, warnings, width, height, exif_orientation, n_faces, and per face: face (0, 1, ...
largest first), box (left, right, top, bottom), box_source, score, crop (x0, y0, side), points (n x [x, y]).
An image without faces (status no_face or error) has one row whose face columns are null.  Coordinates as in
mcl-align: pixels of the upright image, pixel centres at integers; stored unrounded (float64).

OUT/_mcl_align.json holds the run's head (model, scheme, point names, coordinate convention: what
mcl-align's JSON has at the top); OUT/part-*.parquet are the shards.  A shard is written to a hidden
temporary name and renamed when complete, so a killed run leaves only whole shards (and temporary files
that the next run removes).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np

from mcl_caffe.infer.inputs import UsageError

HEAD_FILE = "_mcl_align.json"
TMP_PREFIX = ".tmp-"


def schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("image", pa.string()),
            ("status", pa.string()),
            ("errors", pa.list_(pa.string())),
            ("warnings", pa.list_(pa.string())),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("exif_orientation", pa.int32()),
            ("n_faces", pa.int32()),
            ("face", pa.int32()),
            ("box", pa.list_(pa.float64())),
            ("box_source", pa.string()),
            ("score", pa.float64()),
            ("crop", pa.list_(pa.float64())),
            ("points", pa.list_(pa.list_(pa.float64()))),
        ]
    )


def rows(r) -> list[dict]:
    """An ImageResult -> its rows (one per face; one for an image without faces)."""
    base = {
        "image": r.path,
        "status": r.status,
        "errors": list(r.errors),
        "warnings": list(r.warnings),
        "width": r.width,
        "height": r.height,
        "exif_orientation": r.orientation,
        "n_faces": len(r.faces),
    }
    if not r.faces:
        return [dict(base, face=None, box=None, box_source=None, score=None, crop=None, points=None)]
    out = []
    for k, f in enumerate(r.faces):
        score = f["score"]
        out.append(
            dict(
                base,
                face=k,
                box=[float(v) for v in f["box"]],
                box_source=f["box_source"],
                score=None if score is None or np.isnan(score) else float(score),
                crop=[float(v) for v in f["crop"]],
                points=np.asarray(f["points"], np.float64).tolist(),
            )
        )
    return out


def to_table(results):
    import pyarrow as pa

    return pa.Table.from_pylist([row for r in results for row in rows(r)], schema=schema())


def prepare_out(out: str, head: dict) -> tuple[set, int]:
    """Create OUT or check that it belongs to a run with the same model; remove leftover temporary
    shards; -> (images already written in full, number of shards).  Raises UsageError when OUT is a file or
    was written with another model."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise UsageError("OUT %s is a file; give a folder (it gets Parquet shards)" % out)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError("cannot create OUT %s: %s" % (out, exc.strerror or exc)) from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise UsageError("cannot write into OUT %s: permission denied" % out)
    hf = p / HEAD_FILE
    if hf.is_file():
        prev = json.loads(hf.read_text(encoding="utf-8"))
        for key in ("model", "scheme", "n_points"):
            if prev.get(key) != head.get(key):
                raise UsageError(
                    "%s was written with %s %r, this run uses %r; give another OUT"
                    % (out, key, prev.get(key), head.get(key))
                )
    else:
        hf.write_text(json.dumps(head, indent=1) + "\n", encoding="utf-8")
    for t in p.glob(TMP_PREFIX + "*"):
        t.unlink()
    shards = sorted(p.glob("part-*.parquet"))
    return done_images(shards), len(shards)


def done_images(shards) -> set:
    """Images whose rows are all in the shards (n_faces rows, or one row for an image without faces)."""
    import pyarrow.parquet as pq

    seen: dict = {}
    need: dict = {}
    for s in shards:
        t = pq.read_table(s, columns=["image", "n_faces"])
        for img, n in zip(t.column("image").to_pylist(), t.column("n_faces").to_pylist()):
            seen[img] = seen.get(img, 0) + 1
            need[img] = max(int(n or 0), 1)
    return {img for img, c in seen.items() if c >= need[img]}


def write_shard(out: str, table) -> Path:
    """Write one shard whole: to a temporary name, fsync, then rename."""
    import pyarrow.parquet as pq

    name = "part-%s.parquet" % uuid.uuid4().hex[:16]
    tmp = Path(out) / (TMP_PREFIX + name)
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh)
        fh.flush()
        os.fsync(fh.fileno())
    final = Path(out) / name
    os.replace(tmp, final)
    return final


def read_all(out: str):
    """All rows of OUT as one pyarrow Table (for tests and small outputs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = sorted(Path(out).glob("part-*.parquet"))
    if not shards:
        return schema().empty_table()
    return pa.concat_tables([pq.read_table(s) for s in shards])
