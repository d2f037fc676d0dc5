"""make bench-pipeline's tool on two generated photos, one round, one configuration: it runs the real
pipeline in its worker process and writes its table (no speed is asserted: speed belongs to the bench)."""

import json
import subprocess
import sys

from conftest import ROOT


def test_bench_pipeline_times_decode_detection_and_landmarks(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "tools/bench_pipeline.py",
            "--out-dir",
            str(tmp_path),
            "--rounds",
            "1",
            "--threads",
            "1",
            "--fp32-only",
            "--photos",
            "two_small",
            "exif_6",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "pipeline.json").read_text())
    (row,) = res["rows"]
    assert row["label"] == "FP32, 1 thread" and row["images"] == 2
    assert row["faces"] == 4  # every face of the two photos was found and marked in the timed round
    for stage in ("decode", "detection", "landmarks", "total"):
        assert row[stage + "_images_per_s"] > 0
    md = (tmp_path / "pipeline.md").read_text()
    assert "| FP32, 1 thread |" in md and "| exif_6 | 480x640 | 2 |" in md
    assert (tmp_path / "photos" / "photos.json").is_file()  # the photos are made where the bench runs
