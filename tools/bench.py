#!/usr/bin/env python
"""Speed of the MCL model: Caffe vs onnxruntime FP32 vs onnxruntime INT8 on one CPU thread (see --help)."""
import argparse
import sys
from pathlib import Path

from mcl_caffe.bench import speed

REPO = Path(__file__).resolve().parents[1]
DESCRIPTION = """\
Measure the MCL model's speed the way the paper does (one face at a time, one CPU core) for
  caffe      Caffe's forward pass (pycaffe, OpenBLAS with OPENBLAS_NUM_THREADS=1 set before import)
  ort-fp32   onnxruntime, the exported FP32 model
  ort-int8   onnxruntime, the statically quantised INT8 model
  dlib       dlib's 68-point shape predictor, as a peer (only if dlib and its model are installed)
(onnxruntime: intra_op_num_threads=1, inter_op_num_threads=1, sequential execution), and the batch
throughput of each (batch of --batch faces per call, still one thread).  Every backend runs in its
own process; the processes take turns, round after round, so that a change in machine load hits
all backends alike, and every figure is the median over --rounds rounds.  Network time only: the
inputs are ready 50x50 crops of real faces (../shared/data), as in the paper, where face detection
is excluded.

Models: --model 300w68|aflw5 times a shipped model as committed in models/<name>/ (its Caffe
files, mcl.onnx and mcl.int8.onnx, the files mcl-align runs); --run-dir runs/<dataset>-<profile>
uses its assemble/ model (and its onnx/ export when present); without either, a random-weight
68-point model (BatchNorm statistics calibrated on real crops) is built, which has the paper's
layer sizes and so its speed, but no accuracy.
INT8: a shipped model's own mcl.int8.onnx; otherwise
onnxruntime.quantization.quantize_static calibrated on training patches (the run's
data/<...>/train.txt if given with --train-list, else crops of the shared training faces); the NME
change against FP32 is measured on the real test set (--test-list HDF5 or the shared test split).
--int8-variants also times per-tensor vs per-channel, QOperator vs QDQ, U8U8, reduce-range and the
onnxruntime graph optimisation levels.

Writes <out-dir>/bench.md (the table) and <out-dir>/bench.json (every round's figures, machine,
versions, load average).  The machine's load is printed with the table: timings taken while
other jobs run are noisy, the ratios from interleaved rounds less so.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", help="a shipped model (300w68 or aflw5): its committed files, INT8 included")
    p.add_argument("--run-dir", type=Path, help="runs/<dataset>-<profile> with an assembled model")
    p.add_argument(
        "--prototxt", type=Path, help="any deploy net (with --caffemodel and --scheme) instead of --run-dir"
    )
    p.add_argument("--caffemodel", type=Path)
    p.add_argument("--scheme", help="aflw5 or 300w68 (for --prototxt/--caffemodel)")
    p.add_argument(
        "--n-points", type=int, default=68, choices=[5, 68], help="random model's points (default 68)"
    )
    p.add_argument("--train-list", type=Path, help="HDF5 list of training patches for INT8 calibration")
    p.add_argument(
        "--test-list", type=Path, help="HDF5 list (data, label, d) of the test set for the NME change"
    )
    p.add_argument("--calib", type=int, default=512, help="calibration patches (512)")
    p.add_argument("--out-dir", type=Path, default=REPO / "runs" / "bench", help="where bench.md/json go")
    p.add_argument(
        "--rounds", type=int, default=7, help="interleaved rounds; figures are medians over them (7)"
    )
    p.add_argument("--iters", type=int, default=200, help="single-face calls per round (200)")
    p.add_argument("--batch", type=int, default=64, help="faces per call for the throughput figure (64)")
    p.add_argument("--batch-iters", type=int, default=5, help="batch calls per round (5)")
    p.add_argument("--int8-variants", action="store_true", help="also time other quantisation options")
    p.add_argument("--no-caffe", action="store_true", help="skip the Caffe row")
    p.add_argument("--dlib-model", help="dlib shape_predictor_68_face_landmarks.dat (peer row, optional)")
    return p


if __name__ == "__main__":
    sys.exit(speed.run(build_parser().parse_args()))
