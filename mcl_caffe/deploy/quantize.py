"""Static INT8 quantisation of an exported MCL model with onnxruntime's tools, and its accuracy cost.

Calibration feeds training patches (the network inputs of the training set: the prepared HDF5 list, or
nominal crops of the shared training faces) through ``onnxruntime.quantization.quantize_static`` with a
``CalibrationDataReader``.  The options that matter for speed and accuracy on a CPU are exposed:
* format: QDQ (QuantizeLinear/DequantizeLinear pairs that onnxruntime fuses into QLinearConv at load) or
  QOperator (QLinearConv etc. written into the file);
* per_channel weight scales (one per output channel) or one per tensor;
* activation / weight types: U8/S8 (onnxruntime's fast path on x86 is U8 activations x S8 weights);
* reduce_range (on by default): weights on 7 bits. onnxruntime's U8 x S8 kernels for CPUs without VNNI
  (AVX2, AVX-512 without VNNI) add pairs of products in 16 bits: 2 x 255 x 127 overflows 32,767 and
  saturates, so the same file gives other points there than on a VNNI CPU. With 7-bit weights a pair is at
  most 2 x 255 x 64 = 32,640: every x86 kernel computes the file's exact integer sums, at the same speed.
  `kernel_agreement` measures how far a CPU's kernels sit from the file (the shipped cards record it);
* calibration method: MinMax, Percentile, Entropy.
The exported model's metadata (scheme, crop rule, normalisation) is carried over, plus the options used.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from mcl_caffe.core.model_metadata import META_PREFIX


@dataclass(frozen=True)
class QuantOptions:
    fmt: str = "QDQ"  # QDQ | QOperator
    per_channel: bool = True
    activation: str = "QUInt8"  # QUInt8 | QInt8
    weight: str = "QInt8"  # QInt8 | QUInt8
    method: str = "MinMax"  # MinMax | Percentile | Entropy
    reduce_range: bool = True  # 7-bit weights: no 16-bit saturation on CPUs without VNNI
    preprocess: bool = True  # onnxruntime's quant_pre_process (shape inference + graph optimisation)

    def label(self) -> str:
        a = {"QUInt8": "U8", "QInt8": "S8"}
        return "%s %s%s %s %s%s" % (
            self.fmt,
            a[self.activation],
            a[self.weight],
            "per-channel" if self.per_channel else "per-tensor",
            self.method,
            " reduce-range" if self.reduce_range else "",
        )


def _reader_class():
    from onnxruntime.quantization import CalibrationDataReader

    class PatchReader(CalibrationDataReader):
        """Feeds (N, 1, 50, 50) float32 training patches in batches of `batch`."""

        def __init__(self, x: np.ndarray, input_name: str = "data", batch: int = 32):
            self.x = np.asarray(x, np.float32)
            self.input_name = input_name
            self.batch = batch
            self.pos = 0

        def get_next(self):
            if self.pos >= len(self.x):
                return None
            chunk = self.x[self.pos : self.pos + self.batch]
            self.pos += self.batch
            return {self.input_name: chunk}

        def rewind(self):
            self.pos = 0

    return PatchReader


def patch_reader(x: np.ndarray, input_name: str = "data", batch: int = 32):
    return _reader_class()(x, input_name, batch)


def calibration_patches(n: int = 512, train_list=None, dataset: str | None = None, seed: int = 0) -> tuple:
    """-> (N, 1, 50, 50) float32 training patches, description. From a prepared HDF5 list (train.txt) when
    given, else nominal crops of the shared data's training faces of `dataset` ('aflw' or '300w')."""
    rng = np.random.default_rng(seed)
    if train_list is not None:
        return _sample_hdf5_list(train_list, n, rng), "%d random patches of %s" % (n, train_list)
    from mcl_caffe.data.eval_faces import load_faces, nominal_crops

    faces, scheme = load_faces(dataset, "train")
    idx = np.sort(rng.choice(len(faces), size=min(n, len(faces)), replace=False))
    crops = nominal_crops([faces[i] for i in idx], scheme)
    return crops.inputs(), "nominal crops of %d %s training faces (shared data)" % (len(idx), dataset)


def _sample_hdf5_list(list_file, n: int, rng) -> np.ndarray:
    """n random `data` rows of the chunk files named in a Caffe HDF5 list, read without loading them all."""
    import h5py

    files = [ln.strip() for ln in Path(list_file).read_text().splitlines() if ln.strip()]
    if not files:
        raise ValueError("HDF5 list %s names no files" % list_file)
    sizes = []
    for f in files:
        with h5py.File(f, "r") as h:
            sizes.append(h["data"].shape[0])
    total = int(sum(sizes))
    pick = np.sort(rng.choice(total, size=min(n, total), replace=False))
    starts = np.cumsum([0] + sizes)
    parts = []
    for k, f in enumerate(files):
        local = pick[(pick >= starts[k]) & (pick < starts[k + 1])] - starts[k]
        if len(local):
            with h5py.File(f, "r") as h:
                parts.append(h["data"][local.tolist()])
    return np.concatenate(parts).astype(np.float32)


def quantize_model(
    fp32_path, int8_path, calib_x: np.ndarray, opts: QuantOptions = QuantOptions(), calib_desc: str = ""
) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    src = onnx.load(str(fp32_path))
    input_name = src.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        model_in = fp32_path
        if opts.preprocess:
            model_in = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32_path), str(model_in), skip_symbolic_shape=True)
        quantize_static(
            str(model_in),
            str(int8_path),
            patch_reader(calib_x, input_name),
            quant_format=QuantFormat[opts.fmt],
            per_channel=opts.per_channel,
            reduce_range=opts.reduce_range,
            activation_type=QuantType[opts.activation],
            weight_type=QuantType[opts.weight],
            calibrate_method=CalibrationMethod[opts.method],
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    q = onnx.load(str(int8_path))
    meta = {p.key: p.value for p in src.metadata_props}
    meta[META_PREFIX + "quantization"] = json.dumps(
        dict(asdict(opts), calibration=calib_desc, tool="onnxruntime.quantization.quantize_static")
    )
    del q.metadata_props[:]
    onnx.helper.set_model_props(q, meta)
    onnx.save(q, str(int8_path))
    return int8_path


def predict(path, x: np.ndarray, threads: int | None = None, batch: int = 256, optimization: str = "all"
            ) -> np.ndarray:
    from mcl_caffe.infer.aligner import make_session

    sess = make_session(path, threads=threads, optimization=optimization)
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: x[s : s + batch]})[0] for s in range(0, len(x), batch)]
    return np.concatenate(outs)


def compare(fp32_path, int8_path, crops) -> dict:
    """NME of both models on a CropSet (eval_faces) and how far INT8 moves the points."""
    from mcl_caffe.core.metrics import failure_rate, nme

    x = crops.inputs()
    n = crops.points.shape[1]
    p32 = predict(fp32_path, x).reshape(-1, n, 2)
    p8 = predict(int8_path, x).reshape(-1, n, 2)
    e32, e8 = nme(p32, crops.points, crops.d), nme(p8, crops.points, crops.d)
    shift = nme(p8, p32, crops.d)  # INT8 vs FP32 points, normalised like the NME
    return {
        "faces": int(len(x)),
        "nme_fp32": float(e32.mean()),
        "nme_int8": float(e8.mean()),
        "nme_change": float(e8.mean() - e32.mean()),
        "failure_rate_fp32": failure_rate(e32),
        "failure_rate_int8": failure_rate(e8),
        "int8_vs_fp32_mean_shift": float(shift.mean()),
        "int8_vs_fp32_max_point_px": float(np.abs(p8 - p32).max()),
    }


# How far onnxruntime's integer kernels may move the points from the INT8 file's own arithmetic, as a fraction
# of how far that arithmetic moves them from FP32. Measured on an AVX2 CPU (all test faces of the shipped
# models, 7-bit or U8 weights): 0.045 to 0.092, from the requantisation rounding of the fused kernels; with
# full-range S8 weights, saturated: 2.1 (300w68) and 7.4 (aflw5). 0.25 is 2.7x the largest clean figure and
# 8x below the smallest saturated one.
KERNEL_MAX_RELATIVE_SHIFT = 0.25


def kernel_agreement(fp32_path, int8_path, crops) -> dict:
    """Whether onnxruntime's integer kernels on this CPU compute what the INT8 file says.

    With graph optimisation (what mcl-align runs) onnxruntime fuses each DequantizeLinear -> Conv ->
    QuantizeLinear into one integer kernel; with none it runs the file as written, in float, rounding to the
    8-bit grid after each layer. The two agree up to that rounding unless a kernel overflows (see
    reduce_range above). -> the mean shift of the points between the two (in d, like the NME), the same
    for the file's arithmetic against FP32, their ratio, and the largest point difference in patch px."""
    from mcl_caffe.core.metrics import nme

    x = crops.inputs()

    def run(path, optimization):
        return predict(path, x, threads=1, optimization=optimization).reshape(crops.points.shape)

    kernels, written, p32 = run(int8_path, "all"), run(int8_path, "none"), run(fp32_path, "all")
    shift = float(nme(kernels, written, crops.d).mean())
    file_shift = float(nme(written, p32, crops.d).mean())
    return {
        "faces": int(len(x)),
        "kernels_vs_file_mean_shift": shift,
        "kernels_vs_file_max_px": float(np.abs(kernels - written).max()),
        "file_vs_fp32_mean_shift": file_shift,
        "relative_shift": shift / file_shift,
    }


def kernels_keep_the_file(agreement: dict) -> bool:
    return agreement["relative_shift"] <= KERNEL_MAX_RELATIVE_SHIFT
