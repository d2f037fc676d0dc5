"""Kept stage-1 checkpoints: copy a run's stage-1 caffemodels at multiples of an interval (30,000 for the
`long` profile: its three lr decays) into a folder to commit, e.g. reports/<dataset>-long/checkpoints/.

Only the caffemodel is copied (4 MB for 5 points, 7 MB for 68), not the solverstate (as large again, the
momentum history): enough to score the model, and to restart the run on another machine from the newest one
(`runner --continue-from FOLDER`, mcl_caffe/train/continuation.py; its momentum starts from zero).

A machine can be replaced between sessions with everything under runs/ lost, so a run spanning sessions also
keeps its newest snapshot (`newest=True`, at the end of each session): that one replaces the previous newest,
and the multiples of the interval stay. Git keeps the replaced ones.
"""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

KEEP_EVERY = 30000


def keep(run_dir: Path, out_dir: Path, every: int = KEEP_EVERY, stage: str = "stage1",
         newest: bool = False) -> list[Path]:
    """Copy <run_dir>/<stage>/snapshots/*_iter_N.caffemodel for every N > 0 that is a multiple of `every`
    into `out_dir` as <stage>_iter_N.caffemodel; returns the files copied now (identical ones already there
    are skipped; a different one there is an error, not overwritten). With `newest`, the newest snapshot is
    copied too, and the <stage> checkpoints in `out_dir` at other iterations that are not multiples of
    `every` (an earlier newest) are deleted."""
    from mcl_caffe.train.continuation import checkpoint_iteration
    from mcl_caffe.train.solve_loop import snapshots
    if every < 1:
        raise ValueError("the checkpoint interval must be a positive number of iterations, got %r" % every)
    snap_dir = Path(run_dir) / stage / "snapshots"
    if not snap_dir.is_dir():
        raise FileNotFoundError("%s does not exist: has %s's %s started?" % (snap_dir, run_dir, stage))
    found = snapshots(snap_dir)
    last = found[-1][0] if newest and found else None
    copied = []
    for it, _, model in found:
        if it == 0 or (it % every and it != last):
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
    if last is not None:
        for old in Path(out_dir).glob("%s_iter_*.caffemodel" % stage):
            it = checkpoint_iteration(old)
            if it is not None and it != last and it % every:
                old.unlink()
    return copied
