"""Import pycaffe once, quietly, with a clear error when the environment is not set up; set its BLAS threads.

Caffe logs every layer set-up through glog at INFO level; GLOG_minloglevel must be set
before the shared library loads, so every module imports caffe through `load_caffe()`.

Threads: OPENBLAS_NUM_THREADS only counts before OpenBLAS loads, and any module may have imported caffe
first, so `load_caffe(threads)` and `blas_threads(n)` set the count at run time through OpenBLAS's own
`openblas_set_num_threads`, in the library this process's Caffe is linked against. This matters for
results, not only speed: on a Haswell-kernel OpenBLAS (0.3.21, AMD EPYC) one and two threads round float32
forward passes differently (measured: 166 of 500 outputs of a 5-point net, by up to 3.8e-6 px), so two
computations meant to agree bit for bit must use the same thread count. Caffe is built with OpenMP and
linked to OpenBLAS's OpenMP build (tools/caffe_patches/0004), so the same count is the number of threads of
Caffe's own parallel loops (OpenBLAS's `openblas_set_num_threads` calls `omp_set_num_threads`).

Kernels: OpenBLAS picks its kernels when it loads, from OPENBLAS_CORETYPE or the CPU. `load_caffe` sets
OPENBLAS_CORETYPE first, from MCL_BLAS_CORETYPE (see `choose_blas_coretype`): by default the AVX-512
(SkylakeX) kernels on a CPU that has AVX-512, whatever OPENBLAS_CORETYPE said; they make stage-1 training
steps 1.35x (5 points) and 1.44x (68 points) faster than the Haswell kernels on the AMD EPYC machines here
(reports/bench-train/ROUNDS.md).
"""
from __future__ import annotations

import ctypes
import importlib
import os
import sys
from contextlib import contextmanager


class CaffeUnavailable(ImportError):
    pass


# AVX-512 subsets that OpenBLAS's SkylakeX kernels use (its own test for them, cpuid_x86.c, asks for these)
AVX512_FLAGS = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")


def _cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_blas_coretype(environ=os.environ, cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """Set OPENBLAS_CORETYPE in `environ` from MCL_BLAS_CORETYPE; return the value set, or None if untouched.

    MCL_BLAS_CORETYPE unset or "auto": "SkylakeX" where the CPU has AVX-512 (AVX512_FLAGS), else untouched.
    "keep": OPENBLAS_CORETYPE as the environment has it. Anything else: that kernel name (OpenBLAS's names,
    e.g. Haswell, SkylakeX, Zen). OpenBLAS reads the variable once, when it loads, so this only counts before
    Caffe is imported; the training stages' child processes inherit it.
    """
    want = environ.get("MCL_BLAS_CORETYPE", "auto").strip() or "auto"
    if want.lower() == "keep":
        return None
    if want.lower() == "auto":
        if not set(AVX512_FLAGS) <= _cpu_flags(cpuinfo):
            return None
        want = "SkylakeX"
    environ["OPENBLAS_CORETYPE"] = want
    return want


#: OMP_WAIT_POLICY the stage runner sets for its processes unless told otherwise ("keep": the environment's,
#: libgomp's default when unset). Passive: an idle OpenMP thread sleeps at once instead of spinning first.
#: Measured on a 2-core machine (reports/bench-train/contention.md, `make bench-train
#: BENCH_TRAIN_ARGS=--contention`): with 2 threads, passive cost 4 % alone and saved 36 % beside one busy
#: process; with 1 thread the two are the same. Passive wins once other work shares the cores about a
#: seventh of the time, which on a shared machine it does.
DEFAULT_OMP_WAIT_POLICY = "passive"
OMP_WAIT_POLICIES = ("passive", "active", "keep")


def choose_omp_wait_policy(environ=os.environ, policy: str | None = None) -> str | None:
    """Set OMP_WAIT_POLICY in `environ` from `policy`, else MCL_OMP_WAIT_POLICY, else DEFAULT_OMP_WAIT_POLICY;
    return the value set, or None when the environment's is kept.

    libgomp reads the variable once, when it loads with Caffe, so this counts only before Caffe is imported
    (and for the child processes, which inherit it)."""
    want = (policy or environ.get("MCL_OMP_WAIT_POLICY") or DEFAULT_OMP_WAIT_POLICY).strip().lower()
    if want not in OMP_WAIT_POLICIES:
        raise ValueError("OMP wait policy %r: choose one of %s" % (want, ", ".join(OMP_WAIT_POLICIES)))
    if want == "keep":
        return None
    environ["OMP_WAIT_POLICY"] = want.upper()
    return environ["OMP_WAIT_POLICY"]


def load_caffe(threads: int | None = None):
    """Return the `caffe` module in CPU mode. `threads` sets OpenBLAS's thread count for this process."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    if "caffe" not in sys.modules:
        choose_blas_coretype()
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


def get_blas_core() -> str:
    """The kernel set of Caffe's OpenBLAS in this process (e.g. "SkylakeX", "Haswell")."""
    load_caffe()
    lib = _caffe_openblas()
    lib.openblas_get_corename.restype = ctypes.c_char_p
    return lib.openblas_get_corename().decode()


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
