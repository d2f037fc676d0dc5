"""Dataset box files attached to their lists (make data --train-boxes/--test-boxes), and the box-offset
check."""


import numpy as np
import pytest

from mcl_caffe.evaluation.box_offsets import box_offsets, run as box_offsets_run, summarize
from mcl_caffe.data.datasets import load_mtfl_list
from mcl_caffe.data.datasets.box_file import attach_list_boxes
from conftest import SHARED_DATA

DATA = SHARED_DATA
SUN = DATA / "boxes" / "cnn-facepoint" / "trainImageList.txt"
AFLW_BOXES = DATA / "boxes" / "aflw-bbox-annotation" / "AFLW_boundingbox.txt"


def test_real_box_files_attach_to_every_face():
    """10,000 Sun boxes and 2,995 author boxes, matched to their faces; the author's boxes are tab-separated
    with CRLF, as released; the two test faces whose detector box missed the face are reported, not
    dropped."""
    assert b"\t" in AFLW_BOXES.read_bytes()[:40] and b"\r\n" in AFLW_BOXES.read_bytes()[:40]
    train = load_mtfl_list(DATA / "mtfl-full" / "training.txt").faces
    test = load_mtfl_list(DATA / "mtfl-full" / "testing.txt").faces
    assert attach_list_boxes(train, SUN) == []
    notes = attach_list_boxes(test, AFLW_BOXES)
    assert all(f.box is not None for f in train + test) and (len(train), len(test)) == (10000, 2995)
    assert train[0].box.tolist() == [84, 161, 92, 169] and test[0].box.tolist() == [20, 111, 26, 117]
    assert len(notes) == 2 and "AFLW_boundingbox.txt:1353" in notes[0] and "1355-image19730.jpg" in notes[0]
    inside = np.array([(f.box[0] <= f.points[:, 0]) & (f.points[:, 0] <= f.box[1])
                       & (f.box[2] <= f.points[:, 1]) & (f.points[:, 1] <= f.box[3]) for f in test])
    # the data README: 99.5 % of the test points inside their box; counted exactly on these fixed files:
    # 14,903 of the 14,975 points, and 2,937 of the 2,995 faces (98.1 %) with all 5 points inside
    assert (inside.sum(), inside.all(axis=1).sum()) == (14903, 2937)


def _list(tmp_path, n=3):
    lst = tmp_path / "list.txt"
    lst.write_text("".join("d\\i%d.jpg 30 50 40 32 48 35 35 45 55 55 1 2 2 3\r\n" % i for i in range(n)))
    return load_mtfl_list(lst).faces


@pytest.mark.parametrize(
    "text, message",
    [
        ("20 60 20 70\n20 60 20 70\n", "has 2 boxes; .*list.txt:3 .* is entry 3"),
        ("20 60 20 70\n20 60 20\n20 60 20 70\n", "boxes.txt:2: expected 4 numbers"),
        ("20\t60\t20\t70\r\n20 10 20 70\r\n20 60 20 70\r\n", "boxes.txt:2: box .* has no area"),
        ("20 60 20 70\n20 60 2x0 70\n20 60 20 70\n", "boxes.txt:2: non-numeric value '2x0'"),
        ("d\\i0.jpg 20 60 20 70 1 2 3 4 5 6 7 8 9 10\nd\\i9.jpg 20 60 20 70 1 2 3 4 5 6 7 8 9 10\n"
         "d\\i2.jpg 20 60 20 70 1 2 3 4 5 6 7 8 9 10\n", "boxes.txt:2: the box is for d/i9.jpg, but entry 2"),
    ],
)
def test_bad_box_files_stop_naming_file_and_line(tmp_path, text, message):
    faces = _list(tmp_path)
    bf = tmp_path / "boxes.txt"
    bf.write_text(text)
    with pytest.raises(ValueError, match=message):
        attach_list_boxes(faces, bf)


def test_both_formats_attach(tmp_path):
    faces = _list(tmp_path)
    (tmp_path / "a.txt").write_text("20\t60\t20\t70\t\r\n21 61 21 71\r\n22 62 22 72\r\n")
    assert attach_list_boxes(faces, tmp_path / "a.txt") == []
    assert [f.box.tolist() for f in faces] == [[20, 60, 20, 70], [21, 61, 21, 71], [22, 62, 22, 72]]
    sun = "".join("d\\i%d.jpg 1 100 1 100 1 2 3 4 5 6 7 8 9 10\r\n" % i for i in range(3))
    (tmp_path / "s.txt").write_text(sun)
    assert attach_list_boxes(faces, tmp_path / "s.txt") == []
    assert faces[2].box.tolist() == [1, 100, 1, 100]
    (tmp_path / "far.txt").write_text("200 260 200 270\n21 61 21 71\n22 62 22 72\n")
    notes = attach_list_boxes(faces, tmp_path / "far.txt")
    assert len(notes) == 1 and "far.txt:1" in notes[0] and faces[0].box.tolist() == [200, 260, 200, 270]


def test_box_offsets_recover_a_known_offset_and_size():
    rng = np.random.default_rng(0)
    pts = rng.uniform(20, 30, (50, 5, 2))
    pts[:, 1, 0] = pts[:, 0, 0] + 40  # d of about 40 px
    d = np.hypot(*(pts[:, 0] - pts[:, 1]).T)
    c = pts.mean(axis=1) + np.array([0.05, -0.02]) * d[:, None]
    half = d[:, None] * 1.0
    boxes = np.concatenate([c[:, :1] - half, c[:, :1] + half, c[:, 1:] - half, c[:, 1:] + half], axis=1)
    s = summarize(box_offsets(pts, boxes))
    np.testing.assert_allclose(s["offset_mean"], [0.05, -0.02], atol=1e-12)
    assert s["median_side_over_d"] == pytest.approx(2.0) and s["faces"] == 50
    assert s["frontal_faces"] == 0 and s["frontal_offset_median"] is None  # random noses: none frontal


def test_box_offsets_tool_on_the_shared_data(tmp_path, capsys):
    out = tmp_path / "o.json"
    assert box_offsets_run(SHARED_DATA, out) == 0
    import json

    rows = json.loads(out.read_text())
    train, test = rows["train (Sun's boxes)"], rows["AFLW test (author's boxes)"]
    assert (train["faces"], test["faces"]) == (10000, 2995)
    # the test boxes sit further left and up of the points than the training boxes, on frontal faces too
    for k in (0, 1):
        assert test["frontal_offset_median"][k] < train["frontal_offset_median"][k] - 0.01
    assert "| AFLW test (author's boxes) | 2995 |" in capsys.readouterr().out
    assert box_offsets_run(tmp_path) == 2
