#!/usr/bin/env python
"""The reproduction report of one training run (see --help; `make report DATASET=... PROFILE=...`)."""
import argparse
import os
import sys
from pathlib import Path

from mcl_caffe.core.run_layout import RunLayout
from mcl_caffe.evaluation.evaluate import MAIN_MODELS
from mcl_caffe.evaluation.occlusion import DEFAULT_FRACTION, DEFAULT_SEED
from mcl_caffe.report import report as R


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="report.py", description=R.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", required=True, choices=["aflw", "cofw", "300w"])
    p.add_argument("--profile", required=True, help="the run's profile: runs/<dataset>-<profile>/")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with test.txt and meta.json (default: as the stage runner: data/<dataset>, "
        "data/smoke/<dataset> for the smoke profile)",
    )
    p.add_argument("--runs", type=Path, default=Path("runs"), help="runs root (default: runs)")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/<dataset>-<profile>/report)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="OpenBLAS threads (default 1: the machine is shared)"
    )
    p.add_argument(
        "--occlusion-fraction",
        type=float,
        default=DEFAULT_FRACTION,
        help="fraction of test faces whose left eye is occluded (default 0.3, as the paper)",
    )
    p.add_argument(
        "--occlusion-seed", type=int, default=DEFAULT_SEED, help="seed of that choice (default 0)"
    )
    p.add_argument(
        "--train-command", default=None, help="the command that trained the run, for the report text"
    )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    if args.data is None:
        args.data = RunLayout(args.dataset, args.profile).data
    cmd = os.environ.get("MCL_REPORT_COMMAND", "").strip() or " ".join(
        ["python tools/report.py"] + list(sys.argv[1:] if argv is None else argv)
    )
    r = R.make_report(
        args.dataset,
        args.profile,
        args.data,
        args.runs,
        args.out,
        threads=args.threads,
        occlusion_fraction=args.occlusion_fraction,
        occlusion_seed=args.occlusion_seed,
        report_command=cmd,
        train_command=args.train_command,
    )
    res = r["json"]["results"]
    print("report: %s" % (r["out_dir"] / "REPORT.md"))
    for k in MAIN_MODELS:
        if k in res:
            print("  %s: error %.2f %%, failure %.2f %%" % (k, res[k]["mean_error"], res[k]["failure_rate"]))


if __name__ == "__main__":
    main()
