"""Run a deploy net over a Caffe HDF5 list (data, label, d); the error measures are in
mcl_caffe.core.metrics."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mcl_caffe.caffe_import import load_caffe


@dataclass
class HDF5Set:
    data: np.ndarray   # (N, 1, 50, 50) float32
    label: np.ndarray  # (N, 2n) float32, patch pixels
    d: np.ndarray      # (N,) float32, patch pixels


def read_list(list_file: str | Path, keys=("data", "label", "d")) -> dict[str, np.ndarray]:
    """Concatenate the given datasets over every chunk file named in a Caffe HDF5 list file."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError("HDF5 list file %s does not exist" % list_file)
    files = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    if not files:
        raise ValueError("HDF5 list file %s names no files" % list_file)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for name in files:
        with h5py.File(name, "r") as f:
            for k in keys:
                parts[k].append(f[k][...])
    return {k: np.concatenate(v) for k, v in parts.items()}


def read_set(list_file: str | Path) -> HDF5Set:
    arrays = read_list(list_file)
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


