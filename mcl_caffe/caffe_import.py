"""Import pycaffe once, quietly, with a clear error when the environment is not set up; set its BLAS threads.

Caffe logs every layer set-up through glog at INFO level; GLOG_minloglevel must be set
before the shared library loads, so every module imports caffe through `load_caffe()`.

Threads: OPENBLAS_NUM_THREADS only counts before OpenBLAS loads, and any module may have imported caffe
first, so `load_caffe(threads)` and `blas_threads(n)` set the count at run time through OpenBLAS's own
`openblas_set_num_threads`, in the library this process's Caffe is linked against. This matters for
results, not only speed: on a Haswell-kernel OpenBLAS (0.3.21, AMD EPYC) one and two threads round float32
forward passes differently (measured: 166 of 500 outputs of a 5-point net, by up to 3.8e-6 px), so two
computations meant to agree bit for bit must use the same thread count.
"""
from __future__ import annotations

import ctypes
import importlib
import os
from contextlib import contextmanager


class CaffeUnavailable(ImportError):
    pass


def load_caffe(threads: int | None = None):
    """Return the `caffe` module in CPU mode. `threads` sets OpenBLAS's thread count for this process."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    if threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(threads)  # for child processes, and if caffe loads now
    try:
        import caffe  # noqa: WPS433 (deliberately late import)
    except ImportError as exc:  # pragma: no cover - exercised only on a broken machine
        raise CaffeUnavailable(
            "pycaffe cannot be imported (%s). Run `make setup` and use the project's .venv/bin/python." % exc
        ) from exc
    caffe.set_mode_cpu()
    if threads is not None:
        set_blas_threads(threads)
    return caffe


class LazyModule:
    """Stands in for a module (`caffe`, `caffe.proto.caffe_pb2`, `google.protobuf.text_format`, or a member
    such as `caffe.layers`) and imports
    it on first attribute access, pycaffe through `load_caffe()`: the modules that generate or run nets name
    Caffe at module level without loading it when they are imported."""

    def __init__(self, name: str, member: str | None = None):
        self._name, self._member = name, member

    def __getattr__(self, attr):
        if self._name == "caffe" or self._name.startswith("caffe."):
            load_caffe()
        obj = importlib.import_module(self._name)
        if self._member is not None:
            obj = getattr(obj, self._member)
        return getattr(obj, attr)


def _caffe_openblas():
    """The OpenBLAS that this process's Caffe uses (Debian's libopenblas, not numpy's prefixed copy)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/libopenblas" in line}
    paths = sorted(p for p in paths if "site-packages" not in p)
    if not paths:
        raise RuntimeError(
            "no OpenBLAS library is loaded by Caffe in this process (/proc/self/maps lists none outside "
            "site-packages); the thread count cannot be set"
        )
    lib = ctypes.CDLL(paths[0])
    lib.openblas_get_num_threads.restype = ctypes.c_int
    return lib


def get_blas_threads() -> int:
    load_caffe()
    return int(_caffe_openblas().openblas_get_num_threads())


def set_blas_threads(n: int) -> int:
    """Set Caffe's OpenBLAS thread count for the whole process; returns the previous count."""
    if int(n) < 1:
        raise ValueError("thread count must be at least 1, got %r" % n)
    lib = _caffe_openblas()
    before = int(lib.openblas_get_num_threads())
    lib.openblas_set_num_threads(ctypes.c_int(int(n)))
    return before


@contextmanager
def blas_threads(n: int):
    """Run a block with Caffe's OpenBLAS at `n` threads, then restore the previous count."""
    load_caffe()
    before = set_blas_threads(n)
    try:
        yield
    finally:
        set_blas_threads(before)
