"""mcl-align: mark facial landmarks in photos with an MCL model (see --help; the options are in cli_args)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from mcl_caffe.infer.cli_args import build_parser, check_output_paths, detection_kwargs, output_format
from mcl_caffe.infer.inputs import UsageError

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
                threads=args.threads,
                **detection_kwargs(args),
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
        "%s: %d with faces (%s), %d without a face, %d with errors%s%s"
        % (
            _count(len(items), "image"),
            counts["ok"],
            _count(counts["faces"], "face"),
            counts["no_face"],
            counts["error"],
            "; %d already in %s (--resume)" % (counts["skipped"], args.out) if counts["skipped"] else "",
            "; output in %s" % args.out if args.out else "",
        )
    )
    return 1 if counts["error"] else 0


def _count(n: int, word: str) -> str:
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


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
