"""Benchmarks: inference speed (Caffe vs onnxruntime FP32/INT8), training speed, face detectors."""
