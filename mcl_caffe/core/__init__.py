"""Pure numpy, no Caffe: landmark schemes and clusters, crop geometry, metrics, landmark weights (Eqs. 5, 9),
splicing (Eq. 2), the run folder layout and the ONNX metadata keys. Everything else builds on this."""
