"""Speed of the whole mcl-align pipeline on photos (`make bench-pipeline`, part of `make bench`;
tools/bench_pipeline.py --help): images per second for decoding (with the EXIF orientation), face detection
(the bounded pyramid of mcl_caffe.infer.find_faces) and landmarks (crops + the network + mapping back), on
one and two threads, with the FP32 and the INT8 model.

The photos come from mcl_caffe.bench.photos (made from the shared 300-W faces, from 640x480 to 12 megapixels,
one to seven faces).  Each configuration runs in its own process (mcl_caffe.bench.pipeline_worker), set to its
thread count (onnxruntime's intra-op threads, YuNet's OpenMP threads, OpenCV's threads); the processes take
turns photo set by photo set, round after round, so that a change in machine load hits all of them alike, and
every figure is the median over the rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: the photos timed: every size and face count of mcl_caffe.bench.photos, each once (exif_6 stands for the
#: eight orientations, which differ only in how the file stores the pixels)
BENCH_PHOTOS = (
    "two_small",
    "exif_6",
    "gray",
    "portrait_1080",
    "fullframe_1080",
    "sizes",
    "canvas_face800",
    "canvas_face1000",
    "canvas_face1400",
    "twelve_mp",
)
STAGES = ("decode", "detection", "landmarks")


class Worker:
    def __init__(self, label: str, spec: dict):
        self.label = label
        threads = str(spec["threads"])
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mcl_caffe.bench.pipeline_worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ready = self._read()
        self.rounds: list[dict] = []

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("pipeline bench worker %s died; see its error above" % self.label)
        return json.loads(line)

    def ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        self.proc.wait(timeout=60)


def _median(v) -> float:
    import numpy as np

    return float(np.median(v)) if len(v) else float("nan")


def summarise(label: str, spec: dict, rounds: list[dict]) -> dict:
    """Per-stage seconds of each round (summed over the photos) -> medians and images/s."""
    n = rounds[0]["images"]
    row = {
        "label": label,
        "threads": spec["threads"],
        "int8": spec["int8"],
        "images": n,
        "faces": rounds[0]["faces"],
    }
    for st in STAGES:
        sec = _median([r["seconds"][st] for r in rounds])
        row[st + "_ms_per_image"] = 1000 * sec / n
        row[st + "_images_per_s"] = n / sec if sec > 0 else float("nan")
    total = _median([sum(r["seconds"][st] for st in STAGES) for r in rounds])
    row["total_images_per_s"] = n / total
    row["total_ms_per_image"] = 1000 * total / n
    row["per_photo_ms"] = {
        name: _median([sum(r["per_photo"][name][st] for st in STAGES) * 1000 for r in rounds])
        for name in rounds[0]["per_photo"]
    }
    return row


def render(result: dict) -> str:
    from mcl_caffe.bench.speed_report import machine_line

    lines = [
        "# mcl-align on photos: decode, detection, landmarks",
        "",
        "Photos: %d made by mcl_caffe.bench.photos from the shared 300-W faces (%s), %d faces in all; "
        "model %s; detector %s, --max-side %d."
        % (
            result["images"],
            ", ".join(result["photos"]),
            result["faces"],
            result["model"],
            result["detector"],
            result["max_side"],
        ),
        machine_line(result,
                     "**measured under load**: other jobs were running, the absolute figures are noisy"),
        "Each figure: median over %d rounds of the whole photo set, the configurations taking turns; "
        "images/s of a stage = photos / that stage's time." % result["rounds"],
        "",
        "| configuration | decode img/s | detection img/s | landmarks img/s | whole pipeline img/s "
        "| ms / image |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            "| %s | %.1f | %.2f | %.1f | **%.2f** | %.0f |"
            % (
                r["label"],
                r["decode_images_per_s"],
                r["detection_images_per_s"],
                r["landmarks_images_per_s"],
                r["total_images_per_s"],
                r["total_ms_per_image"],
            )
        )
    names = list(result["rows"][0]["per_photo_ms"])
    lines += [
        "",
        "Whole pipeline per photo, ms (median over the rounds):",
        "",
        "| photo | size | faces | " + " | ".join(r["label"] for r in result["rows"]) + " |",
        "|---|---|---:|" + "---:|" * len(result["rows"]),
    ]
    for name in names:
        info = result["photo_info"][name]
        lines.append(
            "| %s | %dx%d | %d | %s |"
            % (
                name,
                info["width"],
                info["height"],
                info["faces"],
                " | ".join("%.0f" % r["per_photo_ms"][name] for r in result["rows"]),
            )
        )
    lines += ["", "Command: `%s`" % result["command"]]
    return "\n".join(lines) + "\n"


def run(
    out_dir,
    rounds: int = 5,
    threads=(1, 2),
    int8=(False, True),
    photos=BENCH_PHOTOS,
    photo_dir=None,
    model: str = "300w68",
    max_side: int | None = None,
    command: str = "",
) -> dict:
    """The whole bench; writes <out_dir>/pipeline.md and pipeline.json and returns the result."""
    from mcl_caffe.bench.photos import load_photos, make_photos
    from mcl_caffe.bench.speed import machine_info
    from mcl_caffe.infer.find_faces import DEFAULT_MAX_SIDE

    def log(msg):
        print("bench-pipeline: %s" % msg, file=sys.stderr, flush=True)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    load_start = [round(v, 2) for v in os.getloadavg()]
    pdir = Path(photo_dir) if photo_dir else out / "photos"
    if not (pdir / "photos.json").is_file() or not set(photos) <= set(load_photos(pdir)):
        log("making the photos in %s" % pdir)
        make_photos(pdir, names=set(photos))
    specs = load_photos(pdir)
    files = [str(pdir / specs[n].file) for n in photos]
    workers = []
    try:
        for t in threads:
            for q in int8:
                label = "%s, %d thread%s" % ("INT8" if q else "FP32", t, "s" if t > 1 else "")
                spec = {
                    "threads": t,
                    "int8": q,
                    "model": model,
                    "files": files,
                    "names": list(photos),
                    "max_side": max_side or DEFAULT_MAX_SIDE,
                }
                log("starting %s" % label)
                workers.append((Worker(label, spec), spec))
        for k in range(rounds):
            log("round %d/%d" % (k + 1, rounds))
            for w, _ in workers:
                w.rounds.append(w.ask("round"))
    finally:
        for w, _ in workers:
            w.close()
    rows = [summarise(w.label, spec, w.rounds) for w, spec in workers]
    result = {
        "rows": rows,
        "photos": list(photos),
        "photo_info": {
            n: {"width": specs[n].width, "height": specs[n].height, "faces": len(specs[n].faces)}
            for n in photos
        },
        "images": len(photos),
        "faces": rows[0]["faces"],
        "model": model,
        "detector": "yunet",
        "max_side": max_side or DEFAULT_MAX_SIDE,
        "rounds": rounds,
        "machine": machine_info(),
        "load_start": load_start,
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command or "tools/bench_pipeline.py --out-dir %s" % out,
    }
    md = render(result)
    (out / "pipeline.md").write_text(md)
    (out / "pipeline.json").write_text(json.dumps(result, indent=1) + "\n")
    log("wrote %s and %s" % (out / "pipeline.md", out / "pipeline.json"))
    return result
