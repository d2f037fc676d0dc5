"""Crop geometry and augmentation: pixels and points agree; augmented real samples map back exactly."""


import numpy as np
import pytest

from mcl_caffe.core import crop as C
from mcl_caffe.data.augment import (AugmentConfig, augment_face, face_rng, flip_sample, nominal_sample,
                                   sample_image_points)
from mcl_caffe.data.datasets import load_300w, load_mtfl_list
from mcl_caffe.core.landmarks import get_scheme
from conftest import SHARED_DATA

DATA = SHARED_DATA


@pytest.fixture(scope="module")
def mtfl_faces():
    faces = load_mtfl_list(DATA / "mtfl-full" / "training.txt").faces
    test = load_mtfl_list(DATA / "mtfl-full" / "testing.txt").faces
    return faces[:3] + faces[-3:] + test[:3]  # LFW, web and AFLW faces


@pytest.fixture(scope="module")
def w300_faces():
    return load_300w(DATA / "300w").faces[::200]


def _centroid(patch):
    p = patch.astype(np.float64)
    ys, xs = np.mgrid[: p.shape[0], : p.shape[1]]
    return np.array([(p * xs).sum() / p.sum(), (p * ys).sum() / p.sum()])


# ----------------------------------------------------------------------------- geometry
def test_single_bright_pixel_lands_where_apply_affine_says():
    """cv2.warpAffine(img, A) and apply_affine(A, p) agree to < 0.05 px (pixel centres at integers).

    The bright pixel's position in the patch is the centroid of its bilinear footprint; this is
    an unbiased sub-pixel estimate when the patch samples the source at least as densely as the
    source grid, so the crops here magnify by 1x or 2x."""
    rng = np.random.default_rng(0)
    img = np.zeros((200, 220), np.uint8)
    worst = {}
    for case in ("1x", "2x", "2x rotated"):
        errs = []
        for _ in range(60):
            u, v = rng.integers(60, 140, size=2)
            img[:] = 0
            img[v, u] = 255
            angle = rng.uniform(-40, 40) if case.endswith("rotated") else 0.0
            R = C.rotation_about((110, 100), angle)
            centre = C.apply_affine(R, [u, v]) + rng.uniform(-4, 4, size=2)  # sub-pixel crop positions
            crop = C.square_crop(centre, 50.0 if case == "1x" else 25.0)
            A = C.compose(C.crop_matrix(crop), R)
            patch = C.warp_to_patch(img, A, antialias=False)
            errs.append(np.abs(_centroid(patch) - C.apply_affine(A, [u, v])).max())
        worst[case] = max(errs)
    assert worst["1x"] < 0.01 and worst["2x"] < 0.01 and worst["2x rotated"] < 0.05, worst


def test_pixel_mapped_onto_a_patch_pixel_keeps_its_value():
    img = np.zeros((100, 100), np.uint8)
    img[37, 61] = 200
    # crop chosen so that image (61, 37) -> patch (20, 30) exactly, at 0.8 patch px per image px
    side = 62.5
    crop = np.array([61 - 20 * side / 50, 37 - 30 * side / 50, side])
    A = C.crop_matrix(crop)
    assert np.allclose(C.apply_affine(A, [61, 37]), [20, 30])
    patch = C.warp_to_patch(img, A, antialias=False)
    assert patch[30, 20] == 200 and patch.sum() == 200


def test_crop_rule_and_inverses():
    box = np.array([10.0, 50.0, 20.0, 80.0])  # w 40, h 60
    crop = C.crop_for_box(box, "300w68")
    side = C.CROP_SCALE["300w68"] * 60
    assert crop[2] == pytest.approx(side)
    assert np.allclose(C.image_to_patch(C.box_center(box), crop), [24.5, 24.5])  # box centre -> patch centre
    # the square's outer edges map to the patch's outer edges (-0.5 and 49.5)
    edges = [[30 - side / 2, 50 - side / 2], [30 + side / 2, 50 + side / 2]]
    assert np.allclose(C.image_to_patch(edges, crop), [[-0.5, -0.5], [49.5, 49.5]])
    pts = np.random.default_rng(1).uniform(0, 100, size=(7, 2))
    assert np.allclose(C.patch_to_image(C.image_to_patch(pts, crop), crop), pts)
    A = C.crop_matrix(crop)
    assert np.allclose(C.crop_from_matrix(A), crop)
    R = C.compose(A, C.rotation_about((3, 4), 17))
    assert np.allclose(C.patch_to_image_affine(C.apply_affine(R, pts), R), pts)
    with pytest.raises(ValueError, match="zero-area"):
        C.crop_for_box([5, 5, 1, 1], "aflw5")


def test_face_box_is_the_tight_box_of_the_points():
    pts = np.array([[3.0, 9.0], [7.5, 2.0], [5.0, 4.0]])
    assert C.face_box_from_landmarks(pts).tolist() == [3.0, 7.5, 2.0, 9.0]


def test_box_calibration_recovers_a_systematic_detector_offset():
    rng = np.random.default_rng(2)
    tight = []
    for _ in range(40):
        left, top = rng.uniform(0, 50, 2)
        w = rng.uniform(40, 80)
        tight.append([left, left + w, top, top + w * rng.uniform(0.9, 1.1)])
    tight = np.array(tight)
    m = np.maximum(tight[:, 1] - tight[:, 0], tight[:, 3] - tight[:, 2])
    # a 'detector' box 1.2x larger, its centre 0.12 tight-box sizes (= 0.1 of its own size) lower
    cx, cy = (tight[:, 0] + tight[:, 1]) / 2, (tight[:, 2] + tight[:, 3]) / 2 + 0.12 * m
    given = np.stack([cx - 0.6 * m, cx + 0.6 * m, cy - 0.6 * m, cy + 0.6 * m], axis=1)
    cal = C.fit_box_calibration(given, tight, "300w68")
    assert cal.fitted_on == 40
    assert cal.scale == pytest.approx(1.3 / 1.2, rel=1e-9)
    assert cal.dx == pytest.approx(0, abs=1e-9) and cal.dy == pytest.approx(-0.1, rel=1e-9)
    for g, t in zip(given[:3], tight[:3]):  # given-box crop == landmark crop
        assert np.allclose(C.crop_for_given_box(g, cal), C.crop_for_box(t, "300w68"))
    assert C.fit_box_calibration(given[:5], tight[:5], "300w68") == C.default_calibration("300w68")


# ----------------------------------------------------------------------------- augmentation
def _augment(face, cfg, seed=0):
    return augment_face(
        C.load_gray(face.image_path),
        face.points,
        get_scheme(face.points.shape[0]),
        cfg,
        face_rng(seed, face.order),
    )


def test_augmented_real_samples_map_back_onto_the_original_points(mtfl_faces, w300_faces):
    cfg = AugmentConfig()  # defaults: rotations, scale/shift jitter, flip both, JPEG
    for face in mtfl_faces + w300_faces:
        scheme = get_scheme(face.points.shape[0])
        s = _augment(face, cfg)
        assert len(s) == cfg.samples_per_face == 20
        assert s.flipped.sum() == 10 and (np.abs(s.angle) > 0).sum() == 16 and (s.jpeg_quality > 0).any()
        for k in range(len(s)):
            back = sample_image_points(s, k, scheme)
            assert np.abs(back - face.points).max() < 1e-6  # far inside the 1 px requirement
        # the labels stored as float32 still map back to within a pixel
        for k in range(len(s)):
            lab = s.points[k].astype(np.float32).astype(np.float64)
            q = C.patch_to_image_affine(lab, s.affine[k])
            if s.flipped[k]:
                q = q[np.asarray(scheme.flip_perm)]
            assert np.abs(q - face.points).max() < 1e-3
        assert (s.points >= 0).all() and (s.points <= 49).all()  # defaults keep every point in the patch


def _dot_image(face, j, scheme):
    """The face's real image, darkened to <= 76, with one bright Gaussian dot (peak 255) rendered
    analytically at landmark j's sub-pixel position. Its sigma is 1.5 patch pixels in image pixels, so the
    dot survives the crop's anti-aliasing and downscaling at any image resolution."""
    side = C.crop_for_box(C.face_box_from_landmarks(face.points, scheme), scheme)[2]
    sigma = 1.5 * max(1.0, side / C.PATCH_SIZE)
    gray = C.load_gray(face.image_path) * 0.3
    ys, xs = np.mgrid[: gray.shape[0], : gray.shape[1]]
    x, y = face.points[j]
    gray = np.maximum(gray, 255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)))
    return np.rint(gray).astype(np.uint8)


def test_augmented_pixels_show_the_dots_where_the_labels_are(mtfl_faces):
    """Independent of the label maths: augment an image with a dot painted at landmark j (same face RNG,
    so the same rotations, jitters and flips); in every augmented patch the dot is found at label j
    (label perm[j] in a mirrored sample), within 0.3 px."""
    cfg = AugmentConfig(jpeg_prob=0.0)
    scheme = get_scheme(5)
    worst = 0.0
    for face in mtfl_faces[::2]:
        for j in range(5):
            s = augment_face(_dot_image(face, j, scheme), face.points, scheme, cfg, face_rng(0, face.order))
            core = np.where(s.patches > 80, s.patches - 80.0, 0.0)  # the dot (the darkened face stays <= 77)
            yy, xx = np.mgrid[:50, :50]
            for k in range(len(s)):
                w = core[k]
                assert w.sum() > 0
                c = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
                jj = (
                    scheme.flip_perm[j] if s.flipped[k] else j
                )  # mirrored: original point j is now label perm[j]
                worst = max(worst, float(np.hypot(*(c - s.points[k, jj]))))
    assert worst < 0.3, worst  # measured: 0.05 px worst (5 full-size faces x 5 points x 20)


def test_flip_both_gives_exact_mirror_pairs(w300_faces):
    face = w300_faces[0]
    scheme = get_scheme(68)
    s = _augment(face, AugmentConfig(rotations=2, jitters=2, jpeg_prob=0.0))
    assert len(s) == 8
    for k in range(0, 8, 2):
        assert not s.flipped[k] and s.flipped[k + 1]
        assert np.array_equal(s.patches[k + 1], s.patches[k][:, ::-1])
        assert np.allclose(s.points[k + 1], scheme.flip_points(s.points[k], 50))


def test_same_seed_same_samples_other_seed_other_samples(mtfl_faces):
    face = mtfl_faces[0]
    cfg = AugmentConfig()
    a, b, c = _augment(face, cfg, seed=5), _augment(face, cfg, seed=5), _augment(face, cfg, seed=6)
    assert np.array_equal(a.patches, b.patches) and np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, c.points)
    # the first sample of every face is the un-augmented crop: seed-independent, equal to the nominal one
    nom, crop = nominal_sample(C.load_gray(face.image_path), face.points, get_scheme(5))
    assert a.angle[0] == 0 and not a.flipped[0]
    if a.jpeg_quality[0] == 0:
        assert np.array_equal(a.patches[0], nom.patches[0])
    assert np.allclose(a.points[0], nom.points[0]) and np.allclose(a.affine[0], C.crop_matrix(crop))


def test_options_change_the_sample_count_and_jpeg_changes_pixels_only(mtfl_faces):
    face = mtfl_faces[1]
    assert len(_augment(face, AugmentConfig(rotations=3, jitters=4, flip="none"))) == 12
    assert len(_augment(face, AugmentConfig(rotations=3, jitters=1, flip="random"))) == 3
    plain = _augment(face, AugmentConfig(jpeg_prob=0.0))
    comp = _augment(face, AugmentConfig(jpeg_prob=1.0, jpeg_min=10, jpeg_max=10))
    assert np.array_equal(plain.points, comp.points)
    diff = np.abs(plain.patches.astype(int) - comp.patches.astype(int))
    assert diff.mean() > 1.0 and (comp.jpeg_quality == 10).all()
    with pytest.raises(ValueError):
        AugmentConfig(flip="sometimes")
    with pytest.raises(ValueError):
        AugmentConfig(rotations=0)


def test_flip_sample_mirrors_x_about_the_patch_width_not_its_height():
    """A 4 x 6 (rows x columns) patch: x -> 6 - 1 - x, y unchanged; left and right points swap indices
    (5 points: eyes 0 <-> 1, mouth corners 3 <-> 4)."""
    s5 = get_scheme("aflw")
    patch = np.zeros((4, 6), np.uint8)
    patch[1, 1] = 200  # the left eye's pixel
    pts = np.array([[1, 1], [4, 1], [2.5, 2], [1.5, 3], [3.5, 3]], float)
    fp, fq = flip_sample(patch, pts, s5)
    assert fp.shape == (4, 6) and fp[1, 4] == 200 and fp.sum() == 200  # column 1 -> 6 - 1 - 1 = 4
    # mirrored point i is original point flip_perm[i] at x' = 5 - x
    assert fq.tolist() == [[1, 1], [4, 1], [2.5, 2], [1.5, 3], [3.5, 3]]
    # an asymmetric set: out[i] = in[flip_perm[i]] with x -> 5 - x
    pts2 = np.array([[0, 0], [1, 1], [2, 2], [3, 3], [5, 0]], float)
    assert flip_sample(patch, pts2, s5)[1].tolist() == [[4, 1], [5, 0], [3, 2], [0, 0], [2, 3]]
    # a (channels, rows, columns) patch mirrors its last axis: the width is still 6
    stack = np.stack([patch, patch])
    fs, fq3 = flip_sample(stack, pts2, s5)
    assert fs.shape == (2, 4, 6) and fs[1, 1, 4] == 200 and fs.sum() == 400
    assert fq3.tolist() == [[4, 1], [5, 0], [3, 2], [0, 0], [2, 3]]
