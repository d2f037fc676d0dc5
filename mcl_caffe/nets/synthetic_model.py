"""Random-weight MCL deploy models for tests and benchmarks, before trained weights exist.

The weights are drawn with a fixed seed, but not trivially: every BatchNorm layer gets its own mean,
variance and scale factor (the third blob; Caffe divides mean and variance by it, as a trained net's
moving-average sum of about 1000), and every Scale layer a gamma and beta away from 1 and 0.
To keep activations in a useful range through the 13 conv blocks (ReLU dead or exploding layers would
make a parity check meaningless), the BatchNorm statistics are set from the statistics of the real
Caffe activations on calibration patches, then perturbed; the shape layer is scaled so that the
outputs are landmark-like numbers: a fixed template in the 50x50 patch plus a few pixels of variation
across faces.  Outputs are therefore of the size of real predictions, and an error bound in pixels
means what it says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcl_caffe.nets import netgen
from mcl_caffe.caffe_import import load_caffe


def smooth_noise_patches(n: int, seed: int = 0) -> np.ndarray:
    """(n, 1, 50, 50) normalised patches of blurred noise (when no real crops are at hand)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = np.empty((n, 1, netgen.PATCH, netgen.PATCH), np.float32)
    for i in range(n):
        img = rng.uniform(0, 255, (netgen.PATCH, netgen.PATCH)).astype(np.float32)
        img = cv2.GaussianBlur(img, (0, 0), 2.0)
        img = (img - img.mean()) / (img.std() + 1e-6) * 40 + 128
        out[i, 0] = (np.clip(img, 0, 255) - 128) * 0.0078125
    return out


def write_deploy(path, n_points: int, batch: int = 1, name: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    proto = netgen.deploy_net(netgen.NetConfig(n_points), batch=batch)
    path.write_text(netgen.to_text(proto, name or "mcl_deploy_%dpt" % n_points))
    return path


def make_synthetic_model(
    out_dir, n_points: int, seed: int = 0, patches: np.ndarray | None = None, output_spread: float = 3.0
) -> tuple[Path, Path]:
    """Write out_dir/deploy.prototxt (batch 1) and out_dir/synthetic.caffemodel. -> (prototxt, caffemodel).

    `patches` (N, 1, 50, 50) float32, normalised, calibrate the BatchNorm statistics (default: blurred noise).
    """
    caffe = load_caffe()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if patches is None:
        patches = smooth_noise_patches(32, seed)
    patches = np.asarray(patches, np.float32)
    calib_proto = write_deploy(out_dir / ".calibration.prototxt", n_points, batch=len(patches))
    net = caffe.Net(str(calib_proto), caffe.TEST)
    net.blobs["data"].data[...] = patches
    prev = None
    for conv in netgen.conv_names():
        suffix = conv[len("conv") :]
        w = net.params[conv][0].data
        fan_in = np.prod(w.shape[1:])
        w[...] = rng.normal(0, np.sqrt(2.0 / fan_in), w.shape)
        net.params[conv][1].data[...] = rng.normal(0, 0.1, w.shape[0])
        # run only the layers since the previous conv (its BN/Scale now set) up to this conv's output
        net.forward(**({"start": "bn" + prev} if prev else {}), end=conv)
        prev = suffix
        act = net.blobs[conv].data.astype(np.float64)
        mean = act.mean(axis=(0, 2, 3))
        var = act.var(axis=(0, 2, 3)) + 1e-3
        factor = rng.uniform(200.0, 1000.0)  # a trained net's moving-average weight sum is ~1000
        mean = mean + rng.normal(0, 0.2, mean.shape) * np.sqrt(var)
        var = var * rng.uniform(0.7, 1.4, var.shape)
        bn = net.params["bn" + suffix]
        bn[0].data[...] = mean * factor
        bn[1].data[...] = var * factor
        bn[2].data[...] = factor
        sc = net.params["scale" + suffix]
        sc[0].data[...] = rng.uniform(0.6, 1.4, sc[0].data.shape)
        sc[1].data[...] = rng.normal(0.0, 0.3, sc[1].data.shape)
    net.forward(start="bn" + prev, end="gap")
    feats = net.blobs["gap"].data.reshape(len(patches), -1).astype(np.float64)
    n_out = 2 * n_points
    W = rng.normal(0, 1, (n_out, feats.shape[1]))
    out = feats @ W.T
    spread = out.std(axis=0) + 1e-9
    W *= output_spread / spread[:, None]
    out = feats @ W.T
    template = rng.uniform(12.0, 38.0, n_out)
    net.params["fc"][0].data[...] = W
    net.params["fc"][1].data[...] = template - out.mean(axis=0)
    caffemodel = out_dir / "synthetic.caffemodel"
    net.save(str(caffemodel))
    del net
    calib_proto.unlink()
    prototxt = write_deploy(out_dir / "deploy.prototxt", n_points, batch=1)
    return prototxt, caffemodel
