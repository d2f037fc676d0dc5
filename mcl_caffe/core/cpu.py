"""What CPU this is, as /proc/cpuinfo names it: for benchmark reports and the shipped INT8 files' cards."""
from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni")


def _first(field: str) -> str:
    try:
        for line in CPUINFO.read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_model() -> str:
    """The first processor's model name ('' where /proc/cpuinfo is unreadable)."""
    return _first("model name")


def cpu_int8_features() -> str:
    """The instruction sets onnxruntime's INT8 kernels choose between, e.g. 'avx2, no VNNI'."""
    flags = set(_first("flags").split())
    if not flags:
        return "unknown"
    simd = "avx512" if "avx512bw" in flags else "avx2" if "avx2" in flags else "no avx2"
    vnni = [f for f in VNNI_FLAGS if f in flags]
    return "%s, %s" % (simd, "+".join(vnni) if vnni else "no VNNI")
