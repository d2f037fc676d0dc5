"""The Python API, mcl_caffe.FaceAligner (mcl_caffe/infer/api.py), with the shipped 68-point model on real
photo files: the README's snippet as written, the colour orders, the arrays it refuses, the detector
calibration applied without being asked, boxes given by the caller; and the low-level Aligner's guards."""

import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mcl_caffe import Face, FaceAligner
from mcl_caffe.core import crop as C
from mcl_caffe.infer.aligner import Aligner, warp_region
from mcl_caffe.infer.api import ImageError
from mcl_caffe.infer.face_detect import detector_calibration
from conftest import ROOT


@pytest.fixture(scope="module")
def fa():
    return FaceAligner(model="300w68", detector="yunet", int8=False)


def photo(real_photos, name):
    d, specs = real_photos
    return d / specs[name].file


def readme_python_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    quick = text[text.index("## Quick start") :]
    m = re.search(r"```python\n(.*?)```", quick, re.S)
    assert m, "the README's Quick start has no ```python block"
    return m.group(1)


def test_the_readme_snippet_runs_as_written(real_photos, tmp_path):
    code = readme_python_snippet()
    assert "from mcl_caffe import FaceAligner" in code and 'FaceAligner(model="300w68"' in code
    shutil.copy(photo(real_photos, "two_small"), tmp_path / "photo.jpg")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and all("(68, 2)" in line for line in lines), r.stdout  # two faces, 68 points


def test_import_is_cheap_and_needs_no_opencv_or_onnxruntime():
    code = (
        "import sys, mcl_caffe\n"
        "assert not {'cv2', 'onnxruntime', 'caffe'} & set(sys.modules), sorted(sys.modules)\n"
        "from mcl_caffe import FaceAligner, Face\nprint(FaceAligner.__name__, Face._fields)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["FaceAligner", "('box',", "'score',", "'points')"]


def test_bgr_rgb_gray_and_a_path_give_the_faces_of_the_photo(fa, real_photos):
    bgr = cv2.imread(str(photo(real_photos, "two_small")), cv2.IMREAD_COLOR)
    faces = fa(bgr)
    assert len(faces) == 2 and all(isinstance(f, Face) for f in faces)
    box, score, points = faces[0]
    assert box.shape == (4,) and points.shape == (68, 2) and 0.5 <= score <= 1
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    for other in (
        fa(rgb, color="rgb"),
        FaceAligner(color="rgb")(rgb),
        fa(str(photo(real_photos, "two_small"))),
    ):
        assert len(other) == 2
        assert all(
            np.array_equal(a.points, b.points) and np.array_equal(a.box, b.box) for a, b in zip(faces, other)
        )
    # grayscale, (H, W) and (H, W, 1), equals the BGR image of the same gray values
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    as_bgr = fa(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    for g in (gray, gray[:, :, None]):
        got = fa(g)
        assert len(got) == len(as_bgr) == 2
        assert all(np.array_equal(a.points, b.points) for a, b in zip(got, as_bgr))


def test_a_path_is_read_upright(fa, real_photos):
    """A file with EXIF orientation 6 gives the points of the upright image, as mcl-align does."""
    d, specs = real_photos
    upright = [np.array(f["points"]) for f in specs["exif_6"].faces]
    faces = fa(str(d / specs["exif_6"].file))
    assert len(faces) == 2
    for f, truth in zip(faces, upright):  # largest first, as the spec lists them
        # NME (outer eye corners) below 0.1, the paper's failure threshold (measured 0.06 and 0.05 with the
        # eye-centre distance); points of a sideways face are off by about the face's size
        assert np.linalg.norm(f.points - truth, axis=1).mean() < 0.1 * np.linalg.norm(truth[36] - truth[45])


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((60, 80, 3), np.float32), "image must be uint8"),
        (np.zeros((60, 80, 3), np.uint16), "image must be uint8"),
        (np.zeros((60, 80, 4), np.uint8), "drop the alpha channel"),
        (np.zeros((60, 80, 2), np.uint8), "got shape (60, 80, 2)"),
        (np.zeros(100, np.uint8), "got shape (100,)"),
        (np.zeros((0, 80), np.uint8), "image is empty"),
        ([[1, 2], [3, 4]], "got list"),
    ],
)
def test_other_arrays_are_refused_with_a_clear_error(fa, bad, message):
    with pytest.raises(ImageError) as exc:
        fa(bad)
    assert message in str(exc.value)


def test_a_pillow_image_and_a_wrong_colour_name_are_refused(fa, real_photos):
    from PIL import Image

    with Image.open(photo(real_photos, "two_small")) as im:
        with pytest.raises(ImageError, match=r"np.asarray\(image.convert\('RGB'\)\) with color='rgb'"):
            fa(im)
    with pytest.raises(ImageError, match="color must be 'bgr'"):
        fa(np.zeros((10, 10, 3), np.uint8), color="BGR")
    with pytest.raises(ImageError, match="color must be 'bgr'"):
        FaceAligner(color="hsv")


def test_the_detector_calibration_is_applied_and_boxes_may_be_given(fa, real_photos):
    """fa(image) crops each detected box with the detector's calibration: its points are exactly those of
    Aligner.align with that calibration, and differ from the uncalibrated crop's by pixels (the issue measured
    2.5 px); given boxes are landmark boxes, cropped with the model's own calibration, score None."""
    bgr = cv2.imread(str(photo(real_photos, "gray")), cv2.IMREAD_COLOR)
    gray = C.to_gray(bgr)
    faces = fa(bgr)
    boxes = np.stack([f.box for f in faces])
    al = Aligner("300w68")
    cal = detector_calibration("yunet", "300w68", al.info.crop_scale)
    assert cal.fitted_on > 0
    calibrated, _ = al.align([gray] * len(boxes), boxes, calibration=cal)
    plain, _ = al.align([gray] * len(boxes), boxes)
    assert np.array_equal(np.stack([f.points for f in faces]), calibrated)
    assert np.linalg.norm(calibrated - plain, axis=2).mean() > 1.0  # px: the calibration matters
    tight = np.stack([C.face_box_from_landmarks(f.points) for f in faces])
    given = fa(bgr, boxes=tight)
    expected, _ = al.align([gray] * len(tight), tight)
    assert [f.score for f in given] == [None, None]
    assert np.array_equal(np.stack([f.points for f in given]), expected)
    assert len(fa(bgr, boxes=np.zeros((0, 4)))) == 0
    with pytest.raises(ValueError, match="boxes must be"):
        fa(bgr, boxes=[1, 2, 3])


def test_aligner_takes_a_shipped_name_and_refuses_colour_images(real_photos):
    al = Aligner("300w68", int8=True)
    assert al.path.name == "mcl.int8.onnx" and al.n_points == 68
    bgr = cv2.imread(str(photo(real_photos, "two_small")), cv2.IMREAD_COLOR)
    with pytest.raises(ValueError, match="2-D uint8 grayscale"):
        al.align([bgr], [[180.5, 215.5, 199.5, 246.5]])


def test_warp_region_equals_warping_the_whole_image(real_photos):
    """The landmark crop blurs and samples only the region it needs: the patch is the one of
    C.warp_to_patch on the whole image, pixel for pixel, for crops inside, across the border and beyond it."""
    gray = C.load_gray(photo(real_photos, "sizes"))  # 1800x1300
    h, w = gray.shape
    for x0, y0, side in (
        (600, 300, 700),
        (-300, -200, 900),
        (w - 400, h - 100, 800),
        (900, 700, 160),
        (10, 10, 40),
        (-500, -500, 3000),
    ):
        A = C.crop_matrix((x0, y0, side))
        assert np.array_equal(warp_region(gray, A), C.warp_to_patch(gray, A)), (x0, y0, side)
