"""Run one stage of MCL's Algorithm 1 in this process (py-faster-rcnn style: one process per stage).

    stage1    pre-train BM with u_j = 1; then per-landmark validation errors eps_b
    stage2    fine-tune with u_j of Eq. 5, first six convolutions fixed
    stage3    fine-tune all layers with the same u_j (WM); then validation errors eps_w
    stage4    for each cluster i, fine-tune the i-th shape prediction layer from WM's (Eqs. 6-9, alpha 125),
              shared layers and their BatchNorm statistics fixed; each cluster runs in its own child process
    assemble  Eq. 2: splice each cluster's rows of the InnerProduct into one layer (AM)

Every stage writes to runs/<dataset>-<profile>/<stage>/: the generated nets and solver, loss.csv, snapshots/,
final.caffemodel and val_errors.json. Running a stage again resumes from its newest snapshot; a finished stage
is skipped. A stage whose predecessor is missing says which target to run first. Stage 1 without snapshots of
its own can start from another run's (a `paper` run from a `long` run) or from a kept checkpoint
(--continue-from, mcl_caffe/train/continuation.py).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mcl_caffe.caffe_import import DEFAULT_OMP_WAIT_POLICY, choose_omp_wait_policy

EXIT_PREREQ = 2


class StageError(Exception):
    """A user-facing failure: printed by main() as one clear line, exit status 2."""


def _parse(argv=None):
    p = argparse.ArgumentParser(
        prog="mcl_stage",
        description="Run one stage of MCL training (Algorithm 1 of Shao et al. 2018) with pycaffe. "
                    "Stages must run in order: stage1, stage2, stage3, stage4, assemble. Each run resumes "
                    "from its newest snapshot; a finished stage is skipped.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("stage", choices=["stage1", "stage2", "stage3", "stage4", "assemble"])
    p.add_argument("--dataset", required=True, choices=["aflw", "cofw", "300w"],
                   help="labelling pattern: aflw = 5 points, cofw = 29, 300w = 68")
    p.add_argument("--profile", default="cpu",
                   help="solver profile: paper, long, cpu, quick or smoke (default: cpu)")
    p.add_argument("--data", type=Path, default=None,
                   help="folder with train.txt/val.txt (from `make data`); default data/<dataset> "
                        "(data/smoke/<dataset> for the smoke profile)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="runs root (default: runs)")
    p.add_argument("--cluster", type=int, default=None,
                   help="stage4 only: run just this cluster (0-based); used for the per-cluster child "
                        "process")
    p.add_argument("--stage4-path", choices=["features", "full"], default="features",
                   help="stage4: train the shape layers on cached features x (fast, exactly equivalent) or "
                        "through the full frozen net (reference path). Default: features")
    p.add_argument("--threads", type=int, default=None, help="OpenBLAS threads (default: all cores)")
    p.add_argument("--continue-from", type=Path, default=None, metavar="PATH",
                   help="stage1 only, when it has no snapshots of its own: start from PATH instead of from "
                        "scratch: a run folder whose stage 1 took the same steps so far (e.g. "
                        "runs/aflw-long for PROFILE=paper: weights, momentum and iteration of its newest "
                        "snapshot), or a folder of *_iter_<N>.caffemodel checkpoints or one such file "
                        "(weights only, momentum from zero). See mcl_caffe/train/continuation.py")
    p.add_argument("--omp-wait-policy", default=None, choices=["passive", "active", "keep"],
                   help="OMP_WAIT_POLICY of the training processes (how Caffe's idle OpenMP threads wait: "
                        "passive sleeps, active spins); keep = as the environment has it. Default: "
                        "$MCL_OMP_WAIT_POLICY, else %s (mcl_caffe/caffe_import.py)"
                        % DEFAULT_OMP_WAIT_POLICY)
    p.add_argument("--weights-json", type=Path, default=None,
                   help="stage2/stage3 only: train with the landmark weights u_j in this JSON file's "
                        "'weights_u' list instead of Eq. 5's (the weight-perturbation experiment, "
                        "tools/perturb.py)")
    return p.parse_args(argv)


class Runner:
    def __init__(self, args):
        from mcl_caffe.caffe_import import load_caffe
        from mcl_caffe.core.landmarks import get_scheme
        from mcl_caffe.core.run_layout import RunLayout
        from mcl_caffe.nets.solvergen import get_profile

        self.args = args
        self.caffe = load_caffe(args.threads)
        self.scheme = get_scheme(args.dataset)
        self.profile = get_profile(args.profile)
        self.layout = RunLayout(args.dataset, args.profile, args.runs.resolve(), args.data)
        self.make_hint = "make %%s DATASET=%s PROFILE=%s" % (args.dataset, args.profile)

    # ------------------------------------------------------------------ prerequisites
    def require_data(self):
        for split in ("train", "val"):
            f = self.layout.list_file(split)
            if not f.is_file():
                raise StageError("no %s list at %s: run `%s` first" % (split, f, self.make_hint % "data"))

    def require_stage(self, stage: str, errors: bool = False):
        needed = [self.layout.final_weights(stage)] + ([self.layout.val_errors(stage)] if errors else [])
        for f in needed:
            if not f.is_file():
                raise StageError("%s needs %s, which is missing: run `%s` first"
                                 % (self.args.stage, f, self.make_hint % stage))

    def errors_of(self, stage: str) -> np.ndarray:
        from mcl_caffe.core.run_layout import read_json
        return np.asarray(read_json(self.layout.val_errors(stage))["per_landmark"])

    # ------------------------------------------------------------------ shared pieces
    def write_texts(self, out: Path, texts: dict[str, str]):
        out.mkdir(parents=True, exist_ok=True)
        train = out / "train.prototxt"
        has_snapshots = any((out / "snapshots").glob("*.solverstate"))
        if has_snapshots and train.is_file() and train.read_text() != texts["train"]:
            raise StageError("%s holds snapshots of a differently configured run (its train.prototxt "
                             "differs, e.g. other landmark weights); delete %s to start this "
                             "stage afresh" % (out, out))
        for name, text in texts.items():
            (out / ("%s.prototxt" % name)).write_text(text)

    def validate(self, deploy: Path, weights_file: Path) -> dict:
        from mcl_caffe.core.metrics import cluster_errors, point_errors
        from mcl_caffe.train.predict import predict, read_set
        val = read_set(self.layout.list_file("val"))
        errs = point_errors(predict(deploy, weights_file, val.data), val.label, val.d)
        eps = errs.mean(axis=0)
        clusters = cluster_errors(errs, self.scheme.clusters)
        return {"per_landmark": eps.tolist(), "mean": float(eps.mean()), "n_faces": int(len(val.d)),
                "per_cluster": clusters, "weights_file": str(weights_file)}

    def finish(self, out: Path, summary: dict, weights_file: Path, deploy: Path, weights: np.ndarray):
        from mcl_caffe.core.run_layout import write_json
        errors = self.validate(deploy, weights_file)
        write_json(out / "val_errors.json", errors)
        summary = {k: v for k, v in summary.items() if k != "solver"}
        summary.update(stage=self.args.stage, dataset=self.args.dataset, profile=self.profile.name,
                       weights_u=list(map(float, weights)), val_mean_error=errors["mean"], done=True)
        write_json(out / "stage.json", summary)
        print("%s done: %d iterations, %.0f s training; validation mean error %.4f"
              % (out.name, summary.get("iterations", 0), summary.get("train_seconds", 0.0), errors["mean"]))

    def mean_shape_bias(self, solver):
        """Stage 1's fresh start: the shape layer's bias begins at the mean training shape (data-dependent
        initialisation; the net would otherwise spend its first iterations learning just that offset)."""
        from mcl_caffe.train.shape_init import mean_shape_of_list, set_mean_shape_bias
        set_mean_shape_bias(solver.net, mean_shape_of_list(self.layout.list_file("train")))

    def train(self, stage: str, out: Path, weights: np.ndarray, train_src: Path, val_src: Path,
              init_from: Path | None, stage4_path: str = "features", label: str = "", init=None):
        """Generate the stage's files into `out` and run its solver (resuming if possible).

        A fresh start loads `init_from`'s weights, or calls `init(solver)` when there is none."""
        from mcl_caffe.train.solve_loop import solve, weighted_loss
        from mcl_caffe.nets.stage_files import stage_texts
        texts = stage_texts(stage, self.scheme, self.profile, weights, str(train_src), str(val_src),
                            str(out / "train.prototxt"), str(out / "snapshots" / stage), stage4_path)
        self.write_texts(out, texts)
        if stage == "stage1" and self.args.continue_from:
            self.continue_from(out)
        if init_from:
            def init(solver):
                solver.net.copy_from(str(init_from))
        return solve(out / "solver.prototxt", out, weighted_loss(weights), self.profile.snapshot, init,
                     label=label or stage, keep_every=self.profile.keep_every if stage == "stage1" else 0)

    def continue_from(self, out: Path):
        """--continue-from: seed stage 1's snapshots from another run or a checkpoint (if it has none)."""
        from mcl_caffe.train.continuation import ContinuationError, seed_stage
        try:
            done = seed_stage(self.args.continue_from, out)
        except ContinuationError as exc:
            raise StageError("--continue-from %s: %s" % (self.args.continue_from, exc)) from None
        if done is None:
            print("stage1: has snapshots of its own; resuming from them, not from %s"
                  % self.args.continue_from, file=sys.stderr)
        else:
            print("stage1: continuing from %s at iteration %d (momentum %s)" % (done["source"],
                                                                               done["iteration"],
                                                                               done["momentum"]),
                  file=sys.stderr)

    def done(self, out: Path) -> bool:
        if (out / "stage.json").is_file() and (out / "final.caffemodel").is_file():
            print("%s: already done (%s); delete that folder to run it again" % (out.name, out))
            return True
        return False

    # ------------------------------------------------------------------ stages 1-3
    def run_weighting_stage(self):
        from mcl_caffe.core.weighting import error_proportional_weights, uniform_weights
        stage = self.args.stage
        self.require_data()
        prev = {"stage1": None, "stage2": "stage1", "stage3": "stage2"}[stage]
        if prev:
            self.require_stage(prev)
            self.require_stage("stage1", errors=True)
            weights = error_proportional_weights(self.errors_of("stage1"))
            if self.args.weights_json:
                weights = self.given_weights(len(weights))
        else:
            weights = uniform_weights(self.scheme.n_points)
        out = self.layout.stage_dir(stage)
        if self.done(out):
            return
        summary = self.train(stage, out, weights, self.layout.list_file("train"),
                             self.layout.list_file("val"),
                             self.layout.final_weights(prev) if prev else None,
                             init=None if prev else self.mean_shape_bias)
        summary["solver"].net.save(str(out / "final.caffemodel"))
        self.finish(out, summary, out / "final.caffemodel", out / "deploy.prototxt", weights)

    def given_weights(self, n: int) -> np.ndarray:
        """--weights-json: u_j from a file (finite, positive, one per landmark) instead of Eq. 5."""
        from mcl_caffe.core.run_layout import read_json
        f = self.args.weights_json
        if not f.is_file():
            raise StageError("--weights-json %s does not exist" % f)
        u = np.asarray(read_json(f).get("weights_u", []), dtype=np.float64)
        if u.shape != (n,) or not np.all(np.isfinite(u)) or np.any(u <= 0):
            raise StageError("%s: 'weights_u' must hold %d finite positive weights, got %s" % (f, n,
                                                                                               u.tolist()))
        return u

    # ------------------------------------------------------------------ stage 4
    def feature_lists(self) -> dict[str, Path]:
        """Cache the feature x of every train/val patch under WM (stage4/features), chunk for chunk.

        Resumable: each chunk's file is written under a temporary name and renamed when complete, finished
        chunks are skipped, and the extraction seconds accumulate in features/seconds.json.
        """
        import h5py
        from tqdm import tqdm

        from mcl_caffe.train.predict import forward_batches
        from mcl_caffe.core.run_layout import read_json, write_json
        from mcl_caffe.nets.stage_files import assembled_deploy_text
        feat_dir = self.layout.stage_dir("stage4") / "features"
        lists = {split: feat_dir / ("%s.txt" % split) for split in ("train", "val")}
        if (feat_dir / "complete").is_file():
            return lists
        feat_dir.mkdir(parents=True, exist_ok=True)
        clock = feat_dir / "seconds.json"
        spent = read_json(clock)["seconds"] if clock.is_file() else 0.0
        deploy = feat_dir / "deploy.prototxt"
        deploy.write_text(assembled_deploy_text(self.scheme))
        net = self.caffe.Net(str(deploy), str(self.layout.final_weights("stage3")), self.caffe.TEST)
        for split, list_path in lists.items():
            chunks = [c.strip() for c in self.layout.list_file(split).read_text().splitlines() if c.strip()]
            written = []
            for k, chunk in enumerate(tqdm(chunks, desc="features %s" % split, unit="chunk",
                                           file=sys.stderr)):
                target = feat_dir / split / ("%05d.h5" % k)
                written.append(str(target.resolve()))
                if target.is_file():
                    continue
                t0 = time.time()
                with h5py.File(chunk, "r") as f:
                    data, label, d = f["data"][...], f["label"][...], f["d"][...]
                x = forward_batches(net, data, "gap", self.profile.batch_size)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".partial")
                with h5py.File(partial, "w") as f:
                    f["x"], f["label"], f["d"] = x.astype(np.float32), label, d
                partial.replace(target)
                spent += time.time() - t0
                write_json(clock, {"seconds": spent})
            list_path.write_text("\n".join(written) + "\n")
        (feat_dir / "complete").write_text("features of WM (%s)\n" % self.layout.final_weights("stage3"))
        return lists

    def run_stage4(self):
        from mcl_caffe.core.run_layout import write_json
        self.require_data()
        self.require_stage("stage3", errors=True)
        out = self.layout.stage_dir("stage4")
        if self.args.cluster is not None:
            return self.run_cluster(self.args.cluster)
        feature_seconds = None
        if self.args.stage4_path == "features":
            from mcl_caffe.core.run_layout import read_json
            self.feature_lists()
            clock = out / "features" / "seconds.json"
            feature_seconds = read_json(clock)["seconds"] if clock.is_file() else 0.0
        per_cluster = {}
        for i, (name, _) in enumerate(self.scheme.clusters):
            cmd = [sys.executable, "-m", "mcl_caffe.train.runner", "stage4", "--cluster",
                   str(i)] + self._passthrough()
            t = time.time()
            rc = subprocess.call(cmd)
            if rc != 0:
                raise SystemExit(rc)
            per_cluster[name] = time.time() - t
        write_json(out / "stage.json", {"stage": "stage4", "path": self.args.stage4_path, "done": True,
                                        "feature_seconds": feature_seconds, "cluster_seconds": per_cluster,
                                        "dataset": self.args.dataset, "profile": self.profile.name})
        print("stage4 done: %d clusters (%s path)" % (len(per_cluster), self.args.stage4_path))

    def _passthrough(self) -> list[str]:
        a = self.args
        out = ["--dataset", a.dataset, "--profile", a.profile, "--runs", str(a.runs), "--stage4-path",
               a.stage4_path]
        if a.data:
            out += ["--data", str(a.data)]
        if a.threads:
            out += ["--threads", str(a.threads)]
        if a.omp_wait_policy:
            out += ["--omp-wait-policy", a.omp_wait_policy]
        return out

    def run_cluster(self, i: int):
        from mcl_caffe.core.weighting import multi_center_weights
        if not 0 <= i < self.scheme.n_clusters:
            raise StageError("--cluster must be 0..%d for %s" % (self.scheme.n_clusters - 1,
                                                                 self.scheme.name))
        name, idx = self.scheme.clusters[i]
        weights = multi_center_weights(self.errors_of("stage3"), idx)
        out = self.layout.cluster_dir(i, name)
        if self.done(out):
            return
        wm = self.layout.final_weights("stage3")
        features = self.args.stage4_path == "features"
        if features:
            lists = self.feature_lists()
            train_src, val_src = lists["train"], lists["val"]
        else:
            train_src, val_src = self.layout.list_file("train"), self.layout.list_file("val")
        summary = self.train("stage4", out, weights, train_src, val_src, wm, self.args.stage4_path,
                             label="stage4 %d/%d %s" % (i + 1, self.scheme.n_clusters, name))
        final = out / "final.caffemodel"
        if features:
            # the full model = WM's shared layers + this cluster's shape prediction layer
            net = self.caffe.Net(str(out / "deploy.prototxt"), str(wm), self.caffe.TEST)
            for dst, src in zip(net.params["fc"], summary["solver"].net.params["fc"]):
                dst.data[...] = src.data
            net.save(str(final))
        else:
            summary["solver"].net.save(str(final))
        summary["cluster"] = {"index": i, "name": name, "points": list(map(int, idx))}
        self.finish(out, summary, final, out / "deploy.prototxt", weights)

    # ------------------------------------------------------------------ assemble
    def run_assemble(self):
        from mcl_caffe.core.splice import splice
        from mcl_caffe.core.run_layout import write_json
        from mcl_caffe.nets.stage_files import assembled_deploy_text
        self.require_stage("stage3", errors=True)
        clusters = self.scheme.clusters
        finals = [self.layout.cluster_dir(i, name) / "final.caffemodel" for i, (name,
                                                                                _) in enumerate(clusters)]
        for f in finals:
            if not f.is_file():
                raise StageError("assemble needs %s, which is missing: run `%s` first" % (f,
                        self.make_hint % "stage4"))
        out = self.layout.stage_dir("assemble")
        out.mkdir(parents=True, exist_ok=True)
        deploy = out / "deploy.prototxt"
        deploy.write_text(assembled_deploy_text(self.scheme))
        am = self.caffe.Net(str(deploy), str(self.layout.final_weights("stage3")), self.caffe.TEST)
        nets = [self.caffe.Net(str(deploy), str(f), self.caffe.TEST) for f in finals]
        # the shared layers were fixed in stage 4: check they still match
        for name, blobs in am.params.items():
            if name == "fc":
                continue
            for k, blob in enumerate(blobs):
                for f, net in zip(finals, nets):
                    if not np.array_equal(net.params[name][k].data, blob.data):
                        raise StageError("%s: shared layer %s differs from WM's; stage 4 must keep it fixed"
                                         % (f, name))
        w, b = splice([n.params["fc"][0].data for n in nets], [n.params["fc"][1].data for n in nets],
                      [idx for _, idx in clusters])
        am.params["fc"][0].data[...] = w
        am.params["fc"][1].data[...] = b
        am.save(str(out / "am.caffemodel"))
        model = {"scheme": self.scheme.name, "n_points": self.scheme.n_points,
                 "dataset": self.args.dataset, "profile": self.profile.name,
                 "clusters": {name: list(map(int, idx)) for name, idx in clusters},
                 "sources": [str(f) for f in finals]}
        model.update(self.crop_rule())
        write_json(out / "model.json", model)
        errors = self.validate(deploy, out / "am.caffemodel")
        write_json(out / "val_errors.json", errors)
        print("assemble done: %s (validation mean error %.4f)" % (out / "am.caffemodel", errors["mean"]))

    def crop_rule(self) -> dict:
        """The training data's crop scale and given-box calibration (meta.json), so inference crops alike."""
        from mcl_caffe.core.run_layout import read_json
        meta_path = self.layout.data / "meta.json"
        if not meta_path.is_file():
            raise StageError("assemble needs the training data's %s (its crop rule), which is missing"
                             % meta_path)
        crop = read_json(meta_path).get("crop", {})
        if "crop_scale" not in crop:
            raise StageError("%s has no crop.crop_scale entry; regenerate the data with `%s`"
                             % (meta_path, self.make_hint % "data"))
        rule = {"crop_scale": float(crop["crop_scale"])}
        if isinstance(crop.get("given_box_calibration"), dict):
            rule["box_calibration"] = crop["given_box_calibration"]
        return rule

    def run(self):
        stage = self.args.stage
        if self.args.weights_json and stage not in ("stage2", "stage3"):
            raise StageError("--weights-json applies to stage2 and stage3 only")
        if self.args.continue_from and stage != "stage1":
            raise StageError("--continue-from applies to stage1 only")
        if stage == "stage4":
            return self.run_stage4()
        if stage == "assemble":
            return self.run_assemble()
        return self.run_weighting_stage()


def main(argv=None):
    args = _parse(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        choose_omp_wait_policy(os.environ, args.omp_wait_policy)
    except ValueError as exc:
        print("mcl_stage %s: error: %s (from MCL_OMP_WAIT_POLICY)" % (args.stage, exc), file=sys.stderr)
        raise SystemExit(EXIT_PREREQ) from None
    try:
        Runner(args).run()
    except StageError as exc:
        print("mcl_stage %s: error: %s" % (args.stage, exc), file=sys.stderr)
        raise SystemExit(EXIT_PREREQ) from None


if __name__ == "__main__":
    main()
