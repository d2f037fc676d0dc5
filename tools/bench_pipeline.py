#!/usr/bin/env python
"""Speed of the whole mcl-align pipeline (decode, detection, landmarks) on photos, 1 and 2 threads, FP32 and
INT8 (see --help)."""

import argparse
import sys
from pathlib import Path

from mcl_caffe.bench import pipeline

REPO = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench_pipeline.py",
        description=pipeline.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=REPO / "runs" / "bench-pipeline",
        help="where pipeline.md/json and the photos go (default runs/bench-pipeline)",
    )
    p.add_argument("--rounds", type=int, default=5, help="rounds over the photo set; figures are medians (5)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time (1 2)")
    p.add_argument("--model", default="300w68", help="shipped model name or .onnx path (300w68)")
    p.add_argument("--fp32-only", action="store_true", help="leave out the INT8 rows")
    p.add_argument(
        "--photos",
        nargs="+",
        default=list(pipeline.BENCH_PHOTOS),
        help="which generated photos to time (default: %s)" % " ".join(pipeline.BENCH_PHOTOS),
    )
    p.add_argument(
        "--max-side", type=int, default=None, help="the detector's --max-side (mcl-align's default)"
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds < 1 or min(args.threads) < 1:
        raise SystemExit("bench_pipeline.py: --rounds and --threads must be at least 1")
    cmd = "tools/bench_pipeline.py " + " ".join(argv if argv is not None else sys.argv[1:])
    res = pipeline.run(
        args.out_dir,
        rounds=args.rounds,
        threads=args.threads,
        int8=(False,) if args.fp32_only else (False, True),
        photos=args.photos,
        model=args.model,
        max_side=args.max_side,
        command=cmd.strip(),
    )
    print(pipeline.render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
