"""Static INT8 quantisation (onnxruntime.quantization.quantize_static) of an exported MCL model: the smoke
run's trained 5-point model, so that its outputs, and what INT8 does to them, mean something."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from mcl_caffe.deploy import onnx_export as E
from mcl_caffe.data.eval_faces import real_crops
from mcl_caffe.core.cpu import cpu_int8_features
from mcl_caffe.deploy.quantize import (
    QuantOptions,
    calibration_patches,
    compare,
    kernel_agreement,
    kernels_keep_the_file,
    patch_reader,
    quantize_model,
)
from conftest import ROOT, SHARED_DATA

REPO = ROOT
DATA = SHARED_DATA
assert DATA.is_dir(), "these tests read the real faces in %s (../shared/data next to the clone)" % DATA


@pytest.fixture(scope="module")
def fp32(smoke_run):
    """The 5-point model that `make all PROFILE=smoke` trained and exported (tests/conftest.py), with 512
    training patches of its own run to calibrate on."""
    calib, desc = calibration_patches(512, train_list=smoke_run["data"] / "train.txt", seed=1)
    return smoke_run["runs"] / "onnx" / "mcl.onnx", calib, desc


@pytest.fixture(scope="module")
def aflw_test():
    return real_crops("aflw", "test")  # all 2,995 held-out AFLW faces


# What users are promised: the INT8 model's NME change is reported, and small. Small here: INT8 must not cost
# more than one MCL step gains (the paper's BM -> WM gain is 3.0 % of BM's error, WM -> AM 2.2 % of WM's), so
# |NME change| <= 3 % of the FP32 NME. For the points, if INT8 adds a perturbation of size s (in d) to a point
# whose FP32 error is e, the expected error becomes about sqrt(e^2 + s^2) = e (1 + s^2 / 2e^2); keeping that
# growth within the same 3 % bounds the mean INT8-vs-FP32 shift by sqrt(2 * 0.03) = 0.245 of the FP32 NME.
# Measured on the smoke model (all 2,995 AFLW test faces; pytest -rP tests/deploy/test_quantize.py prints
# them), 7-bit weights on an AVX2 AMD EPYC: change 0.05 % of the NME, shift 0.19 of it (8-bit weights on a
# VNNI CPU: 0.9 %, 0.13); with a broken calibration (patches x 0.05 / all zero): change 81 % / 92 %, shift
# 1.61 / 1.70.
INT8_MAX_RELATIVE_NME_CHANGE = 0.03


def int8_within_promise(stats: dict) -> list[str]:
    """The ways an INT8-vs-FP32 comparison (mcl_caffe.deploy.quantize.compare) breaks the promise; [] if it
    keeps it."""
    r = INT8_MAX_RELATIVE_NME_CHANGE
    broken = []
    if abs(stats["nme_change"]) > r * stats["nme_fp32"]:
        broken.append("NME %.4f -> %.4f changes by more than %g of it" % (stats["nme_fp32"],
                                                                          stats["nme_int8"], r))
    if stats["int8_vs_fp32_mean_shift"] > np.sqrt(2 * r) * stats["nme_fp32"]:
        broken.append("INT8 moves the points by %.4f d on average, more than %.3f x the FP32 NME %.4f"
                      % (stats["int8_vs_fp32_mean_shift"], np.sqrt(2 * r), stats["nme_fp32"]))
    return broken


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


def test_int8_model_is_quantised_keeps_metadata_and_keeps_the_nme(fp32, aflw_test, tmp_path):
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
    assert q["fmt"] == "QDQ" and q["per_channel"] and "train.txt" in q["calibration"]
    # on held-out real faces, INT8 keeps the promise
    stats = compare(path, out, aflw_test)
    print("INT8 on %d AFLW test faces: %s" % (stats["faces"], stats))
    assert stats["faces"] == 2995
    assert int8_within_promise(stats) == []


def test_int8_kernels_compute_what_the_file_says_on_this_cpu(fp32, aflw_test, tmp_path):
    """The default options make a file that onnxruntime's fused integer kernels run as written (up to the
    rounding of the requantisation), whatever the CPU: the points cannot depend on the machine."""
    path, calib, desc = fp32
    out = quantize_model(path, tmp_path / "int8.onnx", calib, QuantOptions(), desc)
    agree = kernel_agreement(path, out, aflw_test)
    print("INT8 kernels on %s: %s" % (cpu_int8_features(), agree))
    assert agree["faces"] == 2995 and agree["file_vs_fp32_mean_shift"] > 0
    assert kernels_keep_the_file(agree), agree


@pytest.mark.skipif("no VNNI" not in cpu_int8_features() or cpu_int8_features().startswith("no avx2"),
                    reason="8-bit weights saturate only the U8S8 kernels of AVX2/AVX-512 CPUs without VNNI")
def test_8_bit_weights_saturate_here_and_the_kernel_check_says_so(fp32, aflw_test, tmp_path):
    """Why reduce_range is on: on this CPU (no VNNI) full-range S8 weights overflow the kernels' 16-bit pair
    sums, the points leave the file's own arithmetic, and kernel_agreement notices."""
    path, calib, desc = fp32
    out = quantize_model(path, tmp_path / "full.int8.onnx", calib, QuantOptions(reduce_range=False), desc)
    agree = kernel_agreement(path, out, aflw_test)
    print("8-bit weights on %s: %s" % (cpu_int8_features(), agree))
    assert not kernels_keep_the_file(agree), agree


@pytest.mark.parametrize("corruption", ["scaled by 0.05", "all zero"])
def test_the_int8_bound_fails_when_quantisation_is_broken(fp32, aflw_test, tmp_path, corruption):
    """Calibrating on patches far from the network's inputs clips the activations: the check above must catch
    it, or it would not be testing quantisation."""
    path, calib, desc = fp32
    bad = calib * 0.05 if corruption == "scaled by 0.05" else np.zeros_like(calib)
    out = quantize_model(path, tmp_path / "broken.int8.onnx", bad, QuantOptions(), "patches " + corruption)
    stats = compare(path, out, aflw_test)
    print("INT8 with calibration patches %s: %s" % (corruption, stats))
    broken = int8_within_promise(stats)
    assert len(broken) == 2, broken


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
    assert stats["options"] == "QDQ U8S8 per-tensor MinMax reduce-range" and stats["faces"] == 300
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
