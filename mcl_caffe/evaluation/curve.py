"""The learning curve of a run's stage 1: BM at every kept snapshot, scored on validation and the test lists.

Every complete stage-1 snapshot at a multiple of `every` iterations (the `long` and `paper` profiles keep
those, mcl_caffe/nets/solvergen.py) is run over each list of the run's data folder: val.txt, the validation
views (mcl_caffe/data/val_views.py: val_roll20/35, val_detector, val_gt, where made), test.txt and the extra
test lists (mcl_caffe/data/extra_tests.py: AFLW's test_gt, 300-W's test_lfpw and test_detector). Each
(iteration, list) pair gives one CSV row, with the mean error and the failure rate (mcl_caffe/core/metrics.py)
in percent over the list's samples; pairs already in the CSV are not scored again, and every row is written
as soon as it is measured, so an interrupted scoring keeps what it did.

The curve evaluates finished snapshots and chooses nothing: no snapshot, setting or stopping point is picked
on any of these lists, the test lists least of all.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from mcl_caffe.core import metrics as M

CSV_FIELDS = ["iteration", "list", "samples", "mean_error_pct", "failure_pct", "lr", "weights", "scored_at"]
DEFAULT_EVERY = 10000


@dataclass(frozen=True)
class ScoreList:
    name: str  # the list is <data>/<name>.txt
    label: str


def score_lists(data_dir: Path) -> list[ScoreList]:
    """val, the validation views, test and the extra test lists of the data folder's meta.json, those that
    exist, in that order."""
    from mcl_caffe.evaluation.evaluate import read_meta
    data_dir = Path(data_dir)
    meta = read_meta(data_dir)
    sources, boxes = meta.get("sources") or {}, (meta.get("options") or {}).get("test_boxes")
    out = [ScoreList("val", "validation (held-out training faces)")]
    out += [ScoreList(name, info.get("label", name)) for name, info in (meta.get("val_views") or {}).items()]
    out += [ScoreList("test", "the test set (%s)%s" % (sources.get("test", "test.txt"),
                                                      ", cropped from the face-detector boxes of %s" % boxes
                                                      if boxes else ""))]
    out += [ScoreList(name, info.get("label", name))
            for name, info in (meta.get("extra_tests") or {}).items()]
    return [s for s in out if (data_dir / ("%s.txt" % s.name)).is_file()]


def _read_rows(path: Path) -> list[dict]:
    """The CSV's rows as written (strings); none when the file is missing."""
    if not Path(path).is_file():
        return []
    with Path(path).open() as f:
        return list(csv.DictReader(f))


def read_curve(path: Path) -> list[dict]:
    """The CSV's rows, iteration as int and the figures as floats, in file order."""
    rows = _read_rows(path)
    for r in rows:
        r["iteration"], r["samples"] = int(r["iteration"]), int(r["samples"])
        for k in ("mean_error_pct", "failure_pct", "lr"):
            r[k] = float(r[k])
    return rows


def stage1_snapshots(run_dir: Path, every: int) -> list[tuple[int, Path]]:
    """(iteration, caffemodel) of the complete stage-1 snapshots at multiples of `every`, oldest first."""
    from mcl_caffe.train.solve_loop import snapshots
    if every < 1:
        raise ValueError("the curve's interval must be a positive number of iterations, got %r" % every)
    return [(it, model) for it, _, model in snapshots(Path(run_dir) / "stage1" / "snapshots")
            if it % every == 0 and it > 0]


def merge_committed(csv_path: Path, committed: Path) -> int:
    """Add to the run's CSV the rows of the committed copy (reports/<dataset>-<profile>/curve.csv) whose
    (iteration, list) it lacks, oldest iteration first; return how many. A machine that lost its run folder
    resumes stage 1 from a committed checkpoint, and the snapshots scored before are gone with it: their rows
    survive only in the committed copy, and a curve written without them would drop its earlier points."""
    csv_path, committed = Path(csv_path), Path(committed)
    if not committed.is_file() or not csv_path.parent.is_dir() or committed.resolve() == csv_path.resolve():
        return 0
    theirs, ours = _read_rows(committed), _read_rows(csv_path)
    have = {(int(r["iteration"]), r["list"]) for r in ours}
    add = [r for r in theirs if (int(r["iteration"]), r["list"]) not in have]
    if not add:
        return 0
    rows = sorted(add + ours, key=lambda r: int(r["iteration"]))  # stable: each list's order is kept
    tmp = csv_path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in CSV_FIELDS} for r in rows)
    tmp.replace(csv_path)
    return len(add)


def _append(path: Path, row: dict) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)


def score(run_dir: Path, data_dir: Path, csv_path: Path, every: int = DEFAULT_EVERY, threads: int = 1,
          batch: int = 64, log=print) -> list[dict]:
    """Score every stage-1 snapshot at a multiple of `every` on every list not yet in `csv_path`; append the
    new rows there and return them. `threads`: Caffe's BLAS/OpenMP threads for the forward passes (1 leaves
    the other core to a training run)."""
    from mcl_caffe.caffe_import import blas_threads, load_caffe
    from mcl_caffe.evaluation.evaluate import load_test_set
    from mcl_caffe.nets.solvergen import learning_rate
    from mcl_caffe.train.continuation import read_solver
    from mcl_caffe.train.predict import forward_batches

    run_dir, csv_path = Path(run_dir), Path(csv_path)
    deploy, solver = run_dir / "stage1" / "deploy.prototxt", run_dir / "stage1" / "solver.prototxt"
    for f in (deploy, solver):
        if not f.is_file():
            raise FileNotFoundError("%s is missing: is %s a run folder whose stage 1 has started?"
                                    % (f, run_dir))
    lists = score_lists(data_dir)
    if not lists:
        raise FileNotFoundError("%s has no val.txt or test.txt to score on" % data_dir)
    param = read_solver(solver)
    done = {(r["iteration"], r["list"]) for r in read_curve(csv_path)}
    todo = [(it, model, [s for s in lists if (it, s.name) not in done])
            for it, model in stage1_snapshots(run_dir, every)]
    todo = [t for t in todo if t[2]]
    if not todo:
        return []
    caffe = load_caffe()
    sets = {}
    new = []
    with blas_threads(threads):
        for it, model, missing in todo:
            net = caffe.Net(str(deploy), str(model), caffe.TEST)
            for s in missing:
                if s.name not in sets:
                    sets[s.name] = load_test_set(Path(data_dir), s.name)
                data = sets[s.name]
                face = M.nme(forward_batches(net, data.data, "fc", batch), data.label, data.d)
                row = {"iteration": it, "list": s.name, "samples": len(face),
                       "mean_error_pct": "%.4f" % (100 * M.mean_error(face)),
                       "failure_pct": "%.4f" % (100 * M.failure_rate(face)),
                       # the rate of the last step before this snapshot
                       "lr": "%.6g" % learning_rate(param, it - 1), "weights": str(model),
                       "scored_at": time.strftime("%Y-%m-%d %H:%M:%S")}
                _append(csv_path, row)
                new.append(row)
                log("curve: iteration %d, %s: mean error %s %%, failure %s %% (%d samples)"
                    % (it, s.name, row["mean_error_pct"], row["failure_pct"], len(face)))
            del net
    return new
