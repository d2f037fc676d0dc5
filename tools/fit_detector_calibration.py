#!/usr/bin/env python
"""Fit how OpenCV's Haar face boxes relate to the landmark boxes the networks were trained on (see --help)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DESCRIPTION = """\
Run OpenCV's Haar frontal-face detector on the training faces of the shared data, match each
detection to the face's landmark box (the detection holding the landmark-box centre), and store,
per landmark scheme, the median ratio (landmark box larger side / detector box larger side) and
the median centre offset in units of the detector box.  mcl-align --detect uses these numbers to
crop detector boxes the way the network was trained (mcl_caffe/face_detect.py).

Training faces only: aflw -> mtfl-full/training.txt (every --stride-th face), 300w -> the training split
of mcl_caffe.eval_faces (the data pipeline's split).  Needs an OpenCV with cv2.CascadeClassifier
(opencv-python-headless 4.x).
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="fit_detector_calibration.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--datasets", nargs="+", default=["300w", "aflw"], choices=["300w", "aflw"])
    p.add_argument("--stride", type=int, default=5, help="use every N-th aflw training face (default 5)")
    p.add_argument("--data-root", type=Path, default=None, help="shared data folder (default ../shared/data)")
    p.add_argument(
        "--out", type=Path, default=None, help="JSON to update (default mcl_caffe/detector_calibration.json)"
    )
    args = p.parse_args(argv)
    import cv2

    from mcl_caffe import face_detect as F
    from mcl_caffe.eval_faces import load_faces

    out = args.out or F.CALIBRATION_FILE
    try:
        det = F.HaarFaceDetector()
    except F.DetectorUnavailable as exc:
        print("fit_detector_calibration: error: %s" % exc, file=sys.stderr)
        return 2
    table = F.load_calibrations(out)
    for ds in args.datasets:
        faces, scheme = load_faces(ds, "train", args.data_root)
        if ds == "aflw":
            faces = faces[:: args.stride]
        entry = F.fit_detector_calibration(det, faces, scheme)
        entry.update(
            {
                "data": "%s training faces (%d tried)" % (ds, len(faces)),
                "opencv": cv2.__version__,
                "detector": {
                    "scale_factor": det.scale_factor,
                    "min_neighbors": det.min_neighbors,
                    "min_size": det.min_size,
                },
            }
        )
        table.setdefault(det.name, {})[scheme.name] = entry
        print("%s %s: %s" % (det.name, scheme.name, json.dumps(entry)))
    out.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print("wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
