"""Sun et al.'s training list with the CUHK detector boxes: the real file against MTFL, and bad files."""


import numpy as np
import pytest

from mcl_caffe.data.datasets import load_mtfl_list
from mcl_caffe.data.datasets.sun_list import read_sun_list
from conftest import SHARED_DATA

DATA = SHARED_DATA
SUN = DATA / "boxes" / "cnn-facepoint" / "trainImageList.txt"


def test_real_list_is_mtfl_training_minus_one_with_a_box_per_face():
    raw = SUN.read_bytes()
    assert b"\r\n" in raw and b"\\" in raw  # read as released: CRLF, backslash paths
    sun = read_sun_list(SUN)
    mtfl = load_mtfl_list(DATA / "mtfl-full" / "training.txt", origin=0).faces  # the file's own values
    assert len(sun) == len(mtfl) == 10000
    assert sun[0].path == "lfw_5590/Aaron_Eckhart_0001.jpg" and sun[0].box.tolist() == [84, 161, 92, 169]
    for s, f in zip(sun, mtfl):
        assert f.image_path.endswith("/" + s.path)
        assert np.array_equal(f.points, s.points + 1.0), s.line  # exactly: MTFL is 1-based, Sun 0-based
    # so the loader's 0-based points (origin 1, its default) are Sun's points
    first = load_mtfl_list(DATA / "mtfl-full" / "training.txt", limit=20).faces
    assert all(np.array_equal(f.points, s.points) for f, s in zip(first, sun))
    inside = np.mean([(s.box[0] <= s.points[:, 0]).all() and (s.points[:, 0] <= s.box[1]).all()
                      and (s.box[2] <= s.points[:, 1]).all() and (s.points[:,
                              1] <= s.box[3]).all() for s in sun])
    assert inside > 0.95, inside


@pytest.mark.parametrize(
    "line, message",
    [
        ("a.jpg 1 2 3 4 5 6 7 8 9 10 11 12 13\r\n",
         "expected a path, 4 box numbers and 10 coordinates, got 14"),
        ("a.jpg 10 5 3 40 5 6 7 8 9 10 11 12 13 14\r\n", "has no area"),
        ("a.jpg 1 20 3 40 5 6 7 x 9 10 11 12 13 14\r\n", "'x'"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    p = tmp_path / "list.txt"
    p.write_bytes(b"a.jpg 1 20 3 40 5 6 7 8 9 10 11 12 13 14\r\n" + line.encode())
    with pytest.raises(ValueError, match="list.txt:2: .*" + message):
        read_sun_list(p)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_sun_list(tmp_path / "nope.txt")
