"""Eq. 2 splice on arrays (the end-to-end check on trained models is in test_pipeline_smoke.py)."""
import numpy as np
import pytest

from mcl_caffe.core.splice import coordinate_rows, splice


def test_coordinate_rows_are_x_then_y():
    np.testing.assert_array_equal(coordinate_rows([0, 3]), [0, 1, 6, 7])


def test_splice_takes_each_clusters_rows_from_its_own_layer():
    rng = np.random.default_rng(0)
    clusters = [[0], [1], [2], [3, 4]]
    ws = [rng.normal(size=(10, 6)) for _ in clusters]
    bs = [rng.normal(size=10) for _ in clusters]
    w, b = splice(ws, bs, clusters)
    for i, cluster in enumerate(clusters):
        rows = coordinate_rows(cluster)
        np.testing.assert_array_equal(w[rows], ws[i][rows])
        np.testing.assert_array_equal(b[rows], bs[i][rows])


def test_splice_rejects_overlapping_or_incomplete_partitions():
    ws, bs = [np.zeros((6, 2))] * 2, [np.zeros(6)] * 2
    with pytest.raises(ValueError, match="another cluster"):
        splice(ws, bs, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="no cluster"):
        splice(ws, bs, [[0], [1]])


def test_splice_needs_as_many_weights_and_biases_as_clusters_and_at_least_one():
    ws, bs = [np.zeros((6, 2))] * 2, [np.zeros(6)] * 2
    message = "^need one weight matrix and one bias per cluster$"
    with pytest.raises(ValueError, match=message):
        splice(ws, bs, [[0], [1], [2]])  # three clusters, two layers
    with pytest.raises(ValueError, match=message):
        splice(ws, bs[:1], [[0, 1], [2]])  # one bias short
    with pytest.raises(ValueError, match=message):
        splice([], [], [])


def test_splice_names_exactly_the_landmarks_no_cluster_covers():
    # 5 landmarks (10 output rows); clusters cover landmarks 0 and 3: 1, 2 and 4 are missing
    ws, bs = [np.zeros((10, 2))] * 2, [np.zeros(10)] * 2
    with pytest.raises(ValueError, match=r"^landmarks \[1, 2, 4\] belong to no cluster$"):
        splice(ws, bs, [[0], [3]])
