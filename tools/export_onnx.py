#!/usr/bin/env python
"""Export a Caffe MCL deploy net (prototxt + caffemodel) to one ONNX file (see --help)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


DESCRIPTION = """\
Export a Caffe MCL deploy net to ONNX for onnxruntime on a CPU.

BatchNorm (with its stored scale factor and eps) and Scale are folded into the convolutions,
max pooling keeps Caffe's round-up output size (50 -> 25 -> 13 -> 7, ONNX ceil_mode=1),
global average pooling and the shape layer become GlobalAveragePool + Flatten + Gemm.
Opset %(opset)d, dynamic batch dimension, checked with onnx.checker and ONNX shape inference
against Caffe's blob shapes.  The landmark scheme, point count, crop size and crop rule,
the box calibration and the input normalisation are stored in the model's metadata_props
(keys mcl.*), so the ONNX file alone is enough for `mcl-align`.

Two ways to call it:
  export_onnx.py --prototxt deploy.prototxt --caffemodel am.caffemodel --scheme 300w68 --out mcl.onnx
  export_onnx.py --run-dir runs/300w-full/assemble --out runs/300w-full/onnx/mcl.onnx
The second reads deploy.prototxt, am.caffemodel and model.json ({"scheme": ..., "n_points": ...})
from the folder (this is what `make onnx DATASET=... PROFILE=...` runs).

Schemes: aflw5 (5 points), cofw29 (29), 300w68 (68); dataset names aflw, cofw, 300w and point
counts 5, 29, 68 are accepted too.  Exit status: 0 exported, 2 bad arguments or files.
"""


def build_parser() -> argparse.ArgumentParser:
    from mcl_caffe.deploy.onnx_export import OPSET

    p = argparse.ArgumentParser(
        prog="export_onnx.py",
        description=DESCRIPTION % {"opset": OPSET},
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--prototxt", type=Path, help="Caffe deploy net (Input layer 'data', N x 1 x 50 x 50)")
    p.add_argument("--caffemodel", type=Path, help="trained weights for that net")
    p.add_argument(
        "--scheme",
        help="landmark scheme of the model: aflw5, cofw29, 300w68 (or aflw, cofw, 300w, 5, 29, 68)",
    )
    p.add_argument(
        "--crop-scale",
        type=float,
        default=None,
        help="crop side / max(face box w, h) used in training (default: "
             "mcl_caffe.core.crop.CROP_SCALE[scheme])",
    )
    p.add_argument(
        "--run-dir", type=Path, help="an assemble/ folder holding deploy.prototxt, am.caffemodel, model.json"
    )
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write (folders are created)")
    p.add_argument(
        "--check",
        choices=["aflw", "300w"],
        help="after exporting, compare onnxruntime with Caffe's forward "
        "pass on the test faces of ../shared/data (crops made with mcl_caffe/core/crop.py); exit 1 if any "
        "output differs by 1e-3 px or more",
    )
    p.add_argument("--check-limit", type=int, default=None, help="compare on the first N test faces only")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from mcl_caffe.deploy.onnx_export import ExportError, export, export_run

    try:
        if args.run_dir is not None:
            if args.prototxt or args.caffemodel or args.scheme:
                raise ExportError("give either --run-dir or --prototxt/--caffemodel/--scheme, not both")
            model, info = export_run(args.run_dir, args.out)
        else:
            missing = [
                f
                for f, v in (
                    ("--prototxt", args.prototxt),
                    ("--caffemodel", args.caffemodel),
                    ("--scheme", args.scheme),
                )
                if v is None
            ]
            if missing:
                raise ExportError("missing %s (or use --run-dir)" % ", ".join(missing))
            model, info = export(
                args.prototxt, args.caffemodel, args.scheme, args.out, crop_scale=args.crop_scale
            )
    except ExportError as exc:
        print("export_onnx: error: %s" % exc, file=sys.stderr)
        return 2
    if args.check:
        from mcl_caffe.data.eval_faces import real_crops
        from mcl_caffe.deploy.onnx_export import parity

        proto = args.run_dir / "deploy.prototxt" if args.run_dir else args.prototxt
        weights = args.run_dir / "am.caffemodel" if args.run_dir else args.caffemodel
        crops = real_crops(args.check, "test", limit=args.check_limit)
        res = parity(proto, weights, args.out, crops.inputs())
        ok = res["max_abs_diff"] < 1e-3
        print(
            "parity on %d %s test faces: max |onnxruntime - caffe| = %.3g px, mean %.3g px -> %s"
            % (res["faces"], args.check, res["max_abs_diff"], res["mean_abs_diff"], "OK" if ok else "FAILED")
        )
        if not ok:
            return 1
    if not args.quiet:
        meta = {p.key: p.value for p in model.metadata_props}
        print(
            "wrote %s (%d nodes, opset %d, %s, %s points, output %s)"
            % (
                args.out,
                len(model.graph.node),
                model.opset_import[0].version,
                meta["mcl.scheme"],
                meta["mcl.n_points"],
                ", ".join(info["outputs"]),
            )
        )
        print("folded: %s" % "; ".join(info["folds"]))
        if info["unused_caffemodel_layers"]:
            print(
                "note: caffemodel layers not in the prototxt: %s"
                % json.dumps(info["unused_caffemodel_layers"])
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
