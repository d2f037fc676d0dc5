#!/bin/bash
# The before/after rounds of reports/bench-train/ROUNDS.md, as run on 2026-12-04. OLD is the Caffe build of
# commit 15aafea (patches 0001-0003, pthread OpenBLAS) left in the build cache; /work/bt-data holds the
# benchmark patches (make data ... OUT=/work/bt-data ARGS="--limit 600 --rotations 2 --jitters 2").
cd /work/main
OLD=/root/.cache/mcl-caffe/caffe-9.0.2-7b943cad0487/src/python
mkdir -p /tmp/btr
for r in 1 2 3; do
  PYTHONPATH=$OLD CAFFE_CPU_PATH=stock MCL_BLAS_CORETYPE=keep .venv/bin/python tools/bench_train.py --data-root /work/bt-data --out-dir /tmp/btr/a-old-stock-r$r --iters 20 >/dev/null 2>&1
  PYTHONPATH=$OLD MCL_BLAS_CORETYPE=keep .venv/bin/python tools/bench_train.py --data-root /work/bt-data --out-dir /tmp/btr/b-old-fast-r$r --iters 20 >/dev/null 2>&1
  CAFFE_CPU_PATH=stock MCL_BLAS_CORETYPE=keep .venv/bin/python tools/bench_train.py --data-root /work/bt-data --out-dir /tmp/btr/c-new-stock-r$r --iters 20 >/dev/null 2>&1
  MCL_BLAS_CORETYPE=keep .venv/bin/python tools/bench_train.py --data-root /work/bt-data --out-dir /tmp/btr/d-new-fast-haswell-r$r --iters 20 >/dev/null 2>&1
  .venv/bin/python tools/bench_train.py --data-root /work/bt-data --out-dir /tmp/btr/e-new-fast-auto-r$r --iters 20 >/dev/null 2>&1
done
echo finished
