"""The reproduction report of one training run: the paper's metrics, tables and experiments on the test set.

Reads runs/<dataset>-<profile>/{stage1,stage2,stage3,stage4,assemble}/ and the prepared test HDF5 list
(<data>/test.txt), runs every trained model through Caffe on the test patches, and writes to
runs/<dataset>-<profile>/report/:

* REPORT.md       the tables in the paper's formats with the paper's figures beside the measured ones
                  (Table VI / III: BM, WM, AM; Table IV: per-cluster errors; Table VII: left-eye occlusion),
                  the data, the profile, the time each stage took, and the weight-perturbation result
                  (Fig. 7) when `make perturb` has produced one;
* REPORT.json     every number of the report (percent, like the paper);
* per_face_nme.csv the NME of every test face under every model;
* a 'validation versus test' section (mcl_caffe.evaluation.error_breakdown) for the final model, when <data>/val.txt
  exists;
* ced.png         CED curves of BM, WM and AM; loss.png the training loss of every stage;
  occlusion_examples.png a few occluded test patches (Fig. 9).

The metrics are those of mcl_caffe.core.metrics. The test patches are crops of the test images by a similarity
transform without rotation (scale and shift), so the NME measured on the patches equals the NME in the
original image coordinates.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcl_caffe.evaluation import error_breakdown as B
from mcl_caffe.core import metrics as M
from mcl_caffe.evaluation import occlusion as O
from mcl_caffe.report import paper_figures as P
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.run_layout import STAGE_TITLES, RunLayout, read_json, write_json

ROOT = Path(__file__).resolve().parents[2]
MAIN_MODELS = ("BM", "WM", "AM")
MODEL_TITLES = {
    "BM": "BM (stage 1, pre-training)",
    "S2": "stage 2 (weighting, first six convs fixed)",
    "WM": "WM (stage 3)",
    "AM": "AM (assembled, Eq. 2)",
}
COLORS = {"BM": "tab:blue", "WM": "tab:orange", "AM": "tab:green"}
LOSS_TITLES = {
    "stage1": "stage 1: pre-training (BM)",
    "stage2": "stage 2: weighting, 6 convs fixed",
    "stage3": "stage 3: weighting, all layers (WM)",
    "stage4": "stage 4: one shape layer per cluster",
}


# ----------------------------------------------------------------------------- inputs
@dataclass
class TestSet:
    data: np.ndarray  # (N, 1, 50, 50) normalised
    label: np.ndarray  # (N, 2n) patch pixels
    d: np.ndarray  # (N,)
    index: np.ndarray  # (N,) the face's position in its source list (-1 if unknown)
    sources: list  # (N,) source image per face ('' if unknown)
    list_file: Path

    def __len__(self):
        return len(self.d)


def load_test_set(data_dir: Path, split: str = "test") -> TestSet:
    """The prepared faces of one split (<data>/<split>.txt): 'test', or 'val' for the error breakdown."""
    from mcl_caffe.train.predict import read_list

    list_file = Path(data_dir) / ("%s.txt" % split)
    if not list_file.is_file():
        raise SystemExit("report: no %s list at %s: run `make data` for this dataset first" % (split, list_file))
    a = read_list(list_file, keys=("data", "label", "d"))
    n = len(a["d"])
    try:
        index = read_list(list_file, keys=("index",))["index"].astype(np.int64)
    except KeyError:
        index = np.full(n, -1, np.int64)
    sources = [""] * n
    meta = read_meta(data_dir)
    names = (meta.get("source_images") or {}).get(split) if meta else None
    if names and len(names) == n:
        sources = list(names)
    return TestSet(a["data"], a["label"], a["d"].astype(np.float64), index, sources, list_file.resolve())


def read_meta(data_dir: Path) -> dict:
    f = Path(data_dir) / "meta.json"
    return json.loads(f.read_text()) if f.is_file() else {}


@dataclass
class ModelRef:
    key: str
    title: str
    deploy: Path
    weights: Path


def find_models(layout: RunLayout, scheme) -> dict[str, ModelRef]:
    """Every trained model of the run that exists: BM, S2, WM, C<i> (stage 4 cluster i) and AM."""
    found = {}

    def add(key, title, folder: Path, weights_name: str):
        w, dep = folder / weights_name, folder / "deploy.prototxt"
        if w.is_file() and dep.is_file():
            found[key] = ModelRef(key, title, dep, w)

    add("BM", MODEL_TITLES["BM"], layout.stage_dir("stage1"), "final.caffemodel")
    add("S2", MODEL_TITLES["S2"], layout.stage_dir("stage2"), "final.caffemodel")
    add("WM", MODEL_TITLES["WM"], layout.stage_dir("stage3"), "final.caffemodel")
    for i, (name, _) in enumerate(scheme.clusters):
        add(
            cluster_key(name),
            "%s model (stage 4, cluster %d)" % (name, i + 1),
            layout.cluster_dir(i, name),
            "final.caffemodel",
        )
    add("AM", MODEL_TITLES["AM"], layout.stage_dir("assemble"), "am.caffemodel")
    return found


def cluster_key(name: str) -> str:
    return "cluster:%s" % name


def predict_all(models: dict[str, ModelRef], inputs: dict[str, np.ndarray], caffe, batch: int = 64):
    """{model key: {input name: (N, 2n) prediction}}; each net is loaded once."""
    from mcl_caffe.train.predict import forward_batches

    out = {}
    for key, ref in models.items():
        net = caffe.Net(str(ref.deploy), str(ref.weights), caffe.TEST)
        out[key] = {name: forward_batches(net, x, "fc", batch) for name, x in inputs.items()}
        del net
    return out


# ----------------------------------------------------------------------------- evaluation
def model_metrics(pred, test: TestSet, scheme) -> dict:
    """Fractions: mean error, failure rate, AUC, per-landmark and per-cluster errors, per-face NME."""
    pe = M.point_errors(pred, test.label, test.d)
    face = pe.mean(axis=1)
    out = M.summary(face)
    out["per_landmark"] = pe.mean(axis=0).tolist()
    out["per_cluster"] = M.cluster_errors(pe, scheme.clusters)
    out["nme_per_face"] = face
    return out


def occlusion_metrics(pred_clean, pred_occ, test: TestSet, scheme, faces: np.ndarray) -> dict:
    """Left-eye cluster / other landmarks error, without and with occlusion (fractions), over all test faces
    (as the paper) and over the occluded faces only."""
    eye = list(O.left_eye_points(scheme))
    rest = [j for j in range(scheme.n_points) if j not in eye]
    res = {}
    for tag, pred in (("without", pred_clean), ("with", pred_occ)):
        pe = M.point_errors(pred, test.label, test.d)
        res[tag] = {
            "left_eye": float(pe[:, eye].mean()),
            "others": float(pe[:, rest].mean()),
            "all": float(pe.mean()),
            "left_eye_occluded_faces": float(pe[faces][:, eye].mean()) if len(faces) else None,
            "others_occluded_faces": float(pe[faces][:, rest].mean()) if len(faces) else None,
        }
    return res


def evaluate(
    layout: RunLayout,
    scheme,
    test: TestSet,
    caffe,
    occlusion_fraction=O.DEFAULT_FRACTION,
    occlusion_seed=O.DEFAULT_SEED,
    batch: int = 64,
) -> dict:
    models = find_models(layout, scheme)
    occ_data, occ_faces, occ_boxes = O.occlude_left_eye(
        test.data, test.label, test.d, scheme, occlusion_fraction, occlusion_seed
    )
    inputs = {"clean": test.data}
    occ_models = [k for k in ("WM", "AM") if k in models]
    preds = {}
    t0 = time.time()
    for key, ref in models.items():
        x = dict(inputs, occluded=occ_data) if key in occ_models else inputs
        preds.update(predict_all({key: ref}, x, caffe, batch))
    seconds = time.time() - t0
    results = {key: model_metrics(p["clean"], test, scheme) for key, p in preds.items()}
    clean = {key: p["clean"] for key, p in preds.items()}
    occ = {
        key: occlusion_metrics(preds[key]["clean"], preds[key]["occluded"], test, scheme, occ_faces)
        for key in occ_models
    }
    for key in occ_models:
        results[key]["nme_per_face_occluded"] = M.nme(preds[key]["occluded"], test.label, test.d)
    return {
        "models": models,
        "results": results,
        "predictions": clean,
        "occlusion": occ,
        "occluded_faces": occ_faces,
        "occlusion_boxes": occ_boxes,
        "occluded_data": occ_data,
        "eval_seconds": seconds,
    }


def evaluate_extra_tests(data_dir: Path, meta: dict, ev: dict, scheme, caffe, batch: int = 64) -> dict:
    """BM, WM and AM on each extra test list that make data wrote (mcl_caffe.data.extra_tests: a second protocol
    or a second test set) -> {split: {'label', 'faces', 'results'}}."""
    models = {k: ev["models"][k] for k in MAIN_MODELS if k in ev["models"]}
    out = {}
    for split, info in (meta.get("extra_tests") or {}).items():
        if not (Path(data_dir) / ("%s.txt" % split)).is_file():
            continue
        data = load_test_set(Path(data_dir), split)
        preds = predict_all(models, {split: data.data}, caffe, batch)
        res = {k: model_metrics(p[split], data, scheme) for k, p in preds.items()}
        out[split] = {"label": info.get("label", split), "faces": len(data), "results": res}
    return out


def breakdown_val_test(layout_data: Path, scheme, test: TestSet, ev: dict, caffe, batch: int = 64) -> dict | None:
    """mcl_caffe.evaluation.error_breakdown for the run's final model (AM, else WM, else BM) on the validation faces
    (<data>/val.txt, when there is one) and on the test faces."""
    from mcl_caffe.train.predict import forward_batches

    key = next((k for k in reversed(MAIN_MODELS) if k in ev["predictions"]), None)
    if key is None:
        return None
    out = {"model": key, "test": B.breakdown(ev["predictions"][key], test.label, test.d, scheme)}
    if (Path(layout_data) / "val.txt").is_file():
        val = load_test_set(Path(layout_data), "val")
        ref = ev["models"][key]
        net = caffe.Net(str(ref.deploy), str(ref.weights), caffe.TEST)
        pred = forward_batches(net, val.data, "fc", batch)
        del net
        out["val"] = B.breakdown(pred, val.label, val.d, scheme)
        out["test_nme_at_val_pose_mix"] = B.reweighted_nme(out["test"]["yaw_groups"], out["val"]["yaw_groups"])
    return out


# ----------------------------------------------------------------------------- facts about the run
def stage_timings(layout: RunLayout, scheme) -> list[dict]:
    rows = []
    for stage in ("stage1", "stage2", "stage3"):
        f = layout.stage_dir(stage) / "stage.json"
        if f.is_file():
            s = read_json(f)
            rows.append(
                {
                    "stage": stage,
                    "what": STAGE_TITLES[stage],
                    "iterations": s.get("iterations"),
                    "seconds": s.get("train_seconds"),
                    "done": bool(s.get("done")),
                }
            )
        else:
            rows.append(
                {
                    "stage": stage,
                    "what": STAGE_TITLES[stage],
                    "iterations": None,
                    "seconds": None,
                    "done": False,
                }
            )
    s4 = layout.stage_dir("stage4") / "stage.json"
    s4j = read_json(s4) if s4.is_file() else {}
    if s4j.get("feature_seconds") is not None:
        rows.append(
            {
                "stage": "stage4 features",
                "what": "feature x of every train/val patch under WM (cached)",
                "iterations": None,
                "seconds": s4j["feature_seconds"],
                "done": True,
            }
        )
    for i, (name, _) in enumerate(scheme.clusters):
        f = layout.cluster_dir(i, name) / "stage.json"
        c = read_json(f) if f.is_file() else {}
        rows.append(
            {
                "stage": "stage4 %s" % name,
                "what": "cluster %d shape layer (Eqs. 6-9)" % (i + 1),
                "iterations": c.get("iterations"),
                "seconds": c.get("train_seconds"),
                "process_seconds": (s4j.get("cluster_seconds") or {}).get(name),
                "done": bool(c.get("done")),
            }
        )
    am = layout.stage_dir("assemble") / "am.caffemodel"
    rows.append(
        {
            "stage": "assemble",
            "what": STAGE_TITLES["assemble"],
            "iterations": None,
            "seconds": None,
            "done": am.is_file(),
        }
    )
    return rows


def profile_settings(profile: str) -> dict | None:
    try:
        from mcl_caffe.nets.solvergen import PROFILES
    except Exception:  # pragma: no cover - solvergen needs Caffe, which the report needs anyway
        return None
    p = PROFILES.get(profile)
    if p is None:
        return None
    return {
        "name": p.name,
        "pretrain_iter": p.pretrain_iter,
        "finetune_iter": p.finetune_iter,
        "stepsize": p.stepsize,
        "batch_size": p.batch_size,
        "momentum": p.momentum,
        "weight_decay": p.weight_decay,
        "gamma": p.gamma,
    }


def test_set_statement(dataset: str, meta: dict, n_test: int) -> str:
    """Which faces the test set holds, and how it relates to the paper's test set (plainly)."""
    src = (meta.get("sources") or {}).get("test")
    opts = meta.get("options") or {}
    limit = opts.get("limit")
    if dataset == "300w":
        if src and "ibug" in str(src).lower():
            return "the 300-W IBUG faces (%s), the paper's IBUG test set%s." % (
                src,
                "" if not limit else ", limited to the first %d faces (make_data --limit)" % limit,
            )
        return (
            "**This is NOT the paper's IBUG test set.** IBUG (the paper's 135 test faces) and LFPW are not "
            "available in ../shared/data, which holds only AFW and 870 of the 2,000 HELEN training faces. "
            "The test set here is a held-out split of those AFW + HELEN faces (test fraction %s, seed %s, "
            "split at the face level before augmentation; %d faces%s). These are 'common-subset'-like faces, "
            "much easier than IBUG's, and the models were trained on fewer faces than the paper's 3,148, so "
            "the paper's IBUG figures beside ours are a reference, not a like-for-like comparison."
            % (
                opts.get("test_fraction"),
                opts.get("seed"),
                n_test,
                "" if not limit else "; only the first %d faces of each list were read" % limit,
            )
        )
    if dataset == "aflw":
        full = 2995
        part = (
            "all %d faces" % n_test
            if n_test == full
            else (
                "%d of its 2,995 faces (make_data --limit %s)" % (n_test, limit)
                if limit
                else "%d faces" % n_test
            )
        )
        boxes = opts.get("test_boxes")
        crops = (
            " Test crops come from the face-detector boxes in %s, mapped onto the training crop by the "
            "calibration fitted on the training faces' detector boxes (the paper's protocol)" % boxes
            if boxes
            else " Test crops come from the ground-truth points' box (not the paper's detector boxes)"
        )
        return "the AFLW test set of the paper (MTFL's testing.txt, %s): %s.%s." % (
            src or "mtfl-full/testing.txt",
            part,
            crops,
        )
    if dataset == "cofw":
        return "the COFW test set (%s): %d faces%s." % (
            src or "COFW_test",
            n_test,
            "" if n_test == 507 else " (the paper: 507)",
        )
    return "%s: %d faces." % (src, n_test)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def perturbation_results(layout: RunLayout) -> dict | None:
    f = layout.root / "perturb" / "results.json"
    return read_json(f) if f.is_file() else None


# ----------------------------------------------------------------------------- plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ced_range(face_nmes) -> float:
    """x range of the CED plot: 15 % (as usual for these benchmarks), wider if most faces lie beyond it."""
    allv = np.concatenate([np.asarray(v) for v in face_nmes]) if face_nmes else np.zeros(1)
    q = float(np.quantile(allv, 0.95)) if len(allv) else 0.0
    return float(max(0.15, min(0.6, np.ceil(q * 20) / 20)))


def plot_ced(results: dict, out: Path, title: str) -> Path | None:
    keys = [k for k in MAIN_MODELS if k in results]
    if not keys:
        return None
    plt = _plt()
    xmax = ced_range([results[k]["nme_per_face"] for k in keys])
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    for k in keys:
        x, y = M.ced(results[k]["nme_per_face"], max_error=xmax, steps=601)
        r = results[k]
        ax.plot(
            100 * x,
            y,
            color=COLORS[k],
            lw=1.8,
            label="%s: mean %.2f%%, failure %.2f%%" % (k, 100 * r["mean_error"], 100 * r["failure_rate"]),
        )
    ax.axvline(100 * M.FAILURE_THRESHOLD, color="0.5", ls="--", lw=1)
    ax.text(100 * M.FAILURE_THRESHOLD, 0.02, " failure threshold", color="0.4", fontsize=8)
    ax.set_xlim(0, 100 * xmax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("NME (% of the eye-centre distance)")
    ax.set_ylabel("fraction of test faces with NME <= x")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def read_loss(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    it, loss = [], []
    with path.open() as f:
        for row in csv.DictReader(f):
            try:
                it.append(int(row["iter"]))
                loss.append(float(row["loss"]))
            except (KeyError, ValueError):
                continue
    if not it:
        return None
    return np.asarray(it), np.asarray(loss)


def _smooth(y: np.ndarray) -> np.ndarray:
    w = max(1, len(y) // 50)
    if w == 1:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    s = (c[w:] - c[:-w]) / w
    return np.concatenate([np.full(w - 1, np.nan), s])


def plot_losses(layout: RunLayout, scheme, out: Path) -> Path | None:
    panels = []
    for stage in ("stage1", "stage2", "stage3"):
        series = read_loss(layout.stage_dir(stage) / "loss.csv")
        panels.append((stage, [(stage, series)] if series else []))
    s4 = []
    for i, (name, _) in enumerate(scheme.clusters):
        series = read_loss(layout.cluster_dir(i, name) / "loss.csv")
        if series:
            s4.append((name, series))
    panels.append(("stage4", s4))
    if not any(p[1] for p in panels):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), dpi=100)
    for ax, (stage, series) in zip(axes, panels):
        for k, (label, (it, loss)) in enumerate(series):
            color = "C%d" % k
            ax.plot(it, loss, color=color, alpha=0.25, lw=0.8)
            ax.plot(it, _smooth(loss), color=color, lw=1.5, label=label)
        ax.set_title(LOSS_TITLES[stage], fontsize=9)
        ax.set_xlabel("iteration")
        if series:
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "not trained", transform=ax.transAxes, ha="center", color="0.5")
        ax.grid(alpha=0.3, which="both")
        if stage == "stage4" and series:
            ax.legend(fontsize=7)
    axes[0].set_ylabel("training loss (Eq. 4, weighted by u_j)")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_occlusion_examples(test: TestSet, ev: dict, scheme, out: Path, k: int = 8) -> Path | None:
    faces, boxes, occ = ev["occluded_faces"], ev["occlusion_boxes"], ev["occluded_data"]
    if not len(faces):
        return None
    from mcl_caffe.core.crop import denormalize_patch

    plt = _plt()
    k = min(k, len(faces))
    fig, axes = plt.subplots(2, k, figsize=(1.6 * k, 3.5), dpi=110, squeeze=False)
    pts = test.label.reshape(len(test), -1, 2)
    for c in range(k):
        i = faces[c]
        for r, (img, tag) in enumerate(((test.data[i, 0], "original"), (occ[i, 0], "occluded"))):
            ax = axes[r, c]
            ax.imshow(denormalize_patch(img), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if r == 0:  # points and box on the original; the occluded patch as the network sees it
                ax.scatter(pts[i, :, 0], pts[i, :, 1], s=4, c="lime")
                x0, x1, y0, y1 = boxes[c]
                ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="red", lw=0.8))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(tag, fontsize=8)
        axes[0, c].set_title("face %d" % i, fontsize=7)
    fig.suptitle(
        "left-eye occlusion (gray 128); top, red: the box (tight box of the left-eye cluster's "
        "ground-truth points); bottom: the network's input",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


# ----------------------------------------------------------------------------- markdown
def _f(x, nd=2):
    return "—" if x is None else ("%.*f" % (nd, x))


def _pct(x, nd=2):
    return "—" if x is None else ("%.*f" % (nd, 100 * x))


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _hms(seconds) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    return (
        "%d:%02d:%02d" % (s // 3600, (s % 3600) // 60, s % 60) if s >= 3600 else "%d:%02d" % (s // 60, s % 60)
    )


def _signed(x, nd=2):
    return "%+.*f" % (nd, 100.0 * x)


def render_breakdown(bd: dict, scheme) -> list[str]:
    """The 'validation versus test' section (mcl_caffe.evaluation.error_breakdown)."""
    L = ["## Validation versus test: where the test error comes from", ""]
    sets = [k for k in ("val", "test") if k in bd]
    names = {"val": "validation", "test": "test"}
    L.append(
        "Model %s on the %s faces (`mcl_caffe/evaluation/error_breakdown.py`). The views, in order: the error, the "
        "error after subtracting each landmark's mean signed offset on that set (an oracle that uses the ground "
        "truth: a diagnostic, not a result), the mean signed offset of each cluster, and the error by pose. "
        "Pose is a yaw proxy from the ground truth: the nose tip's offset from the eyes' midpoint along the eye "
        "axis, in units of d (0: frontal)." % (bd["model"], " and ".join(names[k] for k in sets))
    )
    L.append("")
    rows = [
        [
            names[k],
            str(bd[k]["faces"]),
            _pct(bd[k]["nme"]),
            _pct(bd[k]["nme_without_offset"]),
            "%.3f" % bd[k]["mean_abs_yaw"],
        ]
        for k in sets
    ]
    L.append(
        _table(
            ["faces", "n", "error", "error, mean offsets removed (oracle)", "mean abs yaw proxy"],
            rows,
            ["---", "---:", "---:", "---:", "---:"],
        )
    )
    L.append("")
    head = ["cluster (points, 1-based)"]
    for k in sets:
        head += ["%s dx" % names[k], "%s dy" % names[k]]
    rows = []
    groups = [(name, list(idx)) for name, idx in scheme.clusters] + [("all points", list(range(scheme.n_points)))]
    for name, idx in groups:
        row = ["%s (%s)" % (name, _ranges(idx)) if name != "all points" else name]
        for k in sets:
            off = np.asarray(bd[k]["offsets"])[idx].mean(axis=0)
            row += [_signed(off[0]), _signed(off[1])]
        rows.append(row)
    L.append(_table(head, rows, ["---"] + ["---:"] * (len(head) - 1)))
    L.append("")
    L.append(
        "Mean signed offset, prediction minus ground truth, in percent of d (x to the image's right, y down). "
        "A shift that every cluster shares points to a difference in labelling or cropping conventions "
        "between the sets; a shift at some clusters only, to a difference in how they were annotated."
    )
    L.append("")
    head = ["abs yaw proxy"]
    for k in sets:
        head += ["%s faces" % names[k], "%s error" % names[k]]
    rows = []
    for i, g in enumerate(bd[sets[0]]["yaw_groups"]):
        label = "%.1f-%.1f" % (g["low"], g["high"]) if g["high"] is not None else ">= %.1f" % g["low"]
        row = [label]
        for k in sets:
            gk = bd[k]["yaw_groups"][i]
            row += ["%d (%.1f %%)" % (gk["faces"], 100.0 * gk["share"]), _pct(gk["nme"]) if gk["faces"] else "—"]
        rows.append(row)
    L.append(_table(head, rows, ["---"] + ["---:"] * (len(head) - 1)))
    if "val" in bd and bd.get("test_nme_at_val_pose_mix") is not None:
        gap = bd["test"]["nme"] - bd["val"]["nme"]
        gap_off = bd["test"]["nme_without_offset"] - bd["val"]["nme_without_offset"]
        gap_pose = bd["test_nme_at_val_pose_mix"] - bd["val"]["nme"]
        L.append("")
        L.append(
            "The test error is %s points %s the validation error. With the faces of each pose group weighted "
            "as in the validation set, the test error would be %s (a gap of %s points). With each set's mean "
            "offsets removed (oracle), the gap is %s points."
            % (
                _f(abs(100 * gap)),
                "above" if gap >= 0 else "below",
                _pct(bd["test_nme_at_val_pose_mix"]),
                "%+.2f" % (100 * gap_pose),
                "%+.2f" % (100 * gap_off),
            )
        )
    L.append("")
    return L


def render_markdown(ctx: dict) -> str:
    ds, prof, scheme = ctx["dataset"], ctx["profile"], ctx["scheme"]
    res, occ = ctx["results"], ctx["occlusion"]
    paper_set = P.PAPER_TEST_SET.get(ds, "?")
    L = []
    L.append("# MCL reproduction report: %s (%d points), profile `%s`" % (ds, scheme.n_points, prof))
    L.append("")
    L.append(
        "Generated %s by `%s` (commit %s). Training command: `%s`. Evaluation: Caffe forward passes "
        "(`mcl_caffe/train/predict.py`) on the test HDF5 list `%s`, %d faces, %.0f s."
        % (
            ctx["generated"],
            ctx["report_command"],
            ctx["commit"] or "?",
            ctx["train_command"],
            ctx["test_list"],
            ctx["n_test"],
            ctx["eval_seconds"],
        )
    )
    if prof != "paper":
        L.append("")
        L.append(
            "> Profile `%s` is not the paper's schedule (see *Training profile*): the numbers measure this "
            "short run, not the method at convergence.%s"
            % (
                prof,
                (
                    " The smoke profile trains for a few minutes; its numbers are meaningless as "
                    "results and only exercise the pipeline."
                    if prof == "smoke"
                    else ""
                ),
            )
        )
    L.append("")
    L.append("**Test set:** %s" % ctx["test_statement"])
    L.append("")
    L.append(
        "All errors are in percent of the ground-truth eye-centre distance d (%s), as in the paper: "
        "NME of a face = mean over its landmarks of ||p_j - g_j|| / d; *error* = mean NME over the test faces; "
        "*failure* = percent of faces with NME > 10 %%. Measured on the 50x50 test patches: the patch is a "
        "crop by scaling and shifting only (no rotation for test faces), so the NME equals the NME in "
        "image coordinates." % ctx["d_definition"]
    )
    missing = [k for k in MAIN_MODELS if k not in res]
    if missing:
        L.append("")
        L.append("Not trained yet (left out below): %s." % ", ".join(missing))

    # Table VI / III
    L.append("")
    L.append("## BM, WM and AM (format of Tables III and VI)")
    L.append("")
    pv = P.TABLE_VI.get(ds, {})
    rows = []
    for k in MAIN_MODELS:
        r = res.get(k)
        paper = pv.get(k, (None, None))
        rows.append(
            [
                "**%s**" % k,
                _pct(r["mean_error"]) if r else "not trained",
                _f(paper[0]),
                _pct(r["failure_rate"]) if r else "—",
                _f(paper[1]),
                _f(r["auc_0.1"], 3) if r else "—",
            ]
        )
    L.append(
        _table(
            [
                "model",
                "error (measured)",
                "error (paper, %s)" % paper_set,
                "failure (measured)",
                "failure (paper)",
                "AUC@10% (extra, 0-1)",
            ],
            rows,
        )
    )
    L.append("")
    L.append(
        "Paper figures: Table VI (BM's error is also Table III). Table III's pre-BM (the earlier fully "
        "connected version) has %s on %s; not reproduced here. AUC@10%% = area under the CED up to 10 %%, "
        "divided by 10 %%, not a figure of the paper." % (_f(P.TABLE_III_PRE_BM.get(ds)), paper_set)
    )
    for split, extra in (ctx.get("extra_tests") or {}).items():
        L.append("")
        L.append("Also measured (`%s.txt`): %s; %d faces." % (split, extra["label"], extra["faces"]))
        L.append("")
        rows_x = [
            ["**%s**" % k, _pct(r["mean_error"]), _pct(r["failure_rate"]), _f(r["auc_0.1"], 3)]
            for k, r in ((k, extra["results"].get(k)) for k in MAIN_MODELS)
            if r
        ]
        L.append(_table(["model (%s)" % split, "error", "failure", "AUC@10%"], rows_x))
    if "S2" in res:
        L.append("")
        L.append(
            "Stage 2 alone (first six convolutions fixed; not in the paper's tables): error %s, failure %s."
            % (_pct(res["S2"]["mean_error"]), _pct(res["S2"]["failure_rate"]))
        )
    if ctx.get("ced_png"):
        L.append("")
        L.append("![CED of BM, WM and AM](%s)" % ctx["ced_png"])

    if ctx.get("breakdown"):
        L.append("")
        L.extend(render_breakdown(ctx["breakdown"], scheme))

    # Table IV
    L.append("")
    L.append("## Error of each cluster's landmarks (format of Table IV)")
    L.append("")
    cols = ["WM"] + [cluster_key(n) for n, _ in scheme.clusters] + ["AM"]
    cols = [c for c in cols if c in res]
    if not cols:
        L.append("No model trained yet.")
    else:
        with_paper = ds == P.TABLE_IV_DATASET
        head = ["cluster (points, 1-based)"] + [
            ("%s model" % c.split(":", 1)[1]) if c.startswith("cluster:") else c for c in cols
        ]
        rows = []
        for name, idx in scheme.clusters:
            row = ["%s (%s)" % (name, _ranges(idx))]
            best = min(res[c]["per_cluster"][name] for c in cols)
            for c in cols:
                v = res[c]["per_cluster"][name]
                cell = _pct(v)
                if v == best and len(cols) > 1:
                    cell = "**%s**" % cell
                if with_paper:
                    pm = P.table_iv(name, c.split(":", 1)[1] if c.startswith("cluster:") else c)
                    if pm is not None:
                        cell += " (%.2f)" % pm
                row.append(cell)
            rows.append(row)
        all_row = ["all points"] + [_pct(res[c]["mean_error"]) for c in cols]
        rows.append(all_row)
        L.append(_table(head, rows))
        L.append("")
        note = (
            "Rows: clusters; columns: WM, each cluster's stage-4 model (WM's shared layers with that cluster's "
            "shape prediction layer) and, as an extra, AM. Bold: the lowest error of the row."
        )
        if with_paper:
            note += (
                " In parentheses: the paper's Table IV on IBUG, which gives WM, the left-eye model and the "
                "right-eye model only. The paper does not say whether its 'left eye' is the subject's or the "
                "image's left; here it is the image's left (see mcl_caffe/core/landmarks.py)."
            )
        else:
            note += (
                " The paper gives this table for IBUG (68 points) only, so there are no paper figures here."
            )
        L.append(note)

    # Table VII
    L.append("")
    L.append("## Left-eye occlusion (Section IV-D, format of Table VII)")
    L.append("")
    oc = ctx["occlusion_settings"]
    if not occ:
        L.append("Needs WM and/or AM; not trained yet.")
    else:
        with_paper = ds == P.TABLE_VII_DATASET
        rows = []
        for k in ("WM", "AM"):
            if k not in occ:
                continue
            o = occ[k]
            pp = P.TABLE_VII.get(k) if with_paper else None

            def cell(part, tag, _o=o, _pp=pp):
                v = _pct(_o[tag][part])
                if _pp:
                    v += " (%.2f)" % _pp[part][0 if tag == "without" else 1]
                return v

            rows.append(
                [
                    "**%s**" % k,
                    cell("left_eye", "without"),
                    cell("left_eye", "with"),
                    cell("others", "without"),
                    cell("others", "with"),
                    _pct(o["without"]["left_eye_occluded_faces"]),
                    _pct(o["with"]["left_eye_occluded_faces"]),
                ]
            )
        L.append(
            _table(
                [
                    "model",
                    "left eye, w/o occlu.",
                    "left eye, w/ occlu.",
                    "others, w/o occlu.",
                    "others, w/ occlu.",
                    "left eye, occluded faces only, w/o",
                    "… w/",
                ],
                rows,
            )
        )
        L.append("")
        L.append(
            "%d of the %d test faces (%.0f %%, seed %d) have the tight box of their left-eye cluster's "
            "ground-truth points (%s, 1-based) filled with gray 128 (normalised value 0) in the 50x50 patch%s. "
            "The first four columns are means over all test faces, as in the paper; the last two over the "
            "occluded faces only (extra). %s"
            % (
                oc["faces"],
                ctx["n_test"],
                100 * oc["fraction"],
                oc["seed"],
                _ranges(oc["points"]),
                (
                    "; a one-point cluster gets a box of %.2f d x %.2f d centred on the point (see "
                    "mcl_caffe/evaluation/occlusion.py)" % O.SINGLE_POINT_BOX_D
                    if len(oc["points"]) == 1
                    else ""
                ),
                (
                    "In parentheses: the paper's Table VII (COFW)."
                    if with_paper
                    else "The paper reports this experiment on COFW only (Table VII), so there are no paper figures "
                    "here; for reference, on COFW: WM %.2f -> %.2f (left eye), %.2f -> %.2f (others); AM %.2f -> "
                    "%.2f, %.2f -> %.2f."
                    % (
                        P.TABLE_VII["WM"]["left_eye"]
                        + P.TABLE_VII["WM"]["others"]
                        + P.TABLE_VII["AM"]["left_eye"]
                        + P.TABLE_VII["AM"]["others"]
                    )
                ),
            )
        )
        if ctx.get("occlusion_png"):
            L.append("")
            L.append("![occluded test patches](%s)" % ctx["occlusion_png"])

    # Fig. 7
    L.append("")
    L.append("## Robustness of weighting to perturbed weights (Section IV-C-2, Fig. 7)")
    L.append("")
    pr = ctx.get("perturbation")
    if not pr or not pr.get("deltas"):
        L.append(
            "Not run. `make perturb DATASET=%s PROFILE=%s` retrains stages 2-3 (from this run's BM) for each "
            "delta and writes `perturb/results.json`, which this report then shows." % (ds, prof)
        )
    else:
        rows = [
            [
                _f(r["delta"], 2),
                _f(r.get("mean_error")),
                _f(r.get("failure_rate")),
                "yes" if r.get("done") else "no",
                _hms(r.get("train_seconds")),
            ]
            for r in pr["deltas"]
        ]
        L.append(_table(["delta", "WM error", "WM failure", "trained", "stages 2+3 training (h:mm:ss)"], rows))
        L.append("")
        L.append(
            "WM retrained (stages 2 and 3, from this run's BM) with u_j + delta for %d random landmarks and "
            "u_j - delta for the other %d (seed %s), profile `%s`%s, by `make perturb DATASET=%s PROFILE=%s "
            "PERTURB_PROFILE=%s`. The paper plots this curve (Fig. 7, AFLW "
            "and IBUG) without listing its values; its text says only that \"when delta is 0.4, WM can still "
            "achieve good performance\"."
            % (
                scheme.n_points // 2,
                scheme.n_points - scheme.n_points // 2,
                pr.get("seed"),
                pr.get("train_profile"),
                (
                    ""
                    if pr.get("train_profile") == prof
                    else " (a reduced profile; this report's models use `%s`)" % prof
                ),
                ds,
                prof,
                pr.get("train_profile"),
            )
        )
        trained = [r for r in pr["deltas"] if r.get("done") and r.get("mean_error") is not None]
        if len(trained) >= 2:
            first, last = trained[0], trained[-1]
            L.append("")
            L.append(
                "Measured: from delta = %s to delta = %s the WM error moves by %+.2f points (%s -> %s %%) and "
                "the failure rate by %+.2f points. Delta = 0 is WM retrained in the sweep's profile, so it "
                "differs from this run's WM above."
                % (
                    _f(first["delta"], 2),
                    _f(last["delta"], 2),
                    last["mean_error"] - first["mean_error"],
                    _f(first["mean_error"]),
                    _f(last["mean_error"]),
                    last["failure_rate"] - first["failure_rate"],
                )
            )
        if pr.get("png"):
            rel = os.path.relpath(pr["png"], ctx["out_dir"])
            L.append("")
            L.append("![WM error against delta](%s)" % rel)

    # data, profile, times
    L.append("")
    L.append("## Data")
    L.append("")
    L.extend(ctx["data_lines"])
    L.append("")
    L.append("## Training profile and time per stage")
    L.append("")
    ps = ctx["profile_settings"]
    if ps:
        L.append(
            "Profile `%s`: pre-training %d iterations (lr 0.02), each fine-tuning step %d iterations (lr 0.001), "
            "lr x %.1f every %d iterations, SGD batch %d, momentum %.1f, weight decay %g. The paper: 180,000 / "
            "60,000 iterations, lr x 0.3 every 30,000."
            % (
                ps["name"],
                ps["pretrain_iter"],
                ps["finetune_iter"],
                ps["gamma"],
                ps["stepsize"],
                ps["batch_size"],
                ps["momentum"],
                ps["weight_decay"],
            )
        )
        L.append("")
    rows = []
    total = 0.0
    for t in ctx["timings"]:
        sec = t["seconds"]
        total += sec or 0.0
        extra = ""
        if t.get("process_seconds") is not None:
            extra = " (child process %s)" % _hms(t["process_seconds"])
        rows.append(
            [
                t["stage"],
                t["what"],
                "—" if t["iterations"] is None else str(t["iterations"]),
                _hms(sec) + extra,
                "yes" if t["done"] else "**no**",
            ]
        )
    rows.append(["total", "", "", _hms(total), ""])
    L.append(
        _table(
            ["stage", "what", "iterations", "training time (h:mm:ss)", "done"],
            rows,
            ["---", "---", "---:", "---:", "---"],
        )
    )
    L.append("")
    L.append(
        "Times from each stage's `stage.json` (`train_seconds`; stage 4: `feature_seconds` and each cluster's "
        "`train_seconds`, with the wall time of its child process from `cluster_seconds`). They are wall-clock "
        "seconds of the training loops on the machine that ran them, so other jobs running beside them make "
        "them longer."
    )
    if ctx.get("loss_png"):
        L.append("")
        L.append("![training loss per stage](%s)" % ctx["loss_png"])
        L.append("")
        L.append(
            "Training loss (Eq. 4 with each stage's u_j; faint: every iteration, solid: moving average). The "
            "stages weight the landmarks differently, so their losses are not comparable with each other."
        )
    L.append("")
    L.append("## Files")
    L.append("")
    L.append(
        "`REPORT.json` (every number above, in percent), `per_face_nme.csv` (each test face's NME under each "
        "model, in percent), the PNGs next to this file."
    )
    L.append("")
    return "\n".join(L)


def _ranges(idx) -> str:
    """0-based indices -> '1-6, 9' (1-based ranges)."""
    v = sorted(int(i) + 1 for i in idx)
    out, start, prev = [], None, None
    for x in v:
        if start is None:
            start = prev = x
        elif x == prev + 1:
            prev = x
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = x
    if start is not None:
        out.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return ", ".join(out)


def data_lines(meta: dict, data_dir: Path) -> list[str]:
    if not meta:
        return ["No meta.json in %s." % data_dir]
    summ = meta.get("summary") or {}
    w = summ.get("written") or {}
    opts = meta.get("options") or {}
    aug = meta.get("augmentation") or {}
    lines = [
        "Prepared data `%s` (from `%s`; scheme %s)." % (data_dir, meta.get("data_root"), meta.get("scheme")),
        "",
    ]
    rows = []
    for split in ("train", "val", "test"):
        s = w.get(split) or {}
        rows.append(
            [
                split,
                str(s.get("faces", "—")),
                str(s.get("samples", "—")),
                {
                    "train": "Omega_t; samples per face: %s (augmentation)"
                    % aug.get("samples_per_face", "?"),
                    "val": "validation set Omega_v (%s of the training faces), nominal crops"
                    % opts.get("val_fraction"),
                    "test": "nominal crops",
                }[split],
            ]
        )
    lines.append(_table(["split", "faces", "samples", ""], rows, ["---", "---:", "---:", "---"]))
    lines.append("")
    read = summ.get("read") or {}
    skipped = summ.get("skipped") or {}
    lines.append(
        "Read: %s. Skipped: %s%s. Options: limit %s, seed %s, test fraction %s."
        % (
            ", ".join("%s %s" % (k.replace("_", " "), v) for k, v in read.items()) or "?",
            skipped.get("total", 0),
            (
                (" (%s)" % ", ".join("%s: %s" % kv for kv in (skipped.get("by_reason") or {}).items()))
                if skipped.get("total")
                else ""
            ),
            opts.get("limit"),
            opts.get("seed"),
            opts.get("test_fraction"),
        )
    )
    src = meta.get("sources") or {}
    lines.append("")
    lines.append("Sources: train `%s`; test `%s`." % (src.get("train"), src.get("test")))
    return lines


# ----------------------------------------------------------------------------- JSON / CSV
def _jsonable(results: dict) -> dict:
    out = {}
    for k, r in results.items():
        out[k] = {
            "faces": r["faces"],
            "mean_error": 100 * r["mean_error"],
            "failure_rate": 100 * r["failure_rate"],
            "auc_0.1": r["auc_0.1"],
            "per_landmark": [100 * v for v in r["per_landmark"]],
            "per_cluster": {n: 100 * v for n, v in r["per_cluster"].items()},
        }
        x, y = M.ced(r["nme_per_face"], max_error=0.3, steps=61)
        out[k]["ced"] = {"nme_percent": (100 * x).round(6).tolist(), "fraction": y.round(6).tolist()}
    return out


def write_per_face_csv(path: Path, test: TestSet, results: dict) -> None:
    keys = list(results)
    occ_keys = [k for k in keys if "nme_per_face_occluded" in results[k]]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["face", "index", "source"] + keys + ["%s_occluded" % k for k in occ_keys])
        for i in range(len(test)):
            w.writerow(
                [i, int(test.index[i]), test.sources[i]]
                + ["%.4f" % (100 * results[k]["nme_per_face"][i]) for k in keys]
                + ["%.4f" % (100 * results[k]["nme_per_face_occluded"][i]) for k in occ_keys]
            )


# ----------------------------------------------------------------------------- main
def make_report(*args, threads: int | None = 1, **kwargs) -> dict:
    """Evaluate a trained run and write its report (see `_make_report`), with Caffe's OpenBLAS at `threads`
    threads for the duration (restored afterwards; None keeps the current count)."""
    from mcl_caffe.caffe_import import blas_threads, load_caffe

    load_caffe()
    if threads is None:
        return _make_report(*args, **kwargs)
    with blas_threads(threads):
        return _make_report(*args, **kwargs)


def _make_report(
    dataset: str,
    profile: str,
    data_dir: Path,
    runs: Path,
    out_dir: Path | None = None,
    occlusion_fraction: float = O.DEFAULT_FRACTION,
    occlusion_seed: int = O.DEFAULT_SEED,
    report_command: str | None = None,
    train_command: str | None = None,
    batch: int = 64,
) -> dict:
    from mcl_caffe.caffe_import import load_caffe

    caffe = load_caffe()
    scheme = get_scheme(dataset)
    layout = RunLayout(dataset, profile, Path(runs).resolve(), Path(data_dir))
    if not layout.root.is_dir():
        raise SystemExit(
            "report: no run at %s: train it first (make all DATASET=%s PROFILE=%s)"
            % (layout.root, dataset, profile)
        )
    out_dir = Path(out_dir) if out_dir else layout.root / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    test = load_test_set(Path(data_dir))
    if test.label.shape[1] != 2 * scheme.n_points:
        raise SystemExit(
            "report: %s holds %d points per face, %s has %d"
            % (test.list_file, test.label.shape[1] // 2, dataset, scheme.n_points)
        )
    meta = read_meta(Path(data_dir))
    ev = evaluate(layout, scheme, test, caffe, occlusion_fraction, occlusion_seed, batch)
    res = ev["results"]
    if not res:
        raise SystemExit("report: %s has no trained model yet (stage1/final.caffemodel ...)" % layout.root)

    extra = evaluate_extra_tests(Path(data_dir), meta, ev, scheme, caffe, batch)
    bd = breakdown_val_test(Path(data_dir), scheme, test, ev, caffe, batch)
    ced_png = plot_ced(
        res,
        out_dir / "ced.png",
        "CED on the test set: %s (%d faces), profile %s" % (dataset, len(test), profile),
    )
    loss_png = plot_losses(layout, scheme, out_dir / "loss.png")
    occ_png = plot_occlusion_examples(test, ev, scheme, out_dir / "occlusion_examples.png")
    pert = perturbation_results(layout)
    if pert and pert.get("png"):
        # a copy beside REPORT.md, so the report folder is complete on its own (reports/ in the repository)
        src = layout.root / "perturb" / pert["png"]
        if src.is_file():
            shutil.copyfile(src, out_dir / "fig7.png")
            pert["png"] = str((out_dir / "fig7.png").resolve())
        else:
            pert["png"] = None

    d_def = {5: "points 1 and 2", 29: "pupils, points 17 and 18", 68: "means of points 37-42 and 43-48"}.get(
        scheme.n_points, "eye centres"
    )
    ctx = {
        "dataset": dataset,
        "profile": profile,
        "scheme": scheme,
        "results": res,
        "occlusion": ev["occlusion"],
        "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "report_command": report_command
        or "python tools/report.py --dataset %s --profile %s --data %s --runs %s"
        % (dataset, profile, data_dir, runs),
        "train_command": train_command
        or "make all DATASET=%s PROFILE=%s OUT=%s RUNS=%s" % (dataset, profile, Path(data_dir).parent, runs),
        "test_list": str(test.list_file),
        "n_test": len(test),
        "eval_seconds": ev["eval_seconds"],
        "test_statement": test_set_statement(dataset, meta, len(test)),
        "d_definition": d_def,
        "ced_png": ced_png.name if ced_png else None,
        "loss_png": loss_png.name if loss_png else None,
        "occlusion_png": occ_png.name if occ_png else None,
        "occlusion_settings": {
            "fraction": occlusion_fraction,
            "seed": occlusion_seed,
            "faces": int(len(ev["occluded_faces"])),
            "points": list(O.left_eye_points(scheme)),
        },
        "perturbation": pert,
        "breakdown": bd,
        "extra_tests": extra,
        "out_dir": str(out_dir),
        "data_lines": data_lines(meta, Path(data_dir)),
        "profile_settings": profile_settings(profile),
        "timings": stage_timings(layout, scheme),
    }
    md = render_markdown(ctx)
    (out_dir / "REPORT.md").write_text(md)
    write_per_face_csv(out_dir / "per_face_nme.csv", test, res)

    paper = {
        "table_vi": P.TABLE_VI.get(dataset),
        "table_iii_pre_bm": P.TABLE_III_PRE_BM.get(dataset),
        "paper_test_set": P.PAPER_TEST_SET.get(dataset),
    }
    if dataset == P.TABLE_IV_DATASET:
        paper["table_iv"] = {"columns": list(P.TABLE_IV_MODELS), "rows": P.TABLE_IV}
    if dataset == P.TABLE_VII_DATASET:
        paper["table_vii"] = P.TABLE_VII
    doc = {
        "units": "percent of the ground-truth eye-centre distance (failure rate: percent of faces with "
        "NME > 10 %; auc_0.1: a fraction, area under the CED up to 10 % divided by 10 %)",
        "dataset": dataset,
        "profile": profile,
        "scheme": scheme.name,
        "n_points": scheme.n_points,
        "generated": ctx["generated"],
        "commit": ctx["commit"],
        "report_command": ctx["report_command"],
        "train_command": ctx["train_command"],
        "test_set": {"list": str(test.list_file), "faces": len(test), "statement": ctx["test_statement"]},
        "models": {
            k: {"title": ref.title, "deploy": str(ref.deploy), "weights": str(ref.weights)}
            for k, ref in ev["models"].items()
        },
        "results": _jsonable(res),
        "extra_tests": {
            k: {"label": v["label"], "faces": v["faces"], "results": _jsonable(v["results"])} for k, v in extra.items()
        },
        "occlusion": {
            "settings": dict(
                ctx["occlusion_settings"],
                faces_chosen=ev["occluded_faces"].tolist(),
                boxes_xxyy=np.round(ev["occlusion_boxes"], 4).tolist(),
            ),
            "results": M.percent(ev["occlusion"]),
        },
        "perturbation": pert,
        "breakdown": dict(
            bd,
            units="fractions of d, not percent (errors, offsets, shares); the yaw proxy is in units of d",
        )
        if bd
        else None,
        "paper": paper,
        "timings": ctx["timings"],
        "profile_settings": ctx["profile_settings"],
        "data": {k: meta.get(k) for k in ("dataset", "scheme", "sources", "options", "summary", "data_root")},
        "clusters": {name: [int(i) for i in idx] for name, idx in scheme.clusters},
        "eval_seconds": ev["eval_seconds"],
        "files": {
            "markdown": "REPORT.md",
            "per_face": "per_face_nme.csv",
            "ced": ctx["ced_png"],
            "loss": ctx["loss_png"],
            "occlusion_examples": ctx["occlusion_png"],
            "fig7": "fig7.png" if pert and pert.get("png") else None,
        },
    }
    write_json(out_dir / "REPORT.json", doc)
    return {"out_dir": out_dir, "markdown": md, "json": doc}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="report.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", required=True, choices=["aflw", "cofw", "300w"])
    p.add_argument("--profile", required=True, help="the run's profile: runs/<dataset>-<profile>/")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with test.txt and meta.json (default: as the stage runner: data/<dataset>, "
        "data/smoke/<dataset> for the smoke profile)",
    )
    p.add_argument("--runs", type=Path, default=Path("runs"), help="runs root (default: runs)")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/<dataset>-<profile>/report)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="OpenBLAS threads (default 1: the machine is shared)"
    )
    p.add_argument(
        "--occlusion-fraction",
        type=float,
        default=O.DEFAULT_FRACTION,
        help="fraction of test faces whose left eye is occluded (default 0.3, as the paper)",
    )
    p.add_argument(
        "--occlusion-seed", type=int, default=O.DEFAULT_SEED, help="seed of that choice (default 0)"
    )
    p.add_argument(
        "--train-command", default=None, help="the command that trained the run, for the report text"
    )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    if args.data is None:
        from mcl_caffe.core.run_layout import RunLayout

        args.data = RunLayout(args.dataset, args.profile).data
    cmd = os.environ.get("MCL_REPORT_COMMAND", "").strip() or " ".join(
        ["python tools/report.py"] + list(sys.argv[1:] if argv is None else argv)
    )
    r = make_report(
        args.dataset,
        args.profile,
        args.data,
        args.runs,
        args.out,
        threads=args.threads,
        occlusion_fraction=args.occlusion_fraction,
        occlusion_seed=args.occlusion_seed,
        report_command=cmd,
        train_command=args.train_command,
    )
    res = r["json"]["results"]
    print("report: %s" % (r["out_dir"] / "REPORT.md"))
    for k in MAIN_MODELS:
        if k in res:
            print("  %s: error %.2f %%, failure %.2f %%" % (k, res[k]["mean_error"], res[k]["failure_rate"]))


if __name__ == "__main__":
    main()
