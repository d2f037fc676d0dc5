#!/usr/bin/env python
"""mcl-align-batch (Ray, 1 and 2 actors) vs one mcl-align process, FP32 and INT8, images/s (see --help)."""

import argparse
import sys
from pathlib import Path

from mcl_caffe.bench import batch

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="bench_batch.py", description=batch.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out-dir", type=Path, default=REPO / "runs" / "bench-batch", help="runs/bench-batch")
    p.add_argument("--images", type=int, default=5000, help="images in the generated tree (5000)")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "mtfl-full",
                   help="a folder of face photos (../shared/data/mtfl-full: the MTFL release)")
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor counts (1 2)")
    p.add_argument("--fp32-only", action="store_true", help="leave out INT8")
    args = p.parse_args(argv)
    if args.images < 1 or min(args.actors) < 1:
        p.error("--images and --actors must be at least 1")
    cmd = "tools/bench_batch.py " + " ".join(argv if argv is not None else sys.argv[1:])
    res = batch.run(
        args.out_dir,
        args.data,
        args.images,
        tuple(args.actors),
        (False,) if args.fp32_only else (False, True),
        cmd.strip(),
    )
    print(batch.render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
