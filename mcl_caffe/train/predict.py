"""Run a deploy net over a Caffe HDF5 list (data, label, d); the error measures are in
mcl_caffe.core.metrics."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.data.h5_writer import read_arrays


@dataclass
class HDF5Set:
    data: np.ndarray   # (N, 1, 50, 50) float32
    label: np.ndarray  # (N, 2n) float32, patch pixels
    d: np.ndarray      # (N,) float32, patch pixels


def read_set(list_file: str | Path) -> HDF5Set:
    arrays = read_arrays(list_file)
    return HDF5Set(arrays["data"], arrays["label"], arrays["d"])


def forward_batches(net, data: np.ndarray, output: str = "fc", batch: int = 64) -> np.ndarray:
    """Forward `data` through a net with Input `data`, reshaping for the last partial batch."""
    outs = []
    for start in range(0, len(data), batch):
        chunk = data[start:start + batch]
        if net.blobs["data"].data.shape[0] != len(chunk):
            net.blobs["data"].reshape(*chunk.shape)
            net.reshape()
        net.blobs["data"].data[...] = chunk
        net.forward()
        outs.append(net.blobs[output].data.reshape(len(chunk), -1).copy())
    return np.concatenate(outs)


def predict(deploy_prototxt: str | Path, weights: str | Path, data: np.ndarray,
            batch: int = 64) -> np.ndarray:
    caffe = load_caffe()
    net = caffe.Net(str(deploy_prototxt), str(weights), caffe.TEST)
    return forward_batches(net, data, "fc", batch)


