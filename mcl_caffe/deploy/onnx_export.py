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

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mcl_caffe import __version__
from mcl_caffe.core import crop as C
from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.core.model_metadata import META_PREFIX

OPSET = 17  # pinned: supported by onnxruntime >= 1.13 and by its quantisation tools
IR_VERSION = 8  # the IR version that goes with opset 17, so older runtimes load the file too
INPUT_NAME = "data"
BATCH_DIM = "batch"


class ExportError(ValueError):
    """The prototxt / caffemodel cannot be exported; the message says which file or layer and why."""


def _caffe_pb2():
    load_caffe()
    from caffe.proto import caffe_pb2

    return caffe_pb2


# ----------------------------------------------------------------------------- reading
def read_prototxt(path) -> "caffe_pb2.NetParameter":  # noqa: F821
    from google.protobuf import text_format

    path = Path(path)
    if not path.is_file():
        raise ExportError("prototxt not found: %s" % path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise ExportError(
            "%s is a binary file, not a text prototxt (were --prototxt and --caffemodel swapped?)" % path
        )
    net = _caffe_pb2().NetParameter()
    try:
        text_format.Merge(text, net)
    except text_format.ParseError as exc:
        raise ExportError("%s is not a valid Caffe prototxt: %s" % (path, exc)) from None
    if not net.layer:
        if net.layers:
            raise ExportError(
                "%s uses the V1 'layers' format; upgrade it with Caffe's upgrade_net_proto_text" % path
            )
        raise ExportError("%s defines no layers" % path)
    return net


def blob_to_array(blob) -> np.ndarray:
    if len(blob.double_data):
        data = np.asarray(blob.double_data, dtype=np.float64)
    else:
        data = np.asarray(blob.data, dtype=np.float32)
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:  # legacy 4-D blob
        shape = (blob.num, blob.channels, blob.height, blob.width)
    if int(np.prod(shape)) != data.size:
        raise ExportError("blob holds %d values but its shape is %s" % (data.size, shape))
    return data.reshape(shape)


def read_caffemodel(path) -> dict[str, list[np.ndarray]]:
    """-> {layer name: [blob arrays]} of every layer that has blobs (the caffemodel's NetParameter)."""
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise ExportError("caffemodel not found: %s" % path)
    net = _caffe_pb2().NetParameter()
    raw = path.read_bytes()
    try:
        net.ParseFromString(raw)
    except (DecodeError, ValueError, RuntimeError) as exc:
        hint = (
            " (it looks like a text prototxt; were --prototxt and --caffemodel swapped?)"
            if raw[:200].lstrip().startswith((b"name", b"layer", b"#", b"input"))
            else ""
        )
        raise ExportError("%s is not a Caffe binary model (NetParameter): %s%s" % (path, exc, hint)) from None
    layers = list(net.layer) or list(net.layers)
    out = {}
    for layer in layers:
        if len(layer.blobs):
            try:
                out[layer.name] = [blob_to_array(b) for b in layer.blobs]
            except ExportError as exc:
                raise ExportError("%s, layer %r: %s" % (path, layer.name, exc)) from None
    if not out:
        raise ExportError("%s holds no weights (is it a Caffe .caffemodel?)" % path)
    return out


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- Caffe shape rules
def _pair(repeated, single_h, single_w, has_h: bool, default: int, what: str, layer: str) -> tuple[int, int]:
    if has_h:
        return int(single_h), int(single_w)
    vals = [int(v) for v in repeated]
    if not vals:
        return default, default
    if len(vals) == 1:
        return vals[0], vals[0]
    if len(vals) == 2:
        return vals[0], vals[1]
    raise ExportError("layer %r: %d values for %s; only 2-D is supported" % (layer, len(vals), what))


def caffe_pool_out_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool = True) -> int:
    """Caffe's PoolingLayer::Reshape (this Caffe has a ceil_mode flag, default true as in BVLC Caffe)."""
    rounding = math.ceil if ceil_mode else math.floor
    out = int(rounding((size + 2 * pad - kernel) / stride)) + 1
    if pad and (out - 1) * stride >= size + pad:  # the last window must start inside the image
        out -= 1
    return out


def onnx_pool_out_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool = True) -> int:
    """ONNX MaxPool (opset >= 10) with symmetric pads: floor/ceil((H + 2p - k) / s + 1), the formula that
    onnxruntime's PoolAttributes::ComputeOutputSize implements.  (The spec also says that windows starting in
    the right padding are ignored; not every runtime version applies that, so the exporter refuses layers
    where it would matter.)"""
    rounding = math.ceil if ceil_mode else math.floor
    return int(rounding((size + 2 * pad - kernel) / stride + 1))


# ----------------------------------------------------------------------------- graph building
@dataclass
class _PendingConv:
    """A convolution not yet written, so that following BatchNorm / Scale layers can fold into it."""

    layer: str
    input_name: str
    weight: np.ndarray  # float64 (O, I/g, kh, kw)
    bias: np.ndarray  # float64 (O,)
    attrs: dict
    out_name: str
    folded: list


class _Builder:
    def __init__(self, net, weights: dict[str, list[np.ndarray]], source: str):
        self.net = net
        self.weights = weights
        self.source = source
        self.nodes: list = []
        self.inits: list = []
        self.cur: dict[str, str] = {}  # caffe blob -> onnx tensor holding its current value
        self.shape: dict[str, tuple] = {}  # caffe blob -> shape (batch symbolic as None)
        self.pending: dict[str, _PendingConv] = {}
        self.expected_shapes: dict[str, tuple] = {}  # onnx tensor -> Caffe's shape for it
        self.used_weights: set[str] = set()
        self.folds: list[str] = []

    # -- helpers
    def err(self, layer, msg) -> ExportError:
        return ExportError("%s, layer %r (%s): %s" % (self.source, layer.name, layer.type, msg))

    def blobs(self, layer, n_min: int, n_max: int) -> list[np.ndarray]:
        got = self.weights.get(layer.name)
        if got is None:
            raise ExportError(
                "the caffemodel has no weights for layer %r (%s) of %s; is it the model of this prototxt?"
                % (layer.name, layer.type, self.source)
            )
        if not n_min <= len(got) <= n_max:
            raise self.err(
                layer,
                "the caffemodel holds %d blobs, expected %s"
                % (len(got), n_min if n_min == n_max else "%d-%d" % (n_min, n_max)),
            )
        self.used_weights.add(layer.name)
        return [np.asarray(b, dtype=np.float64) for b in got]

    def init(self, name: str, arr: np.ndarray, dtype=np.float32) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=dtype), name))
        return name

    def read(self, blob: str, layer) -> str:
        """Current tensor of `blob` for a consumer that cannot fold: writes a pending conv first."""
        if blob not in self.cur and blob not in self.pending:
            raise self.err(layer, "bottom blob %r is produced by no earlier layer" % blob)
        if blob in self.pending:
            self.flush(blob)
        return self.cur[blob]

    def flush(self, blob: str) -> None:
        p = self.pending.pop(blob)
        w = self.init(p.layer + "/W", p.weight)
        b = self.init(p.layer + "/b", p.bias)
        self.nodes.append(
            helper.make_node("Conv", [p.input_name, w, b], [p.out_name], name=p.layer, **p.attrs)
        )
        if p.folded:
            self.folds.append("%s <- %s" % (p.layer, " + ".join(p.folded)))
        self.cur[blob] = p.out_name
        self.expected_shapes[p.out_name] = self.shape[blob]

    def write(self, blob: str, onnx_name: str, shape: tuple) -> None:
        self.cur[blob] = onnx_name
        self.shape[blob] = shape
        self.expected_shapes[onnx_name] = shape

    # -- layers
    def layer_input(self, layer):
        dims = [int(d) for d in layer.input_param.shape[0].dim] if layer.input_param.shape else []
        if len(layer.top) != 1:
            raise self.err(layer, "only one input blob is supported")
        return self.add_input(layer.top[0], dims)

    def add_input(self, name: str, dims: list[int]):
        if len(dims) != 4:
            raise ExportError(
                "%s: input %r has shape %s; expected 4 dims N x C x H x W" % (self.source, name, dims)
            )
        self.cur[name] = name
        self.shape[name] = (None,) + tuple(dims[1:])
        self.input_shape = tuple(dims[1:])
        self.input_name = name
        return name

    def layer_conv(self, layer, out_name):
        cp = layer.convolution_param
        (bottom,), (top,) = layer.bottom, layer.top
        x = self.read(bottom, layer)
        n, c, h, w = self.shape[bottom]
        kh, kw = _pair(
            cp.kernel_size, cp.kernel_h, cp.kernel_w, cp.HasField("kernel_h"), 0, "kernel_size", layer.name
        )
        ph, pw = _pair(cp.pad, cp.pad_h, cp.pad_w, cp.HasField("pad_h"), 0, "pad", layer.name)
        sh, sw = _pair(cp.stride, cp.stride_h, cp.stride_w, cp.HasField("stride_h"), 1, "stride", layer.name)
        dh, dw = _pair(cp.dilation, 0, 0, False, 1, "dilation", layer.name)
        group = int(cp.group)
        if cp.axis != 1:
            raise self.err(layer, "convolution axis %d is not supported" % cp.axis)
        blobs = self.blobs(layer, 1 + int(cp.bias_term), 1 + int(cp.bias_term))
        wt = blobs[0]
        exp_w = (cp.num_output, c // group, kh, kw)
        if wt.shape != exp_w:
            raise self.err(layer, "weight blob has shape %s, the prototxt needs %s" % (wt.shape, exp_w))
        bias = blobs[1].reshape(-1) if cp.bias_term else np.zeros(cp.num_output)
        if bias.shape != (cp.num_output,):
            raise self.err(layer, "bias blob has %d values, expected %d" % (bias.size, cp.num_output))
        oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
        ow = (w + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
        attrs = dict(
            kernel_shape=[kh, kw], pads=[ph, pw, ph, pw], strides=[sh, sw], dilations=[dh, dw], group=group
        )
        self.shape[top] = (n, cp.num_output, oh, ow)
        self.cur.pop(top, None)
        self.pending[top] = _PendingConv(layer.name, x, wt, bias, attrs, out_name, [])

    def _affine(self, layer, out_name, scale: np.ndarray, shift: np.ndarray, what: str):
        (bottom,), (top,) = layer.bottom, layer.top
        channels = self.shape[bottom][1]
        if scale.shape != (channels,) or shift.shape != (channels,):
            raise self.err(
                layer, "%d per-channel values for a blob with %d channels" % (scale.size, channels)
            )
        if bottom in self.pending:  # fold into the convolution
            p = self.pending.pop(bottom)
            p.weight = p.weight * scale[:, None, None, None]
            p.bias = p.bias * scale + shift
            p.out_name = out_name
            p.folded.append(layer.name)
            self.shape[top] = self.shape[bottom]
            self.cur.pop(top, None)
            self.pending[top] = p
            return
        x = self.read(bottom, layer)
        shape = (1, channels) + (1,) * (len(self.shape[bottom]) - 2)
        s = self.init(layer.name + "/scale", scale.reshape(shape))
        t = self.init(layer.name + "/shift", shift.reshape(shape))
        mid = out_name + "/mul"
        self.nodes.append(helper.make_node("Mul", [x, s], [mid], name=layer.name + "/mul"))
        self.nodes.append(helper.make_node("Add", [mid, t], [out_name], name=layer.name + "/add"))
        self.write(top, out_name, self.shape[bottom])

    def layer_batchnorm(self, layer, out_name):
        bp = layer.batch_norm_param
        if bp.HasField("use_global_stats") and not bp.use_global_stats:
            raise self.err(
                layer,
                "use_global_stats is false: the layer normalises with batch statistics, "
                "which a deploy model must not do",
            )
        mean, var, factor = self.blobs(layer, 3, 3)
        f = float(factor.reshape(-1)[0])
        f = 0.0 if f == 0 else 1.0 / f  # Caffe: scale_factor = blobs[2] == 0 ? 0 : 1 / blobs[2]
        mean = mean.reshape(-1) * f
        var = var.reshape(-1) * f
        inv_std = 1.0 / np.sqrt(var + float(bp.eps))
        self._affine(layer, out_name, inv_std, -mean * inv_std, "BatchNorm")

    def layer_scale(self, layer, out_name):
        sp = layer.scale_param
        if len(layer.bottom) != 1:
            raise self.err(layer, "Scale with a second bottom (learned per-sample scale) is not supported")
        if sp.axis != 1 or sp.num_axes != 1:
            raise self.err(layer, "only per-channel Scale (axis 1, num_axes 1) is supported")
        blobs = self.blobs(layer, 1 + int(sp.bias_term), 1 + int(sp.bias_term))
        gamma = blobs[0].reshape(-1)
        beta = blobs[1].reshape(-1) if sp.bias_term else np.zeros_like(gamma)
        self._affine(layer, out_name, gamma, beta, "Scale")

    def layer_relu(self, layer, out_name):
        (bottom,), (top,) = layer.bottom, layer.top
        x = self.read(bottom, layer)
        slope = float(layer.relu_param.negative_slope)
        if slope:
            self.nodes.append(helper.make_node("LeakyRelu", [x], [out_name], name=layer.name, alpha=slope))
        else:
            self.nodes.append(helper.make_node("Relu", [x], [out_name], name=layer.name))
        self.write(top, out_name, self.shape[bottom])

    def layer_dropout(self, layer, out_name):
        (bottom,), (top,) = layer.bottom, layer.top
        x = self.read(bottom, layer)
        self.cur[top] = x
        self.shape[top] = self.shape[bottom]

    def layer_pooling(self, layer, out_name):
        pp = layer.pooling_param
        P = type(pp)
        (bottom,), (top,) = layer.bottom, layer.top
        x = self.read(bottom, layer)
        n, c, h, w = self.shape[bottom]
        if pp.global_pooling:
            op = {P.MAX: "GlobalMaxPool", P.AVE: "GlobalAveragePool"}.get(pp.pool)
            if op is None:
                raise self.err(layer, "global STOCHASTIC pooling is not supported")
            self.nodes.append(helper.make_node(op, [x], [out_name], name=layer.name))
            self.write(top, out_name, (n, c, 1, 1))
            return
        kh, kw = _pair(
            [pp.kernel_size] if pp.HasField("kernel_size") else [],
            pp.kernel_h,
            pp.kernel_w,
            pp.HasField("kernel_h"),
            0,
            "kernel_size",
            layer.name,
        )
        ph, pw = _pair([pp.pad], pp.pad_h, pp.pad_w, pp.HasField("pad_h"), 0, "pad", layer.name)
        sh, sw = _pair(
            [pp.stride], pp.stride_h, pp.stride_w, pp.HasField("stride_h"), 1, "stride", layer.name
        )
        ceil_mode = bool(pp.ceil_mode) if hasattr(pp, "ceil_mode") else True
        out = []
        for size, k, s, p, axis in ((h, kh, sh, ph, "height"), (w, kw, sw, pw, "width")):
            caffe_n = caffe_pool_out_size(size, k, s, p, ceil_mode)
            onnx_n = onnx_pool_out_size(size, k, s, p, ceil_mode)
            last_start = (onnx_n - 1) * s - p  # ONNX's last window, before any clipping rule
            if caffe_n != onnx_n or last_start >= size:
                raise self.err(
                    layer,
                    "%s %d, kernel %d, stride %d, pad %d: Caffe pools to %d with a last window "
                    "starting at %d, ONNX to %d; this cannot be exported exactly"
                    % (axis, size, k, s, p, caffe_n, last_start, onnx_n),
                )
            if pp.pool == P.AVE and (p or (caffe_n - 1) * s + k > size):
                raise self.err(
                    layer,
                    "average pooling with padding or windows past the border counts pixels "
                    "differently in Caffe and ONNX; not supported",
                )
            out.append(caffe_n)
        attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw], ceil_mode=int(ceil_mode))
        if pp.pool == P.MAX:
            self.nodes.append(helper.make_node("MaxPool", [x], [out_name], name=layer.name, **attrs))
        elif pp.pool == P.AVE:
            self.nodes.append(helper.make_node("AveragePool", [x], [out_name], name=layer.name, **attrs))
        else:
            raise self.err(layer, "STOCHASTIC pooling is not supported")
        self.write(top, out_name, (n, c, out[0], out[1]))

    def layer_innerproduct(self, layer, out_name):
        ip = layer.inner_product_param
        (bottom,), (top,) = layer.bottom, layer.top
        x = self.read(bottom, layer)
        shape = self.shape[bottom]
        axis = ip.axis if ip.axis >= 0 else ip.axis + len(shape)
        if axis != 1:
            raise self.err(layer, "InnerProduct axis %d is not supported (only 1)" % ip.axis)
        k = int(np.prod(shape[1:]))
        blobs = self.blobs(layer, 1 + int(ip.bias_term), 1 + int(ip.bias_term))
        wt = blobs[0].reshape(blobs[0].shape[-2:]) if blobs[0].ndim > 2 else blobs[0]
        exp = (k, ip.num_output) if ip.transpose else (ip.num_output, k)
        if wt.shape != exp:
            raise self.err(
                layer, "weight blob has shape %s, the prototxt and its input need %s" % (wt.shape, exp)
            )
        flat = out_name + "/flat"
        self.nodes.append(helper.make_node("Flatten", [x], [flat], name=layer.name + "/flatten", axis=1))
        self.expected_shapes[flat] = (shape[0], k)
        inputs = [flat, self.init(layer.name + "/W", wt)]
        if ip.bias_term:
            bias = blobs[1].reshape(-1)
            if bias.shape != (ip.num_output,):
                raise self.err(layer, "bias blob has %d values, expected %d" % (bias.size, ip.num_output))
            inputs.append(self.init(layer.name + "/b", bias))
        self.nodes.append(
            helper.make_node("Gemm", inputs, [out_name], name=layer.name, transB=0 if ip.transpose else 1)
        )
        self.write(top, out_name, (shape[0], ip.num_output))

    HANDLERS = {
        "Convolution": layer_conv,
        "BatchNorm": layer_batchnorm,
        "Scale": layer_scale,
        "ReLU": layer_relu,
        "Dropout": layer_dropout,
        "Pooling": layer_pooling,
        "InnerProduct": layer_innerproduct,
    }


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
