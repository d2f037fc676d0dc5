"""make bench BENCH_MODEL=<shipped model>: the INT8 row times the shipped mcl.int8.onnx (what mcl-align --int8
runs), not a re-quantised copy. A one-round bench; no timing is asserted."""
import json
import subprocess
import sys

import pytest

from mcl_caffe.infer import shipped
from conftest import ROOT


def test_bench_of_a_shipped_model_times_its_own_int8_file(tmp_path):
    out = tmp_path / "bench"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), "--model", "300w68", "--out-dir",
                          str(out), "--rounds", "1", "--iters", "2", "--batch", "4", "--batch-iters", "1",
                          "--no-caffe"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "bench.json").read_text())
    d = shipped.model_dir("300w68")
    assert doc["models"]["onnx"] == str(d / shipped.FP32_FILE)
    assert doc["models"]["int8"] == str(d / shipped.INT8_FILE)
    assert doc["int8"]["options"] == "the shipped mcl.int8.onnx"
    assert not list(out.rglob("*.onnx"))  # nothing exported or quantised on the side
    # the bench's test split for 300w68 is IBUG cropped from the ground-truth boxes, the card's test set, so
    # its INT8 NME is the card's (within the 1e-3 points derived in tests/infer/test_shipped_models.py)
    card = shipped.model_card("300w68")["test"]
    assert doc["int8"]["faces"] == card["faces"]
    assert 100 * doc["int8"]["nme_int8"] == pytest.approx(card["onnx_int8"]["nme"], abs=1e-3)
    assert 100 * doc["int8"]["nme_fp32"] == pytest.approx(card["onnx_fp32"]["nme"], abs=1e-3)
    labels = [r["label"] for r in doc["rows"]]
    assert "onnxruntime INT8" in labels and "Caffe" not in labels


def test_an_unknown_shipped_model_is_refused(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), "--model", "300w-68", "--out-dir",
                          str(tmp_path)], capture_output=True, text=True)
    assert res.returncode != 0 and "--model 300w-68 is not a shipped model (300w68, aflw5)" in res.stderr
