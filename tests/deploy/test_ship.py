"""The shipped models' Caffe <-> ONNX parity, recomputed from the committed files (models/<name>/
deploy.prototxt and am.caffemodel against mcl.onnx) on the model's whole test set from the shared data, not
read from the card."""

import numpy as np
import onnxruntime as ort
import pytest

from mcl_caffe.caffe_import import blas_threads, load_caffe
from mcl_caffe.deploy import ship as S
from mcl_caffe.infer import shipped
from mcl_caffe.train.predict import forward_batches

# the export's own bound (tests/deploy/test_onnx_export.py), in 50x50 patch pixels
PARITY_PX = 1e-3


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
