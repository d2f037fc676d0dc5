"""End to end: `make all PROFILE=smoke` on real MTFL faces, through the real Makefile targets and Caffe.

One run (tests/conftest.py: `smoke_run`, a few minutes on 2 cores, shared with the INT8 test) serves the
checks below: stage 1 is killed after its first snapshot and resumed by `make all`, which then runs every
stage.
"""
import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_smoke as _make
from mcl_caffe.train import shape_init
from mcl_caffe.core.splice import coordinate_rows
from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.nets.netgen import conv_names
from mcl_caffe.train.predict import read_set
from mcl_caffe.core.run_layout import read_json
from mcl_caffe.core.weighting import cluster_point_weights, error_proportional_weights, multi_center_weights
from conftest import ROOT

SCHEME = get_scheme("aflw")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(smoke_run):
    return smoke_run


def _caffe_net(deploy, weights):
    caffe = load_caffe()
    return caffe.Net(str(deploy), str(weights), caffe.TEST)


def test_stage1_resumed_from_its_snapshot(run):
    it = run["stage1_resumed_at"]  # the newest complete snapshot when the fixture killed stage 1
    assert it % 50 == 0 and 50 <= it < 150, it
    pattern = r"stage1: resuming from \S+stage1_iter_%d\.solverstate \(iteration %d of 150\)" % (it, it)
    assert re.search(pattern, run["out"]), run["out"][-3000:]
    with (run["runs"] / "stage1" / "loss.csv").open() as f:
        iters = [int(r["iter"]) for r in csv.DictReader(f)]
    assert iters == list(range(1, 151))


def test_stage1_training_loss_falls_below_the_mean_shape(run):
    """The loss falls, and ends below what predicting the mean training shape scores: the net learned faces,
    not just their average (the shape layer's bias already starts at the mean shape)."""
    with (run["runs"] / "stage1" / "loss.csv").open() as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    train = read_set(run["data"] / "train.txt")
    mean_shape_loss = shape_init.mean_shape_loss(train.label, train.d)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.6 * first, (first, last)
    assert last < 0.85 * mean_shape_loss, (last, mean_shape_loss)


def _loss_weights(prototxt: Path) -> list[float]:
    return [float(v) for v in re.findall(r"loss_weight: ([0-9.e+-]+)", prototxt.read_text())]


def test_stage2_and_3_weights_follow_eq5(run):
    eps_b = read_json(run["runs"] / "stage1" / "val_errors.json")["per_landmark"]
    expected = error_proportional_weights(eps_b)
    assert expected.sum() == pytest.approx(SCHEME.n_points)
    for stage in ("stage2", "stage3"):
        used = read_json(run["runs"] / stage / "stage.json")["weights_u"]
        np.testing.assert_allclose(used, expected, rtol=1e-12)
        # and they are what the generated prototxt carries, readable as loss_weight
        np.testing.assert_allclose(_loss_weights(run["runs"] / stage / "train.prototxt"), expected, rtol=1e-6)


def test_stage4_weights_follow_eq9_and_eq7(run):
    eps_w = np.asarray(read_json(run["runs"] / "stage3" / "val_errors.json")["per_landmark"])
    for i, (name, idx) in enumerate(SCHEME.clusters):
        d = run["runs"] / "stage4" / ("cluster%d-%s" % (i + 1, name))
        used = np.asarray(read_json(d / "stage.json")["weights_u"])
        np.testing.assert_allclose(used, multi_center_weights(eps_w, idx), rtol=1e-12)
        u_p, u_q = cluster_point_weights(SCHEME.n_points, len(idx))
        rest = [j for j in range(SCHEME.n_points) if j not in idx]
        assert used[list(idx)].sum() == pytest.approx(u_p * len(idx))
        assert used.sum() == pytest.approx(SCHEME.n_points)  # Eq. 7
        assert used[rest].sum() == pytest.approx(u_q * len(rest))
        np.testing.assert_allclose(_loss_weights(d / "train.prototxt"), used, rtol=1e-6)


def _h5_list(list_file: Path) -> dict:
    """A Caffe HDF5 list read with h5py alone: the chunk files it names, concatenated."""
    import h5py
    parts = {"data": [], "label": [], "d": []}
    for name in [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]:
        with h5py.File(name, "r") as f:
            for k in parts:
                parts[k].append(f[k][...])
    return {k: np.concatenate(v) for k, v in parts.items()}


def _errors_on(run, stage: str, split: str):
    """(per-landmark mean error, d) of a stage's final model on a split, computed here: one Caffe forward pass
    of the whole list, then ||p_j - g_j|| / d averaged over the faces."""
    s = _h5_list(run["data"] / ("%s.txt" % split))
    net = _caffe_net(run["runs"] / stage / "deploy.prototxt", run["runs"] / stage / "final.caffemodel")
    net.blobs["data"].reshape(*s["data"].shape)
    net.blobs["data"].data[...] = s["data"]
    pred = net.forward()["fc"].reshape(len(s["d"]), -1, 2).astype(np.float64)
    gt = s["label"].reshape(pred.shape).astype(np.float64)
    d = s["d"].astype(np.float64)
    return (np.sqrt(((pred - gt) ** 2).sum(axis=2)) / d[:, None]).mean(axis=0), d


def _rtol(eps, d):
    """How far the runner's own validation may sit from this recomputation, relative. The runner ran the
    same net in batches of 64 at its own thread count, so BLAS may sum in another order: at most 1e-4 px on
    an output (tests/deploy/test_onnx_export.py derives that bound for batch-size changes). That moves eps_j
    by at most 1e-4 / min(d), relative 1e-4 / (min(d) min(eps)); Eqs. 5 and 9 divide by a sum of such
    errors: twice that."""
    return 2 * 1e-4 / (d.min() * eps.min())


def test_eq5_weights_come_from_bm_errors_on_the_validation_list(run):
    """Leakage check: stage 2-3's weights equal Eq. 5 recomputed here from BM's errors on val.txt. A runner
    that took BM's errors on the test list (test data leaking into training) fails here: tried by hand."""
    eps_b, d = _errors_on(run, "stage1", "val")
    rtol = _rtol(eps_b, d)
    assert rtol < 1e-3, rtol  # tight enough to tell the validation list from the test list
    recorded = read_json(run["runs"] / "stage1" / "val_errors.json")
    n_val = len(_h5_list(run["data"] / "val.txt")["d"])  # read apart from _errors_on
    assert recorded["n_faces"] == len(d) == n_val
    np.testing.assert_allclose(recorded["per_landmark"], eps_b, rtol=rtol)
    n = SCHEME.n_points
    u = n * eps_b / eps_b.sum()  # Eq. 5
    for stage in ("stage2", "stage3"):
        np.testing.assert_allclose(read_json(run["runs"] / stage / "stage.json")["weights_u"], u, rtol=rtol)
        np.testing.assert_allclose(_loss_weights(run["runs"] / stage / "train.prototxt"), u,
                                   rtol=max(rtol, 1e-6))  # the prototxt prints 6 digits or more


def test_eq9_weights_come_from_wm_errors_on_the_validation_list(run):
    """Leakage check: each cluster's stage-4 weights equal Eqs. 8-9 recomputed here (alpha = 125) from WM's
    errors on val.txt."""
    eps_w, d = _errors_on(run, "stage3", "val")
    rtol = _rtol(eps_w, d)
    assert rtol < 1e-3, rtol
    recorded = read_json(run["runs"] / "stage3" / "val_errors.json")
    assert recorded["n_faces"] == len(d) == len(_h5_list(run["data"] / "val.txt")["d"])
    n, alpha = SCHEME.n_points, 125.0
    for i, (name, idx) in enumerate(SCHEME.clusters):
        in_p = np.isin(np.arange(n), idx)
        k = in_p.sum()
        u_p, u_q = alpha * n / ((alpha - 1) * k + n), n / ((alpha - 1) * k + n)  # Eq. 8
        u = np.where(in_p, u_p * k * eps_w / eps_w[in_p].sum(),  # Eq. 9
                     u_q * (n - k) * eps_w / eps_w[~in_p].sum())
        stage = read_json(run["runs"] / "stage4" / ("cluster%d-%s" % (i + 1, name)) / "stage.json")
        np.testing.assert_allclose(stage["weights_u"], u, rtol=rtol, err_msg=name)


def test_stage2_kept_the_first_six_convolutions_fixed(run):
    s1 = _caffe_net(run["runs"] / "stage1" / "deploy.prototxt", run["runs"] / "stage1" / "final.caffemodel")
    s2 = _caffe_net(run["runs"] / "stage2" / "deploy.prototxt", run["runs"] / "stage2" / "final.caffemodel")
    names = conv_names()
    for conv in names[:6]:
        suffix = conv[len("conv"):]
        for layer in (conv, "bn" + suffix, "scale" + suffix):
            for a, b in zip(s1.params[layer], s2.params[layer]):
                assert np.array_equal(a.data, b.data), layer
    assert not np.array_equal(s1.params[names[6]][0].data, s2.params[names[6]][0].data)
    assert not np.array_equal(s1.params["fc"][0].data, s2.params["fc"][0].data)


def test_assembled_model_equals_each_cluster_model_on_its_points(run):
    test = read_set(run["data"] / "test.txt")
    deploy = run["runs"] / "assemble" / "deploy.prototxt"
    am = _caffe_net(deploy, run["runs"] / "assemble" / "am.caffemodel")
    from mcl_caffe.train.predict import forward_batches
    am_pred = forward_batches(am, test.data)
    for i, (name, idx) in enumerate(SCHEME.clusters):
        model = _caffe_net(deploy, run["runs"] / "stage4" / ("cluster%d-%s" % (i + 1,
                                                                               name)) / "final.caffemodel")
        pred = forward_batches(model, test.data)
        rows = coordinate_rows(idx)
        assert np.array_equal(am_pred[:, rows], pred[:, rows]), name
        assert not np.array_equal(am_pred, pred)  # the other clusters' rows come from other models


def test_stage4_feature_path_equals_full_net_path(run, tmp_path):
    """Training a shape layer on cached features gives the full frozen net's weights (same batches, seed)."""
    runs = tmp_path / "runs"
    dst = runs / "aflw-smoke"
    for stage in ("stage1", "stage2", "stage3"):
        shutil.copytree(run["runs"] / stage, dst / stage)
    name = SCHEME.clusters[0][0]
    cmd = [sys.executable, "-m", "mcl_caffe.train.runner", "stage4", "--cluster", "0", "--dataset", "aflw",
           "--profile", "smoke", "--data", str(run["data"]), "--runs", str(runs), "--stage4-path", "full"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    full_dir = dst / "stage4" / ("cluster1-%s" % name)
    feat_dir = run["runs"] / "stage4" / ("cluster1-%s" % name)
    deploy = feat_dir / "deploy.prototxt"
    full = _caffe_net(deploy, full_dir / "final.caffemodel")
    feat = _caffe_net(deploy, feat_dir / "final.caffemodel")
    wm = _caffe_net(deploy, run["runs"] / "stage3" / "final.caffemodel")
    # both moved away from WM's layer, by the same amount
    assert not np.array_equal(full.params["fc"][0].data, wm.params["fc"][0].data)
    # Two float32 computations of the same 40 SGD steps: the features come from one forward pass in other
    # batch shapes than the full net's, so BLAS may sum them in another order (a few ulp, 2^-24 each). Over
    # 40 steps at a small learning rate those differences add, not compound: 40 steps x a few ulp ~ 1e-5
    # relative; atol covers weights near zero.
    for a, b in zip(full.params["fc"], feat.params["fc"]):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-7)
    t_full = read_json(full_dir / "stage.json")["train_seconds"]
    t_feat = read_json(feat_dir / "stage.json")["train_seconds"]
    print("stage4 cluster 1 training: full net %.2f s, cached features %.2f s (%.0fx)" % (t_full, t_feat,
                                                                                         t_full / t_feat))


def test_a_stage_without_its_predecessor_says_what_to_run(tmp_path):
    res = _make("stage3", tmp=tmp_path)
    assert res.returncode != 0
    assert "run `make data DATASET=aflw PROFILE=smoke` first" in res.stderr
    (tmp_path / "data" / "aflw").mkdir(parents=True)
    for split in ("train", "val"):
        (tmp_path / "data" / "aflw" / ("%s.txt" % split)).write_text("")
    res = _make("stage3", tmp=tmp_path)
    assert "run `make stage2 DATASET=aflw PROFILE=smoke` first" in res.stderr, res.stderr


def test_make_all_exported_onnx_and_wrote_the_report(run):
    """`make all` ends with the ONNX export and the report of the run it trained."""
    import onnx
    model = onnx.load(str(run["runs"] / "onnx" / "mcl.onnx"))
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["mcl.scheme"] == "aflw5"
    report = (run["runs"] / "report" / "REPORT.md").read_text()
    for model_name in ("BM", "WM", "AM"):
        assert "| **%s** |" % model_name in report
    # the paper's protocol by default: test crops from the detector boxes, and a second row on the same faces
    # cropped from their ground-truth points, equal to an independent evaluation (same threads: exact)
    assert "face-detector boxes in" in report and "AFLW_boundingbox.txt" in report
    doc = read_json(run["runs"] / "report" / "REPORT.json")
    gt = read_set(run["data"] / "test_gt.txt")
    am = _caffe_net(run["runs"] / "assemble" / "deploy.prototxt", run["runs"] / "assemble" / "am.caffemodel")
    from mcl_caffe.caffe_import import blas_threads
    from mcl_caffe.core.metrics import nme
    from mcl_caffe.train.predict import forward_batches
    with blas_threads(1):  # the report's default --threads
        pred = forward_batches(am, gt.data)
    err = 100 * nme(pred, gt.label, gt.d).mean()
    assert doc["extra_tests"]["test_gt"]["results"]["AM"]["mean_error"] == pytest.approx(err, rel=1e-9)
    assert "ground-truth points" in doc["extra_tests"]["test_gt"]["label"]
    assert "| **AM** | %.2f |" % err in report
    assert (run["runs"] / "report" / "ced.png").stat().st_size > 0
