"""A resumable, guarded pycaffe solve: progress bar, loss log, own snapshots, NaN/divergence stop.

Why the guard exits the process at once: with NaN input, Caffe's max pooling leaves its argmax mask at -1
and the backward pass (already run inside the same `solver.step(1)` that produced the NaN loss) writes to
bottom_diff[-1], corrupting the heap. After a non-finite loss nothing may step, snapshot or save again, so
the process leaves through os._exit; the last snapshot on disk was taken after a finite loss and a fresh
process resumes from it. A loss that explodes while still finite is stopped the same way, before it can
reach NaN.
"""
from __future__ import annotations

import csv
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from mcl_caffe.caffe_import import LazyModule
from mcl_caffe.nets.solvergen import learning_rate

caffe = LazyModule("caffe")
caffe_pb2 = LazyModule("caffe.proto.caffe_pb2")
text_format = LazyModule("google.protobuf.text_format")

EXIT_NONFINITE = 3
EXIT_DIVERGED = 4
KEEP_SNAPSHOTS = 2


def weighted_loss(weights) -> Callable[[object], float]:
    """loss_of(net) for `solve`: sum_j u_j * loss_j of the train net's last forward pass (Eq. 4's total;
    netgen names the per-landmark EuclideanLoss blobs loss_1 ... loss_n)."""
    weights = [float(u) for u in weights]
    names = ["loss_%d" % (j + 1) for j in range(len(weights))]

    def total(net) -> float:
        return float(sum(u * float(net.blobs[n].data) for u, n in zip(weights, names)))

    return total


class DivergenceGuard:
    """Flags a loss that rises far above where training started.

    From the second loss on, a loss above `spike` x the median of the losses seen so far (frozen after the
    first `warmup` iterations of this process) is divergence; after the warm-up, so is a mean of the last
    `window` losses above `drift` x that reference.
    """

    def __init__(self, warmup: int = 20, window: int = 20, spike: float = 50.0, drift: float = 5.0):
        self.warmup, self.window, self.spike, self.drift = warmup, window, spike, drift
        self.history: list[float] = []
        self.reference: float | None = None

    @staticmethod
    def _median(values: list[float]) -> float:
        ordered = sorted(values)
        return max(ordered[len(ordered) // 2], 1e-12)

    def check(self, loss: float) -> str | None:
        ref = self.reference if self.reference is not None else (
            self._median(self.history) if self.history else None)
        self.history.append(loss)
        if self.reference is None and len(self.history) >= self.warmup:
            self.reference = self._median(self.history)
        if ref is None:
            return None
        if loss > self.spike * ref:
            return "loss %.4g is over %gx the starting level %.4g" % (loss, self.spike, ref)
        recent = self.history[-self.window:]
        mean = sum(recent) / len(recent)
        if self.reference is not None and len(recent) == self.window and mean > self.drift * self.reference:
            return "mean loss of the last %d iterations %.4g is over %gx the starting level %.4g" % (
                self.window, mean, self.drift, self.reference)
        return None


def snapshots(snap_dir: Path) -> list[tuple[int, Path, Path]]:
    """Complete snapshot pairs (iteration, solverstate, caffemodel), oldest first."""
    found = []
    for state in Path(snap_dir).glob("*_iter_*.solverstate"):
        model = state.with_suffix(".caffemodel")
        try:
            it = int(state.stem.rsplit("_iter_", 1)[1])
        except ValueError:
            continue
        if not model.is_file() or model.stat().st_size == 0:
            continue
        msg = caffe_pb2.SolverState()
        try:
            msg.ParseFromString(state.read_bytes())
        except Exception:  # a snapshot cut short by a kill: skip it, an older one will do
            continue
        if msg.iter != it or not msg.learned_net:
            continue
        if len(msg.history) != _param_blobs(model):
            # a file cut at a field boundary parses, but without its last momentum blobs (or its weights file
            # lacks layers): Caffe would abort on restoring it, or start layers from scratch
            continue
        found.append((it, state, model))
    return sorted(found)


def _param_blobs(model: Path) -> int:
    """Parameter blobs in a .caffemodel: one momentum blob each in a complete solverstate (SGD), or -1."""
    net = caffe_pb2.NetParameter()
    try:
        net.ParseFromString(model.read_bytes())
    except Exception:
        return -1
    return sum(len(layer.blobs) for layer in net.layer)


def _prune(snap_dir: Path, keep_every: int = 0) -> None:
    """Delete all but the newest KEEP_SNAPSHOTS snapshots, sparing those at multiples of `keep_every`."""
    for it, state, model in snapshots(snap_dir)[:-KEEP_SNAPSHOTS]:
        if keep_every and it % keep_every == 0:
            continue
        state.unlink(missing_ok=True)
        model.unlink(missing_ok=True)


def _read_log(path: Path, upto: int) -> list[dict]:
    if not path.is_file():
        return []
    with path.open() as f:
        return [row for row in csv.DictReader(f) if int(row["iter"]) <= upto]


def solve(solver_path: Path, stage_dir: Path, loss_of: Callable[[object], float], snapshot_every: int,
          init: Callable[[object], None] | None = None, label: str = "", keep_every: int = 0) -> dict:
    """Run the solver in `solver_path` to max_iter, resuming from the newest snapshot in stage_dir/snapshots.

    `loss_of(net)` returns the weighted total loss of the train net's last forward pass; `init(solver)` loads
    the previous stage's weights on a fresh start. Snapshots every `snapshot_every` iterations, at every
    multiple of `keep_every` (0: none) and at the end; only the newest two stay, and those at multiples of
    `keep_every`. Returns a summary dict (iterations, seconds, losses).
    """
    param = caffe_pb2.SolverParameter()
    text_format.Merge(Path(solver_path).read_text(), param)
    snap_dir = Path(param.snapshot_prefix).parent
    snap_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(stage_dir) / "loss.csv"

    solver = caffe.get_solver(str(solver_path))
    existing = snapshots(snap_dir)
    rows: list[dict] = []
    if existing:
        it, state, _ = existing[-1]
        solver.restore(str(state))
        rows = _read_log(log_path, it)
        print("%s: resuming from %s (iteration %d of %d)" % (label, state, it, param.max_iter),
              file=sys.stderr)
    elif init is not None:
        init(solver)
    elapsed0 = float(rows[-1]["elapsed_s"]) if rows else 0.0
    with log_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["iter", "loss", "lr", "elapsed_s"])
        writer.writeheader()
        writer.writerows(rows)

    guard = DivergenceGuard()
    start = time.time()
    first_iter = solver.iter
    bar = tqdm(total=param.max_iter, initial=solver.iter, desc=label, unit="it", dynamic_ncols=True,
               mininterval=1.0 if sys.stderr.isatty() else 60.0, file=sys.stderr)
    log = log_path.open("a", newline="")
    writer = csv.DictWriter(log, fieldnames=["iter", "loss", "lr", "elapsed_s"])
    while solver.iter < param.max_iter:
        lr = learning_rate(param, solver.iter)
        solver.step(1)
        loss = loss_of(solver.net)
        elapsed = elapsed0 + time.time() - start
        if not math.isfinite(loss):
            log.close()
            bar.close()
            newest = snapshots(snap_dir)
            print("\n%s: STOPPED: non-finite loss (%r) at iteration %d. This process must not step, "
                  "snapshot or save again (a NaN step corrupts Caffe's heap), so it exits now. Last good "
                  "snapshot: %s. Run the same target again to resume from it; if it recurs, lower base_lr."
                  % (label, loss, solver.iter, newest[-1][1] if newest else "none (restart the stage)"),
                  file=sys.stderr, flush=True)
            os._exit(EXIT_NONFINITE)
        reason = guard.check(loss)
        if reason:
            log.close()
            bar.close()
            newest = snapshots(snap_dir)
            print("\n%s: STOPPED: diverging at iteration %d: %s. Nothing was saved after this point. Last "
                  "good snapshot: %s. Run the same target again to resume from it; if it recurs, lower "
                  "base_lr."
                  % (label, solver.iter, reason, newest[-1][1] if newest else "none (restart the stage)"),
                  file=sys.stderr, flush=True)
            os._exit(EXIT_DIVERGED)
        writer.writerow({"iter": solver.iter, "loss": "%.6g" % loss, "lr": "%.6g" % lr,
                         "elapsed_s": "%.2f" % elapsed})
        bar.update(1)
        bar.set_postfix(loss="%.4f" % loss, lr="%.2g" % lr, refresh=False)
        if (solver.iter % snapshot_every == 0 or solver.iter == param.max_iter
                or (keep_every and solver.iter % keep_every == 0)):
            log.flush()
            solver.snapshot()
            _prune(snap_dir, keep_every)
    bar.close()
    log.close()
    rows = _read_log(log_path, param.max_iter)
    losses = [float(r["loss"]) for r in rows]
    head = losses[: max(1, min(20, len(losses) // 10))]
    tail = losses[-max(1, min(100, len(losses) // 10)):]
    return {
        "iterations": int(param.max_iter),
        "iterations_this_process": int(solver.iter - first_iter),
        "train_seconds": float(rows[-1]["elapsed_s"]) if rows else 0.0,
        "loss_start": sum(head) / len(head) if head else None,
        "loss_end": sum(tail) / len(tail) if tail else None,
        "solver": solver,
    }
