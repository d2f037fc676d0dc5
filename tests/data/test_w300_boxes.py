"""The official 300-W box files (.mat): the real shared files, and every kind of bad file written here."""

from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from mcl_caffe.data.datasets import load_300w
from mcl_caffe.data.datasets.w300_boxes import attach_300w_boxes, box_file_for, read_300w_box_file
from conftest import SHARED_DATA

W300 = SHARED_DATA / "300w"
COUNTS = {"afw": 337, "helen/trainset": 870, "ibug": 135, "lfpw/trainset": 805, "lfpw/testset": 224}


@pytest.mark.parametrize("subset", sorted(COUNTS))
def test_real_box_files_match_their_faces(subset):
    """Every face has both boxes; bb_ground_truth is the tight box of its points (the data README: to
    0.001 px, after the crop's shift and scale); bb_detector overlaps it."""
    path = box_file_for(W300, subset)
    boxes = read_300w_box_file(path)
    faces = load_300w(W300, [subset]).faces
    assert len(boxes) == len(faces) == COUNTS[subset]
    attach_300w_boxes(faces, boxes, "bb_ground_truth", path)
    for f in faces:
        p = f.points
        tight = [p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max()]
        np.testing.assert_allclose(f.box, tight, atol=1e-3, err_msg=f.source)
        det = boxes[Path(f.image_path).name]["bb_detector"]
        w = min(det[1], tight[1]) - max(det[0], tight[0])
        h = min(det[3], tight[3]) - max(det[2], tight[2])
        assert w > 0 and h > 0, f.source


def _cell(name, det, gt):
    st = np.zeros((1, 1), dtype=[("imgName", object), ("bb_detector", object), ("bb_ground_truth", object)])
    st[0, 0] = (np.array([name]), np.array([det], float), np.array([gt], float))
    return st


def _write(path, cells):
    arr = np.empty((1, len(cells)), dtype=object)
    for i, c in enumerate(cells):
        arr[0, i] = c
    savemat(str(path), {"bounding_boxes": arr})


def test_official_nesting_reads_back_as_left_right_top_bottom(tmp_path):
    path = tmp_path / "bounding_boxes_x.mat"
    _write(path, [_cell("a.jpg", [10, 20, 110, 140], [15, 25, 100, 130]), _cell("b.jpg", [1, 2, 3, 4], [1, 2,
            5, 6])])
    b = read_300w_box_file(path, origin=0)
    assert list(b) == ["a.jpg", "b.jpg"]
    assert b["a.jpg"]["bb_detector"].tolist() == [10, 110, 20, 140]
    assert b["a.jpg"]["bb_ground_truth"].tolist() == [15, 100, 25, 130]
    assert read_300w_box_file(path)["a.jpg"]["bb_detector"].tolist() == [9, 109, 19,
                                                                         139]  # 1-based by default
    assert box_file_for("/r", "helen/trainset") == Path("/r/Bounding Boxes/bounding_boxes_helen_trainset.mat")


@pytest.mark.parametrize(
    "cells, message",
    [
        ([_cell("a.jpg", [10, 20, 5, 140], [15, 25, 100, 130])],
         "entry 1 of 1 \\(a.jpg\\): bb_detector .* has no area"),
        ([_cell("a.jpg", [10, 20, 110], [15, 25, 100, 130])],
         "entry 1 of 1 \\(a.jpg\\): bb_detector is not 4"),
        ([_cell("a.jpg", [1, 2, 3, 4], [1, 2, 3, 4]), _cell("a.jpg", [1, 2, 3, 4], [1, 2, 3, 4])],
         "entry 2 of 2: a.jpg is listed twice"),
    ],
)
def test_bad_entries_name_the_file_and_entry(tmp_path, cells, message):
    path = tmp_path / "bad.mat"
    _write(path, cells)
    with pytest.raises(ValueError, match=str(path).replace(".", "\\.") + ": " + message):
        read_300w_box_file(path)


def test_bad_files_and_unlisted_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        read_300w_box_file(tmp_path / "nope.mat")
    (tmp_path / "text.mat").write_text("not a mat file\n")
    with pytest.raises(ValueError, match="text.mat: not a readable MATLAB"):
        read_300w_box_file(tmp_path / "text.mat")
    savemat(str(tmp_path / "other.mat"), {"boxes": np.zeros((1, 4))})
    with pytest.raises(ValueError, match="other.mat: no variable 'bounding_boxes'"):
        read_300w_box_file(tmp_path / "other.mat")
    st = np.zeros((1, 1), dtype=[("imgName", object), ("bb_detector", object)])
    st[0, 0] = (np.array(["a.jpg"]), np.array([[1, 2, 3, 4]], float))
    _write(tmp_path / "nofield.mat", [st])
    with pytest.raises(ValueError, match="entry 1 of 1: no field\\(s\\) bb_ground_truth"):
        read_300w_box_file(tmp_path / "nofield.mat")
    faces = load_300w(W300, ["ibug"], limit=2).faces
    _write(tmp_path / "one.mat", [_cell(Path(faces[0].image_path).name, [1, 2, 3, 4], [1, 2, 5, 6])])
    with pytest.raises(ValueError, match="lists no box for image %s" % Path(faces[1].image_path).name):
        attach_300w_boxes(faces, read_300w_box_file(tmp_path / "one.mat"), "bb_detector",
                          tmp_path / "one.mat")
