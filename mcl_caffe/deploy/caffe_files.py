"""Read a Caffe net (prototxt) and its weights (caffemodel) without running Caffe: protobuf parsing only."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from mcl_caffe.caffe_import import load_caffe


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
