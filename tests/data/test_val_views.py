"""Validation views (mcl_caffe.data.val_views) and training crops from given boxes (--train-crop box): real
faces, exact geometry, and the lists `make data` writes."""
import json
import subprocess
import sys

import numpy as np
import pytest

from mcl_caffe.core import crop as C
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.data.augment import AugmentConfig, augment_face, face_rng, nominal_sample, rolled_samples
from mcl_caffe.data.datasets import attach_list_boxes, load_300w, load_mtfl_list
from mcl_caffe.data.h5_writer import read_arrays
from conftest import ROOT, SHARED_DATA

KEYS = ("data", "label", "d", "index", "affine")

SUN_LIST = SHARED_DATA / "boxes" / "cnn-facepoint" / "trainImageList.txt"


def _roll(points, scheme):
    """Angle (degrees, image y down) of the line from the left to the right eye centre."""
    le, re = (np.asarray(points)[list(idx)].mean(axis=0) for idx in scheme.eye_indices)
    return np.degrees(np.arctan2(re[1] - le[1], re[0] - le[0]))


def test_rolled_views_roll_the_face_and_crop_the_tight_box_of_the_rolled_points():
    scheme = get_scheme("300w")
    faces = load_300w(SHARED_DATA / "300w", ["afw"], limit=4).faces
    for f in faces:
        gray = C.face_gray(f)
        s = rolled_samples(gray, f.points, scheme, (20.0, -35.0))
        assert len(s) == 2 and list(s.angle) == [20.0, -35.0]
        for k, angle in enumerate((20.0, -35.0)):
            # the points map back exactly onto the annotation through the stored affine
            back = C.patch_to_image_affine(s.points[k], s.affine[k])
            assert np.abs(back - f.points).max() < 1e-9
            # rotation_about turns counter-clockwise on screen: the eye line's angle drops by `angle`
            turned = _roll(s.points[k], scheme) - _roll(f.points, scheme)
            assert ((turned + angle + 180) % 360 - 180) == pytest.approx(0, abs=1e-9)
            # the crop is the crop rule of the rolled points' tight box: centred, side 50 / 1.3 of the patch
            box = C.face_box_from_landmarks(s.points[k])
            assert C.box_center(box) == pytest.approx([24.5, 24.5], abs=1e-9)
            assert max(C.box_size(box)) == pytest.approx(50 / C.CROP_SCALE["300w68"], rel=1e-9)
        # distances survive the roll: d in image pixels (patch d x image pixels per patch pixel) is the face's
        img_d = [scheme.interocular(s.points[k]) * C.downscale_factor(s.affine[k]) for k in range(2)]
        assert img_d == pytest.approx([scheme.interocular(f.points)] * 2, rel=1e-9)


def test_training_crops_from_given_boxes_follow_the_test_rule_and_turn_about_its_centre():
    scheme = get_scheme("aflw")
    faces = load_mtfl_list(SHARED_DATA / "mtfl-full" / "training.txt", limit=5).faces
    attach_list_boxes(faces, SUN_LIST)
    cal = C.BoxCalibration(scale=1.4, dx=0.03, dy=0.08)
    cfg = AugmentConfig(rotations=3, max_angle=30, jitters=2, flip="both", jpeg_prob=0.0, crop_from="box")
    for f in faces:
        gray = C.face_gray(f)
        s = augment_face(gray, f.points, scheme, cfg, face_rng(0, f.order), f.box, cal)
        nom, _ = nominal_sample(gray, f.points, scheme, f.box, cal)
        # the first sample (no rotation, no jitter, not mirrored) is exactly the validation/test crop
        assert np.array_equal(s.patches[0], nom.patches[0]) and np.allclose(s.affine[0], nom.affine[0])
        centre, side = C.given_box_square(f.box, cal)
        for k in range(len(s)):
            if s.flipped[k]:
                continue
            # every unmirrored sample's points map back onto the annotation
            assert np.abs(C.patch_to_image_affine(s.points[k], s.affine[k]) - f.points).max() < 1e-9
        # un-jittered samples (every 4th: 2 jitters x 2 mirrors) keep the box crop's centre on the patch
        # centre and its side, whatever the angle
        for k in range(0, len(s), 4):
            assert C.apply_affine(s.affine[k], centre) == pytest.approx([24.5, 24.5], abs=1e-9)
            assert C.downscale_factor(s.affine[k]) == pytest.approx(side / 50, rel=1e-9)
    with pytest.raises(ValueError, match="needs the face's box"):
        augment_face(gray, f.points, scheme, cfg, face_rng(0, 0), None, cal)


def _make_data(tmp_path, *args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "make_data.py"), "--out", str(tmp_path),
                           "--no-progress", "--workers", "1", *args], capture_output=True, text=True)


def test_make_data_writes_the_views_of_the_validation_faces(tmp_path):
    r = _make_data(tmp_path, "--dataset", "300w", "--data-root", str(SHARED_DATA / "300w"), "--limit", "60",
                   "--rotations", "1", "--jitters", "1")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "300w"
    meta = json.loads((out / "meta.json").read_text())
    assert sorted(meta["val_views"]) == ["val_detector", "val_roll20", "val_roll35"]
    val = read_arrays(out / "val.txt", KEYS + ("crop",))
    n = len(val["d"])
    assert n == meta["summary"]["written"]["val"]["faces"] > 0
    for view in ("val_roll20", "val_roll35"):
        v = read_arrays(out / ("%s.txt" % view), KEYS)
        assert len(v["d"]) == 2 * n == meta["val_views"][view]["samples"]
        # the same faces in the same order, two rolls each; d in image pixels is unchanged by a roll (float32
        # storage: rtol 1e-6)
        scale = np.array([C.downscale_factor(A) for A in v["affine"]])
        val_scale = np.array([C.downscale_factor(A) for A in val["affine"]])
        np.testing.assert_allclose(v["d"] * scale, np.repeat(val["d"] * val_scale, 2), rtol=1e-6)
        np.testing.assert_array_equal(v["index"], np.repeat(val["index"], 2))
    det = read_arrays(out / "val_detector.txt", KEYS + ("crop",))
    np.testing.assert_array_equal(det["index"], val["index"])
    assert meta["val_views"]["val_detector"]["calibration"]["fitted_on"] > 0
    # the detector's boxes move the crops: not one validation crop is the landmark crop
    assert np.all(np.abs(det["crop"] - val["crop"]).max(axis=1) > 1e-3)
    # no rolled views asked for: none written, and an earlier run's lists are removed
    r = _make_data(tmp_path, "--dataset", "300w", "--data-root", str(SHARED_DATA / "300w"), "--limit", "60",
                   "--rotations", "1", "--jitters", "1", "--val-rolls")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.glob("val_*.txt")) == ["val_detector.txt"]


def test_make_data_crops_aflw_training_faces_from_their_detector_boxes(tmp_path):
    common = ["--dataset", "aflw", "--data-root", str(SHARED_DATA / "mtfl-full"), "--limit", "40",
              "--rotations", "1", "--jitters", "1", "--flip", "none", "--jpeg-prob", "0", "--val-rolls"]
    r = _make_data(tmp_path / "box", *common, "--train-boxes", str(SUN_LIST), "--train-crop", "box")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "box" / "aflw"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["augmentation"]["crop_from"] == "box" and sorted(meta["val_views"]) == ["val_gt"]
    cal = C.BoxCalibration(**{k: v for k, v in meta["crop"]["given_box_calibration"].items()})
    train = read_arrays(out / "train.txt", KEYS)
    faces = load_mtfl_list(SHARED_DATA / "mtfl-full" / "training.txt", limit=40).faces
    attach_list_boxes(faces, SUN_LIST)
    by_order = {f.order: f for f in faces}
    for i in range(len(train["d"])):
        f = by_order[int(train["index"][i])]
        want = C.crop_matrix(C.crop_for_given_box(f.box, cal))
        np.testing.assert_allclose(train["affine"][i], want, atol=1e-9)
    # without boxes the option is refused with a message
    r = _make_data(tmp_path / "nobox", *common, "--train-crop", "box")
    assert r.returncode == 1 and "--train-crop box" in r.stderr and "no given box" in r.stderr
