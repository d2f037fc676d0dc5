#!/usr/bin/env python
"""Turn an official face-alignment dataset into Caffe-ready HDF5 (see --help)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from mcl_caffe.data.augment import CROP_SOURCES, FLIP_MODES, AugmentConfig
from mcl_caffe.data.val_views import DEFAULT_ROLLS
from mcl_caffe.core.crop import CROP_SCALE
from mcl_caffe.core.landmarks import DATASETS
from mcl_caffe.data.prepare import (
    DEFAULT_TEST_FRACTION,
    PrepareOptions,
    StrictError,
    prepare,
)
from mcl_caffe.data.face_checks import FAR_OUTSIDE_FRACTION, format_summary

D = AugmentConfig()

DESCRIPTION = """\
Turn the official files of one benchmark into what Caffe's HDF5Data layer reads:
50x50 grayscale patches normalised as (p - 128) * 0.0078125, their 2n landmark coordinates
(x1,y1,x2,y2,... in patch pixels) and the eye-centre distance d of Eq. 4.

Datasets and what DATA_ROOT must hold:
  aflw  training.txt + testing.txt in MTFL format (path x1..x5 y1..y5 [attributes]) and the
        images they name (relative paths).  Test set = testing.txt (the 2,995 AFLW faces).
  cofw  COFW_train_color.mat + COFW_test_color.mat (MATLAB v7.3) or the original
        COFW_train.mat / COFW_test.mat (v5).  Test set = the 507 test faces.
  300w  folders of images with .pts files (afw/, helen/trainset/, lfpw/trainset/, ibug/ ...).
        Training = --subsets (default: afw and helen/trainset, the folders of today's protocol),
        test = --test-subsets (e.g. ibug) when given, else a held-out --test-fraction (default
        %(tf)s) of the training faces.

Splits: Omega_t / Omega_v (train / val) split the training faces at the face level (faces of
one photo together) BEFORE augmentation, with a fixed seed.  val and test are not augmented:
each face gives one nominal crop.

Face box and crop: the dataset's box when it has one (COFW [x y w h]) or --*-boxes file,
else the tight box of the ground-truth points (300-W bb_ground_truth convention), the same rule
at training and test time; the crop is the square on the box centre with side =
crop scale x max(box w, h); crop scales: %(cs)s.

Augmentation of training faces, in the paper's order (Section IV-A-2): rotations -> tight box
of the rotated points -> uniform scaling and translation of the box -> crop -> horizontal flip
-> JPEG.  Defaults give %(spf)d samples per face.

With --train-crop box, training faces that have a given box (--train-boxes) are cropped from it by the same
rule as the validation and test faces (the fitted calibration), rotated about that crop's centre; the
training samples then carry the detector's own error, as the test crops do.

Validation views (the validation faces under the test protocol's conditions; the test sets choose nothing):
val_roll<A>.txt for each --val-rolls angle A (each face rolled by +A and -A, cropped from the tight box of the
rolled points), val_detector.txt (300-W: the official bb_detector boxes through the calibration), val_gt.txt
(when validation crops come from given boxes: the same faces from their points' tight box).

Output in OUT/DATASET/: train.txt, val.txt, test.txt (absolute paths of the chunk files), val_*.txt,
test_*.txt, h5/<split>_###.h5 (datasets data, label, d, plus index, affine, flipped, crop, occlusion),
meta.json (options, counts, versions, source images per split).

Bad input (missing/unreadable image, wrong point count, non-numeric value, points more than
%(far)s of the image size outside it, zero-area box) is skipped and counted in the summary,
each with a message naming the file; --strict stops at the first one with exit status 2.
""" % {
    "tf": DEFAULT_TEST_FRACTION,
    "cs": ", ".join("%s %.2f" % kv for kv in CROP_SCALE.items()),
    "spf": D.samples_per_face,
    "far": "%d%%" % (100 * FAR_OUTSIDE_FRACTION),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="make_data.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", required=True, choices=DATASETS, help="benchmark format to read")
    p.add_argument(
        "--data-root", required=True, type=Path, help="folder holding the official files (see above)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "data",
        help="output root; files go to OUT/DATASET/ (default: data/ in the repo)",
    )
    g = p.add_argument_group("splits")
    g.add_argument(
        "--seed", type=int, default=0, help="seed of splits, augmentation and shuffling (default 0)"
    )
    g.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="fraction of training faces held out as validation set Omega_v (default 0.1)",
    )
    g.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="for datasets without a test set here: fraction of training faces held out as test set "
        "(default %s); an error for datasets with a test set" % DEFAULT_TEST_FRACTION,
    )
    g.add_argument(
        "--subsets", default=None, help="300w: comma-separated training folders (relative to DATA_ROOT)"
    )
    g.add_argument(
        "--test-subsets",
        default=None,
        help="300w: comma-separated test folders (default: none, a held-out share of the training faces)",
    )
    g.add_argument(
        "--train-boxes",
        type=Path,
        default=None,
        help="face-detector boxes for the training list, one line per face in list order: 'left right top "
        "bottom' (MCNet-Extension / the MCL author's AFLW_boundingbox.txt) or Sun et al.'s 'path left right "
        "top bottom x1 y1 ... x5 y5' (trainImageList.txt, whose paths must match). They calibrate the "
        "validation and test crops (training crops stay landmark boxes + augmentation). A malformed or "
        "missing line, a path of another image or a box outside its image stops make data",
    )
    g.add_argument(
        "--test-boxes", type=Path, default=None, help="face-detector boxes for the test list (same formats)"
    )
    g.add_argument(
        "--limit", type=int, default=None, help="read only the first N faces of each list (smoke runs, CI)"
    )
    a = p.add_argument_group("augmentation (training faces only)")
    a.add_argument(
        "--rotations",
        type=int,
        default=D.rotations,
        help="rotations per face, the first one 0 deg (default %(default)s)",
    )
    a.add_argument(
        "--max-angle",
        type=float,
        default=D.max_angle,
        help="other rotations ~ U[-A, A] degrees (default %(default)s)",
    )
    a.add_argument(
        "--jitters",
        type=int,
        default=D.jitters,
        help="boxes per rotation, the first one un-jittered (default %(default)s)",
    )
    a.add_argument(
        "--scale-range",
        type=float,
        nargs=2,
        default=(D.scale_min, D.scale_max),
        metavar=("MIN", "MAX"),
        help="uniform box scaling range (default %(default)s)",
    )
    a.add_argument(
        "--max-shift",
        type=float,
        default=D.max_shift,
        help="box translation ~ U[-S, S] x crop side, per axis (default %(default)s)",
    )
    a.add_argument(
        "--flip",
        choices=FLIP_MODES,
        default=D.flip,
        help="both: keep each sample and its mirror; random: mirror half; none (default %(default)s)",
    )
    a.add_argument(
        "--jpeg-prob",
        type=float,
        default=D.jpeg_prob,
        help="probability of JPEG-compressing a sample (default %(default)s)",
    )
    a.add_argument(
        "--jpeg-quality",
        type=int,
        nargs=2,
        default=(D.jpeg_min, D.jpeg_max),
        metavar=("MIN", "MAX"),
        help="JPEG quality range, inclusive (default %(default)s)",
    )
    a.add_argument(
        "--train-crop",
        choices=CROP_SOURCES,
        default=D.crop_from,
        help="crop training faces from their landmarks' tight box, or from their given (--train-boxes) box "
        "with the validation/test rule (default %(default)s)",
    )
    a.add_argument(
        "--no-augment",
        action="store_true",
        help="training faces give only their nominal crop (same as --rotations 1 --jitters 1 "
        "--flip none --jpeg-prob 0)",
    )
    g.add_argument(
        "--val-rolls",
        type=float,
        nargs="*",
        default=list(DEFAULT_ROLLS),
        metavar="DEG",
        help="rolled validation views, one list per angle (default %(default)s; none: no rolled views)",
    )
    r = p.add_argument_group("run")
    r.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    r.add_argument(
        "--chunk-size", type=int, default=4000, help="samples per HDF5 file (default 4000, ~40 MB)"
    )
    r.add_argument("--strict", action="store_true", help="stop at the first bad sample (exit status 2)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def options_from_args(args) -> PrepareOptions:
    if args.no_augment:
        aug = AugmentConfig(rotations=1, jitters=1, flip="none", jpeg_prob=0.0, crop_from=args.train_crop)
    else:
        aug = AugmentConfig(
            rotations=args.rotations,
            max_angle=args.max_angle,
            jitters=args.jitters,
            scale_min=args.scale_range[0],
            scale_max=args.scale_range[1],
            max_shift=args.max_shift,
            flip=args.flip,
            jpeg_prob=args.jpeg_prob,
            jpeg_min=args.jpeg_quality[0],
            jpeg_max=args.jpeg_quality[1],
            crop_from=args.train_crop,
        )
    split_list = lambda s: None if s is None else [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    return PrepareOptions(
        dataset=args.dataset,
        data_root=args.data_root,
        out=args.out,
        augment=aug,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        limit=args.limit,
        workers=args.workers,
        strict=args.strict,
        chunk_size=args.chunk_size,
        train_boxes=args.train_boxes,
        test_boxes=args.test_boxes,
        subsets=split_list(args.subsets),
        test_subsets=split_list(args.test_subsets),
        progress=not args.no_progress,
        val_rolls=tuple(args.val_rolls),
    )


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    if args.chunk_size < 1 or args.workers < 1:
        parser.error("--chunk-size and --workers must be >= 1")
    try:
        opts = options_from_args(args)
        summary = prepare(opts)
    except StrictError as exc:
        print("make_data: error%s: %s" % (" (--strict)" if args.strict else "", exc), file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print("make_data: error: %s" % exc, file=sys.stderr)
        return 1
    print(format_summary(summary, args.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
