"""The paper's metrics (Section IV-A-3) on hand-computed cases: NME, failure rate, CED, per-cluster errors."""

import numpy as np
import pytest

from mcl_caffe.core import metrics as M
from mcl_caffe.core.landmarks import get_scheme

S68 = get_scheme("300w")
S5 = get_scheme("aflw")


def face68(left=(30.0, 40.0), right=(70.0, 40.0), seed=0):
    """A 68-point face whose eye centres (means of points 37-42 and 43-48, 1-based) are exactly left/right."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 100, (68, 2))
    hexagon = np.array([[-6, 0], [-3, -2], [3, -2], [6, 0], [3, 2], [-3, 2]], float)  # sums to zero
    p[36:42] = np.asarray(left) + hexagon
    p[42:48] = np.asarray(right) + hexagon
    return p


def test_eye_centre_distance_of_a_68_point_face_is_the_distance_of_the_eye_means():
    g = face68()
    assert S68.interocular(g) == pytest.approx(40.0, abs=1e-12)
    g2 = face68(left=(10, 10), right=(40, 50))
    assert S68.interocular(g2) == pytest.approx(50.0, abs=1e-12)


def test_nme_of_a_uniform_shift_is_the_shift_over_d():
    g = face68()[None]
    pred = g + np.array([3.0, 4.0])  # every point off by 5 px; d = 40
    e = M.nme(pred, g, [40.0])
    assert e.shape == (1,)
    assert e[0] == pytest.approx(5.0 / 40.0, rel=1e-12)


def test_nme_averages_over_points_then_faces():
    g1 = face68()
    g2 = 2.0 * face68(seed=1)  # d = 80
    gt = np.stack([g1, g2])
    d = np.array([S68.interocular(g1), S68.interocular(g2)])
    assert d == pytest.approx([40.0, 80.0])
    pred = gt.copy()
    pred[0, 30] += [6.0, 8.0]  # one point of face 1 off by 10 px
    pred[1] += [0.0, 8.0]  # every point of face 2 off by 8 px
    e = M.nme(pred, gt, d)
    assert e == pytest.approx([10.0 / 40.0 / 68.0, 8.0 / 80.0], rel=1e-12)
    assert M.mean_error(e) == pytest.approx((10.0 / 40.0 / 68.0 + 0.1) / 2, rel=1e-12)
    # flat (N, 2n) coordinates x1, y1, x2, y2, ... give the same
    assert M.nme(pred.reshape(2, -1), gt.reshape(2, -1), d) == pytest.approx(e, rel=1e-15)
    # NME over a subset of points: face 1's point 31 alone
    assert M.nme(pred, gt, d, points=[30])[0] == pytest.approx(10.0 / 40.0, rel=1e-12)


def test_nme_is_invariant_to_a_similarity_without_rotation():
    """Crop coordinates vs image coordinates: scaling and shifting change errors and d alike."""
    rng = np.random.default_rng(3)
    gt = np.stack([face68(seed=k) for k in range(4)])
    pred = gt + rng.normal(0, 2, gt.shape)
    d = S68.interocular(gt)
    s, t = 0.37, np.array([-12.5, 40.25])
    assert M.nme(pred * s + t, gt * s + t, d * s) == pytest.approx(M.nme(pred, gt, d), rel=1e-12)


def test_five_point_nme_uses_the_two_eye_points():
    gt = np.array([[[10, 20], [40, 20], [25, 30], [15, 40], [35, 40]]], float)
    d = S5.interocular(gt)
    assert d == pytest.approx([30.0])
    pred = gt.copy()
    pred[0, 3] += [3, 0]  # 3 px
    pred[0, 4] += [0, -6]  # 6 px
    assert M.nme(pred, gt, d)[0] == pytest.approx((3 + 6) / 30.0 / 5, rel=1e-12)
    assert M.per_landmark_errors(pred, gt, d) == pytest.approx([0, 0, 0, 0.1, 0.2], abs=1e-15)


def test_failure_rate_counts_faces_strictly_above_ten_percent():
    e = np.array([0.05, 0.10, 0.1000001, 0.2, 0.0999])
    assert M.failure_rate(e) == pytest.approx(2 / 5)
    assert M.failure_rate(e, threshold=0.06) == pytest.approx(4 / 5)
    assert M.failure_rate(np.zeros(7)) == 0.0


def test_ced_is_the_fraction_of_faces_at_or_below_each_error():
    e = np.array([0.02, 0.05, 0.05, 0.12])
    x, y = M.ced(e, thresholds=[0.0, 0.0199, 0.02, 0.04, 0.05, 0.1, 0.12, 0.2])
    assert y == pytest.approx([0, 0, 0.25, 0.25, 0.75, 0.75, 1.0, 1.0])
    x, y = M.ced(e, max_error=0.15, steps=16)
    assert x == pytest.approx(np.arange(16) * 0.01)
    assert np.all(np.diff(y) >= 0) and y[0] == 0 and y[-1] == 1.0
    assert y[5] == pytest.approx(0.75)  # x = 0.05
    # the CED at 10 % is 1 - failure rate
    rng = np.random.default_rng(0)
    e = rng.uniform(0, 0.2, 1000)
    assert M.ced(e, thresholds=[0.1])[1][0] == pytest.approx(1 - M.failure_rate(e), abs=1e-12)


def test_ced_defaults_and_edge_cases():
    x, y = M.ced([0.05, 0.2])
    assert len(x) == 301 and x[0] == 0 and x[-1] == pytest.approx(0.15) and y[-1] == 0.5
    x, y = M.ced([], thresholds=[0.1, 0.2])
    assert y.tolist() == [0.0, 0.0]
    x, y = M.ced([0.05], thresholds=[0.0, 0.05, 0.1])  # a single face
    assert y.tolist() == [0.0, 1.0, 1.0]
    x, y = M.ced(np.array([[0.05, 0.2], [0.01, 0.3]]), thresholds=[0.1])  # any shape: all faces
    assert y.tolist() == [0.5]


def test_auc_of_hand_made_distributions():
    assert M.auc(np.zeros(10)) == pytest.approx(1.0)
    assert M.auc(np.full(10, 0.3)) == pytest.approx(0.0)
    assert M.auc(np.full(10, 0.05)) == pytest.approx(0.5, abs=1e-3)


def test_cluster_errors_average_the_cluster_points_over_faces():
    pe = np.array([[0.1, 0.2, 0.3, 0.4, 0.6], [0.3, 0.0, 0.1, 0.2, 0.2]])
    c = M.cluster_errors(pe, S5.clusters)
    assert c == pytest.approx({"left_eye": 0.2, "right_eye": 0.1, "nose": 0.2, "mouth": 0.35})
    # 68 points: the mean of the cluster means weighted by size is the overall mean
    rng = np.random.default_rng(1)
    pe = rng.uniform(0, 0.2, (5, 68))
    c = M.cluster_errors(pe, S68.clusters)
    sizes = {n: len(i) for n, i in S68.clusters}
    assert sum(c[n] * sizes[n] for n in c) / 68 == pytest.approx(pe.mean(), rel=1e-12)


def test_summary_and_percent():
    e = np.array([0.05, 0.15])
    s = M.summary(e)
    assert (
        s["faces"] == 2 and s["mean_error"] == pytest.approx(0.10) and s["failure_rate"] == pytest.approx(0.5)
    )
    assert M.percent(0.0567) == pytest.approx(5.67)
    arr = M.percent(np.array([0.1, 0.25]))
    assert isinstance(arr, np.ndarray) and arr.tolist() == pytest.approx([10.0, 25.0])
    assert M.percent(np.float32(0.5)) == 50.0 and isinstance(M.percent(np.float32(0.5)), float)
    assert M.summary(e, threshold=0.2)["failure_rate"] == 0.0  # the threshold reaches failure_rate
    assert set(M.summary(e)) == {"faces", "mean_error", "failure_rate", "auc_0.1"}
    assert M.summary(e)["auc_0.1"] == pytest.approx(M.auc(e))
    assert M.percent({"a": 0.1, "b": [0.2, None]}) == {
        "a": pytest.approx(10.0),
        "b": [pytest.approx(20.0), None],
    }


def test_bad_inputs_are_refused():
    g = face68()[None]
    with pytest.raises(ValueError, match="positive"):
        M.nme(g, g, [0.0])
    with pytest.raises(ValueError, match="differ in shape"):
        M.nme(g[:, :5], g, [40.0])
    with pytest.raises(ValueError, match="normalisers"):
        M.nme(g, g, [40.0, 41.0])
    with pytest.raises(ValueError, match="even"):
        M.point_errors(np.zeros((1, 5)), np.zeros((1, 5)), [1.0])


def test_flat_points_are_x_y_pairs_and_bad_shapes_are_refused():
    """as_points: flat (N, 2n) rows are x1, y1, x2, y2, ...; anything but (N, n, 2) or (N, 2n) is refused."""
    flat = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    p = M.as_points(flat)
    assert p.shape == (1, 3, 2) and p.tolist() == [[[1, 2], [3, 4], [5, 6]]]
    with pytest.raises(ValueError, match=r"^points must be \(N, n, 2\) or \(N, 2n\), got \(1, 4, 3\)$"):
        M.as_points(np.zeros((1, 4, 3)))  # three coordinates per point
    with pytest.raises(ValueError, match=r"got \(6,\)$"):
        M.as_points(np.zeros(6))  # one flat face without its face axis
    with pytest.raises(ValueError, match=r"got \(1, 1, 3, 2\)$"):
        M.as_points(np.zeros((1, 1, 3, 2)))


def test_point_errors_check_each_sides_face_count_against_d():
    g = face68()[None]
    two = np.concatenate([g, g])
    with pytest.raises(ValueError, match="^2 faces of points but 1 normalisers d$"):
        M.point_errors(two, g, [40.0])  # the prediction has a face too many
    with pytest.raises(ValueError, match="^2 faces of points but 1 normalisers d$"):
        M.point_errors(g, two, [40.0])  # the ground truth has a face too many


def test_small_eye_distances_are_valid_and_a_single_face_may_give_d_as_a_scalar():
    """d is in the points' units: normalised coordinates give d < 1, which is positive and accepted."""
    gt = np.array([[[0.2, 0.3], [0.8, 0.3], [0.5, 0.5], [0.3, 0.7], [0.7, 0.7]]])
    d = S5.interocular(gt[0])  # one face: a float, 0.6
    assert isinstance(d, float) and d == pytest.approx(0.6, rel=1e-12)
    pred = gt.copy()
    pred[0, 2] += [0.03, 0.04]  # the nose 0.05 off: 0.05 / 0.6 = 1 / 12
    e = M.point_errors(pred, gt, d)
    assert e.shape == (1, 5)
    assert e[0].tolist() == pytest.approx([0, 0, 1 / 12, 0, 0], abs=1e-12)
    assert M.nme(pred, gt, [0.6])[0] == pytest.approx(1 / 60, rel=1e-12)  # (1 / 12) / 5 points


def test_percent_of_a_scalar_is_a_plain_float():
    assert type(M.percent(0.25)) is float and M.percent(0.25) == 25.0
    assert type(M.percent(np.float64(0.5))) is float and M.percent(np.float64(0.5)) == 50.0


def test_auc_default_grid_integrates_a_step_between_grid_points_exactly():
    """The default 1001 thresholds over [0, 0.1] are 1e-4 apart. Every face at NME 0.05005 (mid-way between
    the grid points 0.0500 and 0.0501): the CED is 0 up to 0.0500 and 1 from 0.0501, and the trapezoid
    across that cell (area 1e-4 / 2) equals the exact step's, so AUC = (0.1 - 0.05005) / 0.1 = 0.4995;
    tolerance 1e-9 for the rounding of the sum of 1000 trapezoids (each ~1e-4, relative error ~1e-16)."""
    assert M.auc(np.full(4, 0.05005)) == pytest.approx(0.4995, abs=1e-9)
