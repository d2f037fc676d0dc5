"""Inference without Caffe (onnxruntime + OpenCV; depends on core): the aligner, the face detectors and
their calibration, the `mcl-align` command line."""
