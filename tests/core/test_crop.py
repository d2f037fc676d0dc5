"""Crop constants against their derivations, and the anti-alias blur against a reference downscale.

The crop geometry itself (pixels and points agree, inverses, calibration) is checked on real images in
tests/data/test_crop_augment.py; this file pins the numbers that those tests take as given."""

import numpy as np
import pytest

from mcl_caffe.core import crop as C
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.data.augment import AugmentConfig
from mcl_caffe.data.datasets import load_300w
from conftest import SHARED_DATA


@pytest.fixture(scope="module")
def w300_points():
    return np.stack([f.points for f in load_300w(SHARED_DATA / "300w").faces])


def _box_side(pts):
    """max(width, height) of each shape's tight box: (N, n, 2) -> (N,)."""
    return np.maximum(np.ptp(pts[..., 0], axis=1), np.ptp(pts[..., 1], axis=1))


# ----------------------------------------------------------------------------- CROP_SCALE
def test_the_68_point_scale_is_the_smallest_that_keeps_augmented_faces_inside():
    """crop.py: 1.3 "leaves room for the scale/shift augmentation to keep every point inside the patch".

    A crop of side k * s * m (m the tight box's larger side, s the augmentation's scale) shifted by up to
    max_shift of its side keeps the box inside when m / (2 k s) + max_shift <= 1/2 at s = scale_min, i.e.
    k >= 1 / (2 scale_min (1/2 - max_shift)): 1.2346 for the 300-W defaults (0.9, 0.05), and 1.3 is the
    smallest one-decimal value above it."""
    cfg = AugmentConfig()
    k_min = 1.0 / (2.0 * cfg.scale_min * (0.5 - cfg.max_shift))
    assert k_min == pytest.approx(1.2346, abs=1e-4)
    assert C.CROP_SCALE["300w68"] == np.ceil(10 * k_min) / 10 == 1.3


@pytest.mark.parametrize("scheme, subset", [
    # the 5 points on a 68-point face: the eye centres (means of 37-42, 43-48), nose tip 31, mouth corners
    ("aflw5", [list(range(36, 42)), list(range(42, 48)), [30], [48], [54]]),
    # the 29-point-like subset of crop.py's docstring: brows, eyes, nose, mouth and chin point 9 (1-based)
    ("cofw29", [[k] for k in range(17, 68)] + [[8]]),
])
def test_the_other_scales_frame_the_face_as_the_68_point_crop_does(scheme, subset, w300_points):
    """crop.py's derivation: a scheme whose points span a smaller box than the 68 points needs a larger
    scale, CROP_SCALE[scheme] = CROP_SCALE['300w68'] x median(68-point box / scheme box) over the 300-W
    faces, so that its crop frames the same face. Measured here: 1.3 x 2.015 = 2.62 for 5 points and
    1.3 x 1.028 = 1.34 for 29. crop.py rounds the ratio to one decimal (2.0), i.e. to within +-0.05 of
    2.0 = 2.5 %: the tolerance below. (2.4 for 5 points would be 8 % off.)"""
    sub = np.stack([w300_points[:, idx].mean(axis=1) for idx in subset], axis=1)
    ratio = float(np.median(_box_side(w300_points) / _box_side(sub)))
    derived = C.CROP_SCALE["300w68"] * ratio
    assert C.CROP_SCALE[scheme] == pytest.approx(derived, rel=0.025), (scheme, ratio, derived)


def test_a_scheme_crop_is_square_on_the_box_centre_with_side_scale_times_the_larger_box_side():
    box = np.array([10.0, 50.0, 20.0, 80.0])  # w 40, h 60, centre (30, 50)
    for scheme, k in C.CROP_SCALE.items():
        x0, y0, side = C.crop_for_box(box, scheme)
        assert side == pytest.approx(k * 60.0, rel=1e-15)
        # patch pixel (0, 0) is centred half a patch pixel inside the square's corner
        assert x0 == pytest.approx(30.0 - side / 2 + 0.5 * side / 50, rel=1e-15)
        assert y0 == pytest.approx(50.0 - side / 2 + 0.5 * side / 50, rel=1e-15)


# ----------------------------------------------------------------------------- anti-aliasing
def _grating(f, period, axis, amp=100.0, phase=0.3, margin=20):
    """uint8 image of a cosine grating along `axis` (1: varies with x), large enough for a crop of side 50 f
    at (margin + 0.5, margin + 0.5) plus the blur's reach."""
    n = int(50 * f + 2 * margin + 4)
    row = np.rint(128 + amp * np.cos(2 * np.pi * np.arange(n) / period + phase)).astype(np.uint8)
    return np.tile(row, (n, 1)) if axis == 1 else np.ascontiguousarray(np.tile(row[:, None], (1, n)))


def _reference_downscale(img, f, x0, y0):
    """The documented rule computed independently in float64: a Gaussian of sigma = (f - 1) / 2 (sampled out
    to 6 sigma, so untruncated to float precision) with replicated borders, then bilinear sampling at the
    patch pixels' source positions x0 + f i, y0 + f j."""
    sigma = (f - 1.0) / 2.0
    r = int(np.ceil(6 * sigma))
    t = np.arange(-r, r + 1)
    w = np.exp(-(t**2) / (2 * sigma**2))
    w /= w.sum()
    b = img.astype(np.float64)
    for axis in (0, 1):
        b = np.apply_along_axis(lambda v: np.convolve(np.pad(v, r, mode="edge"), w, "valid"), axis, b)

    def lerp(a, pos, axis):
        n0 = np.floor(pos).astype(int)
        shape = [1, 1]
        shape[axis] = -1
        fr = (pos - n0).reshape(shape)
        return np.take(a, n0, axis=axis) * (1 - fr) + np.take(a, n0 + 1, axis=axis) * fr

    return lerp(lerp(b, x0 + f * np.arange(50), 1), y0 + f * np.arange(50), 0)


# warp_to_patch rounds to uint8 twice (after the blur, after the warp): up to 0.5 + 0.5 grey levels; OpenCV
# cuts the 8-bit Gaussian at about 3 sigma (the kernel's tail beyond it holds < 0.3 % of its weight: < 0.3
# levels on a grating of amplitude 100); the bilinear weights (1/32 px steps) are exact at the positions
# used here (whole and half pixels). Measured: 0.24-0.70. A sigma of (f - 0.5) / 2 or f / 2 (issue 27's
# mutants) is >= 4.7 levels away on these gratings.
REFERENCE_LEVELS = 1.3


@pytest.mark.parametrize("f, period", [(2, 8), (2.5, 10), (3, 12), (4, 16)])
@pytest.mark.parametrize("axis", [1, 0], ids=["x", "y"])
def test_antialiased_downscale_of_a_grating_equals_the_reference(f, period, axis):
    """Gratings of 4 patch pixels per period (well inside the patch's band) keep the amplitude the rule's
    Gaussian leaves them; plain bilinear sampling attenuates them less (5-14 levels off the reference)."""
    img = _grating(f, period, axis)
    x0 = y0 = 20.5
    A = C.crop_matrix((x0, y0, 50.0 * f))
    assert C.downscale_factor(A) == pytest.approx(f, rel=1e-12)
    ref = _reference_downscale(img, f, x0, y0)
    got = C.warp_to_patch(img, A).astype(np.float64)
    assert np.abs(got - ref).max() < REFERENCE_LEVELS
    assert np.ptp(ref) > 100  # the grating survives the downscale: the comparison is about its amplitude
    plain = C.warp_to_patch(img, A, antialias=False).astype(np.float64)
    assert np.abs(plain - ref).max() > 4.0  # so the test can tell blur from no blur


def test_antialiasing_removes_what_the_patch_cannot_hold():
    """A grating of 3 source pixels per period, downscaled 4x, has 1.33 cycles per patch pixel, far above the
    patch's Nyquist limit of 0.5: an ideal downscale removes it (a flat grey 128). The rule's Gaussian
    (sigma 1.5) leaves exp(-2 pi^2 sigma^2 / 3^2) = 0.7 % of the amplitude of 100, plus the rounding above;
    plain bilinear sampling aliases it into a pattern of tens of grey levels."""
    img = _grating(4, 3, axis=1)
    A = C.crop_matrix((20.5, 20.5, 200.0))
    got = C.warp_to_patch(img, A).astype(np.float64)
    assert np.abs(got - 128.0).max() <= 100 * np.exp(-2 * np.pi**2 * 1.5**2 / 9) + REFERENCE_LEVELS
    plain = C.warp_to_patch(img, A, antialias=False).astype(np.float64)
    assert np.abs(plain - 128.0).max() > 30


def test_no_blur_for_enlargements_and_small_reductions():
    """sigma = (f - 1) / 2 <= 0.1 (f <= 1.2) is no blur: the patch is the plain bilinear warp."""
    img = _grating(2, 8, axis=1)
    for f in (0.5, 1.0, 1.15):
        A = C.crop_matrix((20.5, 20.5, 50.0 * f))
        assert np.array_equal(C.warp_to_patch(img, A), C.warp_to_patch(img, A, antialias=False)), f


# ----------------------------------------------------------------------------- small helpers, by hand
def test_boxes_by_hand():
    assert C.box_from_xywh(10, 20, 30, 40).tolist() == [10, 40, 20, 60]
    assert C.box_size([10, 40, 20, 60]) == (30, 40)
    assert C.box_center([10, 40, 20, 60]).tolist() == [25, 40]
    assert C.box_area([10, 40, 20, 60]) == 1200
    assert C.box_area([10, 5, 20, 60]) == 0 and C.box_area([10, 40, 20, 10]) == 0  # inverted: no area
    with pytest.raises(ValueError, match="expected 5 points for aflw5, got 3"):
        C.face_box_from_landmarks(np.zeros((3, 2)), get_scheme("aflw5"))
    with pytest.raises(ValueError, match="zero-area face box"):
        C.crop_for_given_box([5, 5, 1, 1], C.BoxCalibration(scale=1.3))


def test_affine_helpers_by_hand():
    S2 = np.array([[2.0, 0, 1], [0, 2, -3]])  # x -> 2x + 1, y -> 2y - 3
    T = np.array([[1.0, 0, 5], [0, 1, 7]])  # shift by (5, 7)
    assert C.apply_affine(C.compose(S2, T), [1, 1]).tolist() == [13, 13]  # T first, then S2
    assert C.apply_affine(C.compose(T, S2), [1, 1]).tolist() == [8, 6]
    assert np.allclose(C.apply_affine(C.invert_affine(S2), [3, -1]), [1, 1])
    assert C.to3x3(S2)[2].tolist() == [0, 0, 1] and C.to3x3(C.to3x3(S2)).shape == (3, 3)
    # counter-clockwise on screen (y down): a point right of the centre moves up
    assert np.allclose(C.apply_affine(C.rotation_about((10, 10), 90), [20, 10]), [10, 0])
    assert np.allclose(C.apply_affine(C.rotation_about((10, 10), 90), [10, 10]), [10, 10])
    A = C.crop_matrix((3.0, 4.0, 100.0))
    assert np.allclose(A, [[0.5, 0, -1.5], [0, 0.5, -2]])
    assert np.allclose(C.crop_from_matrix(A), [3, 4, 100])
    assert C.downscale_factor(A) == pytest.approx(2.0)
    assert np.allclose(C.patch_to_image([[0, 0], [10, 2]], (3.0, 4.0, 100.0)), [[3, 4], [23, 8]])
    # each condition alone: shear in x, shear in y, unequal scales (1e-9 of slack for rounding)
    for bad in ([[0.5, 1e-6, 0], [0, 0.5, 0]], [[0.5, 0, 0], [1e-6, 0.5, 0]],
                [[0.5, 0, 0], [0, 0.5 + 1e-6, 0]]):
        with pytest.raises(ValueError, match="^not an axis-aligned isotropic crop matrix$"):
            C.crop_from_matrix(np.array(bad))
    assert np.allclose(C.crop_from_matrix([[2.0, 1e-10, -4], [1e-10, 2.0 + 1e-10, -6]]), [2, 3, 25])


def test_grey_conversion_of_every_layout():
    """BT.601 luma (0.299 R + 0.587 G + 0.114 B), in either channel order, with or without alpha."""
    rgb = np.array([[[200, 100, 50]]], np.uint8)
    luma = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)  # 124
    assert C.to_gray(rgb, "rgb")[0, 0] == luma
    assert C.to_gray(rgb[..., ::-1], "bgr")[0, 0] == luma
    assert C.to_gray(np.dstack([rgb, [[[7]]]]).astype(np.uint8), "rgb")[0, 0] == luma
    assert C.to_gray(np.dstack([rgb[..., ::-1], [[[7]]]]).astype(np.uint8), "bgr")[0, 0] == luma
    assert C.to_gray(np.array([[[9]]], np.uint8)).tolist() == [[9]]
    assert C.to_gray(np.array([[9.6, 300.0, -2.0]])).tolist() == [[10, 255, 0]]  # floats: rounded, clipped
    with pytest.raises(ValueError, match="unsupported image shape"):
        C.to_gray(np.zeros((2, 2, 2), np.uint8))


def test_image_files_decode_the_same_way_and_errors_name_the_file(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 50, 100, 200  # B, G, R
    import cv2
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    cv2.imwrite(str(tmp_path / "g16.png"), np.full((4, 6), 256 * 77, np.uint16))
    assert np.array_equal(C.load_color(tmp_path / "c.png"), bgr)
    assert np.array_equal(C.load_gray(tmp_path / "c.png"), C.to_gray(bgr, "bgr"))
    assert C.load_gray(tmp_path / "g16.png").tolist() == [[77] * 6] * 4  # 16 bit: the high byte
    assert C.load_color(tmp_path / "g16.png")[0, 0].tolist() == [77, 77, 77]
    # 4 channels: alpha dropped; a float image: clipped to 0..255 and truncated, not rescaled
    cv2.imwrite(str(tmp_path / "a.png"), np.dstack([bgr, np.full((4, 6), 9, np.uint8)]))
    assert np.array_equal(C.load_color(tmp_path / "a.png"), bgr)
    cv2.imwrite(str(tmp_path / "f.tiff"), np.array([[-5.0, 7.9, 300.0]], np.float32))
    assert C.load_gray(tmp_path / "f.tiff").tolist() == [[0, 7, 255]]
    assert C.load_color(tmp_path / "f.tiff")[0, :, 0].tolist() == [0, 7, 255]
    (tmp_path / "junk.png").write_bytes(b"not an image")
    for load in (C.load_gray, C.load_color):
        with pytest.raises(OSError, match="^image file not found: %s$" % (tmp_path / "nosuch.png")):
            load(tmp_path / "nosuch.png")
        with pytest.raises(OSError, match="^cannot decode image file: %s$" % (tmp_path / "junk.png")):
            load(tmp_path / "junk.png")


def test_faces_with_decoded_pixels():
    from mcl_caffe.data.datasets.sample import Face
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    f = Face(source="x", points=np.zeros((5, 2)), image=rgb, channel_order="rgb")
    assert C.face_gray(f)[0, 0] == round(0.299 * 200)
    assert C.face_color(f)[0, 0].tolist() == [0, 0, 200]  # BGR
    g = Face(source="y", points=np.zeros((5, 2)), image=np.full((2, 3), 9.4))
    assert C.face_color(g).shape == (2, 3, 3) and C.face_color(g)[0, 0].tolist() == [9, 9, 9]
    clipped = Face(source="z", points=np.zeros((5, 2)), image=np.array([[-3.0, 300.0]]))
    assert C.face_color(clipped)[0, :, 0].tolist() == [0, 255]
    one = Face(source="o", points=np.zeros((5, 2)), image=np.full((2, 3, 1), 7, np.uint8))
    assert C.face_color(one).shape == (2, 3, 3) and C.face_color(one)[1, 2].tolist() == [7, 7, 7]
    bgr = rgb[..., ::-1].copy()
    assert C.face_color(Face(source="b", points=np.zeros((5, 2)), image=bgr))[0, 0].tolist() == [0, 0, 200]
    for order, img in (("bgr", np.dstack([bgr, np.ones((2, 3), np.uint8)])),
                       ("rgb", np.dstack([rgb, np.ones((2, 3), np.uint8)]))):
        out = C.face_color(Face(source="a", points=np.zeros((5, 2)), image=img, channel_order=order))
        assert out.shape == (2, 3, 3) and out[0, 0].tolist() == [0, 0, 200], order


def test_faces_read_from_their_files(tmp_path):
    import cv2
    from mcl_caffe.data.datasets.sample import Face
    bgr = np.zeros((3, 4, 3), np.uint8)
    bgr[..., 2] = 200
    cv2.imwrite(str(tmp_path / "f.png"), bgr)
    f = Face(source="x", points=np.zeros((5, 2)), image_path=str(tmp_path / "f.png"))
    assert np.array_equal(C.face_color(f), bgr) and C.face_gray(f)[0, 0] == round(0.299 * 200)


def test_pixel_normalisation_of_the_paper():
    """Section IV-A-2: "subtracting 128 and multiplying 0.0078125" (1/128), so [0, 255] -> [-1, 1)."""
    x = C.normalize_patch(np.array([0, 128, 255], np.uint8))
    assert x.dtype == np.float32 and x.tolist() == [-1.0, 0.0, 127 / 128]
    assert C.denormalize_patch(x).tolist() == [0, 128, 255] and C.denormalize_patch(x).dtype == np.uint8
    assert C.denormalize_patch(np.array([-2.0, 2.0])).tolist() == [0, 255]


def test_box_calibration_defaults():
    cal = C.default_calibration(get_scheme("aflw5"))
    assert cal.as_dict() == {"scale": 2.6, "dx": 0.0, "dy": 0.0, "fitted_on": 0}
    tight = np.array([[0.0, 10.0, 0.0, 10.0]] * 9)
    assert C.fit_box_calibration(tight, tight, "aflw5") == cal  # fewer than 10 faces: no fit
    assert C.fit_box_calibration(tight, tight, "aflw5", min_faces=9).fitted_on == 9
    ten = np.vstack([tight, tight[:1]])
    assert C.fit_box_calibration(ten, ten, "aflw5").fitted_on == 10  # from 10 faces on
    # boxes wider than high (given) and higher than wide (landmarks): the larger side of each counts
    given = np.array([[0.0, 40.0, 0.0, 20.0]] * 10)  # 40 wide, 20 high, centre (20, 10)
    tight = np.array([[10.0, 20.0, 0.0, 30.0]] * 10)  # 10 wide, 30 high, centre (15, 15)
    cal = C.fit_box_calibration(given, tight, "300w68")
    assert (cal.scale, cal.dx, cal.dy) == pytest.approx((1.3 * 30 / 40, -5 / 40, 5 / 40), rel=1e-12)
    # a sub-pixel box is still a box
    assert C.crop_for_given_box([0.0, 0.5, 0.0, 0.25], cal)[2] == pytest.approx(cal.scale * 0.5)


# ------------------------------------------------------------------ issue 27: survivors of make mutation
def test_crop_rule_honours_the_patch_size_and_takes_sub_pixel_boxes():
    # box 40 x 20 centred on (30, 30), 300w68: side = 1.3 * 40 = 52; the centre of patch pixel 0 lies half a
    # patch pixel (side / size / 2) inside the square's edge: x0 = 30 - 26 + 52 / size / 2
    box = [10.0, 50.0, 20.0, 40.0]
    assert C.crop_for_box(box, "300w68").tolist() == pytest.approx([4.52, 4.52, 52.0], rel=1e-12)
    crop100 = C.crop_for_box(box, "300w68", size=100)
    assert crop100.tolist() == pytest.approx([4.26, 4.26, 52.0], rel=1e-12)
    given100 = C.crop_for_given_box(box, C.BoxCalibration(scale=1.3), size=100)
    assert given100.tolist() == pytest.approx([4.26, 4.26, 52.0], rel=1e-12)
    # on a 100-pixel patch the box centre lands on the patch centre 49.5, the crop's corner pixel on 0
    assert C.image_to_patch([[30.0, 30.0], [4.26, 4.26]], crop100, size=100) == pytest.approx(
        np.array([[49.5, 49.5], [0.0, 0.0]]), abs=1e-12)
    # a box of 0.5 x 0.25 (e.g. normalised coordinates) is a box: side 0.65, centre (0.25, 0.125)
    assert C.crop_for_box([0.0, 0.5, 0.0, 0.25], "300w68").tolist() == pytest.approx(
        [0.25 - 0.325 + 0.0065, 0.125 - 0.325 + 0.0065, 0.65], rel=1e-12)


def test_box_calibration_of_given_boxes_higher_than_wide():
    given = np.array([[0.0, 10.0, 0.0, 20.0]] * 10)  # 10 wide, 20 high, centre (5, 10)
    tight = np.array([[3.0, 9.0, 6.0, 18.0]] * 10)  # 6 wide, 12 high, centre (6, 12)
    cal = C.fit_box_calibration(given, tight, "300w68")
    assert (cal.scale, cal.dx, cal.dy) == pytest.approx((1.3 * 12 / 20, 1 / 20, 2 / 20), rel=1e-12)


def test_rotation_about_a_centre_off_the_diagonal():
    R = C.rotation_about((10.0, 20.0), 90)
    assert C.apply_affine(R, [[10.0, 20.0], [20.0, 20.0]]) == pytest.approx(np.array([[10, 20], [10, 10]]),
                                                                            abs=1e-12)


def test_crop_matrix_isotropy_check_is_relative_to_the_scale():
    """A 5000-pixel crop has scale s = 0.01: it round-trips, and a y scale 1e-6 larger (relative) is refused
    (the tolerance is 1e-9 of s, i.e. 1e-11 here: an absolute 1e-9 / s = 1e-7 would let it through)."""
    assert C.crop_from_matrix(C.crop_matrix((-100.0, -200.0, 5000.0))) == pytest.approx([-100, -200, 5000],
                                                                                          rel=1e-12)
    with pytest.raises(ValueError, match="^not an axis-aligned isotropic crop matrix$"):
        C.crop_from_matrix([[0.01, 0.0, 1.0], [0.0, 0.01 * (1 + 1e-6), 2.0]])


def test_grey_default_order_is_bgr_and_floats_become_uint8():
    bgr = np.array([[[50, 100, 200]]], np.uint8)  # B, G, R
    assert C.to_gray(bgr)[0, 0] == round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)  # 124: imread order
    g = C.to_gray(np.array([[9.6, 300.0, -2.0]]))
    assert g.dtype == np.uint8 and g.tolist() == [[10, 255, 0]]


def test_warp_replicates_the_border_pixels_in_the_warp_and_in_the_blur():
    # a uniform 20 x 20 image seen through a crop reaching 30 pixels beyond every edge: all 200, no black
    flat = np.full((20, 20), 200, np.uint8)
    A = C.crop_matrix((-30.0, -30.0, 80.0))  # 80 pixels onto 50: downscale 1.6, blur sigma 0.3
    assert C.warp_to_patch(flat, A).tolist() == [[200] * 50] * 50
    # one bright column at x = 0 of a dark 200 x 200 image, downscale 4 (blur sigma 1.5); patch column 0
    # samples image column 0 exactly. Replicated border: the taps left of column 0 read 255 too, so the
    # blurred value is 255 (1/2 + G(0)/2) > 127.5; a mirrored border would give 255 G(0), G(0) < 1/2.
    img = np.zeros((200, 200), np.uint8)
    img[:, 0] = 255
    patch = C.warp_to_patch(img, C.crop_matrix((0.0, 0.0, 200.0)))
    assert patch[25, 0] >= 128
