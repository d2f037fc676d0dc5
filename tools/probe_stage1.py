#!/usr/bin/env python3
"""Train the stage-1 net for a few hundred iterations with a chosen shape-layer initialisation and print the
mean loss of every 25 iterations next to the mean-shape loss (what predicting the mean training shape scores).

This is how the shape layer's initialisation (mcl_caffe/nets/netgen.py SHAPE_INIT_STD, and the mean-shape
bias of
mcl_caffe/train/shape_init.py) was chosen; see the README's "Initialisation" section for the figures.
The solve is the stage runner's (mcl_caffe/train/solve_loop.py): it stops the process on a non-finite or
diverging
loss. Every run starts afresh: the scratch folder's snapshots and loss log are deleted first.
Example: tools/probe_stage1.py --train-list data/aflw/train.txt --fc-std 0.01 --iters 250
"""
import argparse
import csv
import shutil
from pathlib import Path

import numpy as np


REPORT_EVERY = 25


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-list", type=Path, required=True, help="a Caffe HDF5 list from `make data`")
    p.add_argument("--n-points", type=int, default=5, choices=[5, 29, 68])
    p.add_argument("--fc-std", type=float, default=None,
                   help="shape layer weight std (default: SHAPE_INIT_STD)")
    p.add_argument("--no-mean-bias", action="store_true",
                   help="start the shape layer's bias at 0, not the mean shape")
    p.add_argument("--lr", type=float, default=0.02, help="base learning rate (default 0.02, the paper's)")
    p.add_argument("--iters", type=int, default=250)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--work", type=Path, default=Path("runs/probe"), help="scratch folder for the nets")
    return p


def main():
    args = build_parser().parse_args()
    if args.iters < 1:
        raise SystemExit("probe: --iters must be at least 1")
    from mcl_caffe.caffe_import import load_caffe
    load_caffe(args.threads)
    from mcl_caffe.nets import netgen
    from mcl_caffe.train import shape_init
    from mcl_caffe.nets import solvergen
    from mcl_caffe.data.h5_writer import read_arrays
    from mcl_caffe.train.solve_loop import solve, weighted_loss

    labels = read_arrays(args.train_list, keys=("label", "d"))
    mean = shape_init.mean_shape(labels["label"])
    print("mean-shape loss of %s: %.4f" % (args.train_list, shape_init.mean_shape_loss(labels["label"],
                                                                                       labels["d"])))

    shutil.rmtree(args.work / "snap", ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "loss.csv").unlink(missing_ok=True)
    proto = netgen.train_net(netgen.NetConfig(args.n_points), str(args.train_list.resolve()),
                             np.ones(args.n_points))
    if args.fc_std is not None:
        fc = [layer for layer in proto.layer if layer.name == "fc"][0]
        fc.inner_product_param.weight_filler.std = args.fc_std
    (args.work / "train.prototxt").write_text(str(proto))
    sp = solvergen.solver_param(solvergen.get_profile("cpu"), True, str(args.work / "train.prototxt"),
                                str(args.work / "snap" / "probe"))
    sp.base_lr = args.lr
    sp.max_iter = args.iters
    (args.work / "solver.prototxt").write_text(solvergen.solver_text(sp))
    init = None if args.no_mean_bias else (lambda solver: shape_init.set_mean_shape_bias(solver.net, mean))
    solve(args.work / "solver.prototxt", args.work, weighted_loss(np.ones(args.n_points)), args.iters, init,
          label="probe")
    with (args.work / "loss.csv").open() as f:
        rows = list(csv.DictReader(f))
    for k in range(REPORT_EVERY, len(rows) + 1, REPORT_EVERY):
        chunk = rows[k - REPORT_EVERY:k]
        print("iter %4d  mean loss of the last %d: %.4f  (%.0f s)"
              % (k, REPORT_EVERY, np.mean([float(r["loss"]) for r in chunk]), float(chunk[-1]["elapsed_s"])))


if __name__ == "__main__":
    main()
