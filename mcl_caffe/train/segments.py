"""Stage 1 trained in segments, for comparisons on validation (the schedule sweep, the data study): after
every segment the newest snapshot is handed to a callback that scores it; everything resumes from snapshots,
and a segment whose snapshot and score exist is never run again.

Lanes: each lane of candidates runs in a child process of its own (`tool --lane a b ...`), all lanes at
once. A child that stopped on a non-finite or diverging loss (solve_loop.EXIT_NONFINITE / EXIT_DIVERGED) must
not go on in the same process (a NaN step corrupts Caffe's heap), so the parent starts it again, and it
resumes from its newest finite snapshot.
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np

LANE_RESTARTS = 3


def read_curve(path: Path) -> list[dict]:
    """The rows of a candidate's curve.csv as floats ([] before its first scored segment)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open() as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def append_curve(path: Path, row: dict) -> None:
    """Append one scored segment to curve.csv (the header comes from the first row)."""
    path = Path(path)
    new = not path.is_file()
    with path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def train_segments(d: Path, scheme, train_list: Path, val_list: Path, profile_at: Callable[[int], object],
                   start: int, end: int, segment: int, scored: set[int],
                   on_segment: Callable[[int, Path, dict], None], label: str) -> None:
    """Stage 1 (u_j = 1) in d/ from iteration `start` to `end` in steps of `segment`; `profile_at(upto)` is
    the solver profile whose stage 1 ends at `upto`. After each segment: on_segment(upto, caffemodel,
    summary). Segments in `scored` whose snapshot exists are skipped."""
    from mcl_caffe.nets.stage_files import stage_texts
    from mcl_caffe.train.shape_init import mean_shape_of_list, set_mean_shape_bias
    from mcl_caffe.train.solve_loop import snapshots, solve, weighted_loss

    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    snap = d / "snapshots"
    ones = np.ones(scheme.n_points)
    for upto in range(start + segment, end + 1, segment):
        have = snapshots(snap)
        if upto in scored and have and have[-1][0] >= upto:
            continue
        texts = stage_texts("stage1", scheme, profile_at(upto), ones, str(train_list), str(val_list),
                            str(d / "train.prototxt"), str(snap / "stage1"))
        for key, text in texts.items():
            (d / ("%s.prototxt" % key)).write_text(text)

        def init(solver):
            set_mean_shape_bias(solver.net, mean_shape_of_list(train_list))

        summary = solve(d / "solver.prototxt", d, weighted_loss(ones), segment, init,
                        label="%s %d/%d" % (label, upto, end))
        newest = snapshots(snap)[-1]
        if newest[0] != upto:
            raise RuntimeError("%s: expected the snapshot of iteration %d, the newest is %d" % (d, upto,
                                                                                              newest[0]))
        on_segment(upto, newest[2], summary)
        del summary


def run_lanes(tool: Path, lanes, extra_args: list[str], log_dir: Path, restarts: int = LANE_RESTARTS) -> int:
    """One child process per lane (`tool --lane a b c ...`), all at once; their output goes to
    log_dir/lane<i>.log. A lane that stopped on a non-finite or diverging loss is started again (at most
    `restarts` times). -> the largest exit status."""
    from mcl_caffe.train.solve_loop import EXIT_DIVERGED, EXIT_NONFINITE

    log_dir.mkdir(parents=True, exist_ok=True)

    def start(i, lane):
        log = (log_dir / ("lane%d.log" % (i + 1))).open("a")
        return subprocess.Popen([sys.executable, str(tool), "--lane", *lane, *extra_args], stdout=log,
                                stderr=subprocess.STDOUT), log

    running = {i: start(i, lane) for i, lane in enumerate(lanes)}
    for i, lane in enumerate(lanes):
        print("lanes: lane %d (%s) -> %s" % (i + 1, ", ".join(lane), log_dir / ("lane%d.log" % (i + 1))))
    left = {i: restarts for i in running}
    codes = {}
    while running:
        for i, (proc, log) in list(running.items()):
            code = proc.wait()
            log.close()
            del running[i]
            if code in (EXIT_NONFINITE, EXIT_DIVERGED) and left[i] > 0:
                left[i] -= 1
                print("lanes: lane %d stopped on its loss (exit %d); starting it again from its newest "
                      "snapshot" % (i + 1, code))
                running[i] = start(i, lanes[i])
            else:
                codes[i] = code
    return max(codes.values()) if codes else 0
