"""Caffe layers -> ONNX nodes: the graph builder of the export (one method per supported layer type),
with Caffe's and ONNX's pooling output-size rules."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from onnx import helper, numpy_helper

from mcl_caffe.deploy.caffe_files import ExportError

OPSET = 17  # pinned: supported by onnxruntime >= 1.13 and by its quantisation tools
IR_VERSION = 8  # the IR version that goes with opset 17, so older runtimes load the file too
INPUT_NAME = "data"
BATCH_DIM = "batch"


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
