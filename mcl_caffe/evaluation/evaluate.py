"""Evaluate a trained run's models on its test set: predictions, NME, failure rate, CED, the left-eye
occlusion (Table VII), the extra test lists and the validation-versus-test breakdown (`make report`)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcl_caffe.core import metrics as M
from mcl_caffe.core.run_layout import RunLayout
from mcl_caffe.evaluation import error_breakdown as B
from mcl_caffe.evaluation import occlusion as O


MAIN_MODELS = ("BM", "WM", "AM")
STAGE_MODELS = ("BM", "S2", "WM", "AM")  # every stage's model, in training order
MODEL_TITLES = {
    "BM": "BM (stage 1, pre-training)",
    "S2": "stage 2 (weighting, first six convs fixed)",
    "WM": "WM (stage 3)",
    "AM": "AM (assembled, Eq. 2)",
}


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
    from mcl_caffe.data.h5_writer import read_arrays

    list_file = Path(data_dir) / ("%s.txt" % split)
    if not list_file.is_file():
        raise SystemExit("report: no %s list at %s: run `make data` for this dataset first" % (split,
                                                                                               list_file))
    a = read_arrays(list_file, keys=("data", "label", "d"))
    n = len(a["d"])
    try:
        index = read_arrays(list_file, keys=("index",))["index"].astype(np.int64)
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


def evaluate_lists(data_dir: Path, labels: dict[str, str], models: dict, scheme, caffe,
                   batch: int = 64) -> dict:
    """`models` on each HDF5 list <data_dir>/<split>.txt of `labels` that exists ->
    {split: {'label', 'faces', 'results'}} (faces: the list's samples); each net is loaded once."""
    sets = {split: load_test_set(Path(data_dir), split) for split in labels
            if (Path(data_dir) / ("%s.txt" % split)).is_file()}
    preds = predict_all(models, {split: data.data for split, data in sets.items()}, caffe, batch)
    return {split: {"label": labels[split], "faces": len(data),
                    "results": {k: model_metrics(p[split], data, scheme) for k, p in preds.items()}}
            for split, data in sets.items()}


def evaluate_extra_tests(data_dir: Path, meta: dict, ev: dict, scheme, caffe, batch: int = 64) -> dict:
    """BM, WM and AM on each extra test list that make data wrote (mcl_caffe.data.extra_tests: a second
    protocol
    or a second test set) -> {split: {'label', 'faces', 'results'}}."""
    models = {k: ev["models"][k] for k in MAIN_MODELS if k in ev["models"]}
    labels = {split: info.get("label", split) for split, info in (meta.get("extra_tests") or {}).items()}
    return evaluate_lists(data_dir, labels, models, scheme, caffe, batch)


def evaluate_val_views(data_dir: Path, meta: dict, ev: dict, scheme, caffe, batch: int = 64) -> dict:
    """Every stage's model (BM, stage 2, WM, AM) on the validation faces (<data>/val.txt) and on each view of
    them that make data wrote (mcl_caffe.data.val_views: rolled, or cropped from other boxes) ->
    {split: {'label', 'faces', 'results'}}. A diagnosis on validation only: whether each stage improves on
    the one before away from the test sets."""
    models = {k: ev["models"][k] for k in STAGE_MODELS if k in ev["models"]}
    labels = {"val": "the held-out validation faces as make data wrote them (the nominal view)"}
    labels.update({split: info.get("label", split) for split, info in (meta.get("val_views") or {}).items()})
    return evaluate_lists(data_dir, labels, models, scheme, caffe, batch)


def breakdown_val_test(layout_data: Path, scheme, test: TestSet, ev: dict, caffe,
                       batch: int = 64) -> dict | None:
    """mcl_caffe.evaluation.error_breakdown for the run's final model (AM, else WM, else BM) on the
    validation faces
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
        out["test_nme_at_val_pose_mix"] = B.reweighted_nme(out["test"]["yaw_groups"],
                                                           out["val"]["yaw_groups"])
    return out
