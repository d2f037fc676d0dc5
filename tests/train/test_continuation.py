"""A `paper` run continues a `long` run's stage 1, and a run restarts from a kept checkpoint
(mcl_caffe/train/continuation.py), on the tiny test-only profiles of tests/tiny_profiles.py: `tiny-paper` is
the paper's schedule divided by 10,000 (lr x 0.3 every 3 iterations, 18 iterations), `tiny-long` its first 9.

Every comparison below is exact. Each run is the same Caffe binary in a fresh process with one BLAS thread,
the same data, net and random seed, so its SGD steps are the same float32 operations in the same order: two
runs that take the same steps agree bit for bit, and any difference at all is a different step.
"""
import csv
import filecmp
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_tiny
from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.nets.solvergen import PROFILES, learning_rate, solver_param
from mcl_caffe.train import continuation as CT
from mcl_caffe.train.checkpoints import keep

caffe = load_caffe()
from caffe.proto import caffe_pb2  # noqa: E402

pytestmark = pytest.mark.slow
N = 9  # tiny-long's last iteration, where tiny-paper continues


def _log(stage_dir):
    with (stage_dir / "loss.csv").open() as f:
        return [(int(r["iter"]), r["loss"], r["lr"]) for r in csv.DictReader(f)]


def _state(stage_dir, it):
    msg = caffe_pb2.SolverState()
    msg.ParseFromString((stage_dir / "snapshots" / ("stage1_iter_%d.solverstate" % it)).read_bytes())
    return msg


def _weights(caffemodel):
    msg = caffe_pb2.NetParameter()
    msg.ParseFromString(caffemodel.read_bytes())
    return {(layer.name, k): np.asarray(b.data, np.float32) for layer in msg.layer
            for k, b in enumerate(layer.blobs)}


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys() and a
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def runs(tiny_long_run, tmp_path_factory):
    """long (the fixture), an uninterrupted paper run, the paper run continued from long at 9, and as the
    reference for what a paper run does after 9: the uninterrupted run's own snapshot at 9, resumed."""
    data, tmp = tiny_long_run["data"], tmp_path_factory.mktemp("continue")
    whole = run_tiny("tiny-paper", data, tmp / "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    cont = run_tiny("tiny-paper", data, tmp / "cont", "--continue-from", tiny_long_run["run"])
    assert cont.returncode == 0, cont.stderr[-3000:]
    ref_snaps = tmp / "ref" / "aflw-tiny-paper" / "stage1" / "snapshots"
    ref_snaps.mkdir(parents=True)
    whole_snaps = tmp / "whole" / "aflw-tiny-paper" / "stage1" / "snapshots"
    for suffix in (".solverstate", ".caffemodel"):  # plain copies: Caffe reads the state's caffemodel path
        shutil.copy(whole_snaps / ("stage1_iter_%d%s" % (N, suffix)), ref_snaps)
    ref = run_tiny("tiny-paper", data, tmp / "ref")
    assert ref.returncode == 0, ref.stderr[-3000:]
    return {"long": tiny_long_run["run"] / "stage1", "whole": tmp / "whole" / "aflw-tiny-paper" / "stage1",
            "cont": tmp / "cont" / "aflw-tiny-paper" / "stage1",
            "ref": tmp / "ref" / "aflw-tiny-paper" / "stage1",
            "cont_out": cont.stderr, "ref_out": ref.stderr, "data": data, "tmp": tmp}


def test_long_takes_the_paper_runs_steps(runs):
    """Up to 9 the long run is the paper run: the same losses, weights and momentum at every kept snapshot."""
    assert _log(runs["long"]) == _log(runs["whole"])[:N]
    for it in (3, 6, 9):
        _assert_same(_weights(runs["long"] / "snapshots" / ("stage1_iter_%d.caffemodel" % it)),
                     _weights(runs["whole"] / "snapshots" / ("stage1_iter_%d.caffemodel" % it)))
        a, b = _state(runs["long"], it), _state(runs["whole"], it)
        assert a.iter == b.iter == it and len(a.history) == len(b.history) > 0
        for ha, hb in zip(a.history, b.history):
            assert np.array_equal(np.asarray(ha.data), np.asarray(hb.data))


def test_paper_run_continues_from_the_long_run_at_its_iteration(runs):
    assert "continuing from %s" % (runs["long"] / "snapshots" / ("stage1_iter_%d.solverstate" % N)) in \
        runs["cont_out"]
    assert "resuming from" in runs["cont_out"] and "(iteration %d of 18)" % N in runs["cont_out"]
    cont, whole = _log(runs["cont"]), _log(runs["whole"])
    # one row per iteration 1..18: 1..9 the long run's, 10..18 trained after it
    assert [r[0] for r in cont] == list(range(1, 19))
    assert cont[:N] == _log(runs["long"])
    # the learning rate of every iteration is the uninterrupted paper run's
    assert [r[2] for r in cont] == [r[2] for r in whole]
    assert [float(r[2]) for r in cont[N:]] == pytest.approx([0.02 * 0.3 ** (i // 3) for i in range(N, 18)],
                                                            rel=1e-6)
    # its state at 9 (weights and momentum) is the uninterrupted paper run's
    _assert_same(_weights(runs["cont"] / "snapshots" / ("stage1_iter_%d.caffemodel" % N)),
                 _weights(runs["whole"] / "snapshots" / ("stage1_iter_%d.caffemodel" % N)))
    for ha, hb in zip(_state(runs["cont"], N).history, _state(runs["whole"], N).history):
        assert np.array_equal(np.asarray(ha.data), np.asarray(hb.data))
    done = CT.read_solver(runs["cont"] / "solver.prototxt")
    assert done.max_iter == 18 and done.lr_policy == "step" and done.stepsize == 3
    info = __import__("json").loads((runs["cont"] / "continued_from.json").read_text())
    assert info["iteration"] == N and info["momentum"] == "restored" and info["loss_rows_copied"] == N


def test_after_the_continuation_the_run_is_the_paper_runs_own_resume(runs):
    """From 9 on, the continued run does exactly what the paper run does when it resumes from its own
    snapshot at 9 (both read their batches from the start of the shuffled list again, as every resume)."""
    assert "(iteration %d of 18)" % N in runs["ref_out"]
    _assert_same(_weights(runs["cont"] / "final.caffemodel"), _weights(runs["ref"] / "final.caffemodel"))
    assert _log(runs["cont"])[N:] == _log(runs["ref"])  # the reference has no log before 9
    # and it moved on from 9
    assert not np.array_equal(_weights(runs["cont"] / "final.caffemodel")[("fc", 0)],
                              _weights(runs["cont"] / "snapshots" / "stage1_iter_9.caffemodel")[("fc", 0)])


def test_a_run_under_another_schedule_is_refused(runs, tiny_long_run):
    res = run_tiny("tiny-other", runs["data"], runs["tmp"] / "other", "--continue-from", tiny_long_run["run"])
    assert res.returncode == 2
    assert "differ in the learning rate at iteration 3" in res.stderr, res.stderr[-2000:]
    assert not list((runs["tmp"] / "other" / "aflw-tiny-other" / "stage1" / "snapshots").glob("*"))


def test_restart_from_a_kept_checkpoint(tiny_long_run, tmp_path):
    """keep() copies the caffemodels at multiples of 6; a fresh run continues from the newest, weights
    only."""
    ckpt = tmp_path / "checkpoints"
    copied = keep(tiny_long_run["run"], ckpt, every=6)
    assert [p.name for p in copied] == ["stage1_iter_6.caffemodel"]
    assert keep(tiny_long_run["run"], ckpt, every=6) == []  # already there, identical
    res = run_tiny("tiny-long", tiny_long_run["data"], tmp_path / "runs", "--continue-from", ckpt)
    assert res.returncode == 0, res.stderr[-3000:]
    stage = tmp_path / "runs" / "aflw-tiny-long" / "stage1"
    assert ("continuing from %s at iteration 6 (momentum zero" % (ckpt / "stage1_iter_6.caffemodel")
            in res.stderr)
    assert [r[0] for r in _log(stage)] == [7, 8, 9]
    state = _state(stage, 6)
    assert state.iter == 6 and len(state.history) == len(_state(tiny_long_run["run"] / "stage1", 6).history)
    assert all(not np.any(np.asarray(h.data)) for h in state.history)
    _assert_same(_weights(stage / "snapshots" / "stage1_iter_6.caffemodel"),
                 _weights(ckpt / "stage1_iter_6.caffemodel"))
    # zero momentum: from 6 on, the restart is not the lost run
    assert not np.array_equal(_weights(stage / "final.caffemodel")[("fc", 0)],
                              _weights(tiny_long_run["run"] / "stage1" / "final.caffemodel")[("fc", 0)])


def test_newest_checkpoint_replaces_the_previous_newest(tiny_long_run, tmp_path):
    """tools/keep_checkpoints.py --newest (make keep-checkpoints KEEP_NEWEST=1, at the end of a session): the
    multiples of --every and the newest snapshot; an earlier session's newest goes, the multiples stay."""
    snaps = tiny_long_run["run"] / "stage1" / "snapshots"
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    shutil.copy(snaps / "stage1_iter_3.caffemodel", ckpt)  # kept as the newest by an earlier session
    cmd = [sys.executable, str(ROOT / "tools" / "keep_checkpoints.py"),
           "--run-dir", str(tiny_long_run["run"]), "--out", str(ckpt), "--every", "6"]
    res = subprocess.run(cmd + ["--newest"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "copied 2 (stage1_iter_6.caffemodel, stage1_iter_9.caffemodel)" in res.stdout, res.stdout
    assert sorted(p.name for p in ckpt.iterdir()) == ["stage1_iter_6.caffemodel", "stage1_iter_9.caffemodel"]
    for it in (6, 9):
        name = "stage1_iter_%d.caffemodel" % it
        assert filecmp.cmp(ckpt / name, snaps / name, shallow=False)
    # without --newest nothing is new and nothing goes; the folder restarts a run at the newest, 9
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0 and "copied 0 (none new)" in res.stdout, res.stdout + res.stderr
    assert sorted(p.name for p in ckpt.iterdir()) == ["stage1_iter_6.caffemodel", "stage1_iter_9.caffemodel"]
    assert CT.find_seed(ckpt).iteration == 9


def test_schedules_compare_every_iteration():
    paper, long = (solver_param(PROFILES[p], True, "t", "s") for p in ("paper", "long"))
    CT.check_schedules(long, paper, 90000)
    with pytest.raises(CT.ContinuationError, match="past"):
        CT.check_schedules(long, paper, 180001)
    cpu = solver_param(PROFILES["cpu"], True, "t", "s")
    with pytest.raises(CT.ContinuationError, match="learning rate at iteration 6000 "):
        CT.check_schedules(cpu, paper, 12000)
    assert learning_rate(paper, 90000) == pytest.approx(0.02 * 0.3 ** 3, rel=1e-6)


def test_multistep_current_step_of_a_weights_only_state():
    """Caffe's multistep advances one step per iteration once iter reaches the next value; the state of a
    snapshot at N counts the values below N (the one at N is counted by iteration N's own update)."""
    s = solver_param(PROFILES["long"], True, "t", "s")
    assert [sum(1 for v in s.stepvalue if v < n) for n in (30000, 30001, 60000, 90000)] == [0, 1, 1, 2]
