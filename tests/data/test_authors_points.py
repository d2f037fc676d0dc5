"""The paper's own IBUG output (../shared/data/authors/ibug_mcl_am.txt): the reader, and the project's metric
on it, which must give the paper's Table VI AM row for IBUG. That pins the metric, the eye-centre definition
and the point convention to the paper's."""

import numpy as np
import pytest

from mcl_caffe.core import metrics as M
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.data.datasets import load_300w, match_faces, read_authors_points
from mcl_caffe.data.datasets.authors_points import AUTHORS_IBUG_FILE
from conftest import SHARED_DATA

AUTHORS = SHARED_DATA / AUTHORS_IBUG_FILE
S68 = get_scheme("300w68")
# The paper's Table VI, AM on IBUG: 8.51 % mean error, 25.93 % failures. The authors' README gives the file's
# score to three decimals, 8.511 %; the project's metric must reproduce it to 0.005 points (half a unit of the
# paper's last digit). The failures are a count and must match exactly: 35 of 135 faces = 25.93 %.
PAPER_MEAN, MEAN_TOL = 8.511, 0.005
PAPER_FAILURES, N_IBUG = 35, 135


@pytest.fixture(scope="module")
def ibug():
    res = load_300w(SHARED_DATA / "300w", ["ibug"])
    assert not res.problems
    return res.faces


def test_the_project_metric_on_the_authors_output_gives_the_papers_ibug_figures(ibug):
    authors = read_authors_points(AUTHORS)
    assert len(authors) == len(ibug) == N_IBUG
    pred = match_faces(ibug, authors, AUTHORS)
    gt = np.stack([f.points for f in ibug])
    face = M.nme(pred, gt, S68.interocular(gt))
    assert 100 * M.mean_error(face) == pytest.approx(PAPER_MEAN, abs=MEAN_TOL)
    assert int(np.sum(face > M.FAILURE_THRESHOLD)) == PAPER_FAILURES
    assert round(100 * M.failure_rate(face), 2) == 25.93


def test_reader_keeps_the_file_values_in_the_loaders_frame(ibug):
    raw = read_authors_points(AUTHORS, origin=0.0)
    first = raw["image_003_1"]
    assert first.line == 1
    assert first.points[0].tolist() == [64.2320, 91.0714]  # the file's first two numbers
    assert first.points[67].shape == (2,)
    # default: minus 1 like the 300-W loader's .pts points, so both sit in the same 0-based frame
    shifted = read_authors_points(AUTHORS)["image_003_1"].points
    assert np.array_equal(shifted, first.points - 1.0)
    # the file and the loader share the frame: the mean signed offset of the authors' points from the ground
    # truth over 135 x 68 points is (+0.23, +0.19) px as read; a reader that kept the 1-based values would
    # give (+1.23, +1.19), one that subtracted twice (-0.77, -0.81): 0.5 px separates them
    pred = match_faces(ibug, read_authors_points(AUTHORS), AUTHORS)
    gt = np.stack([f.points for f in ibug])
    assert np.all(np.abs((pred - gt).mean(axis=(0, 1))) < 0.5)


GOOD = "face_a " + " ".join("%d %d" % (10 + i, 20 + i) for i in range(68))


@pytest.mark.parametrize(
    "line, message",
    [
        ("face_b 1 2 3", r"ids.txt:2: expected a face name and 136 coordinates .*got 4 fields"),
        ("face_b " + " ".join(["1"] * 135) + " x", r"ids.txt:2 column 137: non-numeric value 'x'"),
        ("face_b " + " ".join(["1"] * 135) + " nan", r"ids.txt:2 column 137: non-finite value 'nan'"),
        (GOOD, r"ids.txt:2: face face_a is listed twice \(first on line 1\)"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, line, message):
    p = tmp_path / "ids.txt"
    p.write_text(GOOD + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message):
        read_authors_points(p)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="empty.txt: no face lines"):
        read_authors_points(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_authors_points(tmp_path / "nope.txt")


def test_match_faces_needs_the_same_faces(tmp_path, ibug):
    authors = read_authors_points(AUTHORS)
    fewer = dict(list(authors.items())[1:])
    with pytest.raises(ValueError, match="has no line for 1 of the 135 faces: image_003_1"):
        match_faces(ibug, fewer, AUTHORS)
    with pytest.raises(ValueError, match="1 lines name faces that were not loaded: image_003_1"):
        match_faces(ibug[1:], authors, AUTHORS)
