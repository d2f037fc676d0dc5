#!/usr/bin/env python
"""Fig. 7: retrain WM with perturbed landmark weights for each delta (see --help; `make perturb`)."""
import argparse
from pathlib import Path

from mcl_caffe.evaluation import perturb as P


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perturb.py", description=P.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", required=True, choices=["aflw", "cofw", "300w"])
    p.add_argument(
        "--profile", required=True, help="the run whose BM is the starting point: runs/<dataset>-<profile>"
    )
    p.add_argument(
        "--train-profile",
        default=None,
        help="solver profile of the retraining (default: --profile); e.g. cpu for a paper run",
    )
    p.add_argument("--data", type=Path, required=True, help="the run's data folder (train/val/test.txt)")
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument(
        "--deltas",
        type=float,
        nargs="+",
        default=list(P.DEFAULT_DELTAS),
        help="default: 0 0.1 0.2 0.3 0.4 (the paper's range)",
    )
    p.add_argument("--seed", type=int, default=P.DEFAULT_SEED, help="which landmarks get +delta (default 0)")
    p.add_argument("--threads", type=int, default=None, help="OpenBLAS threads of the training processes")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dry-run", action="store_true", help="print the weights and commands; train nothing")
    g.add_argument(
        "--eval-only", action="store_true", help="evaluate what is trained, write results; no training"
    )
    return p



if __name__ == "__main__":
    P.run(build_parser().parse_args())
