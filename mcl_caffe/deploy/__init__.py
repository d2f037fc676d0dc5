"""Deployment: the Caffe -> ONNX exporter (reader, graph builder, export and parity check) and INT8
quantisation."""
