"""The metadata an exported MCL model carries in its ONNX ``metadata_props``: every key starts with this
prefix (``mcl.scheme``, ``mcl.crop_scale``, ...). Written by mcl_caffe.deploy.onnx_export, read by
mcl_caffe.infer.aligner, so that inference needs neither the exporter nor the onnx package."""

META_PREFIX = "mcl."
