#!/usr/bin/env python
"""Write a PNG contact sheet of patches with their landmarks from make_data.py output.

Points are drawn in cluster colours (green left eye, yellow right eye, blue nose, red mouth,
magenta/cyan/orange left contour/chin/right contour); 'F' marks a mirrored sample.  Look at it:
every point should sit on its eye / nose / mouth part.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from mcl_caffe.data.contact_sheet import contact_sheet


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "source",
        type=Path,
        help="a chunk file (h5/train_000.h5) or a list file (train.txt); the first chunk of a list is used",
    )
    p.add_argument(
        "-o", "--out", type=Path, default=None, help="PNG to write (default: <source dir>/contact_sheet.png)"
    )
    p.add_argument("-n", type=int, default=48, help="number of patches (default 48)")
    p.add_argument("--cols", type=int, default=8, help="patches per row (default 8)")
    p.add_argument("--up", type=int, default=4, help="upscaling factor (default 4)")
    p.add_argument("--seed", type=int, default=0, help="which random patches (default 0)")
    args = p.parse_args(argv)
    if not args.source.is_file():
        p.error("no such file: %s" % args.source)
    out = args.out or (args.source.resolve().parent / "contact_sheet.png")
    path = contact_sheet(args.source, out, n=args.n, cols=args.cols, up=args.up, seed=args.seed)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
