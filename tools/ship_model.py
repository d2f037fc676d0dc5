#!/usr/bin/env python3
"""Copy a finished run into the shipped model folder models/<name>/ with its INT8 file and MODEL.md
(mcl_caffe/deploy/ship.py). Run through `make ship DATASET=... PROFILE=...`."""
import argparse
import os
import sys
from pathlib import Path

from mcl_caffe.deploy import ship as S


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__ + "\n\n" + S.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, choices=sorted(S.SHIPPED), help="the shipped model to write")
    ap.add_argument("--run-dir", type=Path, required=True, help="runs/<dataset>-<profile>")
    ap.add_argument("--data", type=Path, required=True, help="the run's data folder (data/<dataset>)")
    ap.add_argument("--data-root", type=Path, default=None, help="the shared data (default: ../shared/data)")
    a = ap.parse_args(argv)
    command = os.environ.get("MCL_SHIP_COMMAND", "tools/ship_model.py " + " ".join(sys.argv[1:]))
    try:
        S.ship(a.name, a.run_dir, a.data, command, a.data_root)
    except S.ShipError as exc:
        print("ship: error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
