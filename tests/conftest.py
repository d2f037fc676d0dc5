"""Fixtures and paths shared by the test modules (tests/<subpackage>/ mirror mcl_caffe/<subpackage>/): the
repository root, the shared data next to the clone, and the smoke run of the whole pipeline."""
import os
import signal
import subprocess
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
def smoke_run(tmp_path_factory):
    """`make all PROFILE=smoke` on real MTFL faces, through the real Makefile targets and Caffe: a trained
    (if briefly) 5-point model, its data, ONNX export and report. Stage 1 is killed after its first snapshot
    and resumed by `make all`."""
    if not SHARED_MTFL.is_dir():
        pytest.fail("the shared MTFL data is missing at %s" % SHARED_MTFL)
    tmp = tmp_path_factory.mktemp("smoke")
    data = make_smoke("data", tmp=tmp)
    assert data.returncode == 0, data.stdout + data.stderr

    # start stage 1, kill it once its first snapshot is on disk
    snap = tmp / "runs" / "aflw-smoke" / "stage1" / "snapshots" / "stage1_iter_50.solverstate"
    proc = subprocess.Popen(["make", "--no-print-directory", "stage1", "DATASET=aflw", "PROFILE=smoke",
                             "OUT=%s" % (tmp / "data"), "RUNS=%s" % (tmp / "runs")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.time() + 600
    while not snap.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # let the .caffemodel/.solverstate pair finish writing
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert snap.exists(), "stage1 never wrote its first snapshot"

    full = make_smoke("all", tmp=tmp)
    assert full.returncode == 0, full.stdout[-3000:] + full.stderr[-3000:]
    return {"tmp": tmp, "runs": tmp / "runs" / "aflw-smoke", "data": tmp / "data" / "aflw",
            "out": full.stdout + full.stderr}


@pytest.fixture(scope="session")
def real_photos(tmp_path_factory):
    """Photos made from the shared LFPW test faces by mcl_caffe.bench.photos (sizes from 30 px to the full
    frame, 12 megapixels, a blank 8000x6000, EXIF orientations written by Pillow, truncated and corrupt
    files), with their ground truth: (folder, {name: PhotoSpec})."""
    from mcl_caffe.bench.photos import load_photos, make_photos

    d = tmp_path_factory.mktemp("photos")
    make_photos(d)
    return d, load_photos(d)
