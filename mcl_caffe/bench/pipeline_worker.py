"""One configuration of the pipeline bench in its own process (mcl_caffe.bench.pipeline starts it): builds a
FaceAligner with the spec's model and threads, then answers `round` (time decode, detection and landmarks on
every photo once) and `quit` on stdin, one JSON line each on stdout.

Run as `python -m mcl_caffe.bench.pipeline_worker SPEC_JSON`."""

from __future__ import annotations

import json
import sys
import time


def serve(spec: dict) -> None:
    import cv2

    from mcl_caffe import FaceAligner
    from mcl_caffe.infer.images import read_photo

    threads = int(spec["threads"])
    cv2.setNumThreads(threads)
    fa = FaceAligner(spec["model"], int8=bool(spec["int8"]), threads=threads, max_side=int(spec["max_side"]))
    files, names = spec["files"], spec["names"]

    def one_round() -> dict:
        sec = {"decode": 0.0, "detection": 0.0, "landmarks": 0.0}
        per_photo, faces = {}, 0
        for name, f in zip(names, files):
            t0 = time.perf_counter()
            img = read_photo(f).image
            t1 = time.perf_counter()
            boxes, scores = fa.detect(img)
            t2 = time.perf_counter()
            found, _ = fa.landmarks(img, boxes, [float(s) for s in scores], fa.detector_calibration)
            t3 = time.perf_counter()
            faces += len(found)
            per_photo[name] = {"decode": t1 - t0, "detection": t2 - t1, "landmarks": t3 - t2}
            sec["decode"] += t1 - t0
            sec["detection"] += t2 - t1
            sec["landmarks"] += t3 - t2
        return {"seconds": sec, "per_photo": per_photo, "images": len(files), "faces": faces}

    one_round()  # warm-up: sessions, caches, the detector's first allocations
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "round":
            print(json.dumps(one_round()), flush=True)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
