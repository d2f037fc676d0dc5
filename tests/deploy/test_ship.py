"""The shipped models' Caffe <-> ONNX parity, recomputed from the committed files (models/<name>/
deploy.prototxt and am.caffemodel against mcl.onnx) on the model's whole test set from the shared data, not
read from the card."""

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from mcl_caffe.caffe_import import blas_threads, load_caffe
from mcl_caffe.core.metrics import failure_rate, nme
from mcl_caffe.deploy import ship as S
from mcl_caffe.deploy.quantize import KERNEL_MAX_RELATIVE_SHIFT, predict
from mcl_caffe.infer import shipped
from mcl_caffe.train.predict import forward_batches

# the export's own bound (tests/deploy/test_onnx_export.py), in 50x50 patch pixels
PARITY_PX = 1e-3
# the shipped cards' NME tolerance (tests/infer/test_shipped_models.py derives it): one thread here, the
# same crops, so only float summation order can differ
NME_TOLERANCE = 1e-3


@pytest.mark.parametrize("name", list(shipped.SHIPPED))
def test_shipped_onnx_reproduces_the_committed_caffe_model(name):
    caffe = load_caffe()
    d = shipped.model_dir(name)
    card = shipped.model_card(name)
    crops = S.check_crops(name, card["check_sample"]["calibration"], stride=1)
    x = crops.inputs()
    net = caffe.Net(str(d / "deploy.prototxt"), str(d / "am.caffemodel"), caffe.TEST)
    with blas_threads(1):
        ref = forward_batches(net, x).astype(np.float64)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(d / shipped.FP32_FILE), opts, providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: x[s:s + 256]})[0]
                          for s in range(0, len(x), 256)]).astype(np.float64)
    n = card["n_points"]
    assert ref.shape == got.shape == (len(crops), 2 * n)
    # the bound means something only for outputs that are landmarks, varying from face to face
    assert 0 < np.median(ref) < 50 and ref.std(axis=0).min() > 0.5
    err = np.abs(got - ref)
    print("%s: max |onnxruntime - caffe| = %.3g px, mean %.3g px over %d faces"
          % (name, err.max(), err.mean(), len(x)))
    assert err.max() < PARITY_PX


def test_the_card_says_what_changed_from_the_model_it_replaces():
    import copy
    # a real card, made into a first model trained on +-15 deg rotations, whatever the shipped one now is
    old = copy.deepcopy(shipped.model_card("300w68"))
    old.pop("replaces", None)
    old["data"]["augmentation"]["max_angle"] = 15.0
    assert "What changed" not in S.model_md(old)  # a first model has nothing to compare with
    new = copy.deepcopy(old)
    new["commit"] = "abc1234"
    new["data"]["augmentation"]["max_angle"] = 30.0
    new["test"]["caffe_am"] = {"nme": 9.87, "failure": 30.37}
    new["replaces"] = old
    md = S.model_md(new)
    assert "| training data | 20 samples per face: 5 rotations within +-30 deg" in md
    section = md.split("## What changed from the model it replaces")[1]
    assert "trained at commit `abc1234` (was `%s`" % old["commit"] in section
    assert "training data: 20 samples per face: 5 rotations within +-30 deg" in section
    assert "(was 20 samples per face: 5 rotations within +-15 deg" in section
    was = old["test"]["caffe_am"]["nme"]
    assert "test NME Caffe AM 9.87 %% (was %.2f %%), failure 30.37 %%" % was in section
    assert "profile" not in section  # unchanged settings are not listed


@pytest.fixture()
def shipped_copy(tmp_path):
    """A copy of the shipped 300w68 folder to re-quantise (the repository's own is never written)."""
    out = tmp_path / "300w68"
    shutil.copytree(shipped.model_dir("300w68"), out)
    return out


def test_requantize_refuses_data_made_with_other_options(shipped_copy, smoke_run):
    before = (shipped_copy / shipped.INT8_FILE).read_bytes()
    with pytest.raises(S.ShipError, match="other options"):
        S.requantize("300w68", smoke_run["data"], "cmd", out=shipped_copy, log=lambda *_: None)
    assert (shipped_copy / shipped.INT8_FILE).read_bytes() == before


def test_requantize_rewrites_the_int8_file_and_only_its_figures(shipped_copy, smoke_run, tmp_path):
    card0 = json.loads((shipped_copy / "model.json").read_text())
    kept = {f: (shipped_copy / f).read_bytes()
            for f in (shipped.FP32_FILE, "am.caffemodel", "deploy.prototxt")}
    # a data folder with the card's data options; its training list is the smoke run's (real MTFL patches):
    # what is tested here is what requantize writes, not how well these patches calibrate a 300-W model
    data = tmp_path / "data"
    data.mkdir()
    (data / "meta.json").write_text(json.dumps({k: card0["data"][k] for k in ("options", "augmentation")}))
    shutil.copyfile(smoke_run["data"] / "train.txt", data / "train.txt")
    S.requantize("300w68", data, "make requantize (test)", out=shipped_copy, log=lambda *_: None)

    card = json.loads((shipped_copy / "model.json").read_text())
    for f, b in kept.items():
        assert (shipped_copy / f).read_bytes() == b, f
    for key in ("caffe_am", "onnx_fp32", "faces"):
        assert card["test"][key] == card0["test"][key]
    assert card["check_sample"]["nme_fp32"] == card0["check_sample"]["nme_fp32"]
    # the card's INT8 figures are those of the file written, measured again here on the whole test set
    crops = S.check_crops("300w68", None, stride=1)
    p8 = predict(shipped_copy / shipped.INT8_FILE, crops.inputs(), threads=1).reshape(crops.points.shape)
    e8 = nme(p8, crops.points, crops.d)
    assert card["test"]["onnx_int8"]["nme"] == pytest.approx(100 * e8.mean(), abs=NME_TOLERANCE)
    assert card["test"]["onnx_int8"]["failure"] == pytest.approx(100 * failure_rate(e8), abs=NME_TOLERANCE)
    assert card["check_sample"]["nme_int8"] == pytest.approx(100 * e8.mean(), abs=NME_TOLERANCE)
    q = card["int8"]
    assert q["command"] == "make requantize (test)" and "reduce-range" in q["options"]
    assert str(data / "train.txt") in q["calibration"] and q["kernels"]["faces"] == 135
    assert q["kernels"]["relative_shift"] <= KERNEL_MAX_RELATIVE_SHIFT
    md = (shipped_copy / "MODEL.md").read_text()
    assert "| ONNX INT8 (`mcl.int8.onnx`) | %.2f |" % card["test"]["onnx_int8"]["nme"] in md
    assert "INT8: %s, calibrated on %s (`make requantize (test)`)" % (q["options"], q["calibration"]) in md
