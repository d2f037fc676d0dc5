"""Solver profiles and solver prototxt generation.

`paper` is exactly Section IV-A-2: SGD, batch 64, momentum 0.9, weight decay 0.0005; base lr 0.02 for
pre-training and 0.001 for every fine-tuning step; lr x 0.3 every 30,000 iterations; 180,000 iterations of
pre-training and 60,000 for each fine-tuning step.

`cpu` is designed for a 3-hour budget on 2 cores: 20,000 solver steps of the whole net (12,000 pre-training
+ 4,000 for each of the fine-tuning steps 2 and 3, the paper's 3:1:1 split; step 4 trains only the cluster
layers, on cached features), budgeted at 0.45 s/iteration = 9,000 s, which leaves room for machines 1.65x
slower than the one `make bench-train` measured (0.249 s/it for 5 points and 0.272 for 68 with 2 threads;
0.434 and 0.470 with one thread each, so two runs side by side fit the budget too;
reports/bench-train/ROUNDS.md). Until Caffe patch 0004 made training 2.7-3.2x faster, `cpu` had 9,000
steps (5,400 + 1,800 + 1,800), budgeted at 1.0 s/it. Its pre-training keeps 0.02 for the first half and
decays x0.3 at 1/2 and 3/4 of it: of the stage-1 schedules compared at equal wall time on validation
(`make schedule-sweep`, reports/schedule-sweep/), that shape ended lowest (7.66 % vs 8.94 % for the paper's
shape compressed, which spends most of a short budget at rates too small to move). Fine-tuning keeps the
paper's shape (0.001, one decay halfway). Stage 4 runs the paper's 60,000 iterations per cluster (seconds on
cached features) without weight decay: on frozen features the decay only shrinks the shape layer (0.987x
over 4,000 steps, 0.83x over 60,000), and no decay was the one setting that brought AM below WM on the
validation sets of both AFLW and 300-W (tools/stage4_sweep.py, reports/schedule-sweep/STAGE4.md).

`long` is the paper's pre-training cut after its third decay (iteration 90,000): lr 0.02, x0.3 at 30,000 and
60,000 (and at 90,000, where it stops), batch 64, momentum 0.9, weight decay 0.0005, so its stage-1 state at
any iteration is the `paper` profile's, and a `paper` run continues from it (`runner --continue-from`,
mcl_caffe/train/continuation.py). Its fine-tuning stages 2-3 and stage 4 are `cpu`'s. It snapshots every 500
iterations (a kill loses at most 500) and keeps the snapshots at every multiple of 10,000 for the
learning curve (`make curve`); `paper` keeps those too.

`quick` is the paper's shape divided by QUICK_DIVISOR, for experiments that retrain stages 2-3 once per
setting (the weight-perturbation sweep of Fig. 7, started from a `cpu` run's BM: `make perturb
PROFILE=cpu PERTURB_PROFILE=quick`). `smoke` is a few dozen iterations per stage, for CI.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mcl_caffe.caffe_import import LazyModule
from mcl_caffe.nets.netgen import comment_block

caffe_pb2 = LazyModule("caffe.proto.caffe_pb2")
text_format = LazyModule("google.protobuf.text_format")

PRETRAIN_LR = 0.02
FINETUNE_LR = 0.001
CPU_PRETRAIN = 12000
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
    # Stage 4 (multi-center fine-tuning) trains only the shape prediction layers, on cached features, so its
    # steps cost milliseconds and need not share the whole-net budget: its own iterations, lr step and weight
    # decay; None keeps the fine-tuning values.
    stage4_iter: int | None = None
    stage4_stepsize: int | None = None
    stage4_weight_decay: float | None = None
    # The runner keeps only the newest snapshots, except stage 1's at multiples of this (0: none kept)
    keep_every: int = 0

    def stage4_settings(self) -> tuple[int, int, float]:
        """Stage 4's (iterations, stepsize, weight decay): its overrides where set, else fine-tuning's."""
        return (self.finetune_iter if self.stage4_iter is None else self.stage4_iter,
                self.stepsize if self.stage4_stepsize is None else self.stage4_stepsize,
                self.weight_decay if self.stage4_weight_decay is None else self.stage4_weight_decay)


def _scaled(name: str, divisor: int, snapshot: int) -> Profile:
    return Profile(name, pretrain_iter=180000 // divisor, finetune_iter=60000 // divisor,
                   stepsize=30000 // divisor, snapshot=snapshot)


def truncated_pretraining(name: str, paper: Profile, finetune: Profile, decays: int, snapshot: int,
                          keep_every: int = 0) -> Profile:
    """`paper`'s pre-training up to its `decays`-th decay (lr x gamma at stepsize, 2 stepsize, ...; the last
    one at the iteration it stops), so its state at every iteration is `paper`'s; fine-tuning and stage 4 are
    `finetune`'s."""
    if paper.pretrain_steps:
        raise ValueError("%s: truncating needs a step-policy pre-training, not multistep %s"
                         % (paper.name, paper.pretrain_steps))
    steps = tuple(k * paper.stepsize for k in range(1, decays + 1))
    if steps[-1] > paper.pretrain_iter:
        raise ValueError("%s pre-trains %d iterations, fewer than %d decays every %d"
                         % (paper.name, paper.pretrain_iter, decays, paper.stepsize))
    return Profile(name, pretrain_iter=steps[-1], finetune_iter=finetune.finetune_iter,
                   stepsize=finetune.stepsize, snapshot=snapshot, batch_size=paper.batch_size,
                   momentum=paper.momentum, weight_decay=paper.weight_decay, gamma=paper.gamma,
                   pretrain_steps=steps, stage4_iter=finetune.stage4_iter,
                   stage4_stepsize=finetune.stage4_stepsize, stage4_weight_decay=finetune.stage4_weight_decay,
                   keep_every=keep_every)


LONG_DECAYS = 3
CURVE_EVERY = 10000

PROFILES = {
    "paper": dataclasses.replace(_scaled("paper", 1, snapshot=5000), keep_every=CURVE_EVERY),
    "cpu": Profile("cpu", pretrain_iter=CPU_PRETRAIN, finetune_iter=CPU_PRETRAIN // 3,
                   stepsize=CPU_PRETRAIN // 6, snapshot=250,
                   pretrain_steps=(CPU_PRETRAIN // 2, CPU_PRETRAIN * 3 // 4),
                   stage4_iter=60000, stage4_stepsize=30000, stage4_weight_decay=0.0),
    "quick": _scaled("quick", QUICK_DIVISOR, snapshot=100),
    "smoke": Profile("smoke", pretrain_iter=150, finetune_iter=40, stepsize=75, snapshot=50),
}
PROFILES["long"] = truncated_pretraining("long", PROFILES["paper"], PROFILES["cpu"], LONG_DECAYS,
                                         snapshot=500, keep_every=CURVE_EVERY)


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise SystemExit("unknown profile %r; choose one of: %s" % (name, ", ".join(PROFILES))) from None


def solver_param(profile: Profile, pretrain: bool, train_net: str, snapshot_prefix: str,
                 seed: int = 1, stage4: bool = False) -> "caffe_pb2.SolverParameter":
    """The solver of pre-training (`pretrain`), of a fine-tuning step, or of stage 4 (`stage4`: the
    profile's stage-4 overrides, where set, on top of fine-tuning's settings)."""
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
    if stage4 and not pretrain:
        s.max_iter, s.stepsize, s.weight_decay = profile.stage4_settings()
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
