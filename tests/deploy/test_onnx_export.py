"""Caffe -> ONNX export: onnxruntime reproduces Caffe's forward pass on real face crops.

Models are random-weight MCL deploy nets (mcl_caffe.nets.synthetic_model) with non-trivial BatchNorm mean,
variance and scale factor and Scale gamma/beta, calibrated on real training crops so that the outputs
are landmark-like (template + a few pixels of variation per face).  Inputs are crops of real images
from ../shared/data made with mcl_caffe.core.crop, disjoint from the calibration faces.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mcl_caffe.deploy import onnx_export as E
from mcl_caffe.deploy import onnx_graph as G
from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.data.eval_faces import SHARED_DATA, real_crops
from mcl_caffe.nets.netgen import conv_names
from mcl_caffe.nets.synthetic_model import make_synthetic_model

caffe = load_caffe()
from caffe import layers as L, params as P  # noqa: E402
from conftest import ROOT  # noqa: E402

REPO = ROOT
DATA = SHARED_DATA
PARITY_PX = 1e-3  # the bound, in 50x50 patch pixels
CASES = {5: ("aflw", "aflw5"), 68: ("300w", "300w68")}

assert DATA.is_dir(), "these tests read the real faces in %s (../shared/data next to the clone)" % DATA


def caffe_forward(prototxt, caffemodel, x, blobs=("fc",)):
    net = caffe.Net(str(prototxt), str(caffemodel), caffe.TEST)
    net.blobs["data"].reshape(*x.shape)
    net.blobs["data"].data[...] = x
    net.forward()
    return {b: net.blobs[b].data.copy() for b in blobs}


def ort_run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"data": x})[0]


@pytest.fixture(scope="module", params=[5, 68], ids=["5pt", "68pt"])
def exported(request, tmp_path_factory):
    n = request.param
    dataset, scheme = CASES[n]
    calib = real_crops(dataset, "train", limit=48, stride=7)
    test = real_crops(dataset, "test", limit=40)
    d = tmp_path_factory.mktemp("model%d" % n)
    prototxt, caffemodel = make_synthetic_model(d, n, seed=n, patches=calib.inputs())
    out = d / "mcl.onnx"
    model, info = E.export(prototxt, caffemodel, scheme, out)
    return dict(
        n=n,
        scheme=scheme,
        prototxt=prototxt,
        caffemodel=caffemodel,
        onnx=out,
        model=model,
        info=info,
        test=test,
    )


def test_the_test_faces_are_real_faces_from_the_shared_data_next_to_the_clone(exported):
    """The parity below is measured on real crops: ../shared/data beside the repository, the first faces of
    the AFLW test list or of IBUG (not synthetic inputs), disjoint from the calibration faces."""
    assert DATA.resolve() == (REPO.parent / "shared" / "data").resolve()
    sources = exported["test"].sources
    first = {5: ("%s:1 (AFLW/0001-image20056.jpg)" % (DATA / "mtfl-full" / "testing.txt"),
                 DATA / "mtfl-full" / "AFLW" / "0001-image20056.jpg"),
             68: ("ibug/image_003_1.pts", DATA / "300w" / "ibug" / "image_003_1.pts")}[exported["n"]]
    assert len(sources) == 40 and sources[0] == first[0] and first[1].is_file(), sources[0]
    assert exported["test"].patches.std(axis=(1, 2)).min() > 5  # face images, not flat fills


def test_parity_on_real_faces(exported):
    """onnxruntime == Caffe within 1e-3 px on real crops, for outputs of landmark size."""
    x = exported["test"].inputs()
    ref = caffe_forward(exported["prototxt"], exported["caffemodel"], x)["fc"]
    got = ort_run(exported["onnx"], x)
    assert got.shape == ref.shape == (len(x), 2 * exported["n"])
    # the bound means something only if the outputs look like landmarks and vary with the face
    assert 5 < np.median(ref) < 45 and np.abs(ref).max() < 100, (ref.min(), ref.max())
    assert ref.std(axis=0).min() > 0.5, ref.std(axis=0).min()
    err = np.abs(got - ref).max()
    print("max |onnxruntime - caffe| = %.3g px (%d-point, %d real faces)" % (err, exported["n"], len(x)))
    assert err < PARITY_PX, err


def test_batch_dimension_is_dynamic_and_faces_are_independent(exported):
    x = exported["test"].inputs()[:7]
    together = ort_run(exported["onnx"], x)
    alone = np.concatenate([ort_run(exported["onnx"], x[i : i + 1]) for i in range(len(x))])
    # Two float32 computations of the same outputs (batch 7 against batch 1 may pick other kernels, so other
    # summation orders). An output of about 50 px carries 50 * 2^-24 = 3e-6 px of rounding per operation, and
    # reordering a sum of n products moves it by about sqrt(n) of those: the widest sums here have 1,152
    # (3x3x128) products, sqrt(1152) * 3e-6 = 1e-4 px.
    assert np.abs(together - alone).max() < 1e-4
    dim = exported["model"].graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == E.BATCH_DIM and not dim.HasField("dim_value")


def test_pooling_sizes_match_caffe(exported, tmp_path):
    """50 -> 25 -> 13 -> 7 in Caffe, in ONNX shape inference and in what onnxruntime really computes."""
    caffe_shapes = caffe_forward(
        exported["prototxt"],
        exported["caffemodel"],
        exported["test"].inputs()[:2],
        blobs=("pool1", "pool2", "pool3"),
    )
    assert [v.shape[2:] for v in caffe_shapes.values()] == [(25, 25), (13, 13), (7, 7)]
    model = onnx.load(str(exported["onnx"]))
    pools = [n for n in model.graph.node if n.op_type == "MaxPool"]
    assert [n.output[0] for n in pools] == ["pool1", "pool2", "pool3"]
    assert all({a.name: a for a in n.attribute}["ceil_mode"].i == 1 for n in pools)
    for name in ("pool1", "pool2", "pool3"):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    path = tmp_path / "with_pools.onnx"
    onnx.save(model, str(path))
    outs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["pool1", "pool2", "pool3"], {"data": exported["test"].inputs()[:2]}
    )
    assert [o.shape[2:] for o in outs] == [(25, 25), (13, 13), (7, 7)]
    for name, o in zip(("pool1", "pool2", "pool3"), outs):  # values too, incl. the partial border windows
        ref = caffe_shapes[name]
        # float32 on both sides, but not the same arithmetic: the export folds BatchNorm and Scale into the
        # convolution weights, which rounds each weight once more (2^-24 relative) before sums of up to 1,152
        # products; sqrt(1152) * 2^-24 * (a few layers) stays below 1e-4 of the largest activation
        assert np.abs(o - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max()), name


def test_model_is_checked_pinned_and_carries_its_metadata(exported):
    model = onnx.load(str(exported["onnx"]))
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", E.OPSET)]
    ops = [n.op_type for n in model.graph.node]
    assert "BatchNormalization" not in ops and "Mul" not in ops  # BN + Scale folded into the 9 convs
    assert ops.count("Conv") == len(conv_names()) == 9 and ops.count("MaxPool") == 3
    assert ops[-3:] == ["GlobalAveragePool", "Flatten", "Gemm"]
    meta = E.read_metadata(model)
    assert meta["scheme"] == exported["scheme"] and meta["n_points"] == str(exported["n"])
    assert meta["crop_size"] == "50" and meta["input_normalization"] == "(gray - 128) * 0.0078125"
    from mcl_caffe.core.crop import CROP_SCALE

    assert float(meta["crop_scale"]) == CROP_SCALE[exported["scheme"]]
    assert json.loads(meta["box_calibration"])["scale"] == CROP_SCALE[exported["scheme"]]
    assert len(json.loads(meta["point_names"])) == exported["n"]
    assert meta["source_caffemodel_sha256"] == E.sha256(exported["caffemodel"])


# ----------------------------------------------------------------------------- single layers against Caffe
def _tiny(tmp_path, build, weights, shape):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=list(shape)))
    build(n)
    proto = tmp_path / "tiny.prototxt"
    proto.write_text(str(n.to_proto()))
    net = caffe.Net(str(proto), caffe.TEST)
    for layer, blobs in weights.items():
        for i, b in enumerate(blobs):
            net.params[layer][i].data[...] = b
    model = tmp_path / "tiny.caffemodel"
    net.save(str(model))
    return proto, model


@pytest.mark.parametrize("size", [50, 25, 13, 7, 6])
def test_max_pool_matches_caffe_at_the_border(tmp_path, size):
    """A lone 2x2/2 max pooling on negative-valued input: padding must never win the max."""
    proto, model = _tiny(
        tmp_path,
        lambda n: setattr(n, "pool", L.Pooling(n.data, pool=P.Pooling.MAX, kernel_size=2, stride=2)),
        {},
        (2, 3, size, size),
    )
    net = E.read_prototxt(proto)
    graph, _, info = E.build_graph(net, {}, "tiny")
    m = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", E.OPSET)])
    m.ir_version = E.IR_VERSION
    path = tmp_path / "pool.onnx"
    onnx.save(m, str(path))
    x = -np.random.default_rng(size).uniform(1, 2, (2, 3, size, size)).astype(np.float32)
    ref = caffe_forward(proto, model, x, blobs=("pool",))["pool"]
    got = ort_run(path, x)
    assert got.shape == ref.shape == (2, 3, -(-size // 2), -(-size // 2))
    assert np.array_equal(got, ref)


@pytest.mark.parametrize(
    "size,kernel,stride,pad", [(13, 3, 2, 1), (12, 3, 2, 1), (25, 3, 3, 0), (10, 2, 2, 1)]
)
def test_pool_output_size_rules_agree_with_caffe(tmp_path, size, kernel, stride, pad):
    """The exporter's copy of Caffe's size rule equals Caffe's own, and exported layers equal Caffe."""
    proto, model = _tiny(
        tmp_path,
        lambda n: setattr(
            n, "pool", L.Pooling(n.data, pool=P.Pooling.MAX, kernel_size=kernel, stride=stride, pad=pad)
        ),
        {},
        (1, 2, size, size),
    )
    x = np.random.default_rng(0).normal(size=(1, 2, size, size)).astype(np.float32)
    ref = caffe_forward(proto, model, x, blobs=("pool",))["pool"]
    assert ref.shape[2] == G.caffe_pool_out_size(size, kernel, stride, pad)
    graph, _, _ = E.build_graph(E.read_prototxt(proto), {}, "tiny")
    m = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", E.OPSET)])
    m.ir_version = E.IR_VERSION
    onnx.save(m, str(tmp_path / "p.onnx"))
    got = ort_run(tmp_path / "p.onnx", x)
    assert got.shape == ref.shape and np.array_equal(got, ref)


def test_batchnorm_scale_factor_zero_eps_and_unfolded_affine(tmp_path):
    """BN scale factor 0 (Caffe then uses mean = var = 0), a non-default eps, Scale without bias, and a
    BN/Scale pair after a pooling layer (exported as Mul + Add instead of folded)."""
    rng = np.random.default_rng(3)

    def build(n):
        n.conv = L.Convolution(n.data, num_output=4, kernel_size=3, pad=1)
        n.bn = L.BatchNorm(n.conv, in_place=True, batch_norm_param=dict(use_global_stats=True))
        n.sc = L.Scale(n.conv, in_place=True, bias_term=False)
        n.conv2 = L.Convolution(n.conv, num_output=3, kernel_size=3, pad=1, bias_term=False)
        n.bn2 = L.BatchNorm(n.conv2, in_place=True, batch_norm_param=dict(use_global_stats=True, eps=0.05))
        n.sc2 = L.Scale(n.conv2, in_place=True, bias_term=True)
        n.relu2 = L.ReLU(n.conv2, in_place=True, negative_slope=0.1)
        n.pool = L.Pooling(n.conv2, pool=P.Pooling.MAX, kernel_size=2, stride=2)
        n.bn3 = L.BatchNorm(n.pool, batch_norm_param=dict(use_global_stats=True))
        n.sc3 = L.Scale(n.bn3, bias_term=True)
        n.gap = L.Pooling(n.sc3, pool=P.Pooling.AVE, global_pooling=True)
        n.fc = L.InnerProduct(n.gap, num_output=6)

    weights = {
        "conv": [rng.normal(0, 0.3, (4, 2, 3, 3)), rng.normal(0, 0.1, 4)],
        "bn": [rng.normal(0, 1, 4), rng.uniform(0.5, 2, 4), [0.0]],
        "sc": [rng.uniform(0.5, 1.5, 4)],
        "conv2": [rng.normal(0, 0.3, (3, 4, 3, 3))],
        "bn2": [rng.normal(0, 1, 3) * 37.0, rng.uniform(0.01, 0.05, 3) * 37.0, [37.0]],
        "sc2": [rng.uniform(0.5, 1.5, 3), rng.normal(0, 0.2, 3)],
        "bn3": [rng.normal(0, 1, 3) * 999.0, rng.uniform(0.5, 2, 3) * 999.0, [999.0]],
        "sc3": [rng.uniform(0.5, 1.5, 3), rng.normal(0, 0.2, 3)],
        "fc": [rng.normal(0, 1, (6, 3)), rng.normal(0, 1, 6)],
    }
    proto, model = _tiny(tmp_path, build, weights, (3, 2, 11, 11))
    graph, expected, info = E.build_graph(E.read_prototxt(proto), E.read_caffemodel(model), "tiny")
    assert info["folds"] == ["conv <- bn + sc", "conv2 <- bn2 + sc2"]
    m = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", E.OPSET)])
    m.ir_version = E.IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    E._check_shapes(m, expected)
    onnx.save(m, str(tmp_path / "t.onnx"))
    x = np.random.default_rng(4).normal(size=(3, 2, 11, 11)).astype(np.float32)
    ref = caffe_forward(proto, model, x)["fc"]
    got = ort_run(tmp_path / "t.onnx", x)
    ops = [n.op_type for n in m.graph.node]
    assert "LeakyRelu" in ops and "Mul" in ops and ops.count("Conv") == 2
    # scale factor 0 means 1/sqrt(eps) ~ 316x gain: compare relative to the output size
    assert np.abs(ref).max() > 1.0
    assert np.abs(got - ref).max() <= 2e-5 * np.abs(ref).max(), (np.abs(got - ref).max(), np.abs(ref).max())


# ----------------------------------------------------------------------------- errors and CLI
def test_wrong_or_missing_files_give_clear_errors(exported, tmp_path):
    other = 68 if exported["n"] == 5 else 5
    with pytest.raises(E.ExportError, match="scheme"):
        E.export(exported["prototxt"], exported["caffemodel"], CASES[other][1])
    with pytest.raises(E.ExportError, match="caffemodel not found"):
        E.export(exported["prototxt"], tmp_path / "nope.caffemodel", exported["scheme"])
    with pytest.raises(E.ExportError, match="prototxt not found"):
        E.export(tmp_path / "nope.prototxt", exported["caffemodel"], exported["scheme"])
    with pytest.raises(E.ExportError, match="swapped"):
        E.export(exported["caffemodel"], exported["prototxt"], exported["scheme"])
    with pytest.raises(E.ExportError, match="unknown landmark scheme"):
        E.export(exported["prototxt"], exported["caffemodel"], "cats")
    junk = tmp_path / "junk.caffemodel"
    junk.write_bytes(b"\x08\x96\x01" + bytes(range(256)) * 4)
    with pytest.raises(E.ExportError, match="junk.caffemodel"):
        E.export(exported["prototxt"], junk, exported["scheme"])


def test_caffemodel_of_another_net_is_refused(exported, tmp_path):
    from mcl_caffe.nets.synthetic_model import write_deploy

    other = write_deploy(tmp_path / "other.prototxt", 68 if exported["n"] == 5 else 5)
    with pytest.raises(E.ExportError, match="conv4_3.*weight blob has shape"):
        E.export(other, exported["caffemodel"], "300w68" if exported["n"] == 5 else "aflw5")


def test_cli_help_errors_and_run_dir(exported, tmp_path):
    tool = [sys.executable, str(REPO / "tools" / "export_onnx.py")]
    h = subprocess.run(tool + ["--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "--prototxt" in h.stdout and "ceil_mode" in h.stdout
    bad = subprocess.run(
        tool
        + [
            "--prototxt",
            str(tmp_path / "none"),
            "--caffemodel",
            str(exported["caffemodel"]),
            "--scheme",
            exported["scheme"],
            "--out",
            str(tmp_path / "x.onnx"),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "prototxt not found" in bad.stderr and not (tmp_path / "x.onnx").exists()
    # the `make onnx` layout: runs/<dataset>-<profile>/assemble/{deploy.prototxt, am.caffemodel, model.json}
    run = tmp_path / "runs" / "x-y" / "assemble"
    run.mkdir(parents=True)
    (run / "deploy.prototxt").write_bytes(Path(exported["prototxt"]).read_bytes())
    (run / "am.caffemodel").write_bytes(Path(exported["caffemodel"]).read_bytes())
    no_json = subprocess.run(
        tool + ["--run-dir", str(run), "--out", str(tmp_path / "o.onnx")], capture_output=True, text=True
    )
    assert no_json.returncode == 2 and "model.json" in no_json.stderr
    (run / "model.json").write_text(json.dumps({"scheme": exported["scheme"], "n_points": exported["n"]}))
    out = tmp_path / "runs" / "x-y" / "onnx" / "mcl.onnx"
    ok = subprocess.run(
        ["make", "-s", "-C", str(REPO), "onnx", "DATASET=x", "PROFILE=y", "RUNS=%s" % (tmp_path / "runs")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    x = exported["test"].inputs()[:5]
    assert np.array_equal(ort_run(out, x), ort_run(exported["onnx"], x))


@pytest.mark.parametrize("size,kernel,stride,pad,caffe_size", [(5, 1, 3, 0, 3), (5, 2, 2, 1, 3)])
def test_pooling_that_onnx_cannot_reproduce_is_refused(tmp_path, size, kernel, stride, pad, caffe_size):
    """Kernel 1, stride 3 on 5 pixels: Caffe's ceil mode adds a window starting at 6, wholly outside the input
    (Caffe outputs -FLT_MAX there). Kernel 2, stride 2, pad 1 on 5 pixels: Caffe drops the window that would
    start in the padding (3 outputs), ONNX's formula gives 4. Both must be refused, not exported wrongly."""
    proto, model = _tiny(
        tmp_path,
        lambda n: setattr(
            n, "pool", L.Pooling(n.data, pool=P.Pooling.MAX, kernel_size=kernel, stride=stride, pad=pad)
        ),
        {},
        (1, 1, size, size),
    )
    x = np.random.default_rng(0).normal(size=(1, 1, size, size)).astype(np.float32)
    assert caffe_forward(proto, model, x, blobs=("pool",))["pool"].shape[2] == caffe_size
    assert G.caffe_pool_out_size(size, kernel, stride, pad) == caffe_size
    with pytest.raises(E.ExportError, match="cannot be exported exactly"):
        E.build_graph(E.read_prototxt(proto), {}, "tiny")


def test_run_export_carries_crop_scale_and_box_calibration(exported, tmp_path):
    """model.json may record the training crop scale and the fitted given-box calibration; the ONNX file
    then carries them, and inference crops given boxes with them."""
    from mcl_caffe.core.crop import BoxCalibration
    from mcl_caffe.infer.aligner import Aligner

    run = tmp_path / "assemble"
    run.mkdir()
    (run / "deploy.prototxt").write_bytes(Path(exported["prototxt"]).read_bytes())
    (run / "am.caffemodel").write_bytes(Path(exported["caffemodel"]).read_bytes())
    cal = {"scale": 3.0, "dx": 0.1, "dy": -0.05, "fitted_on": 123}
    (run / "model.json").write_text(
        json.dumps(
            {
                "scheme": exported["scheme"],
                "n_points": exported["n"],
                "crop_scale": 2.5,
                "box_calibration": cal,
            }
        )
    )
    E.export_run(run, tmp_path / "m.onnx")
    meta = E.read_metadata(tmp_path / "m.onnx")
    assert float(meta["crop_scale"]) == 2.5 and json.loads(meta["box_calibration"]) == cal
    assert meta["run"] == tmp_path.name
    info = Aligner(tmp_path / "m.onnx").info
    assert info.calibration == BoxCalibration(**cal) and info.crop_scale == 2.5
    (run / "model.json").write_text(json.dumps({"scheme": exported["scheme"], "n_points": exported["n"] + 1}))
    with pytest.raises(E.ExportError, match="does not have"):
        E.export_run(run, tmp_path / "m2.onnx")
