#!/usr/bin/env python
"""Where the landmarks sit in the AFLW protocol's face-detector boxes, per set (see --help)."""
import argparse
import sys
from pathlib import Path

from mcl_caffe.data.eval_faces import SHARED_DATA
from mcl_caffe.evaluation.box_offsets import run


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="tools/box_offsets.py",
        description="Where the 5 landmarks sit in the face-detector boxes of the AFLW protocol: box centre "
        "minus the landmarks' mean, in units of d, for the training faces (Sun et al.'s CUHK detector boxes) "
        "and the AFLW test faces (the MCL author's boxes), on all and on near-frontal faces. See "
        "mcl_caffe/evaluation/box_offsets.py.",
    )
    ap.add_argument("--data-root", type=Path, default=SHARED_DATA,
                    help="folder holding mtfl-full/ and boxes/")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    return ap


if __name__ == "__main__":
    args = build_parser().parse_args()
    sys.exit(run(args.data_root, args.json))
