"""The fast CPU layers of the patched Caffe (tools/caffe_patches/0002-0004) compute what the stock code does.

CAFFE_CPU_PATH=stock, read by the layers at every forward pass, selects the stock per-image convolution and
the stock BatchNorm, and runs ReLU, Scale and max pooling on one thread, in the same build, so both paths run
here on the same weights and batches. No mocks.

With one image per batch the batched convolution makes exactly the stock GEMM calls (same shapes, same
operands, one thread), so everything must then be bit-equal: this checks im2col/col2im with a row stride, the
scatter of the outputs with their bias, the gather of the output gradients, and BatchNorm with global
statistics, which repeats the stock float operations ((x - mean) / pow(var + eps, 0.5)).
With more images per batch OpenBLAS's SGEMM sums a column's dot product in an order that depends on where
the column sits in the matrix (its kernels for the edge columns unroll K differently: measured, 1-ulp
differences in the forward output that come and go with the column count), the weight gradient becomes
per-thread sums over the threads' images' N*H*W positions instead of per-image sums; BatchNorm's batch
statistics and gradients are per-channel loops instead of BLAS gemv/gemm. There the paths must agree within
float-reordering tolerance. Patch 0004's threads are checked last: deterministic at a given count, and the
element-wise layers bit-equal on one and two threads.
"""
import subprocess
import sys

import h5py
import numpy as np
import pytest

from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.train.shape_init import mean_shape_of_list, set_mean_shape_bias

caffe = load_caffe()
from caffe import layers as L  # noqa: E402
from conftest import ROOT, SHARED_DATA  # noqa: E402

SHARED = SHARED_DATA / "mtfl-full"

# Float32 unit roundoff u = 2^-24 = 6e-8. Reordering a sum of n terms moves it by about u * log2(n) *
# sum|terms| for the blocked/pairwise orders used here (n up to 64 * 2,500 = 1.6e5, log2 n = 17: ~1e-6 of
# sum|terms|). One forward + backward pass chains about 40 such reductions (the convolutions and the BatchNorm
# statistics of 9 conv blocks, forward and backward): 1e-6 * 40 = 4e-5, below RTOL = 1e-4, for values of the
# size of their blob (the training test below compares single steps from the same state, so nothing compounds
# over steps); an element much smaller than its blob's largest is compared at that scale (ATOL = RTOL *
# max|blob|), because its error comes from sums of terms of the blob's size, not of its own.
RTOL = 1e-4
# A step's update is a gradient, and a gradient is a sum in which an activation within rounding of a ReLU's
# (or a max-pool's) threshold switches a whole term on or off. Such a switch in a deep layer reroutes the
# gradient of that one image through every layer below it (measured: the gradients that differ by more than
# 1e-3 of their blob's scale between the two paths all lie in the one or two images of the batch that had a
# switch, spread over all channels of the layers below), so a lower layer's update can move by a sizeable part
# of one image's share of the batch, 1/16 = 6 % here. UPDATE_RTOL allows that part to be up to half of it.
# Measured while writing the test (worst blob of 20 steps, in norm): 0.38 % with OpenBLAS's Haswell kernels,
# 1.07 % with its SkylakeX kernels (their forward passes round differently, so different images hit a
# threshold); Haswell vs SkylakeX kernels on the stock code alone: 0.26 % on the first step. The loss of every
# step agrees within RTOL.
UPDATE_RTOL = 3e-2
# Patch 0004 runs an element-wise loop on one thread below 64K elements (cpu_loop_threads in
# include/caffe/util/cpu_threads.hpp); the thread tests use blobs at least this big.
OMP_MIN_ELEMENTS = 1 << 16


def _close(a, b, what, scale=None):
    """a == b within RTOL of the blob's scale (default: its largest magnitude)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.abs(b).max()), 1e-30) if scale is None else scale
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def _train_net(tmp_path, n, name):
    """A TRAIN-phase net from NetSpec `n`, with gradients to every input (force_backward)."""
    proto = n.to_proto()
    proto.force_backward = True
    path = tmp_path / ("%s.prototxt" % name)
    path.write_text(str(proto))
    return caffe.Net(str(path), caffe.TRAIN)


def _saved_params(net):
    return {name: [b.data.copy() for b in blobs] for name, blobs in net.params.items()}


def _restore_params(net, saved):
    for name, blobs in net.params.items():
        for b, v in zip(blobs, saved[name]):
            b.data[...] = v


def _conv_net(tmp_path, bn1_global=False, batch=5):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[batch, 3, 13, 13]))
    n.label = L.Input(shape=dict(dim=[batch, 7]))
    n.conv1 = L.Convolution(n.data, num_output=8, kernel_size=3, pad=1, weight_filler=dict(type="msra"),
                            bias_filler=dict(type="gaussian", std=0.1))
    n.bn1 = L.BatchNorm(n.conv1, in_place=True,
                        **(dict(batch_norm_param=dict(use_global_stats=True)) if bn1_global else {}))
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    # strided, grouped, unpadded, no bias: (13 - 3) // 2 + 1 = 6
    n.conv2 = L.Convolution(n.conv1, num_output=6, kernel_size=3, stride=2, group=2, bias_term=False,
                            weight_filler=dict(type="msra"))
    n.bn2 = L.BatchNorm(n.conv2, in_place=True, batch_norm_param=dict(use_global_stats=True))
    n.fc = L.InnerProduct(n.conv2, num_output=7, weight_filler=dict(type="xavier"))
    n.loss = L.EuclideanLoss(n.fc, n.label)
    return _train_net(tmp_path, n, "conv")


def _pass(net, path, monkeypatch, data, label):
    """One forward + backward on `path` ('fast' or 'stock'); returns copies of what the layers produced."""
    if path == "stock":
        monkeypatch.setenv("CAFFE_CPU_PATH", "stock")
    else:
        monkeypatch.delenv("CAFFE_CPU_PATH", raising=False)
    net.clear_param_diffs()
    net.blobs["data"].data[...] = data
    net.blobs["label"].data[...] = label
    net.forward(end="conv1")
    out = {"conv1_top": net.blobs["conv1"].data.copy()}
    net.forward(start="bn1")
    out["conv2_bn_top"] = net.blobs["conv2"].data.copy()
    net.backward()
    out["data_diff"] = net.blobs["data"].diff.copy()
    out["conv1_top_diff"] = net.blobs["conv1"].diff.copy()
    for name in ("conv1", "conv2"):
        for k, blob in enumerate(net.params[name]):
            out["%s_diff%d" % (name, k)] = blob.diff.copy()
    out["bn1_stats"] = np.concatenate([b.data.ravel() for b in net.params["bn1"]])
    return out


def test_conv_and_batchnorm_match_the_stock_code(tmp_path, monkeypatch):
    net = _conv_net(tmp_path)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((5, 3, 13, 13)).astype(np.float32)
    label = rng.standard_normal((5, 7)).astype(np.float32)
    # bn2 uses stored statistics: give it non-trivial ones
    bn2 = net.params["bn2"]
    bn2[0].data[...] = rng.normal(0, 0.5, bn2[0].data.shape)
    bn2[1].data[...] = rng.uniform(0.5, 2.0, bn2[1].data.shape)
    bn2[2].data[...] = 1.0
    saved = _saved_params(net)
    stock = _pass(net, "stock", monkeypatch, data, label)
    _restore_params(net, saved)
    fast = _pass(net, "fast", monkeypatch, data, label)

    # the whole net's gradient with respect to its input runs through both convolutions' data gradients,
    # bn1 (batch statistics) and bn2 (global statistics)
    _close(fast["conv1_top"], stock["conv1_top"], "conv1 forward")
    _close(fast["conv2_bn_top"], stock["conv2_bn_top"], "conv2 after bn2")
    _close(fast["data_diff"], stock["data_diff"], "data gradient")
    _close(fast["bn1_stats"], stock["bn1_stats"], "bn1 running statistics")
    for key in ("conv1_diff0", "conv2_diff0"):
        _close(fast[key], stock[key], key)
    # conv1's bias gradient is a sum that cancels to ~0 (bn1 subtracts the batch mean): what is left is
    # rounding, to be compared at the scale of the terms summed, sum |d loss / d conv1| per channel
    terms = np.abs(stock["conv1_top_diff"]).sum(axis=(0, 2, 3)).max()
    _close(fast["conv1_diff1"], stock["conv1_diff1"], "conv1 bias gradient", scale=terms)
    # the stock and the fast path really are different code: the weight gradient's summation order differs
    assert not np.array_equal(fast["conv1_diff0"], stock["conv1_diff0"])


def test_one_image_batches_and_global_batchnorm_are_bit_equal(tmp_path, monkeypatch):
    """One image, both BatchNorms on stored statistics: the same float operations on both paths."""
    net = _conv_net(tmp_path, bn1_global=True, batch=1)
    rng = np.random.default_rng(1)
    for name in ("bn1", "bn2"):
        blobs = net.params[name]
        blobs[0].data[...] = rng.normal(0, 0.5, blobs[0].data.shape)
        blobs[1].data[...] = rng.uniform(0.5, 2.0, blobs[1].data.shape)
        blobs[2].data[...] = 1.0
    data = rng.standard_normal((1, 3, 13, 13)).astype(np.float32)
    label = rng.standard_normal((1, 7)).astype(np.float32)
    stock = _pass(net, "stock", monkeypatch, data, label)
    fast = _pass(net, "fast", monkeypatch, data, label)
    assert set(fast) == set(stock)
    for key in sorted(stock):
        assert np.array_equal(fast[key], stock[key]), key


@pytest.fixture(scope="module")
def real_patches(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.fail("the shared MTFL data is missing at %s" % SHARED)
    out = tmp_path_factory.mktemp("numerics-data")
    res = subprocess.run([sys.executable, "tools/make_data.py", "--dataset", "aflw", "--data-root",
                          str(SHARED),
                          "--out", str(out), "--limit", "300", "--rotations", "2", "--jitters", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return out / "aflw" / "train.txt"


def _stage1_solver(listfile, work, batch):
    from mcl_caffe.nets import netgen
    from mcl_caffe.nets import solvergen

    work.mkdir(parents=True, exist_ok=True)
    text = str(netgen.train_net(netgen.NetConfig(5, batch_size=batch), str(listfile), [1.0] * 5))
    # HDF5Data shuffles with std::rand (one stream per process, not per net): the two solvers of this process
    # read the patches in file order instead, so that both see the same batches
    assert text.count("shuffle: true") == 1
    (work / "train.prototxt").write_text(text.replace("shuffle: true", "shuffle: false"))
    sp = solvergen.solver_param(solvergen.get_profile("cpu"), True, str(work / "train.prototxt"),
                                str(work / "s"))
    (work / "solver.prototxt").write_text(solvergen.solver_text(sp))
    solver = caffe.get_solver(str(work / "solver.prototxt"))
    set_mean_shape_bias(solver.net, mean_shape_of_list(listfile))
    return solver


def _params(net):
    return {"%s/%d" % (name, k): b.data.copy() for name, blobs in net.params.items() for k,
            b in enumerate(blobs)}


def test_twenty_training_steps_agree_with_the_stock_path(real_patches, tmp_path, monkeypatch):
    """Stage 1's net and solver (lr 0.02, momentum, weight decay), 20 steps on real patches, step by step.

    Free-running, two trainings drift apart whatever the cause of their first rounding difference: the stock
    code under OpenBLAS's SkylakeX kernels instead of its Haswell ones (same code, another summation order)
    differs from the stock run by 1e-4 in the loss after 4 steps and by ~10 % after 20 (measured while writing
    this test, as does the fast path). So each step starts both paths from the same state: the stock solver
    steps, its state (weights, momentum, iteration) is restored into the fast-path solver, which does the same
    step on the same batch, and the results are compared.
    """
    from mcl_caffe.train.solve_loop import weighted_loss

    iters, batch = 20, 16

    n_patches = sum(h5py.File(f.strip(), "r")["data"].shape[0] for f in real_patches.read_text().split())
    assert iters * batch <= n_patches, "the steps must not wrap around the data"
    monkeypatch.setenv("CAFFE_CPU_PATH", "stock")
    stock = _stage1_solver(real_patches, tmp_path / "stock", batch)
    monkeypatch.delenv("CAFFE_CPU_PATH")
    fast = _stage1_solver(real_patches, tmp_path / "fast", batch)
    loss_of = weighted_loss([1.0] * 5)
    start = _params(stock.net)
    stock_losses, fast_losses = [], []
    for it in range(iters):
        stock.snapshot()
        fast.restore(str(tmp_path / "stock" / ("s_iter_%d.solverstate" % it)))
        before = _params(stock.net)
        monkeypatch.setenv("CAFFE_CPU_PATH", "stock")
        stock.step(1)
        monkeypatch.delenv("CAFFE_CPU_PATH")
        fast.step(1)
        stock_losses.append(loss_of(stock.net))
        fast_losses.append(loss_of(fast.net))
        a, b = _params(fast.net), _params(stock.net)
        for key in b:
            what = "step %d %s" % (it + 1, key)
            if key.startswith("conv") and key.endswith("/1"):
                # a convolution's bias in front of BatchNorm gets a zero gradient in exact arithmetic (BN
                # removes the batch mean): it holds rounding (~1e-8), compared at the scale of the layer's
                # weights
                _close(a[key], b[key], what, scale=np.abs(b[key[:-1] + "0"]).max())
                continue
            # what one step changes must be the same step: the updates agree to UPDATE_RTOL in norm
            step_a, step_b = a[key] - before[key], b[key] - before[key]
            assert np.linalg.norm(step_a - step_b) <= UPDATE_RTOL * np.linalg.norm(step_b), what
            if not (key.startswith("scale") and key.endswith("/1")):
                # weights and statistics within RTOL of their size, plus what the update may differ by (a
                # Scale layer's bias starts at 0 and so is nothing but its updates, checked above)
                np.testing.assert_allclose(
                    a[key], b[key], rtol=RTOL,
                    atol=RTOL * np.abs(b[key]).max() + UPDATE_RTOL * np.abs(step_b).max(), err_msg=what)
    assert np.all(np.isfinite(stock_losses))
    np.testing.assert_allclose(fast_losses, stock_losses, rtol=RTOL)
    # the steps did something: the weights moved far beyond the tolerance, and the loss fell
    moved = _params(stock.net)["conv1_2/0"] - start["conv1_2/0"]
    assert np.abs(moved).max() > 100 * RTOL * np.abs(start["conv1_2/0"]).max()
    assert np.mean(stock_losses[-5:]) < np.mean(stock_losses[:5])


def _layer_net(tmp_path, batch=8):
    """Convolution -> BatchNorm (batch statistics) -> Scale -> ReLU -> max pooling, big enough (8 x 16 x 24 x
    24 = 73,728 elements per blob) for the OpenMP loops of patch 0004 to run on more than one thread."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[batch, 5, 24, 24]))
    n.label = L.Input(shape=dict(dim=[batch, 16, 12, 12]))
    n.conv = L.Convolution(n.data, num_output=16, kernel_size=3, pad=1, weight_filler=dict(type="msra"),
                           bias_filler=dict(type="gaussian", std=0.1))
    n.bn = L.BatchNorm(n.conv, in_place=True)
    n.scale = L.Scale(n.conv, in_place=True, bias_term=True, filler=dict(type="gaussian", mean=1, std=0.2))
    n.relu = L.ReLU(n.conv, in_place=True)
    n.pool = L.Pooling(n.conv, pool=0, kernel_size=2, stride=2)  # MAX
    n.loss = L.EuclideanLoss(n.pool, n.label)
    return _train_net(tmp_path, n, "layers")


def _layer_pass(net, threads, data, label, saved):
    """Forward + backward on `threads` OpenMP/BLAS threads from the saved weights: blobs' data and diffs."""
    from mcl_caffe.caffe_import import blas_threads

    _restore_params(net, saved)
    net.clear_param_diffs()
    net.blobs["data"].data[...] = data
    net.blobs["label"].data[...] = label
    out = {}
    with blas_threads(threads):
        net.forward(end="conv")
        out["conv_top"] = net.blobs["conv"].data.copy()
        net.forward(start="bn")
        out["pool_top"] = net.blobs["pool"].data.copy()
        net.backward(end="relu")
        out["relu_bottom_diff"] = net.blobs["conv"].diff.copy()
        net.backward(start="scale")
    out["data_diff"] = net.blobs["data"].diff.copy()
    for name, blobs in net.params.items():
        for k, b in enumerate(blobs):
            out["%s_data%d" % (name, k)] = b.data.copy()
            out["%s_diff%d" % (name, k)] = b.diff.copy()
    return out


def test_fast_path_is_deterministic_and_thread_count_only_reorders_sums(tmp_path, monkeypatch):
    """Patch 0004 runs the convolution's images and the element-wise loops on OpenMP threads.

    At a given thread count every result is the same from run to run (static partitions; the weight gradient's
    per-thread partial sums are added in thread order). Between one and two threads, the loops of BatchNorm,
    ReLU and max pooling compute each element exactly as before, so from the same input they are bit-equal;
    the convolution's GEMMs see fewer columns per call and its weight gradient is summed per thread first, so
    those agree within float-reordering tolerance.
    """
    from mcl_caffe.caffe_import import get_blas_threads

    monkeypatch.delenv("CAFFE_CPU_PATH", raising=False)
    net = _layer_net(tmp_path)
    assert net.blobs["conv"].data.size >= OMP_MIN_ELEMENTS
    batch = net.blobs["data"].data.shape[0]
    rng = np.random.default_rng(2)
    data = rng.standard_normal((batch, 5, 24, 24)).astype(np.float32)
    label = rng.standard_normal((batch, 16, 12, 12)).astype(np.float32)
    saved = _saved_params(net)
    before = get_blas_threads()
    one = _layer_pass(net, 1, data, label, saved)
    two = _layer_pass(net, 2, data, label, saved)
    two_again = _layer_pass(net, 2, data, label, saved)
    assert get_blas_threads() == before
    assert set(one) == set(two) == set(two_again)
    for key in sorted(two):
        assert np.array_equal(two[key], two_again[key]), "%s differs between two runs at 2 threads" % key
    for key in sorted(one):
        if key == "conv_diff1":
            # the bias gradient in front of BatchNorm cancels to rounding (see the first test): compared at
            # the scale of the weight gradient
            _close(two[key], one[key], "%s, 2 threads vs 1" % key, scale=np.abs(one["conv_diff0"]).max())
            continue
        _close(two[key], one[key], "%s, 2 threads vs 1" % key)
    # the weight gradient really is summed in another order on two threads (else this test checks nothing
    # about the partial sums), and it is the same gradient
    assert not np.array_equal(two["conv_diff0"], one["conv_diff0"])


def test_elementwise_layers_are_bit_equal_on_one_and_two_threads(tmp_path):
    """BatchNorm, Scale, ReLU and max pooling alone (no convolution in front): bit-equal on 1 and 2 threads.

    Max pooling runs twice: with its mask kept inside the layer (the nets' case) and with the mask as a second
    top (Caffe's other branch of the same loop), 3 x 3 windows at stride 2 so that windows overlap.
    """
    from mcl_caffe.caffe_import import blas_threads

    shape = [8, 16, 24, 24]  # 73,728 elements: above OMP_MIN_ELEMENTS, so the loops run on 2 threads
    assert np.prod(shape) >= OMP_MIN_ELEMENTS
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=shape))
    n.bn = L.BatchNorm(n.data)
    n.scale = L.Scale(n.bn, in_place=True, bias_term=True, filler=dict(type="gaussian", mean=1, std=0.2))
    n.relu = L.ReLU(n.bn, in_place=True)
    n.pool = L.Pooling(n.bn, pool=0, kernel_size=2, stride=2)  # MAX
    n.pool3, n.mask3 = L.Pooling(n.bn, pool=0, kernel_size=3, stride=2, ntop=2)
    # SUMSQ: a loss-like scalar with a non-uniform gradient
    n.sum = L.Reduction(n.pool, operation=3, loss_weight=1.0)
    n.sum3 = L.Reduction(n.pool3, operation=3, loss_weight=1.0)
    net = _train_net(tmp_path, n, "elementwise")
    data = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    saved = _saved_params(net)
    runs = []
    for threads in (1, 2):
        _restore_params(net, saved)  # BatchNorm's running statistics change at every forward
        net.blobs["data"].data[...] = data
        with blas_threads(threads):
            net.forward()
            net.backward()
        runs.append({key: net.blobs[key].data.copy() for key in ("pool", "pool3", "mask3", "bn")})
        runs[-1].update(data_diff=net.blobs["data"].diff.copy(), bn_stats=net.params["bn"][0].data.copy())
    for key in runs[0]:
        assert np.array_equal(runs[0][key], runs[1][key]), key
    assert np.abs(runs[0]["data_diff"]).max() > 0
    # the second top holds each window's argmax as an index into its (image, channel) plane
    planes = runs[1]["bn"].reshape(shape[0] * shape[1], -1)
    index = runs[1]["mask3"].reshape(len(planes), -1).astype(np.int64)
    np.testing.assert_array_equal(np.take_along_axis(planes, index, axis=1),
                                  runs[1]["pool3"].reshape(len(planes), -1))
