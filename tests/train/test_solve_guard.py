"""The solve loop stops a diverging or non-finite run at once, keeps the last good snapshot, and resumes.

Each solve runs in its own process (as the stage runner does): the guard leaves through os._exit.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np

from mcl_caffe.train.solve_loop import EXIT_DIVERGED, EXIT_NONFINITE, DivergenceGuard, snapshots
from conftest import ROOT


SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mcl_caffe.train.solve_loop import solve
    stage = Path(sys.argv[1])
    out = solve(stage / "solver.prototxt", stage, lambda net: float(net.blobs["loss"].data), int(sys.argv[2]),
                label="guard-test")
    print("finished at", out["iterations"])
""")


def _stage(tmp_path: Path, base_lr: float, max_iter: int = 60, nan_labels: bool = False) -> Path:
    from mcl_caffe.caffe_import import load_caffe
    caffe = load_caffe()
    from caffe import layers as L, params as P
    rng = np.random.default_rng(0)
    h5 = tmp_path / "d.h5"
    with h5py.File(h5, "w") as f:
        f["data"] = rng.normal(size=(256, 1, 12, 12)).astype(np.float32)
        label = rng.normal(size=(256, 2)).astype(np.float32)
        if nan_labels:
            label[:] = np.nan  # a NaN loss at once, with finite inputs (so pooling's argmax mask stays valid)
        f["label"] = label
    (tmp_path / "list.txt").write_text(str(h5) + "\n")
    n = caffe.NetSpec()
    n.data, n.label = L.HDF5Data(source=str(tmp_path / "list.txt"), batch_size=16, shuffle=True, ntop=2)
    n.conv = L.Convolution(n.data, num_output=8, kernel_size=3, pad=1, weight_filler=dict(type="msra"))
    n.relu = L.ReLU(n.conv, in_place=True)
    n.pool = L.Pooling(n.relu, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.fc = L.InnerProduct(n.pool, num_output=2, weight_filler=dict(type="xavier"))
    n.loss = L.EuclideanLoss(n.fc, n.label)
    (tmp_path / "train.prototxt").write_text(str(n.to_proto()))
    (tmp_path / "solver.prototxt").write_text(textwrap.dedent("""
        train_net: "%s"
        base_lr: %g
        lr_policy: "fixed"
        momentum: 0.9
        max_iter: %d
        snapshot: 0
        snapshot_prefix: "%s"
        solver_mode: CPU
        random_seed: 3
    """ % (tmp_path / "train.prototxt", base_lr, max_iter, tmp_path / "snapshots" / "guard")))
    return tmp_path


def _run(stage: Path, snapshot_every: int):
    return subprocess.run([sys.executable, "-c", SCRIPT, str(stage), str(snapshot_every)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def _feed(guard, values):
    """The first reason the guard gives while fed `values`, or None."""
    for v in values:
        reason = guard.check(v)
        if reason:
            return reason
    return None


def test_guard_flags_a_spike_and_a_drift_but_not_noise():
    assert _feed(DivergenceGuard(warmup=5, window=5), [1.0, 1.2, 0.9, 1.1, 1.0] + [0.8, 1.3, 0.7] * 5) is None
    assert "over 50x" in _feed(DivergenceGuard(warmup=3), [1.0, 1.0, 1.0, 60.0])
    drifting = DivergenceGuard(warmup=3, window=3, spike=1e9, drift=5)
    assert _feed(drifting, [1.0, 1.0, 1.0, 6.0, 7.0]) is None
    assert "mean loss of the last 3" in _feed(drifting, [8.0])
    # an explosion in the first iterations, before the warm-up is over, is caught too
    assert "over 50x" in _feed(DivergenceGuard(warmup=20), [2.0, 3e11])


def test_exploding_run_stops_before_saving_anything_bad_and_resumes(tmp_path):
    stage = _stage(tmp_path, base_lr=50.0)
    res = _run(stage, snapshot_every=1)
    assert res.returncode == EXIT_DIVERGED, res.stdout + res.stderr
    assert "STOPPED: diverging at iteration" in res.stderr
    # every snapshot left behind was taken after a loss the guard accepted
    rows = [r.split(",") for r in (stage / "loss.csv").read_text().splitlines()[1:]]
    losses = [float(r[1]) for r in rows]
    kept = snapshots(stage / "snapshots")
    assert kept and [s[0] for s in kept] == [int(r[0]) for r in rows][-len(kept):]
    assert all(np.isfinite(losses)) and max(losses) < 50 * losses[0]
    # a fresh process resumes from the newest of them (and stops again: the lr is still too high)
    again = _run(stage, snapshot_every=1)
    assert "resuming from %s" % kept[-1][1] in again.stderr
    # the restored momentum still explodes: caught as divergence or, on its first step, as non-finite
    assert again.returncode in (EXIT_DIVERGED, EXIT_NONFINITE) and "STOPPED" in again.stderr


def test_non_finite_loss_exits_at_once_without_a_snapshot(tmp_path):
    stage = _stage(tmp_path, base_lr=0.01, nan_labels=True)
    res = _run(stage, snapshot_every=1)
    assert res.returncode == EXIT_NONFINITE, res.stdout + res.stderr
    assert "STOPPED: non-finite loss" in res.stderr and "at iteration 1" in res.stderr
    assert snapshots(stage / "snapshots") == []


def test_healthy_run_finishes_and_resume_continues_the_loss_log(tmp_path):
    stage = _stage(tmp_path, base_lr=0.01, max_iter=30)
    first = _run(stage, snapshot_every=10)
    assert first.returncode == 0, first.stderr
    assert "finished at 30" in first.stdout
    iters = [int(r.split(",")[0]) for r in (stage / "loss.csv").read_text().splitlines()[1:]]
    assert iters == list(range(1, 31))
    assert [s[0] for s in snapshots(stage / "snapshots")] == [20, 30]  # only the newest two are kept
    # a snapshot cut at a protobuf field boundary still parses: without its last momentum blob, or with a
    # weights file that lacks its last layer, it is not offered for resuming (Caffe would abort on the one
    # and start the missing layers afresh from the other); the older complete one is
    from caffe.proto import caffe_pb2

    _, state, model = snapshots(stage / "snapshots")[-1]
    full_state, full_model = state.read_bytes(), model.read_bytes()
    msg = caffe_pb2.SolverState()
    msg.ParseFromString(full_state)
    assert len(msg.history) > 1
    del msg.history[-1]
    state.write_bytes(msg.SerializeToString())
    assert [s[0] for s in snapshots(stage / "snapshots")] == [20]
    state.write_bytes(full_state)
    net = caffe_pb2.NetParameter()
    net.ParseFromString(full_model)
    while not net.layer[-1].blobs:  # drop the last layer that holds weights
        del net.layer[-1]
    del net.layer[-1]
    model.write_bytes(net.SerializeToString())
    assert [s[0] for s in snapshots(stage / "snapshots")] == [20]
    model.write_bytes(full_model)
    assert [s[0] for s in snapshots(stage / "snapshots")] == [20, 30]
