"""make bench-train: the FLOP counter on a tiny net, and the CLI writing its report; the contention
measurement's configurations. No timing is asserted."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from mcl_caffe.bench.bench_train import layer_flops, training_flops
from mcl_caffe.caffe_import import load_caffe

caffe = load_caffe()
from caffe import layers as L  # noqa: E402
from conftest import ROOT  # noqa: E402



def test_flop_counter_matches_hand_counted_tiny_net(tmp_path):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 3, 8, 8]))
    # 3x3, pad 1, stride 1: 8x8 out; with bias (biases are not counted)
    n.conv1 = L.Convolution(n.data, num_output=4, kernel_size=3, pad=1)
    # grouped, strided, unpadded: (8 - 3) // 2 + 1 = 3, so 3x3 out; each output sees 4 / 2 input channels
    n.conv2 = L.Convolution(n.conv1, num_output=6, kernel_size=3, stride=2, group=2)
    n.relu = L.ReLU(n.conv2, in_place=True)
    n.fc = L.InnerProduct(n.conv2, num_output=5)
    path = tmp_path / "tiny.prototxt"
    path.write_text(str(n.to_proto()))
    net = caffe.Net(str(path), caffe.TEST)

    # multiply-adds counted by hand from the geometry: images x output maps x output pixels x taps
    conv1 = 2 * 4 * (8 * 8) * (3 * 3 * 3)
    conv2 = 2 * 6 * (3 * 3) * ((4 // 2) * 3 * 3)
    fc = 2 * 5 * (6 * 3 * 3)
    got = {r["layer"]: r["forward_flops"] for r in layer_flops(net)}
    assert got == {"conv1": 2 * conv1, "conv2": 2 * conv2, "fc": 2 * fc}
    assert training_flops(net) == 3 * 2 * (conv1 + conv2 + fc)


def _tiny_data(tmp_path, dataset="aflw", points=5):
    rng = np.random.default_rng(0)
    h5 = tmp_path / dataset / "h5" / "train_000.h5"
    h5.parent.mkdir(parents=True)
    with h5py.File(h5, "w") as f:
        f["data"] = rng.normal(0, 0.5, size=(64, 1, 50, 50)).astype(np.float32)
        f["label"] = rng.uniform(10, 40, size=(64, 2 * points)).astype(np.float32)
        f["d"] = np.full(64, 15.0, dtype=np.float32)
    (tmp_path / dataset / "train.txt").write_text(str(h5) + "\n")


def test_cli_writes_markdown_and_json(tmp_path):
    _tiny_data(tmp_path)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_train.py"), "--data-root",
                          str(tmp_path),
                          "--points", "5", "--iters", "2", "--warmup", "1", "--passes", "1", "--threads", "1",
                          "--out-dir", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    result = json.loads((out / "bench-train.json").read_text())
    (net,) = result["nets"]
    assert net["n_points"] == 5 and net["batch"] == 64 and len(net["steps"]["step_s"]) == 2
    assert net["s_per_iter"] > 0 and net["images_per_s"] == 64 / net["s_per_iter"]
    peak = max(result["sgemm"]["gflops"], result["sgemm_after"]["gflops"])
    assert result["sgemm_peak_gflops"] == peak > 0 and net["share_of_sgemm"] == net["gflops"] / peak
    # what ran: --threads 1 is the BLAS/OpenMP count Caffe's OpenBLAS reports, and its kernels are named
    assert result["threads"] == "1" and result["blas_core"]
    assert "openblas-openmp" in result["blas"] and "libgomp" in result["blas"]
    types = net["breakdown"]["by_type"]
    assert types["Convolution"]["count"] == 9 and types["BatchNorm"]["count"] == 9
    md = (out / "bench-train.md").read_text()
    assert "| 5 points |" in md and "| Convolution | 9 |" in md

    # a missing data set is named, with the command that makes it
    missing = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_train.py"), "--data-root",
                              str(tmp_path),
                              "--points", "68", "--out-dir", str(out)], cwd=ROOT, capture_output=True,
                                  text=True,
                             timeout=600)
    assert missing.returncode == 2 and "make data DATASET=300w" in missing.stderr


def test_contention_runs_each_configuration_in_its_own_process(tmp_path):
    """--contention: default and passive wait policy, alone and beside a busy loop; each worker's libgomp
    reports the policy it was given, and the busy loop is gone afterwards."""
    _tiny_data(tmp_path)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_train.py"), "--data-root",
                          str(tmp_path), "--points", "5", "--iters", "1", "--warmup", "1", "--contention",
                          "--contention-threads", "1", "--out-dir", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads((out / "contention.json").read_text())["rows"]
    assert sorted((r["policy"], r["busy"]) for r in rows) == [("default", False), ("default", True),
                                                               ("passive", False), ("passive", True)]
    for r in rows:
        assert r["threads"] == 1 and r["s_per_iter"] > 0 and len(r["step_s"]) == 1
        if r["policy"] == "passive":
            assert (r["libgomp_wait_policy"], r["libgomp_spincount"]) == ("PASSIVE", 0)
        else:  # libgomp's default: OMP_WAIT_POLICY unset, idle threads spin a while before they sleep
            assert r["omp_wait_policy_env"] is None and r["libgomp_spincount"] > 0
        assert (r["busy_pid"] is not None) == r["busy"]
        if r["busy"]:
            with pytest.raises(ProcessLookupError):
                os.kill(r["busy_pid"], 0)
    md = (out / "contention.md").read_text()
    assert "| 1 | default (" in md and "| 1 | passive (PASSIVE, 0) |" in md


def test_side_by_side_runs_both_nets_at_once(tmp_path):
    """--side-by-side: each net alone with 1 and 2 threads, then both at once with 1 thread each; the two
    together-workers' timed steps overlap in time, and the report's speed ratio follows from the rows."""
    _tiny_data(tmp_path)
    _tiny_data(tmp_path, "300w", 68)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_train.py"), "--data-root",
                          str(tmp_path), "--points", "5", "68", "--iters", "2", "--warmup", "1",
                          "--side-by-side", "--out-dir", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = json.loads((out / "side-by-side.json").read_text())["rows"]
    assert sorted((r["points"], r["threads"], r["together"]) for r in rows) == [
        (5, 1, False), (5, 1, True), (5, 2, False), (68, 1, False), (68, 1, True), (68, 2, False)]
    for r in rows:
        assert r["omp_wait_policy_env"] == "PASSIVE" and len(r["step_s"]) == 2
    a, b = (r for r in rows if r["together"])
    assert a["t_start"] < b["t_end"] and b["t_start"] < a["t_end"]  # the timed steps overlapped
    s = {(r["points"], r["threads"], r["together"]): r["s_per_iter"] for r in rows}
    ratio = (s[5, 2, False] + s[68, 2, False]) / max(s[5, 1, True], s[68, 1, True])
    assert "Side by side is %.2fx" % ratio in (out / "side-by-side.md").read_text()
