"""Caffe deploy net (prototxt + caffemodel) -> one ONNX file for CPU inference with onnxruntime.

What the exporter does, layer by layer (anything else is refused with an ExportError naming the layer):

* Input / legacy ``input:`` fields -> graph input ``data`` (batch x C x H x W) with a symbolic batch.
* Convolution (+ the BatchNorm and Scale layers that follow it on the same blob) -> one ONNX Conv.
  BatchNorm with stored statistics computes ``(x - mean) / sqrt(var + eps)`` where Caffe keeps the
  statistics *unnormalised*: ``mean = blobs[0] * f``, ``var = blobs[1] * f`` with
  ``f = 0 if blobs[2][0] == 0 else 1 / blobs[2][0]`` (batch_norm_layer.cpp, Forward_cpu), and ``eps``
  from ``batch_norm_param`` (default 1e-5).  Scale multiplies by gamma (blobs[0]) and adds beta
  (blobs[1], when ``bias_term``).  The fold, in float64 and rounded to float32 once:
  ``W' = W * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``.
  A BatchNorm or Scale that does not directly follow a convolution becomes an explicit per-channel
  affine (Mul + Add).
* ReLU -> Relu (LeakyRelu when ``negative_slope`` != 0).  Dropout -> nothing (identity at test time).
* Pooling MAX -> MaxPool.  Caffe's output size (pooling_layer.cpp, Reshape) is
  ``ceil((H + 2p - k) / s) + 1`` in its default ceil mode, minus one when p > 0 and the last window
  would start at or past ``H + p``; each window is clipped to the image (``hend = min(hstart + k, H)``,
  ``hstart = max(hstart, 0)``), so padding never wins the max.  ONNX MaxPool with ``ceil_mode=1`` and
  symmetric ``pads`` has output size ``ceil((H + 2p - k) / s + 1)`` (the same number before Caffe's
  clipping rule) and takes the max over the elements inside the input only (onnxruntime also clips each
  window to the input).  For the MCL net (k = 2, s = 2, p = 0) both give 50 -> 25 -> 13 -> 7, the last
  window of the 25- and 13-wide maps covering one column/row; plain floor-mode ONNX pooling would give
  25 -> 12 -> 6.  The exporter computes both sizes for every pooling layer and refuses a layer where they
  differ or where ONNX's last window would start outside the input (there Caffe drops or empties the
  window, and runtimes differ).
* Pooling AVE with ``global_pooling`` -> GlobalAveragePool (MAX -> GlobalMaxPool).  Non-global
  average pooling is exported only when every window lies inside the input (no padding, no overhang),
  where Caffe and ONNX agree.
* InnerProduct -> Flatten(axis) + Gemm (transB unless ``transpose``).

After building, ``onnx.checker.check_model(full_check=True)`` runs, and the shape of every Caffe blob
as computed here with Caffe's rules is compared with ONNX shape inference.

The landmark scheme, point count, crop size and crop rule, the box calibration for given boxes and the
input normalisation are written to the model's ``metadata_props`` (see ``MODEL_KEYS``), so that an
ONNX file is enough to run inference (mcl_caffe.infer.aligner reads them back).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from mcl_caffe import __version__
from mcl_caffe.core import crop as C
from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.core.model_metadata import META_PREFIX
from mcl_caffe.deploy.caffe_files import (ExportError, _caffe_pb2, read_caffemodel, read_prototxt, sha256)
from mcl_caffe.deploy.onnx_graph import BATCH_DIM, IR_VERSION, OPSET, _Builder


def _active_in_test(layer, caffe_pb2) -> bool:
    """Caffe's NetStateRule for phase TEST only (deploy nets)."""
    test = caffe_pb2.TEST
    if layer.include:
        return any((not r.HasField("phase")) or r.phase == test for r in layer.include)
    if layer.exclude:
        return not any(r.HasField("phase") and r.phase == test for r in layer.exclude)
    return True


def build_graph(net, weights: dict[str, list[np.ndarray]], source: str = "prototxt"):
    """-> (onnx GraphProto, expected shapes {tensor: shape}, info dict). See the module docstring."""
    caffe_pb2 = _caffe_pb2()
    b = _Builder(net, weights, source)
    layers = [lay for lay in net.layer if _active_in_test(lay, caffe_pb2)]
    if net.input:
        if len(net.input) != 1:
            raise ExportError("%s: %d net inputs; exactly one is supported" % (source, len(net.input)))
        dims = list(net.input_shape[0].dim) if net.input_shape else list(net.input_dim)
        b.add_input(net.input[0], [int(d) for d in dims])
    # the last write of each blob gets the blob's own name, earlier (in-place) versions a suffixed one
    last_writer = {}
    for i, lay in enumerate(layers):
        for t in lay.top:
            last_writer[t] = i
    available: list[str] = list(b.cur)  # Caffe's rule (net.cpp): bottoms leave, tops enter
    for i, lay in enumerate(layers):
        if lay.type == "Input":
            b.layer_input(lay)
            available += [t for t in lay.top if t not in available]
            continue
        handler = _Builder.HANDLERS.get(lay.type)
        if handler is None:
            raise ExportError(
                "%s, layer %r: layer type %s is not supported by the exporter (supported: %s)"
                % (source, lay.name, lay.type, ", ".join(["Input"] + list(_Builder.HANDLERS)))
            )
        if len(lay.top) != 1 or (lay.type != "Scale" and len(lay.bottom) != 1):
            raise b.err(lay, "expected one bottom and one top")
        top = lay.top[0]
        out_name = top if last_writer[top] == i else "%s@%s" % (top, lay.name)
        handler(b, lay, out_name)
        available = [a for a in available if a not in lay.bottom]
        available += [t for t in lay.top if t not in available]
    if not hasattr(b, "input_name"):
        raise ExportError("%s: no Input layer or input: field" % source)
    for blob in list(b.pending):
        b.flush(blob)
    # Caffe's net outputs: blobs that no later layer reads
    outputs = [a for a in available if a != b.input_name]
    if not outputs:
        raise ExportError("%s: the net has no output blob" % source)
    unused = sorted(set(weights) - b.used_weights - {lay.name for lay in layers if lay.type == "Input"})
    g_inputs = [
        helper.make_tensor_value_info(b.input_name, TensorProto.FLOAT, [BATCH_DIM] + list(b.input_shape))
    ]
    g_outputs = []
    for blob in outputs:
        shp = b.shape[blob]
        g_outputs.append(
            helper.make_tensor_value_info(b.cur[blob], TensorProto.FLOAT, [BATCH_DIM] + list(shp[1:]))
        )
    graph = helper.make_graph(b.nodes, "mcl", g_inputs, g_outputs, initializer=b.inits)
    info = {
        "folds": b.folds,
        "outputs": [b.cur[o] for o in outputs],
        "output_blobs": outputs,
        "unused_caffemodel_layers": unused,
        "caffe_blob_shapes": {k: list(v) for k, v in b.shape.items()},
    }
    return graph, b.expected_shapes, info


def _check_shapes(model, expected: dict[str, tuple]) -> None:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    got = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        dims = []
        for d in vi.type.tensor_type.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") else None)
        got[vi.name] = tuple(dims)
    for name, shape in expected.items():
        if name not in got:
            continue
        want = tuple(None if i == 0 else int(v) for i, v in enumerate(shape))
        if got[name] != want:
            raise ExportError("tensor %r: ONNX infers shape %s but Caffe's is %s" % (name, got[name], want))


# ----------------------------------------------------------------------------- metadata
def resolve_scheme(scheme):
    """Scheme object, name ('300w68'), dataset name ('300w') or point count -> Scheme.
    Raises ExportError for an unknown one."""
    from mcl_caffe.core.landmarks import Scheme, get_scheme

    if isinstance(scheme, Scheme):
        return scheme
    if isinstance(scheme, str) and scheme.strip().isdigit():
        scheme = int(scheme)
    try:
        return get_scheme(scheme)
    except KeyError as exc:
        raise ExportError(str(exc.args[0])) from None


def model_metadata(
    scheme,
    crop_scale: float | None = None,
    calibration: C.BoxCalibration | None = None,
    extra: dict | None = None,
) -> dict[str, str]:
    s = resolve_scheme(scheme)
    scale = float(C.CROP_SCALE[s.name] if crop_scale is None else crop_scale)
    cal = calibration or C.BoxCalibration(scale=scale)
    meta = {
        "scheme": s.name,
        "n_points": str(s.n_points),
        "point_names": json.dumps(list(s.point_names)),
        "eye_indices": json.dumps([list(e) for e in s.eye_indices]),
        "crop_size": str(C.PATCH_SIZE),
        "crop_scale": repr(scale),
        "crop_rule": (
            "face box (left, right, top, bottom) = tight box of the landmarks; square crop centred on the "
            "box centre with side = crop_scale * max(box width, box height); patch = (image - (x0, y0)) * "
            "crop_size / side, (x0, y0) = image position of the centre of patch pixel (0, 0); pixel "
            "centres at integer coordinates; bilinear warp (cv2.warpAffine), border replicated, Gaussian "
            "anti-alias sigma = (f - 1) / 2 source pixels when shrinking by f > 1 (mcl_caffe/core/crop.py)"
        ),
        "box_calibration": json.dumps(cal.as_dict()),
        "box_calibration_rule": (
            "for a given face box (box file or detector): side = scale * max(w, h), centre = "
            "box centre + (dx, dy) * max(w, h)"
        ),
        "input_normalization": "(gray - 128) * 0.0078125",
        "pixel_mean": repr(C.PIXEL_MEAN),
        "pixel_scale": repr(C.PIXEL_SCALE),
        "input_color": "grayscale, BT.601 luma of the decoded colour image (cv2.COLOR_BGR2GRAY)",
        "input_layout": "N x 1 x %d x %d float32" % (C.PATCH_SIZE, C.PATCH_SIZE),
        "output_layout": (
            "N x 2n float32: x1, y1, x2, y2, ... in %dx%d patch pixel coordinates (pixel centres at "
            "integers)" % (C.PATCH_SIZE, C.PATCH_SIZE)
        ),
        "exporter": "mcl_caffe.deploy.onnx_export %s" % __version__,
    }
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    return {META_PREFIX + k: v for k, v in meta.items()}


def read_metadata(model_or_path) -> dict[str, str]:
    """metadata_props of an ONNX model (ModelProto or path), with the 'mcl.' prefix removed."""
    if isinstance(model_or_path, (str, Path)):
        model_or_path = onnx.load(str(model_or_path), load_external_data=False)
    return {
        p.key[len(META_PREFIX) :]: p.value
        for p in model_or_path.metadata_props
        if p.key.startswith(META_PREFIX)
    }


# ----------------------------------------------------------------------------- entry point
def export(
    prototxt,
    caffemodel,
    scheme,
    out=None,
    crop_scale: float | None = None,
    calibration: C.BoxCalibration | None = None,
    extra_metadata: dict | None = None,
):
    """Export and check. -> (onnx.ModelProto, info dict). Writes `out` when given."""
    s = resolve_scheme(scheme)
    net = read_prototxt(prototxt)
    weights = read_caffemodel(caffemodel)
    graph, expected, info = build_graph(net, weights, source=str(prototxt))
    if len(info["outputs"]) != 1:
        raise ExportError("%s: expected one output blob, got %s" % (prototxt, info["outputs"]))
    out_shape = info["caffe_blob_shapes"].get(info["output_blobs"][0])
    if out_shape is None or out_shape[1:] != [2 * s.n_points]:
        raise ExportError(
            "%s: the net outputs %s values per face, but scheme %s has %d points (needs %d)"
            % (prototxt, out_shape[1:] if out_shape else "?", s.name, s.n_points, 2 * s.n_points)
        )
    model = helper.make_model(
        graph,
        producer_name="mcl_caffe",
        producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="MCL face alignment (Shao et al. 2018), exported from Caffe %s" % Path(prototxt).name,
    )
    model.ir_version = IR_VERSION
    extra = {
        "source_prototxt": Path(prototxt).name,
        "source_prototxt_sha256": sha256(prototxt),
        "source_caffemodel": Path(caffemodel).name,
        "source_caffemodel_sha256": sha256(caffemodel),
        "folded": info["folds"],
    }
    extra.update(extra_metadata or {})
    helper.set_model_props(model, model_metadata(s, crop_scale, calibration, extra))
    onnx.checker.check_model(model, full_check=True)
    _check_shapes(model, expected)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(out))
    return model, info


def export_run(assemble_dir, out) -> tuple:
    """`make onnx`: export runs/<dataset>-<profile>/assemble/{deploy.prototxt, am.caffemodel, model.json}."""
    d = Path(assemble_dir)
    if not d.is_dir():
        raise ExportError("no assembled model folder %s (run the training pipeline first)" % d)
    meta_path = d / "model.json"
    if not meta_path.is_file():
        raise ExportError("%s is missing: it names the landmark scheme of the assembled model" % meta_path)
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ExportError("%s is not valid JSON: %s" % (meta_path, exc)) from None
    if "scheme" not in meta:
        raise ExportError('%s has no "scheme" entry' % meta_path)
    if "n_points" in meta:
        if resolve_scheme(meta["scheme"]).n_points != int(meta["n_points"]):
            raise ExportError(
                "%s: scheme %s does not have %s points" % (meta_path, meta["scheme"], meta["n_points"])
            )
    cal = None
    if isinstance(meta.get("box_calibration"), dict):
        c = meta["box_calibration"]
        cal = C.BoxCalibration(
            scale=float(c["scale"]),
            dx=float(c.get("dx", 0)),
            dy=float(c.get("dy", 0)),
            fitted_on=int(c.get("fitted_on", 0)),
        )
    extra = {"run": str(d.parent.name)}
    return export(
        d / "deploy.prototxt",
        d / "am.caffemodel",
        meta["scheme"],
        out,
        crop_scale=meta.get("crop_scale"),
        calibration=cal,
        extra_metadata=extra,
    )


def parity(prototxt, caffemodel, onnx_path, x: np.ndarray, batch: int = 64) -> dict:
    """Caffe forward vs onnxruntime on inputs x (N, 1, H, W): max and mean |difference| of the outputs."""
    import onnxruntime as ort

    caffe = load_caffe()
    net = caffe.Net(str(prototxt), str(caffemodel), caffe.TEST)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out_blob = net.outputs[0]
    diffs = []
    for s in range(0, len(x), batch):
        chunk = np.ascontiguousarray(x[s : s + batch], dtype=np.float32)
        net.blobs["data"].reshape(*chunk.shape)
        net.blobs["data"].data[...] = chunk
        ref = net.forward()[out_blob].reshape(len(chunk), -1)
        got = sess.run(None, {name: chunk})[0].reshape(len(chunk), -1)
        diffs.append(np.abs(got.astype(np.float64) - ref))
    d = np.concatenate(diffs)
    return {"faces": int(len(x)), "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean())}
