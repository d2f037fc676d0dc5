#!/usr/bin/env python
"""Quantise an exported MCL ONNX model to INT8 and report the accuracy change (see --help)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


DESCRIPTION = """\
Static INT8 quantisation with onnxruntime.quantization.quantize_static, calibrated on training
patches through a CalibrationDataReader: --train-list (a prepared HDF5 list such as
data/<dataset>/train.txt; --calib random patches of it) or, without one, nominal crops of the
shared data's training faces of --dataset.  Default options: QDQ format, U8 activations x S8
weights on 7 bits (reduce-range), per-channel weight scales, MinMax calibration.  7-bit weights
keep onnxruntime's U8 x S8 kernels exact on CPUs without VNNI, where 8-bit weights overflow their
16-bit pair sums: the file then gives the same points on every x86 CPU, at the same speed
(tools/bench.py --int8-variants compares the other options).

Then both models are run on the test set (--test-list HDF5 with data/label/d, or the shared test
split of --dataset) and the NME change is printed and written next to the INT8 model as
<out>.json.  Exit status 2 on a missing or wrong file.
"""


def main(argv=None) -> int:
    from mcl_caffe.deploy.quantize import QuantOptions

    d = QuantOptions()
    p = argparse.ArgumentParser(
        prog="quantize_onnx.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--onnx", type=Path, required=True, help="FP32 model from tools/export_onnx.py")
    p.add_argument("--out", type=Path, required=True, help="INT8 model to write")
    p.add_argument("--train-list", type=Path, help="HDF5 list of training patches for calibration")
    p.add_argument("--test-list", type=Path, help="HDF5 list (data, label, d) for the NME change")
    p.add_argument(
        "--dataset",
        choices=["aflw", "300w"],
        help="shared-data fallback for calibration/test " "(default: from the model's scheme)",
    )
    p.add_argument("--calib", type=int, default=512, help="number of calibration patches (512)")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test faces only")
    p.add_argument("--format", dest="fmt", choices=["QDQ", "QOperator"], default=d.fmt)
    p.add_argument(
        "--per-tensor", action="store_true", help="one weight scale per tensor instead of per channel"
    )
    p.add_argument("--activation", choices=["QUInt8", "QInt8"], default=d.activation)
    p.add_argument("--weight", choices=["QInt8", "QUInt8"], default=d.weight)
    p.add_argument("--method", choices=["MinMax", "Percentile", "Entropy"], default=d.method)
    p.add_argument("--reduce-range", action=argparse.BooleanOptionalAction, default=d.reduce_range,
                   help="7-bit weights, so that CPUs without VNNI compute the file exactly (default: on; "
                   "--no-reduce-range: 8-bit weights, which saturate onnxruntime's U8S8 kernels there)")
    args = p.parse_args(argv)

    from mcl_caffe.infer.aligner import ModelError, make_session, read_model_info
    from mcl_caffe.deploy.quantize import calibration_patches, compare, quantize_model

    try:
        info = read_model_info(make_session(args.onnx, threads=1), args.onnx)
        for f in (args.train_list, args.test_list):
            if f is not None and not f.is_file():
                raise ModelError("file not found: %s" % f)
    except ModelError as exc:
        print("quantize_onnx: error: %s" % exc, file=sys.stderr)
        return 2
    dataset = args.dataset or {"aflw5": "aflw", "300w68": "300w"}.get(info.scheme)
    if dataset is None and (args.train_list is None or args.test_list is None):
        print(
            "quantize_onnx: error: no shared data for scheme %s; give --train-list and --test-list"
            % info.scheme,
            file=sys.stderr,
        )
        return 2
    opts = QuantOptions(
        fmt=args.fmt,
        per_channel=not args.per_tensor,
        activation=args.activation,
        weight=args.weight,
        method=args.method,
        reduce_range=args.reduce_range,
    )
    x, desc = calibration_patches(args.calib, args.train_list, dataset)
    quantize_model(args.onnx, args.out, x, opts, desc)
    if args.test_list is not None:
        from mcl_caffe.data.eval_faces import crops_from_list

        test, test_desc = crops_from_list(args.test_list, info.scheme), str(args.test_list)
        if args.test_limit:
            test = test.subset(slice(0, args.test_limit))
    else:
        from mcl_caffe.data.eval_faces import real_crops

        test = real_crops(dataset, "test", limit=args.test_limit)
        test_desc = "%s test split of ../shared/data (%d faces)" % (dataset, len(test))
    stats = dict(
        compare(args.onnx, args.out, test), options=opts.label(), calibration=desc, test_set=test_desc
    )
    Path(str(args.out) + ".json").write_text(json.dumps(stats, indent=1) + "\n")
    print("wrote %s (%s)" % (args.out, opts.label()))
    print(
        "NME on %s: FP32 %.4f, INT8 %.4f, change %+.4f; INT8 points move %.4f d on average from FP32"
        % (
            test_desc,
            stats["nme_fp32"],
            stats["nme_int8"],
            stats["nme_change"],
            stats["int8_vs_fp32_mean_shift"],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
