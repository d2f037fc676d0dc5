"""Landmark weights u_j of the MCL loss (paper Section III-B, Eqs. 5-9).

- Pre-training (BM, Algorithm 1 step 1): u_j = 1.
- Weighting fine-tuning (steps 2-3, Eq. 5): u_j = n * eps_b_j / sum_k eps_b_k, from BM's per-landmark
  validation errors eps_b.
- Multi-center fine-tuning of cluster i (steps 4-6): Eqs. 6-7 give the per-point weight inside the cluster
  P^i and outside it (Q^i), solved in Eq. 8; Eq. 9 spreads each total over the points in proportion to
  WM's per-landmark validation errors eps_w.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

ALPHA = 125.0  # Section IV-A-2


def uniform_weights(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.float64)


def error_proportional_weights(errors: Sequence[float]) -> np.ndarray:
    """Eq. 5: u_j = n eps_j / sum_k eps_k (so the weights sum to n)."""
    eps = _check_errors(errors)
    return len(eps) * eps / eps.sum()


def cluster_point_weights(n: int, cluster_size: int, alpha: float = ALPHA) -> tuple[float, float]:
    """Eq. 8: (u_P, u_Q), the solution of u_P = alpha u_Q (Eq. 6) and u_P |P| + u_Q (n - |P|) = n (Eq. 7)."""
    if not 0 < cluster_size <= n:
        raise ValueError("cluster size %d must be in 1..%d" % (cluster_size, n))
    denom = (alpha - 1.0) * cluster_size + n
    return alpha * n / denom, n / denom


def multi_center_weights(errors: Sequence[float], cluster: Sequence[int], alpha: float = ALPHA) -> np.ndarray:
    """Eq. 9 for the cluster P^i = `cluster` (0-based indices), with eps = WM's per-landmark errors."""
    eps = _check_errors(errors)
    n = len(eps)
    cluster = list(cluster)
    if len(set(cluster)) != len(cluster) or not all(0 <= j < n for j in cluster):
        raise ValueError("cluster indices must be distinct and within 0..%d, got %s" % (n - 1, cluster))
    in_p = np.zeros(n, dtype=bool)
    in_p[cluster] = True
    u_p, u_q = cluster_point_weights(n, int(in_p.sum()), alpha)
    u = np.empty(n, dtype=np.float64)
    u[in_p] = u_p * in_p.sum() * eps[in_p] / eps[in_p].sum()
    if (~in_p).any():
        u[~in_p] = u_q * (n - in_p.sum()) * eps[~in_p] / eps[~in_p].sum()
    return u


def perturbed_weights(weights: Sequence[float], delta: float, seed: int) -> np.ndarray:
    """Section IV-C-2: add delta to floor(n/2) random landmarks' weights and subtract it from the rest."""
    u = np.asarray(weights, dtype=np.float64).copy()
    n = len(u)
    rng = np.random.default_rng(seed)
    plus = rng.permutation(n)[: n // 2]
    sign = -np.ones(n)
    sign[plus] = 1.0
    return u + sign * delta


def _check_errors(errors: Sequence[float]) -> np.ndarray:
    eps = np.asarray(errors, dtype=np.float64)
    if eps.ndim != 1 or len(eps) == 0:
        raise ValueError("per-landmark errors must be a non-empty 1-D sequence")
    if not np.all(np.isfinite(eps)) or np.any(eps <= 0):
        raise ValueError("per-landmark errors must be finite and positive, got %s" % eps)
    return eps
