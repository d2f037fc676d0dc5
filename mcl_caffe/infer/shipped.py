"""The trained models that install with the package, and how `mcl-align --model` names them.

Each shipped model is a folder `mcl_caffe/models/<name>/` (the repository's top-level `models/` links to it)
written by `make ship` (mcl_caffe/deploy/ship.py): `mcl.onnx`, `mcl.int8.onnx` and `MODEL.md` install with the
package; `deploy.prototxt` and `am.caffemodel` (for Caffe users) stay in the repository. `model.json` holds
the figures MODEL.md shows, for the tests that keep a model and its card together.
"""
from __future__ import annotations

import json
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
#: name -> what it marks; the first is mcl-align's default
SHIPPED = {
    "300w68": "68 points (300-W / iBUG scheme), trained on the 300-W training folders",
    "aflw5": "5 points (eye centres, nose tip, mouth corners), trained on MTFL's 10,000 faces",
}
DEFAULT_MODEL = "300w68"
FP32_FILE, INT8_FILE = "mcl.onnx", "mcl.int8.onnx"


class UnknownModel(ValueError):
    pass


def model_dir(name: str) -> Path:
    return MODELS_DIR / name


def shipped_names() -> list[str]:
    """The shipped models whose ONNX files are present in this installation."""
    return [n for n in SHIPPED if (model_dir(n) / FP32_FILE).is_file()]


def _listing() -> str:
    names = shipped_names()
    if not names:
        return "no shipped model is installed (looked in %s)" % MODELS_DIR
    return "shipped models: " + "; ".join("%s = %s" % (n, SHIPPED[n]) for n in names)


def resolve_model(spec: str | None, int8: bool = False) -> Path:
    """--model NAME|PATH (default: the default shipped model) -> the ONNX file to load.

    A shipped name picks its FP32 file, or its INT8 file with int8=True. A path is taken as given; int8 is
    then an error, because the path already names one file."""
    if spec is None:
        spec = DEFAULT_MODEL
    if spec in SHIPPED:
        f = model_dir(spec) / (INT8_FILE if int8 else FP32_FILE)
        if not f.is_file():
            raise UnknownModel("the shipped model %r is not installed (%s is missing); %s"
                               % (spec, f, _listing()))
        return f
    path = Path(spec)
    if int8:
        raise UnknownModel("--int8 picks the INT8 file of a shipped model (%s); with a path, name the INT8 "
                           ".onnx file itself" % ", ".join(SHIPPED))
    if not path.is_file():
        if path.suffix or len(path.parts) > 1:
            raise UnknownModel("model file not found: %s; %s" % (path, _listing()))
        raise UnknownModel("no model %r: it is neither a shipped model name nor a file; %s"
                           % (spec, _listing()))
    return path


def model_card(name: str) -> dict:
    """model.json of a shipped model: the figures its MODEL.md shows."""
    return json.loads((model_dir(name) / "model.json").read_text())
