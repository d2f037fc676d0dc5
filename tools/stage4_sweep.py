#!/usr/bin/env python3
"""Stage-4 solver settings compared on validation, from a finished run's cached features.

Stage 4 (multi-center fine-tuning) trains each cluster's shape prediction layer alone, from WM's, on the
features x that stage 4 cached under <run>/stage4/features. This tool repeats that training for each
candidate setting (iterations, lr step, base lr, weight decay), assembles the cluster layers as Eq. 2 does
(each cluster's rows for its own landmarks) and reports, on the validation split only:
  - WM's error, and each candidate's assembled (AM) error, per landmark and in the mean;
  - how much each cluster's layer moved from WM's: the scale s of the best fit W_i = s * W_WM, and what is
    left, |W_i - s W_WM| / |W_WM| (weight decay alone shrinks W towards 0 and leaves nothing else).
Each candidate takes seconds (a 2n x D InnerProduct on cached features). The run's own stage-4 folders are
read, never written: the candidates train in a temporary folder.

Example (the comparison in reports/schedule-sweep/STAGE4.md):
  python tools/stage4_sweep.py --run-dir runs/aflw-cpu --candidate 4000,2000,0.001,0.0005 \\
      --candidate 4000,2000,0.001,0 --candidate 60000,30000,0.001,0 --out runs/aflw-cpu/stage4-sweep.md
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np



def parse_candidate(text: str) -> tuple[int, int, float, float]:
    try:
        its, step, lr, wd = text.split(",")
        out = int(its), int(step), float(lr), float(wd)
    except ValueError:
        raise argparse.ArgumentTypeError("--candidate wants ITERATIONS,STEPSIZE,BASE_LR,WEIGHT_DECAY, e.g. "
                                         "4000,2000,0.001,0.0005; got %r" % text) from None
    if out[0] < 1 or out[1] < 1 or out[2] <= 0 or out[3] < 0:
        raise argparse.ArgumentTypeError("--candidate %r: iterations and stepsize must be >= 1, lr > 0, "
                                         "weight decay >= 0" % text)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", type=Path, required=True,
                    help="a run whose stage 4 finished with the features path, e.g. runs/aflw-cpu")
    ap.add_argument("--candidate", type=parse_candidate, action="append", required=True,
                    help="ITERATIONS,STEPSIZE,BASE_LR,WEIGHT_DECAY (repeat for each candidate)")
    ap.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = ap.parse_args(argv)

    from mcl_caffe.caffe_import import load_caffe
    from mcl_caffe.core.landmarks import get_scheme
    from mcl_caffe.train.stage4_probe import (assemble_rows, cluster_dirs, fc_blobs, load_features,
                                              nme_per_landmark, train_shape_layer)
    caffe = load_caffe()
    run = args.run_dir
    try:
        clusters = cluster_dirs(run)
        W0, b0 = fc_blobs(run / "stage3" / "final.caffemodel")
        xv, yv, dv = load_features(run / "stage4" / "features" / "val.txt")
        points = {cdir: json.loads((cdir / "stage.json").read_text())["cluster"]["points"]
                  for cdir in clusters}
    except (OSError, ValueError, KeyError) as e:
        print("stage4_sweep: %s" % e, file=sys.stderr)
        return 2
    wm = nme_per_landmark(W0, b0, xv, yv, dv)
    clusters_of = get_scheme(len(wm)).clusters

    def by_cluster(e):
        return " ".join("%s %.2f" % (name, 100 * e[list(idx)].mean()) for name, idx in clusters_of)

    lines = ["Stage-4 candidates on `%s` (validation split, %d faces; NME in %% of the eye-centre distance). "
             "Command: `python tools/stage4_sweep.py --run-dir %s %s`." % (
                 run, len(yv), run, " ".join("--candidate %d,%d,%g,%g" % c for c in args.candidate)), "",
             "| stage-4 setting | AM val NME % | per cluster % | cluster layers' scale vs WM | rest | s |",
             "|---|---:|---|---|---:|---:|",
             "| WM (no stage 4) | %.3f | %s | | | |" % (100 * wm.mean(), by_cluster(wm))]
    with tempfile.TemporaryDirectory(prefix="stage4-sweep-") as tmp:
        for its, step, lr, wd in args.candidate:
            t0 = time.time()
            layers = {}
            for cdir in clusters:
                layers[cdir] = train_shape_layer(caffe, cdir, W0, b0, its, step, lr, wd, Path(tmp))
            Wa, ba = assemble_rows(W0, b0, [(layers[c], points[c]) for c in clusters])
            am = nme_per_landmark(Wa, ba, xv, yv, dv)
            scales = [float((W * W0).sum() / (W0 * W0).sum()) for W, _ in layers.values()]
            rest = max(float(np.linalg.norm(W - s * W0) / np.linalg.norm(W0))
                       for (W, _), s in zip(layers.values(), scales))
            row = (its, lr, step, wd, 100 * am.mean(), by_cluster(am), min(scales), max(scales), rest,
                   time.time() - t0)
            lines.append("| %d it, lr %g x0.3 every %d, decay %g | %.3f | %s | %.4f-%.4f | %.5f | %.0f |"
                         % row)
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
