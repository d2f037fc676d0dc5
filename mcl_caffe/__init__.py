"""MCL face alignment (Shao et al., Neurocomputing 2018) reproduced in Caffe, exported to ONNX.

``from mcl_caffe import FaceAligner`` is the Python API of the inference install (mcl_caffe.infer.api); it
is imported on first use, so ``import mcl_caffe`` itself loads neither OpenCV nor onnxruntime."""

__version__ = "0.1.0"
__all__ = ["FaceAligner", "Face", "__version__"]


def __getattr__(name):
    if name in ("FaceAligner", "Face"):
        from mcl_caffe.infer import api

        return getattr(api, name)
    raise AttributeError("module 'mcl_caffe' has no attribute %r" % name)


def __dir__():
    return sorted(list(globals()) + ["FaceAligner", "Face"])
