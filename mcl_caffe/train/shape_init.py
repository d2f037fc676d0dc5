"""The shape prediction layer's data-dependent start, and the loss it is measured against.

* Stage 1 starts the shape layer ("fc") with its bias at the mean training shape, so the net does not spend
  its first iterations learning that offset (stage_runner, tools/probe_stage1.py).
* `mean_shape_loss` is what the stage-1 training loss would be if the net always predicted that mean shape:
  the sum over landmarks of Eq. 4's ||p_j - g_j||^2 / (2 d^2), averaged over the samples, with every u_j = 1.
  A net that learned faces, not just their average, ends below it (the smoke test and the probe use it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def mean_shape(labels: np.ndarray) -> np.ndarray:
    """(2n,) the mean of flat (N, 2n) labels (x1, y1, x2, y2, ...)."""
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or len(labels) == 0:
        raise ValueError("labels must be a non-empty (N, 2n) array, got %s" % (labels.shape,))
    return labels.mean(axis=0)


def mean_shape_of_list(list_file: str | Path) -> np.ndarray:
    """The mean training shape of a Caffe HDF5 list."""
    from mcl_caffe.data.h5_writer import read_arrays

    return mean_shape(read_arrays(list_file, keys=("label",))["label"])


def mean_shape_loss(labels: np.ndarray, d: np.ndarray) -> float:
    """The unweighted training loss (sum over landmarks of ||p - g||^2 / (2 d^2), mean over samples) of
    predicting the mean shape for every sample."""
    labels = np.asarray(labels, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    if len(d) != len(labels):
        raise ValueError("%d labels but %d normalisers d" % (len(labels), len(d)))
    offset = (labels - mean_shape(labels)).reshape(len(d), -1, 2)
    return float(((offset ** 2).sum(axis=2) / (2 * d[:, None] ** 2)).sum(axis=1).mean())


def set_mean_shape_bias(net, mean: np.ndarray, layer: str = "fc") -> None:
    """Set the shape layer's bias of a Caffe net to `mean` (its weights are left as initialised)."""
    bias = net.params[layer][1].data
    if bias.shape != np.shape(mean):
        raise ValueError("layer %s has %s outputs, the mean shape %s" % (layer, bias.shape, np.shape(mean)))
    bias[...] = mean
