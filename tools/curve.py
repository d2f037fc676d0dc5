#!/usr/bin/env python3
"""Score a run's stage-1 snapshots at multiples of --every iterations that are not scored yet, on validation
and on the data folder's test lists, append them to <run-dir>/curve.csv, and write CURVE.md, curve.png and
curve.csv into --report-dir (mcl_caffe/evaluation/curve.py, mcl_caffe/report/curve_report.py). The curve
chooses nothing: it evaluates finished snapshots, and the test sets pick no snapshot or setting."""
import argparse
import os
import shlex
import sys
from pathlib import Path

from mcl_caffe.evaluation.curve import DEFAULT_EVERY
from mcl_caffe.report.curve_report import update


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=["aflw", "cofw", "300w"])
    p.add_argument("--run-dir", type=Path, required=True, help="the run folder, e.g. runs/aflw-long")
    p.add_argument("--data", type=Path, required=True,
                   help="its data folder (val.txt, test.txt, the extra test lists, meta.json)")
    p.add_argument("--report-dir", type=Path, required=True, help="where CURVE.md, curve.png, curve.csv go")
    p.add_argument("--every", type=int, default=DEFAULT_EVERY,
                   help="score the snapshots at multiples of this many iterations (default %d)"
                        % DEFAULT_EVERY)
    p.add_argument("--cpu-report", type=Path, default=None,
                   help="a committed REPORT.md whose BM is drawn as the `cpu` point (default: "
                        "reports/<dataset>-cpu/REPORT.md when it exists)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS/OpenMP threads of the forward passes (default 1: the other core stays with "
                        "training)")
    args = p.parse_args(argv)
    cpu = args.cpu_report
    if cpu is None:
        default = Path(__file__).resolve().parents[1] / "reports" / ("%s-cpu" % args.dataset) / "REPORT.md"
        cpu = default if default.is_file() else None
    command = os.environ.get("MCL_CURVE_COMMAND") or " ".join(
        shlex.quote(a) for a in [sys.argv[0]] + list(argv if argv is not None else sys.argv[1:]))
    try:
        md = update(args.dataset, args.run_dir, args.data, args.report_dir, args.every, cpu, args.threads,
                    command)
    except (FileNotFoundError, ValueError) as exc:
        print("curve: error: %s" % exc, file=sys.stderr)
        return 2
    print("curve: wrote %s" % md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
