"""Stage-1 learning-rate schedules compared at equal wall time, on validation only (issue: the `cpu` profile).

Every candidate trains stage 1 (pre-training, u_j = 1, base lr 0.02, gamma 0.3) for the same number of
iterations H of the same net on the same data; one iteration costs the same whatever the schedule, so equal
iterations are equal wall time. Each candidate's validation NME is measured every `segment` iterations, which
gives the curve of validation NME against time. The test set is never read.

Candidates share work where their schedules agree: a candidate whose rate stays at 0.02 until its first decay
at iteration k starts from the `constant` run's snapshot at k (weights, momentum and iteration restored by
Caffe) and continues with its own decays. The restored run reads its HDF5 batches from the start of the
shuffled list again, so after k it sees a different batch order than an unbroken run would: a difference in
the sampling noise, not in the schedule.

`wide-*` candidates train on the same faces with a wider scale/translation augmentation (data made with
`--max-shift 0.09 --scale-range 0.8 1.2`, the 95th percentiles of how far the calibrated detector-box crops
of the training faces sit from their landmark-box crops); the validation faces are the same crops in both
sets.

Each lane of candidates runs in its own process (BLAS threads 1 by default, so two lanes share two cores);
everything resumes from snapshots, and a finished segment is never run again.
"""
from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

SEGMENT = 150


@dataclass(frozen=True)
class Candidate:
    name: str
    title: str
    steps: tuple[float, ...] = ()      # decays (x gamma) at these fractions of H
    data: str = "base"                 # "base" or "wide" (augmentation), see the module docstring
    branch_from: str | None = None     # starts from this candidate's snapshot at its first decay
    stop: float = 1.0                  # trains to stop * H


CANDIDATES = (
    Candidate("paper-shape", "the paper's shape compressed (today's cpu): x0.3 every H/6",
              (1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6)),
    Candidate("constant", "0.02 throughout, no decay"),
    Candidate("two-late", "fewer decays: 0.02 to H/2, x0.3 at H/2 and 3H/4", (0.5, 0.75),
              branch_from="constant"),
    Candidate("one-late", "a single late decay: 0.02 to 0.8H, then x0.3", (0.8,), branch_from="constant"),
    Candidate("wide-constant", "wider augmentation, 0.02 to 0.8H (trunk of wide-one-late)", data="wide",
              stop=0.8),
    Candidate("wide-one-late", "wider augmentation, a single late decay at 0.8H", (0.8,), data="wide",
              branch_from="wide-constant"),
)
BY_NAME = {c.name: c for c in CANDIDATES}
LANES = (("constant", "one-late", "two-late"), ("paper-shape", "wide-constant", "wide-one-late"))


def step_iters(c: Candidate, horizon: int) -> tuple[int, ...]:
    return tuple(int(round(f * horizon)) for f in c.steps)


def branch_iter(c: Candidate, horizon: int) -> int | None:
    return step_iters(c, horizon)[0] if c.branch_from else None


def check_candidates(horizon: int, segment: int = SEGMENT) -> None:
    for c in CANDIDATES:
        ends = [int(round(c.stop * horizon))] + ([branch_iter(c, horizon)] if c.branch_from else [])
        for it in ends:
            if it % segment:
                raise ValueError("%s: iteration %d is not a multiple of the segment length %d" % (c.name, it,
                                                                                                  segment))
        if c.branch_from and branch_iter(c, horizon) > BY_NAME[c.branch_from].stop * horizon:
            raise ValueError("%s branches after its trunk %s stops" % (c.name, c.branch_from))


class Sweep:
    def __init__(self, out: Path, data: dict[str, Path], horizon: int, segment: int = SEGMENT,
                 dataset: str = "aflw"):
        from mcl_caffe.core.landmarks import get_scheme
        check_candidates(horizon, segment)
        self.out, self.data, self.horizon, self.segment = Path(out), data, horizon, segment
        self.scheme = get_scheme(dataset)

    def cdir(self, name: str) -> Path:
        return self.out / name

    def profile(self, c: Candidate, upto: int):
        from mcl_caffe.nets.solvergen import Profile
        # the fine-tuning fields are unused by stage 1; no `step` decay happens before `upto`
        steps = step_iters(c, self.horizon) or (10 * self.horizon,)
        return Profile("sweep-%s" % c.name, pretrain_iter=upto, finetune_iter=1, stepsize=10 * self.horizon,
                       snapshot=self.segment, pretrain_steps=steps)

    def curve(self, name: str) -> list[dict]:
        from mcl_caffe.train.segments import read_curve
        return read_curve(self.cdir(name) / "curve.csv")

    def _branch(self, c: Candidate) -> None:
        """Seed c's snapshots with its trunk's snapshot at the branch iteration (and the trunk's log so
        far)."""
        from mcl_caffe.caffe_import import load_caffe
        load_caffe()
        from caffe.proto import caffe_pb2
        k = branch_iter(c, self.horizon)
        src = self.cdir(c.branch_from) / "branch_points"
        state_src, model_src = src / ("iter_%d.solverstate" % k), src / ("iter_%d.caffemodel" % k)
        if not state_src.is_file():
            raise FileNotFoundError("%s starts from %s at iteration %d, and %s is missing: run the lane "
                                    "holding %s first"
                                    % (c.name, c.branch_from, k, state_src, c.branch_from))
        snap = self.cdir(c.name) / "snapshots"
        snap.mkdir(parents=True, exist_ok=True)
        model = snap / ("stage1_iter_%d.caffemodel" % k)
        shutil.copyfile(model_src, model)
        msg = caffe_pb2.SolverState()
        msg.ParseFromString(state_src.read_bytes())
        msg.learned_net = str(model)
        (snap / ("stage1_iter_%d.solverstate" % k)).write_bytes(msg.SerializeToString())
        for name in ("loss.csv", "curve.csv"):
            rows = list(csv.DictReader((self.cdir(c.branch_from) / name).open()))
            keep = [r for r in rows if float(r["iter"]) <= k]
            with (self.cdir(c.name) / name).open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
                w.writeheader()
                w.writerows(keep)

    def _keep_branch_points(self, c: Candidate, it: int) -> None:
        wanted = {branch_iter(o, self.horizon) for o in CANDIDATES if o.branch_from == c.name}
        if it not in wanted:
            return
        from mcl_caffe.train.solve_loop import snapshots
        dst = self.cdir(c.name) / "branch_points"
        dst.mkdir(exist_ok=True)
        for i, state, model in snapshots(self.cdir(c.name) / "snapshots"):
            if i == it:
                shutil.copyfile(state, dst / ("iter_%d.solverstate" % it))
                shutil.copyfile(model, dst / ("iter_%d.caffemodel" % it))

    def validate(self, c: Candidate, weights: Path) -> float:
        from mcl_caffe.core.metrics import point_errors
        from mcl_caffe.train.predict import predict, read_set
        val = read_set(self.data[c.data] / "val.txt")
        return float(point_errors(predict(self.cdir(c.name) / "deploy.prototxt", weights, val.data),
                                  val.label, val.d).mean())

    def run(self, name: str) -> None:
        from mcl_caffe.nets.solvergen import learning_rate, solver_param
        from mcl_caffe.train.segments import append_curve, train_segments

        c = BY_NAME[name]
        d = self.cdir(name)
        d.mkdir(parents=True, exist_ok=True)
        if c.branch_from and not snapshots_of(d / "snapshots"):
            self._branch(c)

        def scored(upto, weights, summary):
            self._keep_branch_points(c, upto)
            sp = solver_param(self.profile(c, upto), True, "", "")
            append_curve(d / "curve.csv", {"iter": upto, "val_nme": "%.6f" % self.validate(c, weights),
                                           "lr": "%.6g" % learning_rate(sp, upto - 1),
                                           "elapsed_s": "%.1f" % summary["train_seconds"]})

        train_segments(d, self.scheme, self.data[c.data] / "train.txt", self.data[c.data] / "val.txt",
                       lambda upto: self.profile(c, upto), branch_iter(c, self.horizon) or 0,
                       int(round(c.stop * self.horizon)), self.segment,
                       {int(r["iter"]) for r in self.curve(name)}, scored, name)


def snapshots_of(snap_dir: Path):
    from mcl_caffe.train.solve_loop import snapshots
    return snapshots(snap_dir)


def summarize(sweep: Sweep, s_per_it: float) -> list[dict]:
    """One row per candidate: its curve's last and best validation NME, with time projected at s_per_it."""
    rows = []
    for c in CANDIDATES:
        curve = sweep.curve(c.name)
        if not curve:
            continue
        last = curve[-1]
        best = min(curve, key=lambda r: r["val_nme"])
        rows.append({"name": c.name, "title": c.title, "data": c.data,
                     "iterations": int(last["iter"]), "final_val_nme": last["val_nme"],
                     "best_val_nme": best["val_nme"], "best_iter": int(best["iter"]),
                     "projected_minutes": last["iter"] * s_per_it / 60.0,
                     "measured_minutes": last["elapsed_s"] / 60.0,
                     "complete": int(last["iter"]) == int(round(c.stop * sweep.horizon))})
    return rows


def plot(sweep: Sweep, s_per_it: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for c in CANDIDATES:
        curve = sweep.curve(c.name)
        if curve:
            ax.plot([r["iter"] * s_per_it / 60 for r in curve], [100 * r["val_nme"] for r in curve],
                    "--" if c.data == "wide" else "-", label=c.name, marker=".")
    ax.set_xlabel("wall time of stage 1, minutes (iterations x %.3f s, make bench-train)" % s_per_it)
    ax.set_ylabel("validation NME, % of inter-ocular distance")
    ax.set_title("Stage 1 on AFLW/MTFL: validation NME against wall time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(rows: list[dict], sweep: Sweep, s_per_it: float, command: str) -> str:
    out = ["# Stage-1 schedules at equal wall time (validation only)", "",
           "Command: `%s`" % command, "",
           "Horizon H = %d iterations of stage 1 (batch 64, 5 points, AFLW/MTFL training faces), validation "
           "NME (1,000 held-out MTFL training faces cropped from their detector boxes) every %d iterations. "
           "Wall time is projected at %.3f s/iteration (`make bench-train`, 2 BLAS threads, idle machine); "
           "the measured column is the candidates' own training time, two lanes side by side at one BLAS "
           "thread each."
           % (sweep.horizon, sweep.segment, s_per_it), "",
           "| candidate | schedule | data | iterations | projected min | measured min | final val NME % | "
               "best val NME % (at iter) |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append("| %s | %s | %s | %d%s | %.1f | %.1f | %.2f | %.2f (%d) |" % (
            r["name"], r["title"], r["data"], r["iterations"], "" if r["complete"] else " (unfinished)",
            r["projected_minutes"], r["measured_minutes"], 100 * r["final_val_nme"], 100 * r["best_val_nme"],
            r["best_iter"]))
    out += ["", "![validation NME against wall time](sweep.png)", ""]
    return "\n".join(out)
