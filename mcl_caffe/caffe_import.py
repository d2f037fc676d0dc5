"""Import pycaffe once, quietly, with a clear error when the environment is not set up.

Caffe logs every layer set-up through glog at INFO level; GLOG_minloglevel must be set
before the shared library loads, so every module imports caffe through `load_caffe()`.
"""
import os


class CaffeUnavailable(ImportError):
    pass


def load_caffe(threads: int | None = None):
    """Return the `caffe` module in CPU mode. `threads` caps OpenBLAS threads (set before first import)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    if threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    try:
        import caffe  # noqa: WPS433 (deliberately late import)
    except ImportError as exc:  # pragma: no cover - exercised only on a broken machine
        raise CaffeUnavailable(
            "pycaffe cannot be imported (%s). Run `make setup` and use the project's .venv/bin/python." % exc
        ) from exc
    caffe.set_mode_cpu()
    return caffe
