"""Generate the MCL nets (paper Section III-A, Fig. 2) with caffe.NetSpec.

Architecture: four stacks of 3x3/1/1 convolutions, each convolution followed by BatchNorm, Scale (with bias)
and ReLU: (32, 32) max-pool, (64, 64) max-pool, (96, 96) max-pool, (128, 128, D); then global average pooling
gives the feature x (Eq. 1) and one InnerProduct with 2n outputs is the shape prediction layer (Eq. 3).
Max pooling is 2x2/2 and Caffe rounds the output size up: 50 -> 25 -> 13 -> 7.

Loss (Eq. 4), built from standard layers only:
    E = sum_j u_j [(y_2j-1 - yhat_2j-1)^2 + (y_2j - yhat_2j)^2] / (2 d^2)
Both prediction and label are multiplied per sample by 1/d (Power + Scale with axis 0), sliced into one
(N x 2) blob per landmark, and each landmark gets a EuclideanLoss whose `loss_weight` is u_j. Caffe's
EuclideanLoss is sum ||a - b||^2 / (2N), so the total is Eq. 4 averaged over the batch, and the u_j can be
read straight from the prototxt.

Layer names are stable across stages (conv1_1 ... conv4_3, fc) so that weights pass from stage to stage by
name with `net.copy_from`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mcl_caffe.caffe_import import LazyModule

caffe = LazyModule("caffe")
L = LazyModule("caffe", "layers")
P = LazyModule("caffe", "params")

PATCH = 50
STACKS = ((32, 32), (64, 64), (96, 96), (128, 128))  # the last stack gets a third conv with D maps
FEATURE_DIM = {5: 512, 29: 512, 68: 1024}  # D of Section IV-A-2
FROZEN_IN_STAGE2 = 6  # Algorithm 1, step 2: the first six convolutional layers are fixed
# Initial std of the shape prediction layer's weights (the paper gives no initialisation). The targets are
# 50x50-patch pixels and Eq. 4 divides by d^2, so the loss gradient is small (~0.01 per coordinate near the
# mean shape) and the gradient reaching the shared layers scales with these weights: from std 0.01 the
# shared layers got relative updates of ~5e-6 per step and stage 1 sat at the mean-shape loss for hundreds
# of iterations. With 1.0 (and the bias starting at the mean training shape, see stage_runner) the MTFL
# stage-1 loss left the mean-shape level (0.106) at once (README, "Initialisation", tools/probe_stage1.py).
SHAPE_INIT_STD = 1.0


def conv_names() -> list[str]:
    names = []
    for s, widths in enumerate(STACKS, start=1):
        names += ["conv%d_%d" % (s, k) for k in range(1, len(widths) + 1)]
    names.append("conv4_3")
    return names


@dataclass(frozen=True)
class NetConfig:
    n_points: int
    frozen_convs: int = 0        # how many leading conv blocks are fixed (weights, Scale and BN statistics)
    freeze_shared: bool = False  # stage 4: every shared layer fixed, BN uses its stored statistics
    batch_size: int = 64

    @property
    def feature_dim(self) -> int:
        return FEATURE_DIM[self.n_points]


def _frozen_param():
    return [dict(lr_mult=0, decay_mult=0)] * 2


def _learn_param():
    return [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]


def _conv_block(n, bottom, name, num_output, frozen: bool, train: bool):
    """conv -> BatchNorm -> Scale(bias) -> ReLU, in place after the convolution."""
    conv = L.Convolution(bottom, num_output=num_output, kernel_size=3, stride=1, pad=1,
                         weight_filler=dict(type="msra"), bias_filler=dict(type="constant", value=0),
                         param=_frozen_param() if frozen else _learn_param())
    setattr(n, name, conv)
    suffix = name[len("conv"):]
    # BatchNorm's statistics are never touched by the solver (Caffe gives them lr_mult 0 itself and strips
    # param specs declared for them); in TRAIN the layer re-estimates them from each batch unless
    # use_global_stats is set, which is how a frozen layer keeps its statistics fixed.
    bn_kwargs = dict(in_place=True)
    if frozen or not train:
        bn_kwargs["batch_norm_param"] = dict(use_global_stats=True)
    setattr(n, "bn" + suffix, L.BatchNorm(conv, **bn_kwargs))
    scale = L.Scale(conv, bias_term=True, in_place=True,
                    param=_frozen_param() if frozen else [dict(lr_mult=1, decay_mult=0)] * 2)
    setattr(n, "scale" + suffix, scale)
    relu = L.ReLU(conv, in_place=True)
    setattr(n, "relu" + suffix, relu)
    return conv


def _trunk(n, data, cfg: NetConfig, train: bool):
    """Shared layers Phi_S (Eq. 1): returns the globally average-pooled feature x."""
    top = data
    index = 0
    for s, widths in enumerate(STACKS, start=1):
        widths = list(widths) + ([cfg.feature_dim] if s == len(STACKS) else [])
        for k, width in enumerate(widths, start=1):
            index += 1
            frozen = cfg.freeze_shared or index <= cfg.frozen_convs
            top = _conv_block(n, top, "conv%d_%d" % (s, k), width, frozen, train)
        if s < len(STACKS):
            top = L.Pooling(top, pool=P.Pooling.MAX, kernel_size=2, stride=2)
            setattr(n, "pool%d" % s, top)
    n.gap = L.Pooling(top, pool=P.Pooling.AVE, global_pooling=True)
    return n.gap


def shape_layer(bottom, n_points: int):
    """The shape prediction layer W (Eq. 3): 2n outputs, x-then-y per landmark."""
    return L.InnerProduct(bottom, num_output=2 * n_points,
                          weight_filler=dict(type="gaussian", std=SHAPE_INIT_STD),
                          bias_filler=dict(type="constant", value=0),
                          param=_learn_param())


def add_weighted_loss(n, pred, label, d, weights: Sequence[float]):
    """Eq. 4 from standard layers; `weights` are the u_j, written as each landmark's loss_weight."""
    n_points = len(weights)
    n.inv_d = L.Power(d, power=-1.0)
    n.pred_norm = L.Scale(pred, n.inv_d, axis=0, bias_term=False)
    n.label_norm = L.Scale(label, n.inv_d, axis=0, bias_term=False)
    points = list(range(2, 2 * n_points, 2))
    pred_parts = L.Slice(n.pred_norm, slice_param=dict(axis=1, slice_point=points), ntop=n_points)
    label_parts = L.Slice(n.label_norm, slice_param=dict(axis=1, slice_point=points), ntop=n_points)
    if n_points == 1:
        pred_parts, label_parts = [pred_parts], [label_parts]
    for j, (p, g, u) in enumerate(zip(pred_parts, label_parts, weights), start=1):
        setattr(n, "pred_%d" % j, p)
        setattr(n, "label_%d" % j, g)
        setattr(n, "loss_%d" % j, L.EuclideanLoss(p, g, loss_weight=float(u)))


def train_net(cfg: NetConfig, source: str, weights: Sequence[float], train: bool = True):
    """Train (TRAIN phase, shuffled) or validation (TEST phase, in order) net with the Eq. 4 loss."""
    assert len(weights) == cfg.n_points
    n = caffe.NetSpec()
    n.data, n.label, n.d = L.HDF5Data(source=source, batch_size=cfg.batch_size, shuffle=train, ntop=3)
    x = _trunk(n, n.data, cfg, train=train)
    n.fc = shape_layer(x, cfg.n_points)
    add_weighted_loss(n, n.fc, n.label, n.d, weights)
    return n.to_proto()


def deploy_net(cfg: NetConfig, batch: int = 1):
    """Inference net: Input `data` (batch x 1 x 50 x 50) -> `fc` (batch x 2n), BN with stored statistics."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[batch, 1, PATCH, PATCH]))
    x = _trunk(n, n.data, cfg, train=False)
    n.fc = shape_layer(x, cfg.n_points)
    return n.to_proto()


def head_net(cfg: NetConfig, source: str, weights: Sequence[float], train: bool = True):
    """Stage 4 on cached features: HDF5 `x` (N x D) -> fc -> Eq. 4. Same fc name, so weights transfer."""
    n = caffe.NetSpec()
    n.x, n.label, n.d = L.HDF5Data(source=source, batch_size=cfg.batch_size, shuffle=train, ntop=3)
    n.fc = shape_layer(n.x, cfg.n_points)
    add_weighted_loss(n, n.fc, n.label, n.d, weights)
    return n.to_proto()


def comment_block(text: str) -> str:
    """Prototxt comment lines for a header."""
    return "".join("# %s\n" % line if line else "#\n" for line in text.splitlines())


def to_text(proto, name: str, header: str = "") -> str:
    proto.name = name
    return comment_block(header) + str(proto)
