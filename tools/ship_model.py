#!/usr/bin/env python3
"""Copy a finished run into the shipped model folder models/<name>/ with its INT8 file and MODEL.md
(mcl_caffe/deploy/ship.py). Run through `make ship DATASET=... PROFILE=...`.

With --int8-only, quantise a shipped model's committed mcl.onnx again into its mcl.int8.onnx with today's
INT8 options, calibrated on --data (the model's own training data, made again by make data), and rewrite the
card's INT8 figures; nothing else changes. Run through `make requantize DATASET=...`."""
import argparse
import os
import sys
from pathlib import Path

from mcl_caffe.deploy import ship as S


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__ + "\n\n" + S.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, choices=sorted(S.SHIPPED), help="the shipped model to write")
    ap.add_argument("--run-dir", type=Path, help="runs/<dataset>-<profile> (not with --int8-only)")
    ap.add_argument("--data", type=Path, required=True, help="the run's data folder (data/<dataset>)")
    ap.add_argument("--data-root", type=Path, default=None, help="the shared data (default: ../shared/data)")
    ap.add_argument("--int8-only", action="store_true",
                    help="re-make only the shipped model's INT8 file and its card's INT8 figures")
    a = ap.parse_args(argv)
    if (a.run_dir is None) != a.int8_only:
        ap.error("give --run-dir to ship a run, or --int8-only (without --run-dir) to re-quantise")
    command = os.environ.get("MCL_SHIP_COMMAND", "tools/ship_model.py " + " ".join(sys.argv[1:]))
    try:
        if a.int8_only:
            S.requantize(a.name, a.data, command, a.data_root)
        else:
            S.ship(a.name, a.run_dir, a.data, command, a.data_root)
    except S.ShipError as exc:
        print("ship: error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
