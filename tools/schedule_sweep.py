#!/usr/bin/env python3
"""Compare stage-1 learning-rate schedules at equal wall time on validation
(mcl_caffe/train/schedule_sweep.py)."""
import argparse
import json
import os
from pathlib import Path

from mcl_caffe.train import schedule_sweep as S
from mcl_caffe.train.segments import run_lanes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__ + "\n\n" + S.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/schedule-sweep"),
                    help="where the candidates train")
    ap.add_argument("--data", type=Path, default=Path("data/aflw"), help="make data's AFLW folder")
    ap.add_argument("--wide-data", type=Path, default=Path("data-wide/aflw"),
                    help="the same faces made with --max-shift 0.09 --scale-range 0.8 1.2")
    ap.add_argument("--horizon", type=int, default=3000, help="stage-1 iterations per candidate (3000)")
    ap.add_argument("--segment", type=int, default=S.SEGMENT,
                    help="validate every N iterations; branch points must be multiples of it (%d)"
                    % S.SEGMENT)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads per lane (1: two lanes share two cores)")
    ap.add_argument("--lane", nargs="+", choices=sorted(S.BY_NAME),
                    help="run these candidates in this process")
    ap.add_argument("--report", type=Path, help="write the table, plot and JSON to this folder and stop")
    ap.add_argument("--s-per-it", type=float, default=None,
                    help="s/iteration for the time axis (default: the 5-point figure in "
                         "runs/bench-train/bench-train.json)")
    a = ap.parse_args(argv)
    data = {"base": a.data.resolve(), "wide": a.wide_data.resolve()}
    if a.report:
        from mcl_caffe.caffe_import import load_caffe
        load_caffe(a.threads)
        sweep = S.Sweep(a.out, data, a.horizon, a.segment)
        s = a.s_per_it
        if s is None:
            bench = json.loads(Path("runs/bench-train/bench-train.json").read_text())
            s = next(n["s_per_iter"] for n in bench["nets"] if n["n_points"] == 5)
        rows = S.summarize(sweep, s)
        a.report.mkdir(parents=True, exist_ok=True)
        S.plot(sweep, s, a.report / "sweep.png")
        cmd = os.environ.get("MCL_SWEEP_COMMAND", "tools/schedule_sweep.py")
        (a.report / "SWEEP.md").write_text(S.markdown(rows, sweep, s, cmd))
        curves = {c.name: sweep.curve(c.name) for c in S.CANDIDATES}
        (a.report / "sweep.json").write_text(json.dumps({"horizon": a.horizon, "s_per_it": s, "rows": rows,
                                                         "curves": curves}, indent=1) + "\n")
        print("schedule_sweep: wrote %s" % (a.report / "SWEEP.md"))
        return 0
    for key, d in data.items():
        if not (d / "train.txt").is_file():
            raise SystemExit("schedule_sweep: no %s data at %s: run `make schedule-sweep`, which makes it"
                             % (key, d))
    if a.lane:
        from mcl_caffe.caffe_import import load_caffe
        load_caffe(a.threads)
        sweep = S.Sweep(a.out, data, a.horizon, a.segment)
        for name in a.lane:
            sweep.run(name)
        return 0
    S.check_candidates(a.horizon, a.segment)
    extra = ["--out", str(a.out), "--data", str(a.data), "--wide-data", str(a.wide_data),
             "--horizon", str(a.horizon), "--segment", str(a.segment), "--threads", str(a.threads)]
    return run_lanes(Path(__file__).resolve(), S.LANES, extra, a.out / "logs")


if __name__ == "__main__":
    raise SystemExit(main())
