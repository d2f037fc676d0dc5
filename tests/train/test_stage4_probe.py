"""mcl_caffe.train.stage4_probe: stage 4's shape-layer training rerun on cached features, with real Caffe.

A generated run: features x of 5-point faces whose labels a known layer (W*, b*) gives exactly, a WM layer
off from it, one cluster folder with the stage-4 train net and solver the pipeline writes.
"""
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.splice import splice
from mcl_caffe.nets import solvergen
from mcl_caffe.nets.stage_files import stage_texts
from mcl_caffe.train import stage4_probe as probe

caffe = load_caffe()

D = 16


def _decay_alone_scale(iterations, stepsize, base_lr, decay, momentum=0.9, gamma=0.3):
    """The factor weight decay alone shrinks a weight by under Caffe's SGD with the `step` lr policy."""
    w, v = 1.0, 0.0
    for it in range(iterations):
        v = momentum * v + base_lr * gamma ** (it // stepsize) * decay * w
        w -= v
    return w


def _features(path, x, w, b):
    with h5py.File(path, "w") as f:
        f["x"] = x.astype(np.float32)
        f["label"] = (x @ w.T + b).astype(np.float32)
        f["d"] = np.full((len(x), 1), 20.0, np.float32)


@pytest.fixture
def run(tmp_path):
    rng = np.random.default_rng(0)
    w_true = rng.standard_normal((10, D)) * 2
    b_true = 25 + rng.standard_normal(10)
    feats = tmp_path / "stage4" / "features"
    for split, n in (("train", 640), ("val", 200)):
        (feats / split).mkdir(parents=True)
        _features(feats / split / "00000.h5", rng.random((n, D)) * 2, w_true, b_true)
        (feats / ("%s.txt" % split)).write_text(str(feats / split / "00000.h5") + "\n")
    (feats / "complete").write_text("generated\n")
    cdir = tmp_path / "stage4" / "cluster1-left_eye"
    cdir.mkdir()
    u = [4.8, 0.05, 0.05, 0.05, 0.05]
    texts = stage_texts("stage4", get_scheme(5), solvergen.get_profile("smoke"), u, str(feats / "train.txt"),
                        str(feats / "val.txt"), str(cdir / "train.prototxt"), str(cdir / "snap"))
    for name in ("train", "solver"):
        (cdir / ("%s.prototxt" % name)).write_text(texts[name])
    (cdir / "stage.json").write_text(json.dumps({"cluster": {"index": 0, "name": "left_eye", "points": [0]}}))
    return tmp_path, w_true, b_true


def test_reads_the_run_and_rejects_a_run_without_stage4(run, tmp_path_factory):
    root, w_true, b_true = run
    assert [p.name for p in probe.cluster_dirs(root)] == ["cluster1-left_eye"]
    x, label, d = probe.load_features(root / "stage4" / "features" / "val.txt")
    assert x.shape == (200, D) and label.shape == (200, 10) and d.shape == (200,)
    # the generated labels are the true layer's output: its error is float32 rounding only
    assert probe.nme_per_landmark(w_true, b_true, x, label, d).max() < 1e-6
    with pytest.raises(ValueError, match="no finished cluster folder"):
        probe.cluster_dirs(tmp_path_factory.mktemp("empty"))
    # the shape layer of a saved model comes back as saved
    net = caffe.Net(str(root / "stage4" / "cluster1-left_eye" / "train.prototxt"), caffe.TRAIN)
    net.params["fc"][0].data[...] = w_true
    net.params["fc"][1].data[...] = b_true
    net.save(str(root / "model.caffemodel"))
    w, b = probe.fc_blobs(root / "model.caffemodel")
    np.testing.assert_array_equal(w, w_true.astype(np.float32))
    np.testing.assert_array_equal(b, b_true.astype(np.float32))


def test_weight_decay_alone_shrinks_the_layer_and_the_loss_pulls_it_to_the_labels(run, tmp_path):
    root, w_true, b_true = run
    cdir = root / "stage4" / "cluster1-left_eye"
    # started at the true layer, the loss gradient is zero: without decay nothing moves (float rounding of
    # the forward pass aside), with decay the weights shrink and the bias (decay_mult 0) barely moves
    w, b = probe.train_shape_layer(caffe, cdir, w_true, b_true, 200, 100, 0.001, 0.0, tmp_path)
    np.testing.assert_allclose(w, w_true, atol=1e-5 * np.abs(w_true).max())
    w, b = probe.train_shape_layer(caffe, cdir, w_true, b_true, 200, 100, 0.001, 0.05, tmp_path)
    scale = (w * w_true).sum() / (w_true * w_true).sum()
    # Caffe's SGD on decay alone: v <- 0.9 v + lr * decay * w, w <- w - v, lr x0.3 at step 100 (0.9381); the
    # loss gradient, zero at the start, can only pull back towards the labels, and barely does (measured:
    # +8e-6)
    decay_alone = _decay_alone_scale(200, 100, 0.001, 0.05)
    assert decay_alone <= scale < decay_alone + 1e-4
    np.testing.assert_allclose(w, scale * w_true, atol=1e-4 * np.abs(w_true).max())
    # from a WM layer off the true one, training without decay brings the emphasised landmark 0 (u = 4.8)
    # much closer (measured: 1.09 % -> 0.60 % of d in 3,000 steps) and the others (u = 0.05) barely
    x, label, d = probe.load_features(root / "stage4" / "features" / "val.txt")
    rng = np.random.default_rng(1)
    w_wm = w_true + 0.05 * rng.standard_normal(w_true.shape)
    before = probe.nme_per_landmark(w_wm, b_true, x, label, d)
    w, b = probe.train_shape_layer(caffe, cdir, w_wm, b_true, 3000, 1500, 0.01, 0.0, tmp_path)
    after = probe.nme_per_landmark(w, b, x, label, d)
    gain = after / before
    assert gain[0] < 0.7
    assert np.all(gain[1:] > 0.95) and np.all(gain[1:] <= 1.0)


def test_assemble_rows_is_eq2(run):
    rng = np.random.default_rng(2)
    w0, b0 = rng.standard_normal((10, D)), rng.standard_normal(10)
    layers = [((rng.standard_normal((10, D)), rng.standard_normal(10)), pts)
              for pts in ([0], [1], [2], [3, 4])]
    w, b = probe.assemble_rows(w0, b0, layers)
    ref_w, ref_b = splice([lw for (lw, _), _ in layers], [lb for (_, lb), _ in layers],
                          [p for _, p in layers])
    assert np.array_equal(w, ref_w) and np.array_equal(b, ref_b)
    assert np.array_equal(w[6:10], layers[3][0][0][6:10]) and np.array_equal(w[0:2], layers[0][0][0][0:2])
    with pytest.raises(ValueError, match="shape differs"):
        probe.assemble_rows(w0[:, :3], b0, layers)


def test_stage4_sweep_tool_scores_candidates_against_wm(run):
    """tools/stage4_sweep.py on the generated run: WM's layer off the true one, a decay-free candidate lowers
    the validation error, and the table names both candidates; a run without stage 4 is refused by name."""
    root, w_true, b_true = run
    net = caffe.Net(str(root / "stage4" / "cluster1-left_eye" / "train.prototxt"), caffe.TRAIN)
    net.params["fc"][0].data[...] = w_true + 0.05 * np.random.default_rng(1).standard_normal(w_true.shape)
    net.params["fc"][1].data[...] = b_true
    (root / "stage3").mkdir()
    net.save(str(root / "stage3" / "final.caffemodel"))
    # a second cluster holds landmarks 1-4, so that Eq. 2 covers every landmark (its net is a copy of the
    # first one's: the tool trains each cluster with its own train net and solver)
    cdir2 = root / "stage4" / "cluster2-rest"
    cdir2.mkdir()
    for name in ("train", "solver"):
        (cdir2 / ("%s.prototxt" % name)).write_text((root / "stage4" / "cluster1-left_eye" /
                                                     ("%s.prototxt" % name)).read_text())
    (cdir2 / "stage.json").write_text(json.dumps({"cluster": {"index": 1, "name": "rest",
                                                              "points": [1, 2, 3, 4]}}))
    tool = Path(__file__).resolve().parents[2] / "tools" / "stage4_sweep.py"
    out = root / "sweep.md"
    res = subprocess.run([sys.executable, str(tool), "--run-dir", str(root), "--candidate",
                          "3000,1500,0.01,0", "--candidate", "10,5,0.001,0", "--out", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ")][1:]  # after the header
    assert len(rows) == 3
    wm, long, short = (float(r.split("|")[2]) for r in rows)
    assert rows[0].startswith("| WM (no stage 4)") and "3000 it" in rows[1] and "10 it" in rows[2]
    assert long < wm and abs(short - wm) < abs(long - wm)
    bad = subprocess.run([sys.executable, str(tool), "--run-dir", str(root / "nothing"), "--candidate",
                          "1,1,0.001,0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no finished cluster folder" in bad.stderr
