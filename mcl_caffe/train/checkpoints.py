"""Kept stage-1 checkpoints: copy a run's stage-1 caffemodels at multiples of an interval (30,000 for the
`long` profile: its three lr decays) into a folder to commit, e.g. reports/<dataset>-long/checkpoints/.

Only the caffemodel is copied (4 MB for 5 points, 7 MB for 68), not the solverstate (as large again, the
momentum history): enough to score the model, and to restart the run on another machine from the newest one
(`runner --continue-from FOLDER`, mcl_caffe/train/continuation.py; its momentum starts from zero).
"""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

KEEP_EVERY = 30000


def keep(run_dir: Path, out_dir: Path, every: int = KEEP_EVERY, stage: str = "stage1") -> list[Path]:
    """Copy <run_dir>/<stage>/snapshots/*_iter_N.caffemodel for every N > 0 that is a multiple of `every`
    into `out_dir` as <stage>_iter_N.caffemodel; returns the files copied now (identical ones already there
    are skipped; a different one there is an error, not overwritten)."""
    from mcl_caffe.train.solve_loop import snapshots
    if every < 1:
        raise ValueError("the checkpoint interval must be a positive number of iterations, got %r" % every)
    snap_dir = Path(run_dir) / stage / "snapshots"
    if not snap_dir.is_dir():
        raise FileNotFoundError("%s does not exist: has %s's %s started?" % (snap_dir, run_dir, stage))
    copied = []
    for it, _, model in snapshots(snap_dir):
        if it == 0 or it % every:
            continue
        dst = Path(out_dir) / ("%s_iter_%d.caffemodel" % (stage, it))
        if dst.is_file():
            if filecmp.cmp(model, dst, shallow=False):
                continue
            raise FileExistsError("%s differs from %s, which it would copy; delete it first to replace it"
                                  % (dst, model))
        dst.parent.mkdir(parents=True, exist_ok=True)
        partial = dst.with_suffix(".partial")
        shutil.copyfile(model, partial)
        partial.replace(dst)
        copied.append(dst)
    return copied
