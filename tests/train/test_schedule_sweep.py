"""The stage-1 schedule sweep: its learning rates, its branch points, and a real (tiny) branched run."""
import csv

import pytest

from mcl_caffe.train import schedule_sweep as S
from mcl_caffe.nets.solvergen import PROFILES, Profile, learning_rate, solver_param


def test_multistep_rate_counts_each_step_once_reached():
    p = Profile("t", pretrain_iter=100, finetune_iter=10, stepsize=5, snapshot=10, pretrain_steps=(50, 80))
    s = solver_param(p, True, "train.prototxt", "snap")
    assert s.lr_policy == "multistep" and list(s.stepvalue) == [50, 80]
    rates = [learning_rate(s, i) for i in (0, 49, 50, 79, 80, 99)]
    # base_lr and gamma are float32 fields of the proto: 0.02 is stored as 0.019999999552965164 (rel 2e-8)
    assert rates == pytest.approx([0.02, 0.02, 0.006, 0.006, 0.0018, 0.0018], rel=1e-7)
    # fine-tuning keeps the step policy whatever pretrain_steps says
    f = solver_param(p, False, "train.prototxt", "snap")
    assert f.lr_policy == "step" and f.stepsize == 5 and not f.stepvalue


def test_profiles_without_steps_keep_the_step_policy():
    s = solver_param(PROFILES["paper"], True, "t", "s")
    assert s.lr_policy == "step" and s.stepsize == 30000 and not s.stepvalue


def test_stage4_overrides_apply_to_stage4_only():
    """`cpu` trains stage 4 (shape layers alone, cached features) with the paper's 60,000 iterations and no
    weight decay (reports/schedule-sweep/STAGE4.md); `paper` keeps the paper's settings in every stage."""
    cpu, paper = PROFILES["cpu"], PROFILES["paper"]
    s4 = solver_param(cpu, False, "t", "s", stage4=True)
    assert (s4.max_iter, s4.stepsize, s4.weight_decay, s4.base_lr) == pytest.approx(
        (60000, 30000, 0.0, 0.001))
    fine = solver_param(cpu, False, "t", "s")
    assert (fine.max_iter, fine.stepsize, fine.weight_decay) == pytest.approx((4000, 2000, 0.0005))
    # pre-training never takes stage 4's settings
    assert solver_param(cpu, True, "t", "s", stage4=True).max_iter == cpu.pretrain_iter
    for stage4 in (False, True):
        p = solver_param(paper, False, "t", "s", stage4=stage4)
        assert (p.max_iter, p.stepsize, p.weight_decay) == pytest.approx((60000, 30000, 0.0005))


def test_branch_points_fall_on_segments_and_within_their_trunk():
    S.check_candidates(3000, 150)
    assert S.branch_iter(S.BY_NAME["one-late"], 3000) == 2400
    assert S.branch_iter(S.BY_NAME["two-late"], 3000) == 1500
    with pytest.raises(ValueError, match="not a multiple"):
        S.check_candidates(3000, 7)
    # every candidate is in exactly one lane, and a branch runs after its trunk in the same lane or a later
    # one
    names = [n for lane in S.LANES for n in lane]
    assert sorted(names) == sorted(c.name for c in S.CANDIDATES)
    for lane in S.LANES:
        for i, n in enumerate(lane):
            trunk = S.BY_NAME[n].branch_from
            if trunk in lane:
                assert lane.index(trunk) < i


def _curve(path):
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_branch_continues_its_trunk_with_its_own_decay(smoke_run, tmp_path):
    """constant (60 iterations) and one-late (from constant's snapshot at 48) on the smoke run's real patches
    (H = 60 and segments of 6 put every candidate's branch point on a segment: two-late's at 30)."""
    from mcl_caffe.caffe_import import load_caffe
    load_caffe(1)
    data = {"base": smoke_run["data"], "wide": smoke_run["data"]}
    sweep = S.Sweep(tmp_path, data, horizon=60, segment=6)
    sweep.run("constant")
    sweep.run("one-late")
    trunk, branch = _curve(tmp_path / "constant" / "curve.csv"), _curve(tmp_path / "one-late" / "curve.csv")
    iters = [str(6 * k) for k in range(1, 11)]
    assert [r["iter"] for r in trunk] == iters and [r["iter"] for r in branch] == iters
    assert branch[:8] == trunk[:8]                       # shared up to the branch point
    assert float(trunk[-1]["lr"]) == pytest.approx(0.02)
    assert float(branch[-1]["lr"]) == pytest.approx(0.006)
    assert 0 < float(branch[-1]["val_nme"]) < 1
    losses = _curve(tmp_path / "one-late" / "loss.csv")
    assert [int(r["iter"]) for r in losses] == list(range(1, 61))
    assert [float(r["lr"]) for r in losses[48:]] == pytest.approx([0.006] * 12)
    assert [float(r["lr"]) for r in losses[:48]] == pytest.approx([0.02] * 48)
    # running it again trains nothing more
    sweep.run("one-late")
    assert _curve(tmp_path / "one-late" / "curve.csv") == branch
