"""Static INT8 quantisation (onnxruntime.quantization.quantize_static) of an exported MCL model."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from mcl_caffe import onnx_export as E
from mcl_caffe.eval_faces import real_crops
from mcl_caffe.quantize import (
    QuantOptions,
    calibration_patches,
    compare,
    patch_reader,
    predict,
    quantize_model,
)
from mcl_caffe.synthetic_model import make_synthetic_model

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
assert DATA.is_dir(), "these tests read the real faces in %s (../shared/data next to the clone)" % DATA


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    d = tmp_path_factory.mktemp("q")
    calib, desc = calibration_patches(96, dataset="aflw", seed=1)
    prototxt, caffemodel = make_synthetic_model(d, 5, seed=2, patches=calib[:48])
    E.export(prototxt, caffemodel, "aflw5", d / "mcl.onnx")
    return d / "mcl.onnx", calib, desc


def test_calibration_reader_feeds_every_patch_once_per_pass():
    x = np.arange(70 * 2500, dtype=np.float32).reshape(70, 1, 50, 50)
    r = patch_reader(x, "data", batch=32)
    for _ in range(2):
        got = []
        while (b := r.get_next()) is not None:
            assert list(b) == ["data"] and b["data"].dtype == np.float32
            got.append(b["data"])
        assert [len(g) for g in got] == [32, 32, 6]
        assert np.array_equal(np.concatenate(got), x)
        r.rewind()


def test_calibration_patches_are_training_faces():
    x, desc = calibration_patches(40, dataset="300w", seed=0)
    assert x.shape == (40, 1, 50, 50) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() < 1.0 and x.std() > 0.1
    assert "training" in desc


def test_int8_model_is_quantised_keeps_metadata_and_tracks_fp32(fp32, tmp_path):
    path, calib, desc = fp32
    out = quantize_model(path, tmp_path / "int8.onnx", calib, QuantOptions(), desc)
    m = onnx.load(str(out))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    # per-channel weight scales: the first conv's weight DequantizeLinear has one scale per output channel
    inits = {i.name: i for i in m.graph.initializer}
    scales = [
        onnx.numpy_helper.to_array(inits[n.input[1]])
        for n in m.graph.node
        if n.op_type == "DequantizeLinear"
        and n.input[0] in inits
        and inits[n.input[0]].data_type == onnx.TensorProto.INT8
        and len(inits[n.input[0]].dims) == 4
    ]
    assert scales and scales[0].shape == (32,)
    meta = E.read_metadata(m)
    assert meta["scheme"] == "aflw5" and meta["crop_size"] == "50"
    q = json.loads(meta["quantization"])
    assert q["fmt"] == "QDQ" and q["per_channel"] and "training" in q["calibration"]
    # on held-out real faces, INT8 moves the points by much less than the faces move them
    test = real_crops("aflw", "test", limit=200)
    x = test.inputs()
    p32, p8 = predict(path, x), predict(out, x)
    spread = p32.std(axis=0).mean()
    shift = np.abs(p8 - p32).mean()
    print("INT8 mean |shift| %.3f px vs spread across faces %.3f px" % (shift, spread))
    assert shift < 0.25 * spread, (shift, spread)
    stats = compare(path, out, test)
    assert stats["faces"] == 200 and abs(stats["nme_change"]) < stats["int8_vs_fp32_mean_shift"] + 1e-12


def test_quantize_cli(fp32, tmp_path):
    path, _, _ = fp32
    out = tmp_path / "cli.int8.onnx"
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "quantize_onnx.py"),
            "--onnx",
            str(path),
            "--out",
            str(out),
            "--calib",
            "64",
            "--per-tensor",
            "--test-limit",
            "300",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    stats = json.loads(Path(str(out) + ".json").read_text())
    assert stats["options"] == "QDQ U8S8 per-tensor MinMax" and stats["faces"] == 300
    assert "NME on aflw test split" in r.stdout
    bad = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "quantize_onnx.py"),
            "--onnx",
            str(tmp_path / "no.onnx"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "model file not found" in bad.stderr
