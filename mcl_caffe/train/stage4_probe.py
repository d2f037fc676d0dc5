"""Stage 4 retrained on a finished run's cached features, to compare solver settings (tools/stage4_sweep.py).

Stage 4 trains each cluster's shape prediction layer (an InnerProduct, 2n x D) alone, from WM's, on the
features x cached under <run>/stage4/features. Here that training runs again with other solver settings in a
scratch folder, from each cluster's own train net (its loss weights u_j, Eqs. 6-9), and the layers are
assembled with Eq. 2 (`mcl_caffe.core.splice`), so a setting can be judged on validation without touching
the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from mcl_caffe.core.metrics import per_landmark_errors
from mcl_caffe.core.splice import splice
from mcl_caffe.deploy.caffe_files import read_caffemodel


def cluster_dirs(run: Path) -> list[Path]:
    """The finished cluster folders of a run's stage 4 (cluster1-..., cluster2-..., in order)."""
    stage4 = Path(run) / "stage4"
    dirs = sorted((p for p in stage4.glob("cluster*") if (p / "stage.json").is_file()),
                  key=lambda p: int(p.name[len("cluster"):].split("-")[0]))
    if not dirs:
        raise ValueError("%s holds no finished cluster folder (run `make stage4` first)" % stage4)
    if not (stage4 / "features" / "complete").is_file():
        raise ValueError("%s has no complete feature cache (stage 4 ran the full path?)"
                         % (stage4 / "features"))
    return dirs


def fc_blobs(caffemodel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The shape prediction layer `fc` (weight 2n x D, bias 2n) of a .caffemodel, as float64."""
    blobs = read_caffemodel(caffemodel).get("fc")
    if blobs is None or len(blobs) != 2:
        raise ValueError("%s has no shape prediction layer `fc` with a weight and a bias" % caffemodel)
    return blobs[0].astype(np.float64), blobs[1].astype(np.float64)


def load_features(list_file: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (N x D), label (N x 2n), d (N) from the HDF5 files a feature list names."""
    import h5py
    xs, labels, ds = [], [], []
    for line in Path(list_file).read_text().splitlines():
        if line.strip():
            with h5py.File(line.strip(), "r") as f:
                xs.append(f["x"][...])
                labels.append(f["label"][...])
                ds.append(f["d"][...])
    if not xs:
        raise ValueError("%s lists no feature file" % list_file)
    return (np.concatenate(xs).astype(np.float64), np.concatenate(labels).astype(np.float64),
            np.concatenate(ds).astype(np.float64).reshape(-1))


def nme_per_landmark(w: np.ndarray, b: np.ndarray, x: np.ndarray, label: np.ndarray,
                     d: np.ndarray) -> np.ndarray:
    """(n,) mean normalised error of each landmark when the layer (w, b) reads the features x."""
    return per_landmark_errors(x @ w.T + b, label, d)


def train_shape_layer(caffe, cluster_dir: Path, w0: np.ndarray, b0: np.ndarray, iterations: int,
                      stepsize: int, base_lr: float, weight_decay: float,
                      scratch: Path) -> tuple[np.ndarray, np.ndarray]:
    """Train the cluster's shape layer from (w0, b0) with its own train net and the given solver settings
    (everything else as in the run's solver); returns the trained (w, b) as float64."""
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    s = caffe_pb2.SolverParameter()
    text_format.Merge((Path(cluster_dir) / "solver.prototxt").read_text(), s)
    s.train_net = str(Path(cluster_dir) / "train.prototxt")
    s.max_iter, s.stepsize, s.base_lr, s.weight_decay = iterations, stepsize, base_lr, weight_decay
    s.snapshot = 0
    s.snapshot_prefix = str(Path(scratch) / "snapshot")
    path = Path(scratch) / "solver.prototxt"
    path.write_text(text_format.MessageToString(s))
    solver = caffe.get_solver(str(path))
    fc = solver.net.params["fc"]
    fc[0].data[...] = w0
    fc[1].data[...] = b0
    solver.step(iterations)
    return fc[0].data.astype(np.float64), fc[1].data.astype(np.float64)


def assemble_rows(w0: np.ndarray, b0: np.ndarray,
                  layers: Sequence[tuple[tuple[np.ndarray, np.ndarray], Sequence[int]]]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 2 over ((w_i, b_i), points_i) pairs; w0/b0 only fix the shapes checked by `splice`."""
    weights = [w for (w, _), _ in layers]
    biases = [b for (_, b), _ in layers]
    if any(w.shape != w0.shape for w in weights) or any(b.shape != b0.shape for b in biases):
        raise ValueError("a cluster layer's shape differs from WM's %s" % (w0.shape,))
    return splice(weights, biases, [p for _, p in layers])
