"""Fixtures and paths shared by the test modules (tests/<subpackage>/ mirror mcl_caffe/<subpackage>/): the
repository root, the shared data next to the clone, the smoke data and run of the whole pipeline, and the
tiny stage-1 runs of the test-only profiles (tests/tiny_profiles.py)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcl_caffe.data.eval_faces import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]  # the repository
SHARED_MTFL = SHARED_DATA / "mtfl-full"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data next to the clone: the official dataset files that the tests read."""
    if not SHARED_DATA.is_dir():
        pytest.fail("the shared data is missing at %s (../shared/data next to the clone)" % SHARED_DATA)
    return SHARED_DATA


def make_smoke(*targets, tmp, extra=(), **kw):
    """`make TARGETS DATASET=aflw PROFILE=smoke` with its data and runs under tmp."""
    args = ["make", "--no-print-directory", *targets, "DATASET=aflw", "PROFILE=smoke",
            "OUT=%s" % (tmp / "data"), "RUNS=%s" % (tmp / "runs"), *extra]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory):
    """`make data PROFILE=smoke` on real MTFL faces: {'tmp': the folder, 'data': tmp/data/aflw} (train, val,
    test and test_gt lists of a few hundred faces)."""
    if not SHARED_MTFL.is_dir():
        pytest.fail("the shared MTFL data is missing at %s" % SHARED_MTFL)
    tmp = tmp_path_factory.mktemp("smoke")
    data = make_smoke("data", tmp=tmp)
    assert data.returncode == 0, data.stdout + data.stderr
    return {"tmp": tmp, "data": tmp / "data" / "aflw"}


@pytest.fixture(scope="session")
def smoke_run(smoke_data):
    """`make all PROFILE=smoke` on real MTFL faces, through the real Makefile targets and Caffe: a trained
    (if briefly) 5-point model, its data, ONNX export and report. Stage 1 is killed once its first snapshot
    is complete and resumed by `make all`."""
    tmp = smoke_data["tmp"]

    # start stage 1 and kill it as soon as its first snapshot pair is complete on disk; the smoke test then
    # expects the resume from whichever snapshot is newest at the kill (50 here; later ones on a machine fast
    # enough to step past 100 between two polls), as solve_loop.snapshots sees them
    from mcl_caffe.train.solve_loop import snapshots
    snap_dir = tmp / "runs" / "aflw-smoke" / "stage1" / "snapshots"
    proc = subprocess.Popen(["make", "--no-print-directory", "stage1", "DATASET=aflw", "PROFILE=smoke",
                             "OUT=%s" % (tmp / "data"), "RUNS=%s" % (tmp / "runs")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    size = None
    while proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
        states = sorted(snap_dir.glob("*.solverstate")) if snap_dir.is_dir() else []
        if not states:
            continue
        # Caffe writes the .caffemodel, then the .solverstate; a pair that parses and whose state file kept
        # its size over one poll is finished (a state cut short by the kill would be skipped on resume
        # anyway)
        now = sum(f.stat().st_size for f in states)
        if size == now and snapshots(snap_dir):
            break
        size = now
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = snapshots(snap_dir)
    assert done, "stage1 wrote no complete snapshot before it was killed (or before 600 s)"
    resumed_at = done[-1][0]
    assert resumed_at < 150, "stage1 finished all 150 iterations before the kill: nothing left to resume"

    full = make_smoke("all", tmp=tmp)
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]
    return {"tmp": tmp, "runs": tmp / "runs" / "aflw-smoke", "data": tmp / "data" / "aflw",
            "out": full.stdout + full.stderr, "stage1_resumed_at": resumed_at}


def run_tiny(profile: str, data: Path, runs: Path, *extra, stage: str = "stage1"):
    """The stage runner in its own process with the test-only profiles of tests/tiny_profiles.py registered,
    one BLAS thread (so runs compare exactly)."""
    cmd = [sys.executable, str(ROOT / "tests" / "tiny_profiles.py"), stage, "--dataset", "aflw", "--profile",
           profile, "--data", str(data), "--runs", str(runs), "--threads", "1", *map(str, extra)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def tiny_long_run(smoke_data):
    """Stage 1 of the test-only `tiny-long` profile (9 iterations, lr x 0.3 at 3, 6 and 9, batch 16) on the
    smoke data: a real Caffe run with kept snapshots at 3, 6 and 9. -> {'runs', 'run', 'data', 'out'}"""
    runs = smoke_data["tmp"] / "tiny-runs"
    res = run_tiny("tiny-long", smoke_data["data"], runs)
    assert res.returncode == 0, res.stderr[-3000:]
    return {"runs": runs, "run": runs / "aflw-tiny-long", "data": smoke_data["data"], "out": res.stderr}


@pytest.fixture(scope="session")
def real_photos(tmp_path_factory):
    """Photos made from the shared LFPW test faces by mcl_caffe.bench.photos (sizes from 30 px to the full
    frame, 12 megapixels, a blank 8000x6000, EXIF orientations written by Pillow, truncated and corrupt
    files), with their ground truth: (folder, {name: PhotoSpec})."""
    from mcl_caffe.bench.photos import load_photos, make_photos

    d = tmp_path_factory.mktemp("photos")
    make_photos(d)
    return d, load_photos(d)
