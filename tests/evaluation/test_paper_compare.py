"""A 68-point ONNX model against the paper's own IBUG output (mcl_caffe/evaluation/paper_compare.py and its
figures): the statistics on small known inputs, the crops and the mapping back on the real faces with the
shipped model, the figures, and `make paper-compare`."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from mcl_caffe.core import crop as C
from mcl_caffe.core import metrics as M
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.evaluation import paper_compare as PC
from mcl_caffe.evaluation import paper_compare_plots as PP
from mcl_caffe.infer import shipped
from mcl_caffe.report import paper_section as PS
from conftest import ROOT, SHARED_DATA

S68 = get_scheme("300w68")
MODEL = shipped.model_dir("300w68") / "mcl.onnx"
W300 = SHARED_DATA / "300w"
AUTHORS = SHARED_DATA / "authors" / "ibug_mcl_am.txt"


# ----------------------------------------------------------------------------- statistics on known inputs
def test_region_errors_average_each_regions_points():
    pe = np.zeros((2, 68))
    pe[:, 0:17] = 0.1  # jaw
    pe[0, 17:27], pe[1, 17:27] = 0.2, 0.4  # brows: mean over faces 0.3
    pe[:, 27:36] = 0.05  # nose
    pe[0, 36] = 1.2  # one eye point on one face: 1.2 / (2 faces x 12 points)
    pe[:, 48:68] = np.linspace(0, 0.38, 20)  # mouth: mean 0.19
    r = PC.region_errors(pe)
    assert list(r) == ["jaw", "brows", "nose", "eyes", "mouth"]
    assert r == pytest.approx({"jaw": 0.1, "brows": 0.3, "nose": 0.05, "eyes": 0.05, "mouth": 0.19})
    # the regions partition the 68 points, 1-based 1-17, 18-27, 28-36, 37-48, 49-68
    idx = [i for _, ix in PC.REGIONS for i in ix]
    assert sorted(idx) == list(range(68))
    assert [(ix[0] + 1, ix[-1] + 1) for _, ix in PC.REGIONS] == [(1, 17), (18, 27), (28, 36), (37, 48),
                                                                 (49, 68)]


def test_wins_count_lower_errors_and_ties():
    assert PC.wins([0.1, 0.2, 0.3, 0.05], [0.2, 0.2, 0.1, 0.06]) == {"ours": 2, "paper": 1, "ties": 1}
    with pytest.raises(ValueError, match="different lengths"):
        PC.wins([0.1], [0.1, 0.2])


def _rolled_faces(angles):
    """Mean-shape-like faces rolled by the given angles (degrees, y down) about their eye midpoint."""
    from mcl_caffe.data.datasets import load_300w

    base = load_300w(W300, ["ibug"], limit=1).faces[0].points
    left, right = S68.eye_centres(base)
    a = np.arctan2(right[1] - left[1], right[0] - left[0])
    upright = C.apply_affine(C.rotation_about((left + right) / 2, np.degrees(a)), base)
    # rotation_about turns counter-clockwise on screen; a roll of +t degrees turns the eye line clockwise
    return np.stack([C.apply_affine(C.rotation_about((left + right) / 2, -t), upright) for t in angles])


def test_roll_is_the_absolute_angle_of_the_eye_centre_line():
    angles = [0.0, 5.0, -12.0, 25.0, -40.0, 170.0]
    r = PC.roll_degrees(_rolled_faces(angles))
    assert r == pytest.approx(np.abs(angles), abs=1e-9)


def test_roll_bins_count_faces_and_average_each_model():
    roll = [0.0, 9.99, 10.0, 19.0, 25.0, 30.0, 95.0]
    ours = [0.1, 0.3, 0.2, 0.4, 0.5, 0.6, 0.7]
    paper = [0.05, 0.05, 0.1, 0.1, 0.2, 0.3, 0.5]
    b = PC.roll_bins(roll, ours, paper)
    assert [x["label"] for x in b] == ["0-10°", "10-20°", "20-30°", "> 30°"]
    assert [x["faces"] for x in b] == [2, 2, 1, 2]  # 10 and 30 open their bins
    assert [x["ours"] for x in b] == pytest.approx([0.2, 0.3, 0.5, 0.65])
    assert [x["paper"] for x in b] == pytest.approx([0.05, 0.1, 0.2, 0.4])
    empty = PC.roll_bins([1.0], [0.1], [0.2])
    assert empty[1]["faces"] == 0 and empty[1]["ours"] is None and empty[1]["paper"] is None


def test_largest_gaps_are_ours_minus_paper_largest_first():
    assert PC.largest_gaps([0.1, 0.5, 0.3, 0.3], [0.2, 0.1, 0.1, 0.1], k=3).tolist() == [1, 2, 3]


# ----------------------------------------------------------------------------- the real comparison
@pytest.fixture(scope="module")
def cmp():
    return PC.compare(MODEL, W300, AUTHORS)


def test_the_shipped_model_measures_its_cards_ibug_figure_through_this_path(cmp):
    s = PC.summarize(cmp)
    card = shipped.model_card("300w68")
    # the card's check sample is the same 135 crops through the same float32 network (onnxruntime, one
    # thread); only the frame of the metric differs (image here, patch there), a few ulp: 0.005 points is the
    # printed figures' half unit and far below any change of crops or model
    assert 100 * s["mean_error"]["ours"] == pytest.approx(card["check_sample"]["nme_fp32"], abs=0.005)
    assert 100 * s["failure_rate"]["ours"] == pytest.approx(card["test"]["onnx_fp32"]["failure"], abs=0.005)
    assert 100 * s["mean_error"]["paper"] == pytest.approx(8.511, abs=0.005)
    assert s["failures"]["paper"] == 35 and s["faces"] == 135
    assert sum(s["wins"].values()) == 135
    assert sum(b["faces"] for b in s["roll_bins"]) == 135


def test_crops_are_the_official_ground_truth_boxes_through_the_models_calibration(cmp):
    """The nominal test crop (tight box of the points) equals the Aligner's crop of the official
    bb_ground_truth box. The shared boxes are the tight boxes to 0.001 px: the crop centre moves by at most
    0.001 px, the side by 1.3 x 0.001, so x0 = centre - (side / 2 - side / 100) by at most 0.0017 px."""
    from mcl_caffe.data.datasets import read_300w_box_file
    from mcl_caffe.infer.aligner import Aligner

    boxes = read_300w_box_file(W300 / "Bounding Boxes" / "bounding_boxes_ibug.mat")
    al = Aligner(MODEL, threads=1)
    crops = np.stack([al.crop_for_box(boxes[n + ".jpg"]["bb_ground_truth"]) for n in cmp.names])
    np.testing.assert_allclose(crops, cmp.crops, rtol=0, atol=0.0017)


def test_points_are_mapped_back_into_the_image(cmp):
    """Our image points, taken back into each face's 50x50 patch, are the network's patch outputs; so the NME
    in the image equals the NME on the patches (the crop only scales and shifts)."""
    from mcl_caffe.data.eval_faces import nominal_crops
    from mcl_caffe.data.datasets import load_300w
    from mcl_caffe.infer.aligner import Aligner

    faces = load_300w(W300, ["ibug"]).faces
    cs = nominal_crops(faces, S68)
    patch_pred = Aligner(MODEL, threads=1).predict_patches(cs.patches)
    back = np.stack([C.image_to_patch(p, c) for p, c in zip(cmp.ours, cmp.crops)])
    np.testing.assert_allclose(back, patch_pred, atol=1e-9)  # float64 scale and shift there and back
    np.testing.assert_allclose(cmp.face_nme("ours"), M.nme(patch_pred, cs.points, cs.d), rtol=1e-9)
    # the ground truth is the loader's, face by face
    assert np.array_equal(cmp.gt, np.stack([f.points for f in faces]))


def test_models_that_are_not_68_point_or_missing_are_clear_errors(tmp_path):
    with pytest.raises(PC.CompareError, match="is a 5-point model .*needs a 68-point model"):
        PC.open_model(shipped.model_dir("aflw5") / "mcl.onnx")
    with pytest.raises(PC.CompareError, match="model file not found: .*nope.onnx"):
        PC.open_model(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(PC.CompareError, match="cannot load .*junk.onnx"):
        PC.open_model(tmp_path / "junk.onnx")
    with pytest.raises(PC.CompareError, match="the authors' IBUG predictions not found"):
        PC.compare(MODEL, W300, tmp_path / "none.txt")
    with pytest.raises(PC.CompareError, match="no IBUG folder"):
        PC.compare(MODEL, tmp_path, AUTHORS)


# ----------------------------------------------------------------------------- figures
def _has_colour(img_bgr, bgr, tol=40, min_pixels=50):
    return int((np.abs(img_bgr.astype(int) - bgr).sum(axis=2) < tol).sum()) >= min_pixels


def test_contact_sheet_has_its_size_and_all_three_point_sets(cmp, tmp_path):
    idx = PC.largest_gaps(cmp.face_nme("ours"), cmp.face_nme("paper"), 8)
    out = PP.contact_sheet(cmp, idx, tmp_path / "sheet.png")
    img = cv2.imread(str(out))
    # 2 rows x 4 columns of 240-px views with a 44-px caption each, a 34-px legend line, 4-px padding
    assert img.shape == (34 + 2 * (240 + 44) + 3 * 4, 4 * 240 + 5 * 4, 3) == PP.sheet_size(8) + (3,)
    for key in ("gt", "ours", "paper"):
        assert _has_colour(img, PP.COLOURS[key]), key
    three = cv2.imread(str(PP.contact_sheet(cmp, idx[:3], tmp_path / "three.png")))
    assert three.shape[:2] == (34 + 240 + 44 + 2 * 4, 4 * 240 + 5 * 4)
    with pytest.raises(ValueError, match="no faces"):
        PP.contact_sheet(cmp, [], tmp_path / "none.png")


def test_view_puts_the_points_where_they_are_in_the_image():
    """A synthetic image with one white dot: the dot's point lands on the dot in the view."""
    img = np.zeros((200, 300, 3), np.uint8)
    cv2.circle(img, (180, 90), 3, (255, 255, 255), -1)
    crop = C.crop_for_box(np.array([150.0, 210.0, 60.0, 120.0]), S68)
    pts = np.tile([[180.0, 90.0]], (68, 1))
    clean = PP.draw_face(img, crop, {"gt": pts[:0], "ours": pts[:0], "paper": pts[:0]})
    ys, xs = np.nonzero(clean[..., 0] > 127)
    assert 0 < len(xs) < 400  # the dot, enlarged 240 / 97.5 times: radius about 8 px
    px, py = C.apply_affine(PP._view_matrix(crop), pts[0])
    # the dot's centroid, up to the 0.5-px steps of its rasterised disc
    assert abs(xs.mean() - px) < 0.5 and abs(ys.mean() - py) < 0.5
    drawn = PP.draw_face(img, crop, {"gt": pts, "ours": pts[:0], "paper": pts[:0]})
    assert tuple(drawn[int(round(py)), int(round(px))]) == PP.COLOURS["gt"]


def test_ced_plot_shows_both_models(cmp, tmp_path):
    out = PP.plot_ced_pair(cmp.face_nme("ours"), cmp.face_nme("paper"), tmp_path / "ced.png", "t")
    rgb = cv2.imread(str(out))[..., ::-1]
    for hexc in PP.MPL_COLOURS.values():
        c = tuple(int(hexc[i:i + 2], 16) for i in (1, 3, 5))
        assert _has_colour(rgb, c, tol=30, min_pixels=200), hexc


# ----------------------------------------------------------------------------- make paper-compare
def _make(*args):
    return subprocess.run(["make", "--no-print-directory", "paper-compare", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_make_paper_compare_writes_the_section_and_its_pngs(tmp_path):
    res = _make("ONNX=%s" % MODEL, "OUT=%s" % tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    md = (tmp_path / "COMPARE.md").read_text()
    assert "## " + PS.TITLE in md
    assert "Made by `make paper-compare ONNX=%s OUT=%s`" % (MODEL, tmp_path) in md
    for png in (PS.CED_PNG, PS.SHEET_PNG):
        assert "](%s)" % png in md and (tmp_path / png).is_file()


@pytest.mark.parametrize("model, message", [
    (shipped.model_dir("aflw5") / "mcl.onnx", "is a 5-point model"),
    ("/nonexistent/mcl.onnx", "model file not found: /nonexistent/mcl.onnx"),
])
def test_make_paper_compare_rejects_other_models_clearly(tmp_path, model, message):
    res = _make("ONNX=%s" % model, "OUT=%s" % tmp_path)
    assert res.returncode != 0
    assert "paper-compare: error: " in res.stderr and message in res.stderr
    assert not (tmp_path / "COMPARE.md").exists()


def test_the_tool_runs_without_caffe(tmp_path):
    """The comparison needs onnxruntime, OpenCV and matplotlib only: run the tool with pycaffe blocked."""
    code = ("import sys, runpy; sys.modules['caffe'] = None; sys.argv = ['paper_compare.py', '--onnx', %r, "
            "'--out', %r]; runpy.run_path('tools/paper_compare.py', run_name='__main__')"
            % (str(MODEL), str(tmp_path)))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "COMPARE.md").is_file()
