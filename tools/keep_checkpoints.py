#!/usr/bin/env python3
"""Copy a run's stage-1 caffemodels at multiples of --every iterations into a folder to commit
(mcl_caffe/train/checkpoints.py): `make keep-checkpoints DATASET=aflw PROFILE=long` ->
reports/aflw-long/checkpoints/stage1_iter_{30000,60000,90000}.caffemodel. A new machine restarts the run from
the newest of them (`make long`, `make all`). --newest (`make keep-checkpoints KEEP_NEWEST=1`, at the end of a
session) also keeps the newest snapshot, replacing the previous newest."""
import argparse
import sys
from pathlib import Path

from mcl_caffe.train.checkpoints import KEEP_EVERY, keep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, required=True, help="the run folder, e.g. runs/aflw-long")
    p.add_argument("--out", type=Path, required=True, help="where the caffemodels go")
    p.add_argument("--every", type=int, default=KEEP_EVERY,
                   help="iteration interval (default %d)" % KEEP_EVERY)
    p.add_argument("--newest", action="store_true",
                   help="also copy the newest snapshot; delete an earlier newest (not a multiple of --every)")
    args = p.parse_args(argv)
    try:
        copied = keep(args.run_dir, args.out, args.every, newest=args.newest)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print("keep_checkpoints: error: %s" % exc, file=sys.stderr)
        return 2
    have = sorted(p.name for p in args.out.glob("*.caffemodel")) if args.out.is_dir() else []
    print("keep_checkpoints: copied %d (%s); %s holds %s" % (
        len(copied), ", ".join(p.name for p in copied) or "none new", args.out, ", ".join(have) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
