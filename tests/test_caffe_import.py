"""mcl_caffe.caffe_import: the BLAS kernels and threads that Caffe runs with.

`choose_blas_coretype` is checked on generated /proc/cpuinfo files; the real Caffe, in child processes
(OpenBLAS reads OPENBLAS_CORETYPE once, when it loads), reports the kernels it was given, and its results do
not depend on them beyond float rounding.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from mcl_caffe.caffe_import import (AVX512_FLAGS, DEFAULT_OMP_WAIT_POLICY, _cpu_flags, choose_blas_coretype,
                                   choose_omp_wait_policy)

AVX2_ONLY = "fpu sse sse2 ssse3 sse4_1 sse4_2 fma avx avx2"
AVX512 = AVX2_ONLY + " " + " ".join(AVX512_FLAGS) + " avx512_bf16"


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: %s\n\n"
                    "processor\t: 1\nflags\t\t: %s\n" % (flags, flags))
    return str(path)


def test_auto_picks_avx512_kernels_only_where_the_cpu_has_avx512(tmp_path):
    env = {"OPENBLAS_CORETYPE": "Haswell"}
    assert choose_blas_coretype(env, _cpuinfo(tmp_path, AVX512)) == "SkylakeX"
    assert env["OPENBLAS_CORETYPE"] == "SkylakeX"
    env = {"OPENBLAS_CORETYPE": "Haswell", "MCL_BLAS_CORETYPE": "auto"}
    assert choose_blas_coretype(env, _cpuinfo(tmp_path, AVX2_ONLY)) is None
    assert env == {"OPENBLAS_CORETYPE": "Haswell", "MCL_BLAS_CORETYPE": "auto"}
    # one AVX-512 subset missing (avx512vl): not enough for the SkylakeX kernels
    partial = AVX2_ONLY + " avx512f avx512cd avx512bw avx512dq"
    env = {}
    assert choose_blas_coretype(env, _cpuinfo(tmp_path, partial)) is None
    assert "OPENBLAS_CORETYPE" not in env
    # no cpuinfo to read: nothing is changed
    env = {}
    assert choose_blas_coretype(env, str(tmp_path / "missing")) is None and env == {}


def test_keep_and_explicit_names(tmp_path):
    env = {"OPENBLAS_CORETYPE": "Haswell", "MCL_BLAS_CORETYPE": "keep"}
    assert choose_blas_coretype(env, _cpuinfo(tmp_path, AVX512)) is None
    assert env["OPENBLAS_CORETYPE"] == "Haswell"
    env = {"MCL_BLAS_CORETYPE": "Zen"}
    assert choose_blas_coretype(env, _cpuinfo(tmp_path, AVX512)) == "Zen"
    assert env["OPENBLAS_CORETYPE"] == "Zen"


def test_cpu_flags_reads_the_flags_line(tmp_path):
    assert _cpu_flags(_cpuinfo(tmp_path, AVX512)) >= set(AVX512_FLAGS)
    assert "avx512f" not in _cpu_flags(_cpuinfo(tmp_path, AVX2_ONLY))


CHILD = r"""
import json, os, sys
import numpy as np
from mcl_caffe.caffe_import import load_caffe, get_blas_core
caffe = load_caffe(threads=int(sys.argv[3]))
from caffe import layers as L
n = caffe.NetSpec()
n.data = L.Input(shape=dict(dim=[8, 16, 20, 20]))
n.conv = L.Convolution(n.data, num_output=48, kernel_size=3, pad=1, weight_filler=dict(type="msra"))
n.fc = L.InnerProduct(n.conv, num_output=37, weight_filler=dict(type="xavier"))
path = sys.argv[1] + "/net.prototxt"
open(path, "w").write(str(n.to_proto()))
caffe.set_random_seed(7)
net = caffe.Net(path, caffe.TEST)
net.blobs["data"].data[...] = np.random.default_rng(5).standard_normal((8, 16, 20, 20))
net.forward()
np.savez(sys.argv[2], conv=net.blobs["conv"].data, fc=net.blobs["fc"].data)
print(json.dumps({"core": get_blas_core(), "env": os.environ.get("OPENBLAS_CORETYPE")}))
"""


def _child(tmp_path, name, coretype, threads=2):
    import os

    env = dict(os.environ, MCL_BLAS_CORETYPE=coretype, OPENBLAS_CORETYPE="Haswell")
    out = tmp_path / ("%s.npz" % name)
    res = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(out), str(threads)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    blobs = np.load(out)
    return json.loads(res.stdout.strip().splitlines()[-1]), {k: blobs[k] for k in ("conv", "fc")}


def test_caffe_runs_the_chosen_kernels_and_they_agree(tmp_path):
    """Caffe's own OpenBLAS reports the kernels chosen before it loaded; Haswell and, where the CPU has
    AVX-512, SkylakeX kernels compute the same convolution and InnerProduct within float rounding."""
    info, haswell = _child(tmp_path, "haswell", "Haswell")
    assert info == {"core": "Haswell", "env": "Haswell"}
    info, kept = _child(tmp_path, "kept", "keep")
    assert info["core"] == "Haswell"
    for k in haswell:  # same kernels, same thread count: bit-equal
        assert np.array_equal(kept[k], haswell[k]), k
    if not set(AVX512_FLAGS) <= _cpu_flags():
        pytest.skip("this CPU has no AVX-512: the SkylakeX kernels cannot run here")
    info, skylakex = _child(tmp_path, "skylakex", "auto")
    assert info == {"core": "SkylakeX", "env": "SkylakeX"}
    # a sum of 144 (conv) or 19,200 (fc) products: ~1e-6 relative reordering error, compared at the blob's
    # scale
    for k in haswell:
        scale = np.abs(haswell[k]).max()
        np.testing.assert_allclose(skylakex[k], haswell[k], rtol=1e-5, atol=1e-5 * scale, err_msg=k)
    assert not np.array_equal(skylakex["fc"], haswell["fc"])  # the kernels really differ


def test_omp_wait_policy_choice():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert choose_omp_wait_policy(env, "keep") is None and env == {"OMP_WAIT_POLICY": "ACTIVE"}
    assert choose_omp_wait_policy(env, "passive") == "PASSIVE" and env["OMP_WAIT_POLICY"] == "PASSIVE"
    env = {"MCL_OMP_WAIT_POLICY": "active"}
    assert choose_omp_wait_policy(env) == "ACTIVE"
    assert choose_omp_wait_policy(env, "passive") == "PASSIVE"  # the caller's choice wins over the variable
    env = {}  # the default, chosen from reports/bench-train/contention.md: passive
    assert DEFAULT_OMP_WAIT_POLICY == "passive"
    assert choose_omp_wait_policy(env) == "PASSIVE" and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    with pytest.raises(ValueError, match="choose one of passive, active, keep"):
        choose_omp_wait_policy({"MCL_OMP_WAIT_POLICY": "lazy"})


def _runner_libgomp(tmp_path, *args, env=None):
    """The wait policy and spin count libgomp says it runs with in a stage runner process (which loads Caffe,
    then stops at once: its data folder is empty)."""
    full = dict(os.environ, OMP_DISPLAY_ENV="verbose", **(env or {}))
    full.pop("OMP_WAIT_POLICY", None)
    res = subprocess.run([sys.executable, "-m", "mcl_caffe.train.runner", "stage3", "--dataset", "aflw",
                          "--profile", "smoke", "--data", str(tmp_path), "--runs", str(tmp_path / "runs"),
                          *args], cwd=ROOT, capture_output=True, text=True, env=full, timeout=300)
    assert res.returncode == 2 and "no train list" in res.stderr, res.stderr[-2000:]
    return (re.search(r"OMP_WAIT_POLICY = '(\w+)'", res.stderr).group(1),
            int(re.search(r"GOMP_SPINCOUNT = '(\d+)'", res.stderr).group(1)))


def test_runner_sets_the_wait_policy_before_caffe_loads(tmp_path):
    """libgomp reads OMP_WAIT_POLICY when Caffe loads it: the runner's flag and MCL_OMP_WAIT_POLICY reach it
    (passive: idle threads never spin; active: they spin longer than the default, which spins a while)."""
    passive = _runner_libgomp(tmp_path, "--omp-wait-policy", "passive")
    active = _runner_libgomp(tmp_path, env={"MCL_OMP_WAIT_POLICY": "active"})
    keep = _runner_libgomp(tmp_path, "--omp-wait-policy", "keep")
    assert passive == ("PASSIVE", 0)
    assert active[0] == "ACTIVE" and active[1] > keep[1] > 0
    bad = subprocess.run([sys.executable, "-m", "mcl_caffe.train.runner", "stage3", "--dataset", "aflw",
                          "--data", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, MCL_OMP_WAIT_POLICY="lazy"))
    assert bad.returncode == 2 and "MCL_OMP_WAIT_POLICY" in bad.stderr
