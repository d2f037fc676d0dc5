"""mcl-align-batch: mcl-align over a folder tree, glob or list of images on a Ray cluster (see --help)."""

from __future__ import annotations

import argparse
import sys

from mcl_caffe.infer.cli_args import _int_at_least, add_detection_args, detection_kwargs
from mcl_caffe.infer.inputs import UsageError

DESCRIPTION = """\
Mark facial landmarks in many photos with Ray Data: a pool of actors, each holding one onnxruntime session
and one face detector (mcl-align's FaceAligner, so the points are mcl-align's), decodes, detects and aligns;
the results stream into Parquet shards in OUT.  Needs the extra: pip install 'mcl-caffe[scale]'.

SRC  a folder (its images, recursively), a glob ('photos/**/*.jpg') or a list file (.txt, one image per line,
     '#' lines skipped); local, or any URI pyarrow.fs reads (s3://, gs://, hdfs://, file://).
OUT  a folder: part-*.parquet, one row per face (an image without faces: one row with null face columns)
     with mcl-align's JSON fields: image, status (ok, no_face, error), errors, warnings, width, height,
     exif_orientation, n_faces, face, box (left, right, top, bottom), box_source, score, crop, points
     (n x [x, y], pixels of the upright image, pixel centres at integers); _mcl_align.json holds the model
     and its point names.  Read it with pandas.read_parquet(OUT) or pyarrow.dataset.
Resume: run again with the same OUT; images already written are skipped (also those with an error: delete
OUT or give another to retry them).  Each shard is written whole, so a killed run loses only the images in
flight.
--address: 'local' (default) starts a Ray cluster in this process; 'auto' joins the one started on this
machine with `ray start --head`; ray://HOST:10001 a remote one (every node needs mcl-caffe[scale]
installed: the actors load the model from their own installed package).

Exit status: 0 all images processed, 1 some image had an error (listed at the end with its shard), 2 the
command line, SRC, OUT or the model is unusable.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcl-align-batch", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("src", metavar="SRC", help="folder, glob or list file of images (local or URI)")
    p.add_argument("out", metavar="OUT", help="output folder of Parquet shards (created; reused to resume)")
    p.add_argument("--address", default="local",
                   help="local (default), auto, HOST:PORT of a head started with ray start, or ray://HOST:PORT")
    p.add_argument(
        "-m", "--model", default="300w68", metavar="NAME|PATH", help="300w68 (default), aflw5 or .onnx"
    )
    p.add_argument("--int8", action="store_true", help="the shipped model's INT8 file")
    p.add_argument("--detector", choices=["yunet", "mtcnn", "haar"], default="yunet", help="face detector")
    p.add_argument("--actors", type=_int_at_least(1, "--actors"), default=1, help="actors in the pool (1)")
    p.add_argument(
        "--threads",
        type=_int_at_least(1, "--threads"),
        default=1,
        help="threads per actor (1; CPUs it reserves)",
    )
    p.add_argument(
        "--batch-size",
        type=_int_at_least(1, "--batch-size"),
        default=32,
        help="images per actor call and shard",
    )
    add_detection_args(p)
    p.add_argument(
        "--num-cpus", type=_int_at_least(1, "--num-cpus"), default=None, help="CPUs of a local cluster"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def aligner_kwargs(args) -> dict:
    return dict(model=args.model, detector=args.detector, int8=args.int8, threads=args.threads,
                **detection_kwargs(args))


def summary_text(s) -> str:
    lines = [
        "mcl-align-batch: %d images: %d processed in %.1f s (%.1f images/s), %d already in OUT; "
        "%d with faces "
        "(%d faces), %d without a face, %d with errors"
        % (s.images, s.processed, s.seconds, s.images_per_s, s.skipped, s.ok, s.faces, s.no_face, s.errors)
    ]
    if s.errors:
        lines.append("errors are the rows with status 'error' in these shards:")
        lines += ["  %s" % p for p in s.shards]
        lines += ["  e.g. %s" % msg for _, msg in s.error_examples]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import ray  # noqa: F401
    except ImportError:
        print("mcl-align-batch: error: Ray is not installed: pip install 'mcl-caffe[scale]'", file=sys.stderr)
        return 2
    from mcl_caffe.infer.aligner import ModelError
    from mcl_caffe.infer.shipped import UnknownModel
    from mcl_caffe.scale.pipeline import connect, run_batch

    try:
        from mcl_caffe.scale.sources import list_images

        names = list_images(args.src)
        connect(args.address, args.num_cpus)
        s = run_batch(
            args.src,
            args.out,
            aligner_kwargs(args),
            actors=args.actors,
            batch_size=args.batch_size,
            max_pixels=int(args.max_megapixels * 1e6),
            progress=not args.no_progress,
            names=names,
        )
    except (UsageError, ModelError, UnknownModel) as exc:
        print("mcl-align-batch: error: %s" % exc, file=sys.stderr)
        return 2
    print(summary_text(s), flush=True)
    return 1 if s.errors else 0


if __name__ == "__main__":
    sys.exit(main())
