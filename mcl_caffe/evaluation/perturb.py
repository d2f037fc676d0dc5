"""Robustness of weighting (paper Section IV-C-2, Fig. 7): retrain WM with perturbed landmark weights.

For each delta, u_j (Eq. 5, from the run's BM validation errors eps_b) gets +delta on floor(n/2) random
landmarks and -delta on the others (``weighting.perturbed_weights``, one fixed seed for every delta, so the
same landmarks go up at every delta), and stages 2 and 3 are trained again from the run's BM with these
weights; the resulting WM is evaluated on the test set (mean error and failure rate,
``mcl_caffe.core.metrics``).

Layout: runs/<dataset>-<profile>/perturb/
    delta-0.10/weights.json                 the perturbed u_j (and the Eq. 5 ones, the seed, the raised set)
    delta-0.10/<dataset>-<train profile>/   an ordinary run root for the stage runner:
        stage1 -> ../../../stage1           (a symlink: the run's BM and its validation errors)
        stage2/, stage3/                    trained by `python -m mcl_caffe.train.runner stage2|stage3
                                            --runs .../delta-0.10 --weights-json .../weights.json`
    delta-0.10/eval.json                    WM's test-set errors (percent)
    results.json, fig7.png                  all deltas; `make report` shows them

Every training is one stage-runner process, which resumes from its newest snapshot or skips a finished stage,
so running this again continues where it stopped. The training profile may be shorter than the run's own
(--train-profile; e.g. `cpu` for a `paper` run): every delta, 0 included, uses the same one, so the curve
compares like with like.

The weights reach the stage runner through its ``--weights-json`` option (stages 2/3: the file's ``weights_u``
instead of Eq. 5).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mcl_caffe.core import metrics as M
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.run_layout import RunLayout, read_json, write_json
from mcl_caffe.core.weighting import error_proportional_weights, perturbed_weights

DEFAULT_DELTAS = (0.0, 0.1, 0.2, 0.3, 0.4)
DEFAULT_SEED = 0
HOOK = "--weights-json"


class PerturbError(Exception):
    """A user-facing failure, printed as one line (exit status 2)."""


def delta_name(delta: float) -> str:
    return "delta-%.2f" % delta


def weights_plan(eps_b, delta: float, seed: int = DEFAULT_SEED) -> dict:
    """The perturbed weights for one delta: {'weights_u', 'eq5_weights_u', 'raised', 'delta', 'seed'}.

    Raises PerturbError if a weight would not stay positive (a negative loss weight would push that landmark
    away from its label)."""
    base = error_proportional_weights(eps_b)
    u = perturbed_weights(base, delta, seed)
    raised = np.flatnonzero(
        perturbed_weights(base, 1.0, seed) > base
    )  # the floor(n/2) landmarks that get +delta
    if np.any(u <= 0):
        bad = np.flatnonzero(u <= 0)
        raise PerturbError(
            "delta %.2f makes u_j <= 0 for landmarks %s (1-based; Eq. 5 gives them %s): use smaller "
            "deltas" % (delta, ", ".join(str(j + 1) for j in bad), ", ".join("%.3f" % base[j] for j in bad))
        )
    return {
        "delta": float(delta),
        "seed": int(seed),
        "weights_u": u.tolist(),
        "eq5_weights_u": base.tolist(),
        "raised": raised.tolist(),
        "n_raised": int(len(raised)),
        "n_points": int(len(base)),
    }


class Perturbation:
    def __init__(
        self,
        dataset: str,
        profile: str,
        train_profile: str,
        data: Path,
        runs: Path,
        seed: int = DEFAULT_SEED,
        threads: int | None = None,
    ):
        self.dataset, self.profile, self.train_profile = dataset, profile, train_profile
        self.data, self.runs, self.seed, self.threads = (
            Path(data).resolve(),
            Path(runs).resolve(),
            seed,
            threads,
        )
        self.scheme = get_scheme(dataset)
        self.base = RunLayout(dataset, profile, self.runs, self.data)
        self.root = self.base.root / "perturb"

    # --------------------------------------------------------------- layout
    def delta_dir(self, delta: float) -> Path:
        return self.root / delta_name(delta)

    def inner(self, delta: float) -> RunLayout:
        """The stage runner's layout inside delta-<d>/ (its --runs)."""
        return RunLayout(self.dataset, self.train_profile, self.delta_dir(delta), self.data)

    def eps_b(self) -> np.ndarray:
        f = self.base.val_errors("stage1")
        if not f.is_file() or not self.base.final_weights("stage1").is_file():
            raise PerturbError(
                "the perturbation starts from the run's BM, but %s is missing: run `make stage1 "
                "DATASET=%s PROFILE=%s` first" % (f, self.dataset, self.profile)
            )
        return np.asarray(read_json(f)["per_landmark"])

    def prepare(self, delta: float) -> tuple[Path, dict]:
        """Create delta-<d>/ with weights.json and the stage1 link. -> (weights.json, plan)."""
        plan = weights_plan(self.eps_b(), delta, self.seed)
        d = self.delta_dir(delta)
        inner = self.inner(delta).root
        inner.mkdir(parents=True, exist_ok=True)
        link = inner / "stage1"
        target = self.base.stage_dir("stage1").resolve()
        if link.is_symlink() or link.exists():
            if link.resolve() != target:
                raise PerturbError(
                    "%s exists but is not a link to %s; delete %s to start afresh" % (link, target, d)
                )
        else:
            link.symlink_to(os.path.relpath(target, inner))
        wfile = d / "weights.json"
        if wfile.is_file():
            old = read_json(wfile)
            if not np.allclose(old.get("weights_u", []), plan["weights_u"], rtol=0, atol=1e-12):
                raise PerturbError(
                    "%s holds other weights (another seed, or BM changed); delete %s to start afresh"
                    % (wfile, d)
                )
        else:
            write_json(wfile, dict(plan, base_run=str(self.base.root), train_profile=self.train_profile))
        return wfile, plan

    def command(self, stage: str, delta: float) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "mcl_caffe.train.runner",
            stage,
            "--dataset",
            self.dataset,
            "--profile",
            self.train_profile,
            "--data",
            str(self.data),
            "--runs",
            str(self.delta_dir(delta)),
            HOOK,
            str(self.delta_dir(delta) / "weights.json"),
        ]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        return cmd

    # --------------------------------------------------------------- steps
    def train(self, delta: float) -> None:
        self.prepare(delta)
        for stage in ("stage2", "stage3"):
            print("perturb delta %.2f: %s" % (delta, " ".join(self.command(stage, delta))), flush=True)
            rc = subprocess.call(self.command(stage, delta), cwd=Path(__file__).resolve().parents[2])
            if rc != 0:
                raise PerturbError(
                    "delta %.2f: %s failed (exit %d); run again to resume" % (delta, stage, rc)
                )

    def wm(self, delta: float) -> tuple[Path, Path] | None:
        s3 = self.inner(delta).stage_dir("stage3")
        w, dep = s3 / "final.caffemodel", s3 / "deploy.prototxt"
        return (dep, w) if w.is_file() and dep.is_file() and (s3 / "stage.json").is_file() else None

    def evaluate(self, delta: float, test, caffe) -> dict | None:
        """WM's test errors for one delta (percent), cached in delta-<d>/eval.json."""
        wm = self.wm(delta)
        if wm is None:
            return None
        out = self.delta_dir(delta) / "eval.json"
        stamp = os.path.getmtime(wm[1])
        if out.is_file():
            old = read_json(out)
            if old.get("weights_mtime") == stamp and old.get("test_list") == str(test.list_file):
                return old
        from mcl_caffe.train.predict import forward_batches

        net = caffe.Net(str(wm[0]), str(wm[1]), caffe.TEST)
        pred = forward_batches(net, test.data, "fc")
        pe = M.point_errors(pred, test.label, test.d)
        face = pe.mean(axis=1)
        s3 = read_json(wm[0].parent / "stage.json")
        res = {
            "delta": float(delta),
            "mean_error": 100 * M.mean_error(face),
            "failure_rate": 100 * M.failure_rate(face),
            "per_landmark": (100 * pe.mean(axis=0)).tolist(),
            "per_cluster": M.percent(M.cluster_errors(pe, self.scheme.clusters)),
            "faces": int(len(face)),
            "weights_u": s3.get("weights_u"),
            "weights_file": str(wm[1]),
            "weights_mtime": stamp,
            "test_list": str(test.list_file),
            "train_seconds": {
                st: _stage_seconds(self.inner(delta).stage_dir(st)) for st in ("stage2", "stage3")
            },
        }
        write_json(out, res)
        return res

    def reference(self, test, caffe) -> dict:
        """The run's own BM and WM on the test set (percent), for the plot."""
        from mcl_caffe.train.predict import forward_batches

        ref = {}
        for key, stage in (("BM", "stage1"), ("WM", "stage3")):
            w, dep = self.base.final_weights(stage), self.base.stage_dir(stage) / "deploy.prototxt"
            if w.is_file() and dep.is_file():
                net = caffe.Net(str(dep), str(w), caffe.TEST)
                face = M.nme(forward_batches(net, test.data, "fc"), test.label, test.d)
                ref[key] = {
                    "mean_error": 100 * M.mean_error(face),
                    "failure_rate": 100 * M.failure_rate(face),
                }
        return ref

    def write_results(self, deltas, evals: dict, ref: dict) -> dict:
        rows = []
        for delta in deltas:
            e = evals.get(delta)
            rows.append(
                {
                    "delta": float(delta),
                    "done": e is not None,
                    "dir": delta_name(delta),
                    "mean_error": e["mean_error"] if e else None,
                    "failure_rate": e["failure_rate"] if e else None,
                    # stages 2 + 3 training-loop seconds, from their stage.json files
                    "train_seconds": _total_seconds(e.get("train_seconds")) if e else None,
                }
            )
        doc = {
            "units": "percent",
            "dataset": self.dataset,
            "profile": self.profile,
            "train_profile": self.train_profile,
            "seed": self.seed,
            "n_points": self.scheme.n_points,
            "n_raised": self.scheme.n_points // 2,
            "deltas": rows,
            "reference": ref,
            "note": "WM retrained (stages 2-3 from the run's BM) with u_j +/- delta; paper Section IV-C-2, "
                    "Fig. 7",
        }
        png = plot_fig7(doc, self.root / "fig7.png")
        doc["png"] = png.name if png else None
        write_json(self.root / "results.json", doc)
        return doc


def _total_seconds(per_stage: dict | None) -> float | None:
    vals = list((per_stage or {}).values())
    return float(sum(vals)) if vals and all(v is not None for v in vals) else None


def _stage_seconds(stage_dir: Path):
    f = stage_dir / "stage.json"
    return read_json(f).get("train_seconds") if f.is_file() else None


def plot_fig7(doc: dict, out: Path) -> Path | None:
    rows = [r for r in doc["deltas"] if r["done"]]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.2), dpi=110)
    x = [r["delta"] for r in rows]
    y = [r["mean_error"] for r in rows]
    ax.plot(
        x,
        y,
        "o-",
        color="tab:orange",
        label="WM retrained with perturbed u_j (profile %s)" % doc["train_profile"],
    )
    # the y range covers the retrained WMs and the run's own WM; BM is drawn only if it falls inside
    span = y + ([doc["reference"]["WM"]["mean_error"]] if "WM" in doc["reference"] else [])
    lo, hi = min(span), max(span)
    pad = max(0.1, 0.15 * (hi - lo))
    for k, style in (("WM", "--"), ("BM", ":")):
        r = doc["reference"].get(k)
        if r:
            inside = lo - pad <= r["mean_error"] <= hi + pad
            ax.axhline(
                r["mean_error"] if inside else np.nan,
                color="0.4",
                ls=style,
                lw=1,
                label="this run's %s (profile %s): %.2f%s"
                % (k, doc["profile"], r["mean_error"], "" if inside else " (off the chart)"),
            )
    ax.set_xlabel("perturbation delta")
    ax.set_ylabel("mean error on the test set (%)")
    ax.set_title(
        "Fig. 7 reproduction: %s, %d points (%d raised, seed %d)"
        % (doc["dataset"], doc["n_points"], doc["n_raised"], doc["seed"]),
        fontsize=9,
    )
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xticks(sorted(set(x) | {0.0, 0.1, 0.2, 0.3, 0.4}))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def run(args) -> None:
    """`tools/perturb.py` (make perturb): train (unless --eval-only or --dry-run), evaluate and write the
    results of every delta; `args` are that tool's parsed options."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    deltas = sorted(set(round(d, 6) for d in args.deltas))
    job = Perturbation(
        args.dataset,
        args.profile,
        args.train_profile or args.profile,
        args.data,
        args.runs,
        args.seed,
        args.threads,
    )
    try:
        if args.dry_run:
            eps = job.eps_b()
            for delta in deltas:
                plan = weights_plan(eps, delta, args.seed)
                print(
                    "delta %.2f: u = [%s] (+delta on landmarks %s, 1-based)"
                    % (
                        delta,
                        ", ".join("%.4f" % u for u in plan["weights_u"]),
                        ", ".join(str(j + 1) for j in plan["raised"]),
                    )
                )
                for stage in ("stage2", "stage3"):
                    print("    " + " ".join(job.command(stage, delta)))
            return
        if not args.eval_only:
            for delta in deltas:  # check every delta before the first training
                weights_plan(job.eps_b(), delta, args.seed)
            t0 = time.time()
            for delta in deltas:
                job.train(delta)
            print("perturb: trained %d deltas in %.0f s" % (len(deltas), time.time() - t0))
        from mcl_caffe.caffe_import import load_caffe
        from mcl_caffe.evaluation.evaluate import load_test_set

        caffe = load_caffe(args.threads or 1)
        test = load_test_set(job.data)
        evals = {delta: job.evaluate(delta, test, caffe) for delta in deltas}
        doc = job.write_results(
            deltas, {k: v for k, v in evals.items() if v is not None}, job.reference(test, caffe)
        )
    except PerturbError as exc:
        print("perturb: error: %s" % exc, file=sys.stderr)
        raise SystemExit(2) from None
    for r in doc["deltas"]:
        print(
            "delta %.2f: %s"
            % (
                r["delta"],
                (
                    "WM error %.2f %%, failure %.2f %%" % (r["mean_error"], r["failure_rate"])
                    if r["done"]
                    else "not trained"
                ),
            )
        )
    print("perturb: %s" % (job.root / "results.json"))
