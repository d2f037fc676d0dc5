"""Start a stage-1 run from another run's snapshot or from a kept checkpoint instead of from scratch.

Two uses (the runner's `--continue-from PATH`):

* **A `paper` run continues a `long` run.** `long` is `paper`'s pre-training cut after its third decay
  (mcl_caffe/nets/solvergen.py), so the long run's newest snapshot at iteration N is the paper run's state
  at N: weights, momentum history and iteration. PATH is the long run's folder (runs/<dataset>-long); the
  snapshot is copied into the paper run's snapshots/ with its solverstate pointing at the copy, and its
  loss log up to N with it. Before that, the train nets must be the same text (same net, data and batch) and
  the two solvers must agree on everything an SGD step uses, with the same learning rate at every iteration
  before N; otherwise nothing is copied and the error names the first difference.
* **A run restarts on a new machine from a committed checkpoint** (`make keep-checkpoints` copies the
  stage-1 caffemodels at multiples of 30,000 to reports/<dataset>-long/checkpoints/). PATH is that folder
  (its newest `*_iter_N.caffemodel`) or one such file. A caffemodel holds the weights only: the restart
  gets a solverstate at iteration N whose momentum history is zero, so its first steps (about
  1 / (1 - momentum) = 10 of them) differ from what the lost run would have done.

Either way the seed is written only into a stage with no snapshots of its own: a run that has started
resumes from its own newest snapshot. As with every resume, the restored solver reads its HDF5 batches from
the start of the shuffled list again.
"""
from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from mcl_caffe.caffe_import import LazyModule
from mcl_caffe.core.run_layout import write_json
from mcl_caffe.nets.solvergen import learning_rate

caffe_pb2 = LazyModule("caffe.proto.caffe_pb2")
text_format = LazyModule("google.protobuf.text_format")

# the solver fields an SGD step reads besides the learning rate's schedule
STEP_FIELDS = ("type", "momentum", "weight_decay", "regularization_type", "clip_gradients", "iter_size",
               "random_seed")
ITER_RE = re.compile(r"_iter_(\d+)\.caffemodel$")


class ContinuationError(Exception):
    """The source cannot seed this run (missing, or trained under another net or schedule)."""


@dataclass(frozen=True)
class Seed:
    iteration: int
    model: Path
    state: Path | None  # None: a caffemodel alone (momentum restarts at zero)
    stage_dir: Path | None  # the source run's stage folder (its train.prototxt, solver.prototxt, loss.csv)


def read_solver(path: Path):
    s = caffe_pb2.SolverParameter()
    text_format.Merge(Path(path).read_text(), s)
    return s


def checkpoint_iteration(path: Path) -> int | None:
    m = ITER_RE.search(Path(path).name)
    return int(m.group(1)) if m else None


def find_seed(path: Path, stage: str = "stage1") -> Seed:
    """The newest complete snapshot of a run folder (PATH/<stage>/snapshots), the newest `*_iter_N.caffemodel`
    of a checkpoint folder, or one such file."""
    from mcl_caffe.train.solve_loop import snapshots
    path = Path(path)
    if path.is_file():
        it = checkpoint_iteration(path)
        if it is None:
            raise ContinuationError("%s: a checkpoint's name must end in _iter_<N>.caffemodel" % path)
        return Seed(it, path.resolve(), None, None)
    if not path.is_dir():
        raise ContinuationError("%s does not exist" % path)
    stage_dir = path / stage
    if (stage_dir / "snapshots").is_dir():
        found = snapshots(stage_dir / "snapshots")
        if not found:
            raise ContinuationError("%s holds no complete snapshot to continue from"
                                    % (stage_dir / "snapshots"))
        it, state, model = found[-1]
        return Seed(it, model.resolve(), state.resolve(), stage_dir.resolve())
    models = sorted((checkpoint_iteration(p), p) for p in path.glob("*_iter_*.caffemodel")
                    if checkpoint_iteration(p) is not None)
    if not models:
        raise ContinuationError("%s is neither a run folder (no %s/snapshots/) nor a folder of "
                                "*_iter_<N>.caffemodel checkpoints" % (path, stage))
    it, model = models[-1]
    return Seed(it, model.resolve(), None, None)


def check_schedules(src, dst, upto: int, src_name: str = "source", dst_name: str = "this run") -> None:
    """Raise ContinuationError unless solvers `src` and `dst` take the same SGD steps 0 .. upto-1: the fields
    of STEP_FIELDS and the learning rate of every one of those iterations."""
    if upto > dst.max_iter:
        raise ContinuationError("%s is at iteration %d, past %s's last (%d)" % (src_name, upto, dst_name,
                                                                                 dst.max_iter))
    for field in STEP_FIELDS:
        a, b = getattr(src, field), getattr(dst, field)
        if a != b:
            raise ContinuationError("%s and %s differ in the solver's %s (%s vs %s)" % (src_name, dst_name,
                                                                                        field, a, b))
    for i in range(upto):
        a, b = learning_rate(src, i), learning_rate(dst, i)
        if a != b:
            raise ContinuationError("%s and %s differ in the learning rate at iteration %d (%.6g vs %.6g): "
                                    "%s's state there is not %s's" % (src_name, dst_name, i, a, b, src_name,
                                                                      dst_name))


def _write_state(msg, model_src: Path, prefix: str, iteration: int) -> Path:
    """Copy the caffemodel to <prefix>_iter_N.caffemodel and write the solverstate `msg` beside it, pointing
    at the copy (a solverstate names its caffemodel by path)."""
    model = Path("%s_iter_%d.caffemodel" % (prefix, iteration))
    model.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_src, model)
    msg.learned_net = str(model)
    state = model.with_suffix(".solverstate")
    partial = state.with_suffix(".partial")
    partial.write_bytes(msg.SerializeToString())
    partial.replace(state)
    return state


def copy_snapshot(state_src: Path, model_src: Path, prefix: str) -> Path:
    """A snapshot pair into another run's snapshot prefix; returns the new solverstate."""
    msg = caffe_pb2.SolverState()
    msg.ParseFromString(Path(state_src).read_bytes())
    return _write_state(msg, model_src, prefix, msg.iter)


def copy_log(src: Path, dst: Path, upto: int) -> int:
    """The rows of loss log `src` up to iteration `upto` into `dst`; returns how many."""
    with Path(src).open() as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if int(r["iter"]) <= upto]
        fields = reader.fieldnames
    with Path(dst).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def check_weights_fit(caffemodel: Path, net) -> None:
    """Raise ContinuationError unless `caffemodel` holds every parameter blob of `net`, shaped alike (Caffe
    itself would abort the process on a mismatch, and leave a missing layer at its initialisation)."""
    msg = caffe_pb2.NetParameter()
    msg.ParseFromString(Path(caffemodel).read_bytes())
    have = {layer.name: [tuple(b.shape.dim) if b.HasField("shape") else (b.num, b.channels, b.height, b.width)
                         for b in layer.blobs] for layer in msg.layer}
    for name, blobs in net.params.items():
        want = [tuple(b.data.shape) for b in blobs]
        got = have.get(name)
        if got is None:
            raise ContinuationError("%s has no weights for layer %s" % (caffemodel, name))
        if [int(v) for s in got for v in s] != [int(v) for s in want for v in s] or len(got) != len(want):
            raise ContinuationError("%s: layer %s's blobs are %s, the net's %s"
                                    % (caffemodel, name, got, want))


def weights_only_state(solver_path: Path, iteration: int, weights: Path):
    """A SolverState at `iteration` for the solver in `solver_path` with zero momentum history, for the
    caffemodel `weights` (checked to fit its net): the history blobs' shapes come from a snapshot of a fresh
    solver (its iteration-0 files are deleted again)."""
    from mcl_caffe.caffe_import import load_caffe
    caffe = load_caffe()
    param = read_solver(solver_path)
    solver = caffe.get_solver(str(solver_path))
    check_weights_fit(weights, solver.net)
    Path(param.snapshot_prefix).parent.mkdir(parents=True, exist_ok=True)
    solver.snapshot()
    zero = Path("%s_iter_0" % param.snapshot_prefix)
    msg = caffe_pb2.SolverState()
    msg.ParseFromString(zero.with_suffix(".solverstate").read_bytes())
    for suffix in (".solverstate", ".caffemodel"):
        zero.with_suffix(suffix).unlink()
    del solver
    if any(any(v != 0.0 for v in blob.data) for blob in msg.history):
        raise AssertionError("a fresh solver's momentum history is not zero")
    msg.iter = iteration
    # Caffe's multistep policy advances current_step by one per iteration once iter reaches the next step
    # value; a snapshot after iteration N - 1 counts the step values below N
    msg.current_step = sum(1 for v in param.stepvalue if v < iteration)
    return msg


def seed_stage(source: Path, stage_dir: Path, stage: str = "stage1") -> dict | None:
    """Seed `stage_dir` (whose train.prototxt and solver.prototxt are written) from `source` (find_seed).

    Returns what was done (also written to <stage_dir>/continued_from.json), or None when the stage already
    has snapshots of its own and resumes from them."""
    from mcl_caffe.train.solve_loop import snapshots
    stage_dir = Path(stage_dir)
    dst_solver = read_solver(stage_dir / "solver.prototxt")
    prefix = dst_solver.snapshot_prefix
    if snapshots(Path(prefix).parent):
        return None
    seed = find_seed(source, stage)
    if seed.state is not None:
        src_train = seed.stage_dir / "train.prototxt"
        if src_train.read_text() != (stage_dir / "train.prototxt").read_text():
            raise ContinuationError("%s and %s differ (another net, data or batch): %s cannot continue %s"
                                    % (src_train, stage_dir / "train.prototxt", stage_dir, seed.stage_dir))
        check_schedules(read_solver(seed.stage_dir / "solver.prototxt"), dst_solver, seed.iteration,
                        str(seed.stage_dir), str(stage_dir))
        state = copy_snapshot(seed.state, seed.model, prefix)
        rows = copy_log(seed.stage_dir / "loss.csv", stage_dir / "loss.csv", seed.iteration) \
            if (seed.stage_dir / "loss.csv").is_file() else 0
        done = {"source": str(seed.state), "iteration": seed.iteration, "momentum": "restored",
                "loss_rows_copied": rows}
    else:
        if seed.iteration > dst_solver.max_iter:
            raise ContinuationError("%s is at iteration %d, past %s's last (%d)" % (
                seed.model, seed.iteration, stage_dir, dst_solver.max_iter))
        msg = weights_only_state(stage_dir / "solver.prototxt", seed.iteration, seed.model)
        state = _write_state(msg, seed.model, prefix, seed.iteration)
        done = {"source": str(seed.model), "iteration": seed.iteration,
                "momentum": "zero (a caffemodel holds no solver state)", "loss_rows_copied": 0}
    done["snapshot"] = str(state)
    write_json(stage_dir / "continued_from.json", done)
    return done
