#!/usr/bin/env python
"""Model-free check of eye labelling conventions per split and image source (see --help)."""
import argparse
import sys

from mcl_caffe.evaluation.eye_label_offset import TARGET_D, run


def main() -> int:
    ap = argparse.ArgumentParser(
        prog="tools/eye_label_offset.py",
        description="Model-free check of eye labelling conventions: where the dark part of each labelled "
        "eye lies relative to its label, per split and image source, in percent of the eye-centre distance d "
        "(x to the image's right, y down; +- is the standard error of the mean). Sets labelled alike give "
        "alike offsets: compare them with each other, not with zero (eyebrows and lids pull every set's "
        "offset upwards). See mcl_caffe/evaluation/eye_label_offset.py.",
    )
    ap.add_argument("--dataset", default="aflw", choices=["aflw", "300w"], help="the shared data set to read")
    ap.add_argument(
        "--data-root", default=None, help="folder holding mtfl-full/ or 300w/ (default: ../shared/data)"
    )
    ap.add_argument(
        "--splits", nargs="+", default=["train", "test"], help="splits to measure (default: train test)"
    )
    ap.add_argument(
        "--target-d",
        type=float,
        default=TARGET_D,
        help="resample every face to this eye-centre distance in pixels first (0: keep; default %(default)s)",
    )
    ap.add_argument(
        "--max-abs-yaw",
        type=float,
        default=None,
        help="keep only faces with |yaw proxy| <= this (0.1: near-frontal; default: all faces)",
    )
    ap.add_argument("--limit", type=int, default=None, help="read at most this many faces per split")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    if args.target_d < 0:
        ap.error("--target-d must be 0 or positive")
    return run(args.dataset, args.splits, args.data_root, args.target_d, args.max_abs_yaw, args.limit,
               args.json)


if __name__ == "__main__":
    sys.exit(main())
