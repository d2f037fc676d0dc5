#!/usr/bin/env python3
"""Compare an exported 68-point ONNX model with the paper's own model on IBUG's 135 faces, face by face: error
per face region, both CEDs, faces won, error by roll, and a contact sheet of the 8 faces with the largest gap
(mcl_caffe/evaluation/paper_compare.py). Writes OUT/COMPARE.md with paper_ced.png and paper_gaps.png, or puts
the section into a REPORT.md (--into). Run through `make paper-compare ONNX=... OUT=...`; no Caffe needed."""
import argparse
import os
import sys
from pathlib import Path

from mcl_caffe.report.paper_section import write_comparison


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, required=True,
                    help="an exported 68-point model (tools/export_onnx.py), e.g. "
                    "runs/300w-cpu/onnx/mcl.onnx")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for COMPARE.md and the PNGs (with --into: the report's folder, the default)")
    ap.add_argument("--into", type=Path, default=None,
                    help="a REPORT.md to put the section into instead of writing COMPARE.md (an earlier "
                    "copy of the section is replaced)")
    ap.add_argument("--w300-root", type=Path, default=None,
                    help="300-W folder holding ibug/ (default: ../shared/data/300w)")
    ap.add_argument("--authors", type=Path, default=None,
                    help="the authors' IBUG predictions (default: ../shared/data/authors/ibug_mcl_am.txt)")
    a = ap.parse_args(argv)
    if a.out is None and a.into is None:
        ap.error("give --out (a folder) or --into (a REPORT.md)")
    command = os.environ.get("MCL_COMPARE_COMMAND", "").strip() or " ".join(
        ["python tools/paper_compare.py"] + list(sys.argv[1:] if argv is None else argv))
    try:
        path = write_comparison(a.onnx, a.out, command, a.into, a.w300_root, a.authors)
    except (ValueError, OSError) as exc:  # CompareError is a ValueError; bad input files name themselves
        print("paper-compare: error: %s" % exc, file=sys.stderr)
        return 2
    print("paper-compare: %s" % path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
