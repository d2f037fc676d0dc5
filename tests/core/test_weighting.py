"""Landmark weights: Eqs. 5-9 of the paper."""
import numpy as np
import pytest

from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.weighting import (ALPHA, cluster_point_weights, error_proportional_weights,
                                      multi_center_weights, perturbed_weights, uniform_weights)

ERRORS = np.array([0.05, 0.07, 0.06, 0.09, 0.08])


def test_eq5_weights_are_proportional_to_error_and_sum_to_n():
    u = error_proportional_weights(ERRORS)
    assert u.sum() == pytest.approx(len(ERRORS))
    np.testing.assert_allclose(u / ERRORS, (u / ERRORS)[0])
    np.testing.assert_allclose(u, 5 * ERRORS / ERRORS.sum())


@pytest.mark.parametrize("n,size", [(5, 1), (5, 2), (29, 8), (68, 20), (68, 5)])
def test_eq8_solves_eq6_and_eq7(n, size):
    u_p, u_q = cluster_point_weights(n, size)
    assert u_p == pytest.approx(ALPHA * u_q)                 # Eq. 6
    assert u_p * size + u_q * (n - size) == pytest.approx(n)  # Eq. 7


@pytest.mark.parametrize("dataset", ["aflw", "cofw", "300w"])
def test_eq9_splits_each_total_by_error(dataset):
    scheme = get_scheme(dataset)
    rng = np.random.default_rng(1)
    eps = rng.uniform(0.03, 0.12, scheme.n_points)
    for _, idx in scheme.clusters:
        idx = list(idx)
        rest = [j for j in range(scheme.n_points) if j not in idx]
        u = multi_center_weights(eps, idx)
        u_p, u_q = cluster_point_weights(scheme.n_points, len(idx))
        assert u[idx].sum() == pytest.approx(u_p * len(idx))
        assert u[rest].sum() == pytest.approx(u_q * len(rest))
        assert u.sum() == pytest.approx(scheme.n_points)      # Eq. 7 still holds after Eq. 9
        np.testing.assert_allclose(u[idx] / eps[idx], (u[idx] / eps[idx])[0])
        np.testing.assert_allclose(u[rest] / eps[rest], (u[rest] / eps[rest])[0])


def test_eq9_with_equal_errors_reduces_to_eq8():
    u = multi_center_weights(np.ones(5), [0])
    u_p, u_q = cluster_point_weights(5, 1)
    np.testing.assert_allclose(u, [u_p, u_q, u_q, u_q, u_q])


def test_bad_errors_are_rejected():
    with pytest.raises(ValueError):
        error_proportional_weights([0.1, 0.0, 0.2])
    with pytest.raises(ValueError):
        error_proportional_weights([0.1, np.nan])
    with pytest.raises(ValueError):
        multi_center_weights(ERRORS, [0, 0])


def test_perturbation_adds_delta_to_half_and_subtracts_from_the_rest():
    u = np.ones(5)
    p = perturbed_weights(u, 0.4, seed=3)
    assert sorted(np.round(p - u, 6)) == [-0.4, -0.4, -0.4, 0.4, 0.4]
    np.testing.assert_array_equal(p, perturbed_weights(u, 0.4, seed=3))


def test_alpha_is_the_papers_and_the_default_of_eqs_8_and_9():
    """Section IV-A-2: "the remaining parameter alpha is set to be 125" (a literal, not ALPHA against
    itself)."""
    assert ALPHA == 125
    # Eq. 8 by hand with alpha = 125: n = 5, |P| = 1: u_P = 125 * 5 / (124 * 1 + 5) = 625 / 129, u_Q = 5 / 129
    assert cluster_point_weights(5, 1) == pytest.approx((625 / 129, 5 / 129), rel=1e-14)
    # n = 68, the 20 mouth points: u_P = 125 * 68 / (124 * 20 + 68) = 8500 / 2548, u_Q = 68 / 2548
    mouth = list(range(48, 68))
    u = multi_center_weights(np.ones(68), mouth)  # Eq. 9 with equal errors is Eq. 8; default alpha
    np.testing.assert_allclose(u[mouth], 8500 / 2548, rtol=1e-14)
    np.testing.assert_allclose(u[:48], 68 / 2548, rtol=1e-14)


def test_eq5_and_eq9_by_hand():
    """Eq. 5 and Eq. 9 on small numbers worked out by hand (not with the functions' own formulas)."""
    # Eq. 5: errors 1, 2, 3, 4 (sum 10), n = 4: u = 4 * eps / 10
    np.testing.assert_allclose(error_proportional_weights([1.0, 2.0, 3.0, 4.0]), [0.4, 0.8, 1.2, 1.6],
                               rtol=1e-15)
    # Eq. 9: n = 5, P = {3, 4} with errors 1 and 3, Q = {0, 1, 2} with errors 2, 2, 4 and alpha = 125:
    # u_P = 625 / 253, u_Q = 5 / 253 (Eq. 8: (alpha - 1) |P| + n = 248 + 5 = 253);
    # P's total u_P |P| = 1250 / 253 splits 1 : 3, Q's total u_Q |Q| = 15 / 253 splits 2 : 2 : 4
    u = multi_center_weights([2.0, 2.0, 4.0, 1.0, 3.0], [3, 4])
    np.testing.assert_allclose(u, np.array([3.75, 3.75, 7.5, 312.5, 937.5]) / 253, rtol=1e-14)


def test_pretraining_weights_are_all_one():
    """Algorithm 1, step 1: u_j = 1 for every landmark."""
    u = uniform_weights(68)
    assert u.dtype == np.float64 and u.tolist() == [1.0] * 68


def test_eq8_cluster_size_runs_from_one_to_n():
    with pytest.raises(ValueError, match=r"^cluster size 0 must be in 1\.\.5$"):
        cluster_point_weights(5, 0)
    with pytest.raises(ValueError, match=r"^cluster size 6 must be in 1\.\.5$"):
        cluster_point_weights(5, 6)
    # |P| = n: Eq. 7 gives u_P n = n, so u_P = 1, and Eq. 6 u_Q = u_P / alpha = 1 / 125
    assert cluster_point_weights(5, 5) == pytest.approx((1.0, 1 / 125), rel=1e-14)


def test_eq9_cluster_bounds_a_whole_face_cluster_and_another_alpha():
    with pytest.raises(ValueError, match=r"^cluster indices must be distinct and within 0\.\.4, got \[5\]$"):
        multi_center_weights(ERRORS, [5])  # index n is one past the last landmark
    with pytest.raises(ValueError, match=r"within 0\.\.4, got \[-1\]$"):
        multi_center_weights(ERRORS, [-1])
    # a cluster of every landmark: u_P = 1 (Eq. 8 with |P| = n), Eq. 9 is then Eq. 5: u = n eps / sum eps
    u = multi_center_weights([1.0, 2.0, 3.0, 4.0], [0, 1, 2, 3])
    np.testing.assert_allclose(u, [0.4, 0.8, 1.2, 1.6], rtol=1e-14)
    # alpha = 3, n = 5, P = {0}, equal errors: Eq. 8 gives u_P = 3 * 5 / (2 * 1 + 5) = 15 / 7, u_Q = 5 / 7
    u = multi_center_weights(np.ones(5), [0], alpha=3.0)
    np.testing.assert_allclose(u, np.array([15.0, 5.0, 5.0, 5.0, 5.0]) / 7, rtol=1e-14)


def test_perturbation_follows_its_seed():
    """Same seed, same landmarks raised; another seed, other landmarks (68 points: C(68, 34) ~ 2.8e19 ways
    to pick the raised half, so two seeds agreeing by chance is out of the question)."""
    u = np.ones(68)
    a, b = perturbed_weights(u, 0.4, seed=7), perturbed_weights(u, 0.4, seed=7)
    np.testing.assert_array_equal(a, b)
    assert np.sum(a > 1) == 34 and np.sum(a < 1) == 34  # floor(68 / 2) raised, the rest lowered
    c = perturbed_weights(u, 0.4, seed=8)
    assert not np.array_equal(a, c)


def test_errors_must_be_one_dimensional_and_one_landmark_is_enough():
    with pytest.raises(ValueError, match="^per-landmark errors must be a non-empty 1-D sequence$"):
        error_proportional_weights([[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(ValueError, match="^per-landmark errors must be a non-empty 1-D sequence$"):
        error_proportional_weights([])
    # n = 1: Eq. 5 gives u = 1 * eps / eps = 1
    assert error_proportional_weights([0.3]).tolist() == [1.0]
