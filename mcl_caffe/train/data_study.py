"""The data study: `make data`'s augmentation and crop choices compared at an equal training budget, on
validation only (reports/data-study/).

Every candidate is one data configuration (options of tools/make_data.py) and trains stage 1 alone (u_j = 1)
for the same HORIZON iterations with the same schedule shape as the `cpu` profile's stage 1 (lr 0.02, x0.3 at
1/2 and 3/4 of it; batch 64, momentum 0.9, weight decay 0.0005). After every SEGMENT iterations its snapshot
is scored on every validation view of its data (mcl_caffe.data.val_views): the validation faces as they
are, rolled by +-20 and +-35 degrees, from a face detector's boxes. Candidates of one dataset share their
validation faces (the split is made before augmentation, from the same faces and seed). The test sets are
never read.

The selection rule is declared in RULE, written before any candidate ran (the date is in it), and printed in
the report; `winners` applies it to the scores at the horizon.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HORIZON = 6000
SEGMENT = 500
BOOTSTRAP = 2000

RULE = """\
Declared on 2026-12-06, before any candidate of this study trained.

* Budget: stage 1 only, 6,000 iterations for every candidate, the `cpu` profile's shape (lr 0.02, x0.3 at
  3,000 and 4,500), batch 64; one BLAS thread per candidate, two candidates side by side.
* Score, from the validation views at iteration 6,000 (mean error, % of the eye-centre distance):
  * 300-W: S = (val + roll) / 2, where val is the nominal validation faces (cropped from the tight box of
    their points, as IBUG's test crops are from bb_ground_truth) and roll is the mean of the +-20 and +-35
    degree views. val_detector is reported, not scored.
  * AFLW: S = val, the validation faces cropped from their Sun et al. detector boxes by each candidate's own
    test-time rule, as the AFLW test faces are from the author's detector boxes. val_gt and the rolled views
    are reported, not scored.
* Winner per dataset: the candidate with the lowest S. It replaces the incumbent (today's `make data`
  defaults: 300w-r15, aflw-landmarks) only if the 95 % interval of its paired difference S - S(incumbent),
  bootstrapped over validation faces (2,000 resamples, seed 0), lies below zero; otherwise the incumbent
  stays. The test sets choose nothing.
"""


@dataclass(frozen=True)
class Candidate:
    name: str
    dataset: str
    title: str
    data_args: tuple[str, ...]  # tools/make_data.py options on top of the Makefile's per-dataset ones
    incumbent: bool = False     # today's `make data` defaults


# Every candidate names all the options it varies, so it means the same after the defaults change.
CANDIDATES = (
    Candidate("aflw-landmarks", "aflw", "crops from the landmarks' tight box; detector boxes calibrated onto "
              "them at test time (today)",
              ("--train-crop", "landmarks", "--rotations", "5", "--max-angle", "15"), incumbent=True),
    Candidate("aflw-detector", "aflw", "crops from each training face's Sun et al. detector box, by the "
              "test-time rule", ("--train-crop", "box", "--rotations", "5", "--max-angle", "15")),
    Candidate("300w-r15", "300w", "5 rotations within +-15 deg, 20 samples per face (today)",
              ("--rotations", "5", "--max-angle", "15"), incumbent=True),
    Candidate("300w-r30", "300w", "5 rotations within +-30 deg, 20 samples per face",
              ("--rotations", "5", "--max-angle", "30")),
    Candidate("300w-r45", "300w", "5 rotations within +-45 deg, 20 samples per face",
              ("--rotations", "5", "--max-angle", "45")),
    Candidate("300w-r15x60", "300w", "15 rotations within +-15 deg, 60 samples per face",
              ("--rotations", "15", "--max-angle", "15")),
)
BY_NAME = {c.name: c for c in CANDIDATES}
# two lanes side by side; a dataset's two first candidates run together, so its comparison is ready first
LANES = (("aflw-landmarks", "300w-r15", "300w-r45"), ("aflw-detector", "300w-r30", "300w-r15x60"))


def data_dir(study: Path, c: Candidate) -> Path:
    return Path(study) / "data" / c.name / c.dataset


def view_lists(data: Path) -> dict[str, Path]:
    """{view name: list file}: val.txt first, then the val_*.txt views in name order."""
    out = {"val": Path(data) / "val.txt"}
    out.update({p.stem: p for p in sorted(Path(data).glob("val_*.txt"))})
    return out


def score(dataset: str, nme: dict[str, float]) -> float:
    """The declared score S (RULE) from the views' mean errors."""
    if dataset == "300w":
        rolls = [v for k, v in nme.items() if k.startswith("val_roll")]
        if not rolls:
            raise ValueError("300-W score needs the rolled validation views (make data writes them)")
        return 0.5 * (nme["val"] + float(np.mean(rolls)))
    return nme["val"]


def face_scores(dataset: str, errors: dict[str, np.ndarray]) -> np.ndarray:
    """Per validation face, the contribution whose mean is S: the same formula on each face's errors (a rolled
    view holds two samples per face, +A then -A, each face's pair averaged)."""
    n = len(errors["val"])
    per_face = {k: np.asarray(e, dtype=np.float64).reshape(n, -1).mean(axis=1) for k, e in errors.items()
                if k == "val" or k.startswith("val_roll")}
    if dataset == "300w":
        rolls = [v for k, v in per_face.items() if k.startswith("val_roll")]
        return 0.5 * (per_face["val"] + np.mean(rolls, axis=0))
    return per_face["val"]


def paired_interval(a: np.ndarray, b: np.ndarray, n: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of mean(a - b) over paired faces."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


class Study:
    def __init__(self, root: Path, horizon: int = HORIZON, segment: int = SEGMENT):
        if horizon % segment or horizon % 4:
            raise ValueError("the horizon must be a multiple of the segment and of 4")
        self.root, self.horizon, self.segment = Path(root), horizon, segment

    def cdir(self, name: str) -> Path:
        return self.root / "train" / name

    def profile(self, upto: int):
        from mcl_caffe.nets.solvergen import Profile
        h = self.horizon
        return Profile("data-study", pretrain_iter=upto, finetune_iter=1, stepsize=10 * h,
                       snapshot=self.segment, pretrain_steps=(h // 2, h * 3 // 4))

    def curve(self, name: str) -> list[dict]:
        from mcl_caffe.train.segments import read_curve
        return read_curve(self.cdir(name) / "curve.csv")

    def final_errors(self, name: str) -> dict[str, np.ndarray] | None:
        f = self.cdir(name) / ("errors_%d.npz" % self.horizon)
        if not f.is_file():
            return None
        with np.load(f) as z:
            return {k: z[k] for k in z.files}

    def evaluate(self, c: Candidate, deploy: Path, weights: Path) -> dict[str, np.ndarray]:
        """{view: per-sample NME} of one snapshot on every validation view of c's data."""
        from mcl_caffe.core.metrics import nme
        from mcl_caffe.train.predict import predict, read_set
        out = {}
        for view, lst in view_lists(data_dir(self.root, c)).items():
            s = read_set(lst)
            out[view] = nme(predict(deploy, weights, s.data), s.label, s.d)
        return out

    def run(self, name: str) -> None:
        from mcl_caffe.core.landmarks import get_scheme
        from mcl_caffe.nets.solvergen import learning_rate, solver_param
        from mcl_caffe.train.segments import append_curve, train_segments

        c = BY_NAME[name]
        data = data_dir(self.root, c)
        for f in ("train.txt", "val.txt"):
            if not (data / f).is_file():
                raise FileNotFoundError("%s: no %s: make the candidate's data first (make data-study)"
                                        % (data, f))
        d = self.cdir(name)

        def scored(upto, weights, summary):
            errors = self.evaluate(c, d / "deploy.prototxt", weights)
            if upto == self.horizon:
                np.savez(d / ("errors_%d.npz" % upto), **errors)
            means = {k: float(v.mean()) for k, v in errors.items()}
            sp = solver_param(self.profile(upto), True, "", "")
            row = {"iter": upto, "lr": "%.6g" % learning_rate(sp, upto - 1),
                   "elapsed_s": "%.1f" % summary["train_seconds"], "score": "%.6f" % score(c.dataset, means)}
            row.update({k: "%.6f" % v for k, v in means.items()})
            append_curve(d / "curve.csv", row)

        train_segments(d, get_scheme(c.dataset), data / "train.txt", data / "val.txt", self.profile, 0,
                       self.horizon, self.segment, {int(r["iter"]) for r in self.curve(name)}, scored, name)


def summarize(study: Study) -> dict:
    """{dataset: {"rows": [...], "winner": name or None, "complete": bool}} from the candidates' curves."""
    out = {}
    for ds in sorted({c.dataset for c in CANDIDATES}):
        cands = [c for c in CANDIDATES if c.dataset == ds]
        inc = next(c for c in cands if c.incumbent)
        inc_err = study.final_errors(inc.name)
        rows = []
        for c in cands:
            curve = study.curve(c.name)
            if not curve:
                rows.append({"name": c.name, "title": c.title, "iterations": 0})
                continue
            last = curve[-1]
            row = {"name": c.name, "title": c.title, "iterations": int(last["iter"]),
                   "complete": int(last["iter"]) == study.horizon, "score": last["score"],
                   "views": {k: v for k, v in last.items() if k == "val" or k.startswith("val_")},
                   "train_minutes": last["elapsed_s"] / 60.0}
            err = study.final_errors(c.name)
            if err is not None and inc_err is not None and c is not inc:
                row["vs_incumbent"] = paired_interval(face_scores(ds, err), face_scores(ds, inc_err))
                row["delta"] = row["score"] - study.curve(inc.name)[-1]["score"]
            rows.append(row)
        complete = all(r.get("complete") for r in rows)
        winner = None
        if complete:
            best = min(rows, key=lambda r: r["score"])
            winner = best["name"] if best["name"] != inc.name and best["vs_incumbent"][1] < 0 else inc.name
        out[ds] = {"rows": rows, "winner": winner, "complete": complete, "incumbent": inc.name}
    return out


def plot(study: Study, dataset: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cands = [c for c in CANDIDATES if c.dataset == dataset and study.curve(c.name)]
    if not cands:
        return
    views = ["score"] + [k for k in study.curve(cands[0].name)[0] if k == "val" or k.startswith("val_")]
    fig, axes = plt.subplots(1, len(views), figsize=(3.6 * len(views), 3.6), squeeze=False)
    for ax, view in zip(axes[0], views):
        for c in cands:
            curve = study.curve(c.name)
            ax.plot([r["iter"] for r in curve], [100 * r[view] for r in curve], marker=".", label=c.name)
        ax.set_title(view if view != "score" else "declared score S")
        ax.set_xlabel("stage-1 iteration")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation NME, % of eye-centre distance")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(summary: dict, study: Study, command: str) -> str:
    out = ["# The data study: `make data`'s choices at an equal budget, on validation only", "",
           "Command: `%s`" % command, "", "## The declared rule", "", RULE, "## Candidates", ""]
    for c in CANDIDATES:
        out.append("- `%s` (%s): %s; make_data options `%s`" % (c.name, c.dataset, c.title,
                                                                 " ".join(c.data_args)))
    for ds, s in summary.items():
        views = sorted({k for r in s["rows"] for k in r.get("views", {})}, key=lambda k: (k != "val", k))
        cols = ["candidate", "iterations", "S"] + views + ["S - S(incumbent) [95 % interval]", "train min"]
        out += ["", "## %s" % ("300-W (68 points)" if ds == "300w" else "AFLW (5 points)"), "",
                "| %s |" % " | ".join(cols),
                "|---|---:|---:|%s---|---:|" % ("---:|" * len(views))]
        for r in s["rows"]:
            if not r["iterations"]:
                out.append("| %s | not run |%s" % (r["name"], " |" * (len(cols) - 2)))
                continue
            lo, hi = r.get("vs_incumbent", (0.0, 0.0))
            vs = ("%+.3f [%+.3f, %+.3f]" % (100 * r["delta"], 100 * lo, 100 * hi)
                  if "vs_incumbent" in r else ("incumbent" if r["name"] == s["incumbent"] else ""))
            out.append("| %s | %d%s | %.3f | %s | %s | %.0f |" % (
                r["name"], r["iterations"], "" if r["complete"] else " (running)", 100 * r["score"],
                " | ".join("%.3f" % (100 * r["views"][v]) if v in r["views"] else "" for v in views), vs,
                r["train_minutes"]))
        out += ["", "Errors in % of the eye-centre distance, at the candidate's last scored iteration. "
                "train min: wall time of the candidate's training loops, including any time its lane was "
                "paused (SIGSTOP) for other work; not a speed comparison (reports/bench-train/ is).", "",
                "Winner under the rule: **%s**" % s["winner"] if s["complete"]
                else "Winner: not decided (candidates still training).",
                "", "![%s validation views against iterations](%s.png)" % (ds, ds)]
    return "\n".join(out) + "\n"


def write_report(study: Study, out: Path, command: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(study)
    for ds in summary:
        plot(study, ds, out / ("%s.png" % ds))
    (out / "STUDY.md").write_text(markdown(summary, study, command))
    curves = {c.name: study.curve(c.name) for c in CANDIDATES}
    (out / "study.json").write_text(json.dumps({"horizon": study.horizon, "segment": study.segment,
                                                "summary": summary, "curves": curves}, indent=1) + "\n")
    return summary
