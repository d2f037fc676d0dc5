"""mcl_caffe.evaluation.error_breakdown: signed offsets, the oracle offset removal, the yaw proxy and its
groups."""

import numpy as np
import pytest

from mcl_caffe.evaluation import error_breakdown as B
from mcl_caffe.core import metrics as M
from mcl_caffe.core.landmarks import get_scheme

S5 = get_scheme("aflw5")
# a frontal 5-point face: eyes at (10, 20) and (30, 20), nose midway below, mouth corners
FRONTAL = np.array([[10.0, 20.0], [30.0, 20.0], [20.0, 30.0], [13.0, 38.0], [27.0, 38.0]])


def test_nose_tip_of_every_scheme():
    assert B.nose_tip_index(S5) == 2
    assert get_scheme("cofw29").point_names[B.nose_tip_index(get_scheme("cofw29"))] == "nose_tip"
    assert B.nose_tip_index(get_scheme("300w68")) == 30  # point 31, 1-based: the end of the nose bridge


def test_yaw_proxy_is_zero_for_a_frontal_face_and_measures_the_nose_shift_in_units_of_d():
    turned = FRONTAL.copy()
    turned[2, 0] += 5.0  # nose a quarter of d (20 px) towards the image's right eye
    yaw = B.yaw_proxy(np.stack([FRONTAL, turned]), S5)
    np.testing.assert_allclose(yaw, [0.0, 0.25], atol=1e-12)


def test_yaw_proxy_does_not_change_with_scale_rotation_or_shift():
    turned = FRONTAL.copy()
    turned[2, 0] -= 3.0
    a = np.deg2rad(30.0)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = 2.5 * turned @ R.T + np.array([7.0, -4.0])
    np.testing.assert_allclose(B.yaw_proxy(moved[None], S5), B.yaw_proxy(turned[None], S5), atol=1e-12)
    np.testing.assert_allclose(B.yaw_proxy(turned[None], S5), [-0.15], atol=1e-12)


def test_yaw_proxy_rejects_a_face_with_one_eye_position():
    bad = FRONTAL.copy()
    bad[1] = bad[0]
    with pytest.raises(ValueError, match="distinct eye"):
        B.yaw_proxy(bad[None], S5)


def _faces(rng, n):
    gt = FRONTAL[None] * rng.uniform(0.8, 1.2, size=(n, 1, 1)) + rng.normal(0, 1.0, size=(n, 5, 2))
    d = S5.interocular(gt)
    return gt, d


def test_a_pure_shift_shows_as_the_signed_offset_and_the_oracle_removes_it():
    rng = np.random.default_rng(0)
    gt, d = _faces(rng, 50)
    shift = np.array([[0.1, -0.05]] * 5)  # in units of d
    pred = gt + shift[None] * d[:, None, None]
    np.testing.assert_allclose(B.signed_offsets(pred, gt, d), shift, atol=1e-12)
    np.testing.assert_allclose(M.nme(pred, gt, d), np.hypot(0.1, 0.05), rtol=1e-12)
    np.testing.assert_allclose(B.nme_without_offset(pred, gt, d, shift), 0.0, atol=1e-12)


def test_zero_mean_noise_has_no_offset_to_remove():
    rng = np.random.default_rng(1)
    gt, d = _faces(rng, 40)
    noise = rng.normal(0, 1.0, size=gt.shape)
    noise -= noise.mean(axis=0)  # exactly zero mean per landmark and axis
    pred = gt + noise * d[:, None, None] * 0.05
    off = B.signed_offsets(pred, gt, d)
    # (pred - gt) / d = 0.05 * noise, whose mean over faces is exactly zero
    np.testing.assert_allclose(off, 0.0, atol=1e-12)
    np.testing.assert_allclose(B.nme_without_offset(pred, gt, d, off), M.nme(pred, gt, d), rtol=1e-12)


def test_yaw_groups_partition_the_faces():
    yaw = np.array([0.0, -0.05, 0.12, -0.25, 0.29, 0.3, -0.7])
    nme = np.array([1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0])
    g = B.yaw_groups(yaw, nme)
    assert [x["faces"] for x in g] == [2, 1, 2, 2]
    assert [x["nme"] for x in g] == [2.0, 5.0, 8.0, 12.0]
    assert g[-1]["high"] is None and g[0]["low"] == 0.0
    assert sum(x["share"] for x in g) == pytest.approx(1.0)


def test_reweighted_nme_uses_the_other_sets_shares():
    a = B.yaw_groups(np.array([0.0, 0.0, 0.35, 0.35]), np.array([0.1, 0.1, 0.3, 0.3]))
    b = B.yaw_groups(np.array([0.0, 0.0, 0.0, 0.35]), np.array([0.0, 0.0, 0.0, 0.0]))
    # a's group errors 0.1 (frontal) and 0.3 (turned), b's shares 3/4 and 1/4
    assert B.reweighted_nme(a, b) == pytest.approx(0.75 * 0.1 + 0.25 * 0.3)
    assert B.reweighted_nme(a, a) == pytest.approx(0.2)
    # a group that b has but a lacks makes the answer undefined
    c = B.yaw_groups(np.array([0.15]), np.array([0.0]))
    assert B.reweighted_nme(a, c) is None


def test_breakdown_collects_every_view():
    rng = np.random.default_rng(2)
    gt, d = _faces(rng, 30)
    pred = gt + rng.normal(0, 0.5, size=gt.shape) + np.array([0.3, 0.0])
    b = B.breakdown(pred.reshape(30, -1), gt.reshape(30, -1), d, S5)
    assert b["faces"] == 30
    assert b["nme"] == pytest.approx(M.nme(pred, gt, d).mean())
    np.testing.assert_allclose(b["offsets"], B.signed_offsets(pred, gt, d))
    np.testing.assert_allclose(b["mean_offset"], np.mean(b["offsets"], axis=0))
    assert b["nme_without_offset"] < b["nme"]
    assert sum(g["faces"] for g in b["yaw_groups"]) == 30
