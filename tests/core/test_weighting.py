"""Landmark weights: Eqs. 5-9 of the paper."""
import numpy as np
import pytest

from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.weighting import (ALPHA, cluster_point_weights, error_proportional_weights,
                                      multi_center_weights,
                                 perturbed_weights)

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
