"""MCL face alignment (Shao et al., Neurocomputing 2018) reproduced in Caffe, exported to ONNX."""

__version__ = "0.1.0"
