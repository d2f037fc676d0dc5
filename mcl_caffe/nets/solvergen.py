"""Solver profiles and solver prototxt generation.

`paper` is exactly Section IV-A-2: SGD, batch 64, momentum 0.9, weight decay 0.0005; base lr 0.02 for
pre-training and 0.001 for every fine-tuning step; lr x 0.3 every 30,000 iterations; 180,000 iterations of
pre-training and 60,000 for each fine-tuning step.

`cpu` keeps that schedule's shape (same learning rates, same 0.3 decay, same 3:1 pre-train/fine-tune ratio,
six decays over pre-training) with every iteration count divided by CPU_DIVISOR, so the whole pipeline on the
MTFL data fits in about three hours on 2 cores. `quick` is the same shape divided by QUICK_DIVISOR, for
experiments that retrain stages 2-3 once per setting (the weight-perturbation sweep of Fig. 7, started from a
`cpu` run's BM: `make perturb PROFILE=cpu PERTURB_PROFILE=quick`). `smoke` is a few dozen iterations per
stage, for CI.
"""
from __future__ import annotations

from dataclasses import dataclass

from mcl_caffe.caffe_import import LazyModule
from mcl_caffe.nets.netgen import comment_block

caffe_pb2 = LazyModule("caffe.proto.caffe_pb2")
text_format = LazyModule("google.protobuf.text_format")

PRETRAIN_LR = 0.02
FINETUNE_LR = 0.001
CPU_DIVISOR = 45
QUICK_DIVISOR = 180


@dataclass(frozen=True)
class Profile:
    name: str
    pretrain_iter: int
    finetune_iter: int
    stepsize: int
    snapshot: int
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 0.0005
    gamma: float = 0.3
    # Pre-training's decays at these iterations (Caffe's `multistep` policy) instead of every `stepsize`;
    # empty keeps the `step` policy. Fine-tuning always uses `stepsize`.
    pretrain_steps: tuple[int, ...] = ()


def _scaled(name: str, divisor: int, snapshot: int) -> Profile:
    return Profile(name, pretrain_iter=180000 // divisor, finetune_iter=60000 // divisor,
                   stepsize=30000 // divisor, snapshot=snapshot)


PROFILES = {
    "paper": _scaled("paper", 1, snapshot=5000),
    "cpu": _scaled("cpu", CPU_DIVISOR, snapshot=250),
    "quick": _scaled("quick", QUICK_DIVISOR, snapshot=100),
    "smoke": Profile("smoke", pretrain_iter=150, finetune_iter=40, stepsize=75, snapshot=50),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise SystemExit("unknown profile %r; choose one of: %s" % (name, ", ".join(PROFILES))) from None


def solver_param(profile: Profile, pretrain: bool, train_net: str, snapshot_prefix: str,
                 seed: int = 1) -> "caffe_pb2.SolverParameter":
    s = caffe_pb2.SolverParameter()
    s.train_net = train_net
    s.type = "SGD"
    s.base_lr = PRETRAIN_LR if pretrain else FINETUNE_LR
    s.gamma = profile.gamma
    if pretrain and profile.pretrain_steps:
        s.lr_policy = "multistep"
        s.stepvalue.extend(int(v) for v in profile.pretrain_steps)
    else:
        s.lr_policy = "step"
        s.stepsize = profile.stepsize
    s.max_iter = profile.pretrain_iter if pretrain else profile.finetune_iter
    s.momentum = profile.momentum
    s.weight_decay = profile.weight_decay
    s.display = 0
    # The stage runner snapshots itself, every `profile.snapshot` iterations and only after a finite loss:
    # Caffe's own snapshot would run right after a NaN step, whose backward pass has already written out of
    # bounds (max pooling's argmax mask is -1 on NaN input).
    s.snapshot = 0
    s.snapshot_prefix = snapshot_prefix
    s.random_seed = seed
    s.solver_mode = caffe_pb2.SolverParameter.CPU
    return s


def learning_rate(s: "caffe_pb2.SolverParameter", iteration: int) -> float:
    """The rate Caffe uses at `iteration` under the `fixed`, `step` and `multistep` policies (the ones
    generated here). Caffe's multistep counts a step once the iteration reaches its value."""
    if s.lr_policy == "fixed":
        return s.base_lr
    if s.lr_policy == "step":
        return s.base_lr * s.gamma ** (iteration // s.stepsize)
    if s.lr_policy == "multistep":
        return s.base_lr * s.gamma ** sum(1 for v in s.stepvalue if iteration >= v)
    raise ValueError("lr_policy %r is not supported by the progress display (use fixed, step or "
                     "multistep)"
                     % s.lr_policy)


def solver_text(s, header: str = "") -> str:
    return comment_block(header) + text_format.MessageToString(s)
