#!/usr/bin/env python3
"""Regenerate the committed nets (prototxt/) and solvers (solvers/) for all three labelling patterns.

tests/nets/test_committed_prototxt.py fails when the committed files differ from what this writes, so run it
(`make prototxt`) after changing the generators and commit the result.
"""
import argparse
from pathlib import Path

from mcl_caffe.nets.committed_files import write


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                   help="repository root to write into (default: this checkout)")
    args = p.parse_args()
    for sub in ("prototxt", "solvers"):  # drop files a generator change made obsolete
        for old in (args.root / sub).rglob("*.prototxt"):
            old.unlink()
    written = write(args.root)
    print("wrote %d files under %s/{prototxt,solvers}" % (len(written), args.root))


if __name__ == "__main__":
    main()
