#!/usr/bin/env python3
"""Train the stage-1 net for a few hundred iterations with a chosen shape-layer initialisation and print the
mean loss of every 25 iterations next to the mean-shape loss (what predicting the mean training shape scores).

This is how the shape layer's initialisation (mcl_caffe/netgen.py SHAPE_INIT_STD, and the mean-shape bias of
stage_runner) was chosen; see the README's "Initialisation" section for the figures.
Example: tools/probe_stage1.py --train-list data/aflw/train.txt --fc-std 0.01 --iters 250
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-list", type=Path, required=True, help="a Caffe HDF5 list from `make data`")
    p.add_argument("--n-points", type=int, default=5, choices=[5, 29, 68])
    p.add_argument("--fc-std", type=float, default=None, help="shape layer weight std (default: SHAPE_INIT_STD)")
    p.add_argument("--no-mean-bias", action="store_true", help="start the shape layer's bias at 0, not the mean shape")
    p.add_argument("--lr", type=float, default=0.02, help="base learning rate (default 0.02, the paper's)")
    p.add_argument("--iters", type=int, default=250)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--work", type=Path, default=Path("runs/probe"), help="scratch folder for the nets")
    args = p.parse_args()

    from mcl_caffe.caffe_import import load_caffe
    caffe = load_caffe(args.threads)
    from mcl_caffe import netgen, solvergen
    from mcl_caffe.predict import read_list

    labels = read_list(args.train_list, keys=("label", "d"))
    lab, d = labels["label"], labels["d"]
    mean = lab.mean(axis=0)
    mean_shape_loss = ((((lab - mean) ** 2).reshape(len(d), -1, 2).sum(2)) / (2 * d[:, None] ** 2)).sum(1).mean()
    print("mean-shape loss of %s: %.4f" % (args.train_list, mean_shape_loss))

    args.work.mkdir(parents=True, exist_ok=True)
    proto = netgen.train_net(netgen.NetConfig(args.n_points), str(args.train_list.resolve()), np.ones(args.n_points))
    if args.fc_std is not None:
        [layer for layer in proto.layer if layer.name == "fc"][0].inner_product_param.weight_filler.std = args.fc_std
    (args.work / "train.prototxt").write_text(str(proto))
    sp = solvergen.solver_param(solvergen.get_profile("cpu"), True, str(args.work / "train.prototxt"),
                                str(args.work / "snap"))
    sp.base_lr = args.lr
    (args.work / "solver.prototxt").write_text(solvergen.solver_text(sp))
    solver = caffe.get_solver(str(args.work / "solver.prototxt"))
    if not args.no_mean_bias:
        solver.net.params["fc"][1].data[...] = mean
    losses, t0 = [], time.time()
    for k in range(args.iters):
        solver.step(1)
        losses.append(sum(float(solver.net.blobs["loss_%d" % j].data) for j in range(1, args.n_points + 1)))
        if not np.isfinite(losses[-1]):
            print("non-finite loss at iteration %d" % (k + 1), flush=True)
            import os
            os._exit(3)  # a NaN step may have corrupted Caffe's heap: leave at once
        if (k + 1) % 25 == 0:
            print("iter %4d  mean loss of the last 25: %.4f  (%.0f s)" % (k + 1, np.mean(losses[-25:]), time.time() - t0),
                  flush=True)


if __name__ == "__main__":
    main()
