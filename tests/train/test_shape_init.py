"""mcl_caffe.train.shape_init: the mean training shape as the shape layer's bias, and the mean-shape loss."""

import numpy as np
import pytest

from mcl_caffe.train import shape_init
from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.nets.synthetic_model import make_synthetic_model


def test_mean_shape_loss_is_eq4_of_predicting_the_mean():
    # two faces, one point each: labels (0, 0) and (2, 4), mean (1, 2); d = 1 and 2
    labels = np.array([[0.0, 0.0], [2.0, 4.0]])
    d = np.array([1.0, 2.0])
    # squared offsets 1 + 4 = 5 for both faces; / (2 d^2): 2.5 and 0.625; mean 1.5625
    assert shape_init.mean_shape_loss(labels, d) == pytest.approx(1.5625)
    np.testing.assert_allclose(shape_init.mean_shape(labels), [1.0, 2.0])


def test_mean_shape_loss_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="normalisers"):
        shape_init.mean_shape_loss(np.zeros((3, 10)), np.ones(2))
    with pytest.raises(ValueError, match="non-empty"):
        shape_init.mean_shape(np.zeros((0, 10)))


def test_set_mean_shape_bias_on_a_caffe_net(tmp_path):
    caffe = load_caffe()
    x = np.random.default_rng(0).normal(size=(4, 1, 50, 50)).astype(np.float32)
    proto, model = make_synthetic_model(tmp_path, 5, 0, x)
    net = caffe.Net(str(proto), str(model), caffe.TEST)
    weights = net.params["fc"][0].data.copy()
    mean = np.arange(10, dtype=np.float64) + 0.5
    shape_init.set_mean_shape_bias(net, mean)
    np.testing.assert_allclose(net.params["fc"][1].data, mean)
    np.testing.assert_array_equal(net.params["fc"][0].data, weights)
    with pytest.raises(ValueError, match="outputs"):
        shape_init.set_mean_shape_bias(net, np.zeros(136))
