"""The shipped models (models/<name>/, installed with the package): they load, name their scheme, measure what
their MODEL.md says on the shared data, install as package data, and mcl-align uses one without -m."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mcl_caffe.deploy import ship as S
from mcl_caffe.infer import shipped
from mcl_caffe.infer.aligner import Aligner
from conftest import ROOT

REPO = ROOT
NAMES = list(shipped.SHIPPED)
# the card's figures are the same computation on the same files (onnxruntime, one thread); 0.05 points is the
# issue's bound, far above float noise (the figures print with 3 decimals) and far below any change of model
NME_TOLERANCE = 0.05


def test_every_shipped_model_is_in_the_repository():
    for name in NAMES:
        d = REPO / "models" / name
        for f in ("mcl.onnx", "mcl.int8.onnx", "MODEL.md", "model.json", "deploy.prototxt", "am.caffemodel"):
            assert (d / f).is_file(), "%s is missing" % (d / f)
    assert shipped.shipped_names() == NAMES


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("int8", [False, True])
def test_shipped_onnx_loads_and_names_its_scheme(name, int8):
    path = shipped.resolve_model(name, int8)
    al = Aligner(path, threads=1)
    card = shipped.model_card(name)
    assert al.info.scheme == name == card["scheme"]
    assert al.n_points == card["n_points"] == {"300w68": 68, "aflw5": 5}[name]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_measures_what_its_card_says(name):
    card = shipped.model_card(name)
    chk = card["check_sample"]
    crops = S.check_crops(name, chk["calibration"])
    assert len(crops) == chk["faces"]
    md = (shipped.model_dir(name) / "MODEL.md").read_text()
    for key, file in (("nme_fp32", shipped.FP32_FILE), ("nme_int8", shipped.INT8_FILE)):
        measured = S.check_nme(shipped.model_dir(name) / file, crops)
        assert measured == pytest.approx(chk[key], abs=NME_TOLERANCE), (name, file)
        assert "**%.3f %%**" % chk[key] in md
    # the card's test-set table is the one MODEL.md shows
    t = card["test"]
    assert "| ONNX FP32 (`mcl.onnx`) | %.2f | %.2f |" % (t["onnx_fp32"]["nme"],
                                                         t["onnx_fp32"]["failure"]) in md
    assert card["parity"]["max_abs_px"] < 1e-3  # ONNX reproduces Caffe's AM (the export's own check, 1e-3 px)


def test_model_names_and_errors():
    assert shipped.resolve_model(None) == shipped.model_dir("300w68") / "mcl.onnx"
    assert shipped.resolve_model("aflw5", int8=True) == shipped.model_dir("aflw5") / "mcl.int8.onnx"
    with pytest.raises(shipped.UnknownModel, match="300w68 = 68 points.*aflw5 = 5 points"):
        shipped.resolve_model("300w-68")
    with pytest.raises(shipped.UnknownModel, match="--int8 picks the INT8 file of a shipped model"):
        shipped.resolve_model(str(shipped.model_dir("aflw5") / "mcl.onnx"), int8=True)


def test_mcl_align_without_model_uses_the_shipped_68_point_model(tmp_path):
    from mcl_caffe.data.eval_faces import load_faces
    faces, _ = load_faces("300w", "test")
    out = tmp_path / "pts.json"
    res = subprocess.run([sys.executable, "-m", "mcl_caffe.infer.cli", faces[0].image_path, "-o", str(out)],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert Path(doc["model"]).resolve() == (shipped.model_dir("300w68") / "mcl.onnx").resolve()
    pts = np.array(doc["images"][0]["faces"][0]["points"])
    assert pts.shape == (68, 2)
    bad = subprocess.run([sys.executable, "-m", "mcl_caffe.infer.cli", faces[0].image_path, "-m", "nosuch"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "shipped models: 300w68" in bad.stderr


def test_the_wheel_carries_the_onnx_models_and_mcl_align_runs_from_it(tmp_path):
    """Build the package (no build isolation: the venv's pinned setuptools), unpack the wheel outside the
    repository and run mcl-align from it: the default model must come from the installed files."""
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path / "dist"), str(REPO)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("mcl_caffe-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "site")
    for name in NAMES:
        for f in ("mcl.onnx", "mcl.int8.onnx", "MODEL.md", "model.json"):
            assert "mcl_caffe/models/%s/%s" % (name, f) in names
        assert "mcl_caffe/models/%s/am.caffemodel" % name not in names  # Caffe files stay in the repository
    from mcl_caffe.data.eval_faces import load_faces
    faces, _ = load_faces("300w", "test")
    code = ("import sys; sys.path.insert(0, %r); import mcl_caffe; assert mcl_caffe.__file__.startswith(%r), "
            "mcl_caffe.__file__; from mcl_caffe.infer.cli import main; sys.exit(main(sys.argv[1:]))"
            % (str(tmp_path / "site"), str(tmp_path / "site")))
    out = tmp_path / "pts.json"
    run = subprocess.run([sys.executable, "-c", code, faces[0].image_path, "-o", str(out)],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["model"].startswith(str(tmp_path / "site"))
