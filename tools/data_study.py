#!/usr/bin/env python3
"""Train and report the data study (mcl_caffe/train/data_study.py). `make data-study` makes each candidate's
data, runs this with two lanes, then writes reports/data-study/."""
import argparse
import os
from pathlib import Path

from mcl_caffe.train import data_study as S
from mcl_caffe.train.segments import run_lanes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=S.__doc__ + "\n" + __doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", type=Path, default=Path("runs/data-study"),
                    help="the study's folder: data/<candidate>/<dataset>/ and train/<candidate>/ "
                         "(default runs/data-study)")
    ap.add_argument("--horizon", type=int, default=S.HORIZON, help="stage-1 iterations (%d)" % S.HORIZON)
    ap.add_argument("--segment", type=int, default=S.SEGMENT,
                    help="score every N iterations (%d)" % S.SEGMENT)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads per lane (1: two lanes, two cores)")
    ap.add_argument("--list-data", action="store_true",
                    help="print 'candidate dataset make_data-options' per candidate and stop (for make)")
    ap.add_argument("--lane", nargs="+", choices=sorted(S.BY_NAME), help="train these candidates here")
    ap.add_argument("--report", type=Path, help="write STUDY.md, the plots and study.json here and stop")
    a = ap.parse_args(argv)
    if a.list_data:
        for c in S.CANDIDATES:
            print(c.name, c.dataset, " ".join(c.data_args))
        return 0
    study = S.Study(a.study, a.horizon, a.segment)
    if a.report:
        cmd = os.environ.get("MCL_STUDY_COMMAND", "tools/data_study.py --report %s" % a.report)
        summary = S.write_report(study, a.report, cmd)
        for ds, s in summary.items():
            print("data_study: %s: winner %s" % (ds, s["winner"] or "not decided (still training)"))
        print("data_study: wrote %s" % (a.report / "STUDY.md"))
        return 0
    if a.lane:
        from mcl_caffe.caffe_import import load_caffe
        load_caffe(a.threads)
        for name in a.lane:
            study.run(name)
        return 0
    missing = [str(S.data_dir(a.study, c)) for c in S.CANDIDATES
               if not (S.data_dir(a.study, c) / "train.txt").is_file()]
    if missing:
        raise SystemExit("data_study: no data in %s: `make data-study` makes it" % ", ".join(missing))
    extra = ["--study", str(a.study), "--horizon", str(a.horizon), "--segment", str(a.segment),
             "--threads", str(a.threads)]
    return run_lanes(Path(__file__).resolve(), S.LANES, extra, a.study / "logs")


if __name__ == "__main__":
    raise SystemExit(main())
