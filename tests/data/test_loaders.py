"""Loaders on the real shared data, and every kind of bad input on files written here."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcl_caffe.data.datasets import (
    BadSample,
    Face,
    attach_boxes,
    load_300w,
    load_mtfl_list,
    read_box_file,
    read_pts,
)
from mcl_caffe.data.datasets.w300 import photo_id
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.data.face_checks import check_inside
from mcl_caffe.data.prepare import _init_worker, process_face
from mcl_caffe.data.augment import AugmentConfig
from conftest import SHARED_DATA

DATA = SHARED_DATA
MTFL = DATA / "mtfl-full"
W300 = DATA / "300w"


# ----------------------------------------------------------------------------- real data
def test_mtfl_training_and_test_counts():
    tr = load_mtfl_list(MTFL / "training.txt")
    te = load_mtfl_list(MTFL / "testing.txt")
    assert (len(tr.faces), len(tr.problems)) == (10000, 0)
    assert (len(te.faces), len(te.problems)) == (2995, 0)
    assert sum("/lfw_5590/" in f.image_path for f in tr.faces) == 4151
    assert sum("/net_7876/" in f.image_path for f in tr.faces) == 5849
    assert all("/AFLW/" in f.image_path for f in te.faces)
    # read as released: CRLF, backslashes, a leading space on every line but the first, attribute columns
    raw = (MTFL / "training.txt").read_bytes().split(b"\r\n")
    assert raw[0].startswith(b"lfw_5590\\Aaron_Eckhart_0001.jpg ") and raw[1].startswith(b" lfw_5590\\")
    assert len(raw[0].split()) == 1 + 10 + 4
    # first line: lfw_5590\Aaron_Eckhart_0001.jpg 107.25 147.75 126.25 106.25 140.75 (x, 1-based)
    #                                             108.75 113.25 143.75 158.75 162.75 (y) 1 2 2 3
    f = tr.faces[0]
    assert f.image_path.endswith("lfw_5590/Aaron_Eckhart_0001.jpg") and Path(f.image_path).is_absolute()
    assert np.array_equal(  # 0-based: the file's values minus 1
        f.points, [[106.25, 107.75], [146.75, 112.25], [125.25, 142.75], [105.25, 157.75], [139.75, 161.75]]
    )
    assert np.array_equal(load_mtfl_list(MTFL / "training.txt", limit=1, origin=0).faces[0].points,
                          f.points + 1)
    assert f.box is None and f.order == 0 and tr.faces[-1].order == 9999
    assert all(Path(f.image_path).is_file() for f in tr.faces[:50] + te.faces[:50])


def test_mtfl_limit_takes_the_first_faces():
    r = load_mtfl_list(MTFL / "testing.txt", limit=7)
    full = load_mtfl_list(MTFL / "testing.txt")
    assert [f.image_path for f in r.faces] == [f.image_path for f in full.faces[:7]]


def test_300w_counts_subsets_and_groups():
    r = load_300w(W300)  # default: the official training folders (the data README's counts)
    assert (len(r.faces), len(r.problems)) == (2012, 0)
    assert sum(f.source.startswith("afw/") for f in r.faces) == 337
    assert sum(f.source.startswith("helen/trainset/") for f in r.faces) == 870
    assert sum(f.source.startswith("lfpw/trainset/") for f in r.faces) == 805
    assert len(load_300w(W300, ["afw"]).faces) == 337
    # the test folders sit under the same root and are loaded only when named
    assert not any(f.source.startswith(("ibug/", "lfpw/testset/")) for f in r.faces)
    assert len(load_300w(W300, ["ibug"]).faces) == 135
    assert len(load_300w(W300, ["lfpw/testset"]).faces) == 224
    f = r.faces[0]
    assert f.points.shape == (68, 2) and Path(f.image_path).is_file()
    # first line of afw/1051618982_1.pts: 64.318 86.993, 1-based -> 0-based
    assert np.allclose(f.points[0], [63.318, 85.993], rtol=0, atol=1e-12)
    assert np.array_equal(load_300w(W300, ["afw"], limit=1, origin=0).faces[0].points, f.points + 1)
    # faces of one AFW photo share a group
    g = [x.group for x in r.faces if x.source.startswith("afw/111076519_")]
    assert len(g) == 2 and len(set(g)) == 1


def test_300w_groups_are_photographs():
    """A group is one photograph: IBUG's 135 faces come from 114 photos (data README), image_014,
    image_014_01 and image_014_02 among them; every LFPW image is its own photo."""
    ibug = load_300w(W300, ["ibug"]).faces
    assert len({f.group for f in ibug}) == 114
    g014 = {f.group for f in ibug if re.match(r"ibug/image_014(_\d+)?\.pts$", f.source)}
    assert g014 == {"ibug/image_014"}
    assert len([f for f in ibug if f.group == "ibug/image_014"]) == 3
    lfpw = load_300w(W300, ["lfpw/trainset"]).faces
    assert len({f.group for f in lfpw}) == len(lfpw) == 805
    assert [photo_id(s) for s in ("111076519_2", "100040721_1", "image_003_1", "image_006",
                                  "image_0001")] == [
        "111076519", "100040721", "image_003", "image_006", "image_0001"]


# ----------------------------------------------------------------------------- bad input
def _write_pts(path, pts, n_header=None, braces=True):
    n_header = len(pts) if n_header is None else n_header
    body = "\n".join("%s %s" % tuple(p) for p in pts)
    text = "version: 1\nn_points: %d\n%s\n%s\n%s\n" % (
        n_header,
        "{" if braces else "",
        body,
        "}" if braces else "",
    )
    path.write_text(text)


def _good68():
    rng = np.random.default_rng(0)
    return np.round(rng.uniform(20, 100, size=(68, 2)), 3)


def test_pts_wrong_count_non_numeric_and_malformed(tmp_path):
    p = tmp_path / "a.pts"
    _write_pts(p, _good68())
    assert np.allclose(read_pts(p), _good68())
    _write_pts(p, _good68()[:67])
    with pytest.raises(BadSample) as e:
        read_pts(p)
    assert e.value.reason == "wrong point count" and str(p) in e.value.message and "67" in e.value.message
    _write_pts(p, _good68(), n_header=67)
    with pytest.raises(BadSample, match="n_points is 67"):
        read_pts(p)
    bad = _good68().astype(object)
    bad[5, 1] = "12.x"
    _write_pts(p, bad)
    with pytest.raises(BadSample) as e:
        read_pts(p)
    assert e.value.reason == "non-numeric value" and "12.x" in e.value.message and "line 6" in e.value.message
    _write_pts(p, _good68(), braces=False)
    with pytest.raises(BadSample) as e:
        read_pts(p)
    assert e.value.reason == "malformed pts file"


def test_300w_folder_with_bad_faces_skips_and_counts(tmp_path):
    sub = tmp_path / "afw"
    sub.mkdir()
    img = np.full((120, 120, 3), 128, np.uint8)
    for name in ["good_1", "short_1", "noimg_1", "flat_1"]:
        if name != "noimg_1":
            cv2.imwrite(str(sub / (name + ".jpg")), img)
    _write_pts(sub / "good_1.pts", _good68())
    _write_pts(sub / "short_1.pts", _good68()[:60])
    _write_pts(sub / "noimg_1.pts", _good68())
    _write_pts(sub / "flat_1.pts", np.full((68, 2), 50.0))  # zero-area box
    r = load_300w(tmp_path)
    assert [f.source for f in r.faces] == ["afw/good_1.pts"]
    reasons = sorted(p.reason for p in r.problems)
    assert reasons == ["missing image", "wrong point count", "zero-area box"]
    msgs = " ".join(p.message for p in r.problems)
    assert "noimg_1.pts" in msgs and "short_1.pts" in msgs and "flat_1.pts" in msgs


def test_300w_folder_without_the_default_subsets_names_them(tmp_path):
    (tmp_path / "ibug").mkdir()
    _write_pts(tmp_path / "ibug" / "image_001.pts", _good68())
    with pytest.raises(FileNotFoundError,
                       match="none of the default subsets afw, helen/trainset, lfpw/trainset"):
        load_300w(tmp_path)
    with pytest.raises(FileNotFoundError, match="subset folder not found"):
        load_300w(tmp_path, ["lfpw/trainset"])


def test_mtfl_bad_lines(tmp_path):
    lst = tmp_path / "list.txt"
    lst.write_text(
        "a.jpg 30 50 40 32 48 35 35 45 55 55 1 2 2 3\n"  # fine (with attributes)
        "b.jpg 30 50 40 32 48 35 35 45 55\n"  # 9 coordinates
        "c.jpg 30 50 forty 32 48 35 35 45 55 55\n"  # non-numeric
        "d.jpg 30 50 40 32 48 35 35 45 nan 55\n"  # NaN
        "\ne.jpg 40 40 40 40 40 40 40 40 40 40\n"  # zero-area box
        "sub\\f.jpg 30 50 40 32 48 35 35 45 55 55\n"
    )  # Windows separator, fine
    r = load_mtfl_list(lst)
    assert [Path(f.image_path).name for f in r.faces] == ["a.jpg", "f.jpg"]
    assert r.faces[1].image_path == str(tmp_path.resolve() / "sub" / "f.jpg")
    assert [p.reason for p in r.problems] == [
        "wrong point count",
        "non-numeric value",
        "non-numeric value",
        "zero-area box",
    ]
    assert "list.txt:2" in r.problems[0].message and "list.txt:3" in r.problems[1].message
    assert "'forty'" in r.problems[1].message and "list.txt:6" in r.problems[3].message
    assert r.faces[1].order == 5  # position among non-empty lines, for box files
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_mtfl_list(tmp_path / "nope.txt")


def _run_worker_on(face, split="val"):
    _init_worker(
        {"train": [face], "val": [face], "test": [face]},
        get_scheme(face.points.shape[0]),
        AugmentConfig(),
        0,
        None,
    )
    return process_face(split, 0)[2]


def test_missing_unreadable_image_and_far_outside_points_are_reported(tmp_path):
    pts = np.array([[30.0, 35], [50, 35], [40, 45], [32, 55], [48, 55]])
    res = _run_worker_on(Face(source="x:1", points=pts, image_path=str(tmp_path / "gone.jpg")))
    assert isinstance(res, BadSample) and res.reason == "missing image" and "gone.jpg" in res.message
    (tmp_path / "junk.jpg").write_bytes(b"this is not a jpeg")
    res = _run_worker_on(Face(source="x:2", points=pts, image_path=str(tmp_path / "junk.jpg")))
    assert isinstance(res, BadSample) and res.reason == "unreadable image" and "junk.jpg" in res.message
    cv2.imwrite(str(tmp_path / "ok.png"), np.full((80, 80, 3), 100, np.uint8))
    far = pts.copy()
    far[3] = [40, 80 + 0.25 * 80 + 1]  # 21.5 px below the image: more than 25% of 80 px
    res = _run_worker_on(Face(source="x:3", points=far, image_path=str(tmp_path / "ok.png")))
    assert isinstance(res, BadSample) and res.reason == "points far outside image"
    assert "x:3" in res.message and "point 4" in res.message
    near = pts.copy()
    near[3] = [40, 80 + 0.25 * 80 - 1]  # within the tolerance: kept
    res = _run_worker_on(Face(source="x:4", points=near, image_path=str(tmp_path / "ok.png")))
    assert isinstance(res, dict) and res["label"].shape == (1, 10)
    check_inside(Face(source="y", points=pts), (80, 80))  # no exception


def test_box_file_reading_and_attaching(tmp_path):
    bf = tmp_path / "boxes.txt"
    bf.write_text("10 60 12 70\n\n5 5 10 20\n1 2 3\n0 50 0 50\n")
    boxes = read_box_file(bf)
    assert np.array_equal(boxes[0], [10, 60, 12, 70])
    assert (
        isinstance(boxes[1], BadSample)
        and boxes[1].reason == "zero-area box"
        and "boxes.txt:3" in boxes[1].message
    )
    assert isinstance(boxes[2], BadSample) and boxes[2].reason == "malformed box file"
    lst = tmp_path / "list.txt"
    lst.write_text("".join("i%d.jpg 30 50 40 32 48 35 35 45 55 55\n" % i for i in range(5)))
    r = load_mtfl_list(lst)
    attach_boxes(r, boxes, bf)
    assert [Path(f.image_path).name for f in r.faces] == ["i0.jpg", "i3.jpg"]
    assert np.array_equal(r.faces[1].box, [0, 50, 0, 50])
    assert sorted(p.reason for p in r.problems) == ["malformed box file", "missing box", "zero-area box"]
