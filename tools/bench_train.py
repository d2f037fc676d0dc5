#!/usr/bin/env python
"""Caffe training speed of the MCL nets on this machine (see --help; the work is in
mcl_caffe.bench.bench_train)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from mcl_caffe.bench import bench_train, contention

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_train.py", description=bench_train.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=REPO / "data",
                   help="folder holding aflw/train.txt (5 points) and 300w/train.txt (68 points) from `make "
                        "data`")
    p.add_argument("--points", type=int, nargs="+", default=[5, 68], choices=sorted(bench_train.NETS),
                   help="which nets (default: 5 68)")
    p.add_argument("--iters", type=int, default=10, help="timed solver steps per net (10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed solver steps first (2)")
    p.add_argument("--passes", type=int, default=3, help="per-layer timing passes; medians are reported (3)")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all cores)")
    p.add_argument("--out-dir", type=Path, default=REPO / "runs" / "bench-train",
                   help="where bench-train.md and bench-train.json go")
    p.add_argument("--contention", action="store_true",
                   help="instead: s/iteration alone and beside a busy-loop process, under OpenMP's default "
                        "and passive wait policy, at each of --contention-threads (the first of --points "
                        "only; mcl_caffe/bench/contention.py) -> contention.md and contention.json")
    p.add_argument("--side-by-side", action="store_true",
                   help="instead: both nets (--points 5 68) at once with 1 thread each, against each "
                        "alone with 1 and 2 threads: how to train two datasets on two cores -> "
                        "side-by-side.md/.json")
    p.add_argument("--contention-threads", type=int, nargs="+", default=[1, 2],
                   help="thread counts of --contention (default: 1 2)")
    args = p.parse_args(argv)

    lists = {}
    for points in args.points:
        dataset = bench_train.NETS[points]
        f = (args.data_root / dataset / "train.txt").resolve()
        if not f.is_file():
            print("bench_train: no %s; make it with `make data DATASET=%s OUT=%s` (a small set will do: "
                  "ARGS=\"--limit 600 --rotations 2 --jitters 2\")" % (f, dataset, args.data_root),
                      file=sys.stderr)
            return 2
        lists[points] = f
    command = " ".join(shlex.quote(a) for a in [sys.argv[0]] + list(argv if argv is not None
                                                                    else sys.argv[1:]))
    if args.contention:
        return _contention(args, lists, command)
    if args.side_by_side:
        return _side_by_side(args, lists, command)
    result = bench_train.run(lists, warmup=args.warmup, iters=args.iters, passes=args.passes,
                             threads=args.threads)
    return _write(args.out_dir, "bench-train", result, command, bench_train.render)


def _side_by_side(args, lists: dict, command: str) -> int:
    if len(lists) < 2:
        print("bench_train: --side-by-side needs two nets (--points 5 68)", file=sys.stderr)
        return 2
    result = contention.side_by_side(lists, warmup=args.warmup, iters=args.iters)
    return _write(args.out_dir, "side-by-side", result, command, contention.render_side_by_side)


def _contention(args, lists: dict, command: str) -> int:
    points = args.points[0]
    result = contention.run(points, lists[points], threads=args.contention_threads, warmup=args.warmup,
                            iters=args.iters)
    return _write(args.out_dir, "contention", result, command, contention.render)


def _write(out_dir: Path, stem: str, result: dict, command: str, render) -> int:
    """<stem>.md (rendered) and <stem>.json into out_dir; the markdown on stdout."""
    result["command"] = command
    md = render(result, command)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / (stem + ".md")).write_text(md)
    (out_dir / (stem + ".json")).write_text(json.dumps(result, indent=1) + "\n")
    print(md)
    print("bench_train: wrote %s and %s" % (out_dir / (stem + ".md"), out_dir / (stem + ".json")),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
