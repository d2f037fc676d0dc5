"""The model-free eye-label check (mcl_caffe/evaluation/eye_label_offset.py): synthetic eyes with known label
shifts,
the resampling's pixel convention, and the tool on the shared MTFL/AFLW and 300-W data."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mcl_caffe.evaluation import eye_label_offset as E
from mcl_caffe.data.datasets.sample import Face
from mcl_caffe.core.landmarks import get_scheme
from conftest import ROOT



def dark_blob(shape, centre, sigma, depth=150.0, background=200.0):
    """A gray image with a Gaussian dark blob centred at `centre` (pixel centres at integers)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    r2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    return background - depth * np.exp(-r2 / (2 * sigma**2))


def two_eye_face(d=40.0, size=160):
    """Image with two dark blobs d apart and 5-point labels exactly on them (nose and mouth below)."""
    left, right = np.array([60.3, 70.6]), np.array([60.3 + d, 70.6])
    img = np.minimum(dark_blob((size, size), left, 0.06 * d), dark_blob((size, size), right, 0.06 * d))
    pts = np.array([left, right, [80.0, 95.0], [66.0, 110.0], [94.0, 110.0]])
    return img, pts


def test_centroid_finds_a_shifted_blob():
    """A label 1.3 px right of and 0.7 px below the blob gives an offset of (-1.3, -0.7) px."""
    img = dark_blob((80, 80), (40.2, 38.9), sigma=1.5)
    off = E.dark_centroid_offset(img, (41.5, 39.6), d=40.0)
    np.testing.assert_allclose(off, [-1.3, -0.7], atol=0.02)
    np.testing.assert_allclose(E.dark_centroid_offset(img, (40.2, 38.9), d=40.0), [0, 0], atol=0.01)


def test_flat_window_has_no_centroid():
    assert np.all(np.isnan(E.dark_centroid_offset(np.full((30, 30), 90.0), (15, 15), d=20.0)))
    with pytest.raises(ValueError):
        E.dark_centroid_offset(np.zeros((30, 30)), (15, 15), d=0.0)


@pytest.mark.parametrize("target_d", [None, 15.0, 60.0])
def test_resampling_keeps_labels_on_the_eyes(target_d):
    """Labels exactly on the blobs measure ~0 at any resolution: the (x + 0.5) * s - 0.5 mapping is right
    (x * s instead would move a label by 0.5 * (1 - s) px, 2.1 % of d, when shrinking d from 40 to 15 px)."""
    img, pts = two_eye_face()
    off = E.face_offsets(img, pts, get_scheme("aflw5"), target_d)
    assert np.abs(off).max() < 0.004, off


def test_face_offsets_are_in_units_of_d():
    """Labels moved 2 px right and 1 px down on a face with d = 40 px: (-5 %, -2.5 %) of d at any scale."""
    img, pts = two_eye_face(d=40.0)
    moved = pts + np.array([2.0, 1.0])
    for target_d in (None, 15.0):
        off = E.face_offsets(img, moved, get_scheme("aflw5"), target_d)
        np.testing.assert_allclose(off, [[-0.05, -0.025]] * 2, atol=0.004)


def test_measure_groups_by_source_and_pose(tmp_path):
    import cv2

    img, pts = two_eye_face()
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8))
    turned = pts.copy()
    turned[2, 0] += 0.3 * 40  # nose towards the right eye: |yaw proxy| = 0.3
    faces = [
        Face(source="a", points=pts, image_path=str(path), group="setA/face.jpg"),
        Face(source="b", points=pts + [1.0, 0.0], image_path=str(path), group="setB/face.jpg"),
        Face(source="c", points=turned, image_path=str(path), group="setB/turned.jpg"),
    ]
    scheme = get_scheme("aflw5")
    s = E.measure(faces, scheme, target_d=None)
    assert list(s) == ["setA", "setB"] and s["setA"]["faces"] == 1 and s["setB"]["faces"] == 2
    assert abs(s["setA"]["eyes"][0]) < 0.4 and s["setB"]["eyes"][0] == pytest.approx(-100 / 40 / 2, abs=0.4)
    frontal = E.measure(faces, scheme, target_d=None, max_abs_yaw=0.1)
    assert frontal["setB"]["faces"] == 1
    assert frontal["setB"]["eyes"][0] == pytest.approx(-100 / 40, abs=0.4)
    assert "| setB | 1 |" in E.format_table(frontal)


def run_tool(*args):
    return subprocess.run(
        [sys.executable, "tools/eye_label_offset.py", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_tool_on_shared_aflw_and_300w(tmp_path):
    """On real data: the AFLW test labels sit right of and below the eye, relative to the MTFL training
    labels (the README's finding, on the first 300 faces of each list); the 300-W splits, labelled alike,
    agree."""
    out = tmp_path / "aflw.json"
    res = run_tool("--dataset", "aflw", "--limit", "300", "--json", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    train, test = doc["splits"]["train"], doc["splits"]["test"]
    assert train["lfw_5590"]["faces"] == 300 and test["AFLW"]["faces"] == 300
    (tx, ty), (ax, ay) = train["lfw_5590"]["eyes"], test["AFLW"]["eyes"]
    (tsx, tsy), (asx, asy) = train["lfw_5590"]["eyes_sem"], test["AFLW"]["eyes_sem"]
    assert ay - ty < -3 * np.hypot(tsy, asy), (ty, ay)  # test labels lower, relative to the eye
    assert ax - tx < -3 * np.hypot(tsx, asx), (tx, ax)  # and further right
    assert "| AFLW | 300 |" in res.stdout

    out = tmp_path / "300w.json"
    res = run_tool("--dataset", "300w", "--splits", "train", "val", "--json", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    # sources with at least 50 validation faces (HELEN 85, LFPW 78; AFW has 38, too few for its standard
    # error)
    for src in ("helen", "lfpw"):
        a, b = doc["splits"]["train"][src], doc["splits"]["val"][src]
        assert b["faces"] >= 50
        for k in (0, 1):
            assert abs(a["eyes"][k] - b["eyes"][k]) < 3 * np.hypot(a["eyes_sem"][k], b["eyes_sem"][k])


def test_tool_rejects_bad_input():
    res = run_tool("--splits", "val")
    assert res.returncode == 2 and "aflw split must be 'train' or 'test'" in res.stderr
    res = run_tool("--target-d", "-1")
    assert res.returncode == 2 and "--target-d" in res.stderr
