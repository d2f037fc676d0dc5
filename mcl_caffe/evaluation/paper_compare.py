"""A 68-point model against the paper's own model, face by face, on IBUG's 135 faces.

The paper's model is represented by its released output (``../shared/data/authors/ibug_mcl_am.txt``, read by
mcl_caffe.data.datasets.authors_points), which scores the paper's IBUG figures (8.51 %, 25.93 % failures)
with this project's metric. Our model is an exported ONNX file run through onnxruntime
(mcl_caffe.infer.aligner.Aligner) on exactly the test protocol's crops: each face cropped from the tight box
of its ground-truth points (300-W's ``bb_ground_truth``) by mcl_caffe.data.eval_faces.nominal_crops, the data
pipeline's nominal test sample. The predicted patch points are mapped back into the image, where both
models' points and the ground truth are compared (the NME is the same in patch and image pixels: the crop
only scales and shifts).

Computed here (pure numpy; the figures are in mcl_caffe.evaluation.paper_compare_plots):

* each face's NME under both models, the mean error and the failure rate of each;
* the error per face region (jaw 1-17, brows 18-27, nose 28-36, eyes 37-48, mouth 49-68, 1-based);
* how many faces each model wins (lower NME);
* the error by roll: the absolute angle of the line from the ground-truth left eye centre to the right
  one (each the mean of its six points), in bins of 0-10, 10-20, 20-30 and over 30 degrees;
* the faces with the largest gap, our NME minus the paper's.

No Caffe: numpy, OpenCV and onnxruntime only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcl_caffe.core import crop as C
from mcl_caffe.core import metrics as M
from mcl_caffe.core.landmarks import get_scheme

#: the face regions of the 68-point scheme, 0-based index ranges (1-based: 1-17, 18-27, 28-36, 37-48, 49-68)
REGIONS = (
    ("jaw", tuple(range(0, 17))),
    ("brows", tuple(range(17, 27))),
    ("nose", tuple(range(27, 36))),
    ("eyes", tuple(range(36, 48))),
    ("mouth", tuple(range(48, 68))),
)
#: roll bins in degrees, [low, high); None = no upper bound
ROLL_BINS = ((0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, None))
SCHEME = "300w68"
IBUG_SUBSET = "ibug"


class CompareError(ValueError):
    """The comparison cannot run: a missing file or a model that is not a 68-point model."""


@dataclass
class Comparison:
    """Both models' points on the same faces, in image pixels (0-based, the 300-W loader's frame)."""

    names: list  # (N,) face file stems, e.g. image_003_1
    image_paths: list  # (N,)
    gt: np.ndarray  # (N, 68, 2)
    ours: np.ndarray  # (N, 68, 2)
    paper: np.ndarray  # (N, 68, 2)
    crops: np.ndarray  # (N, 3) the test crop (x0, y0, side) of each face
    model_path: str = ""
    authors_path: str = ""
    d: np.ndarray = field(init=False)  # (N,) ground-truth eye-centre distance

    def __post_init__(self):
        self.d = np.asarray(get_scheme(SCHEME).interocular(np.asarray(self.gt, np.float64)), np.float64)

    def __len__(self):
        return len(self.names)

    def point_errors(self, which: str) -> np.ndarray:
        """(N, 68) ||p_j - g_j|| / d of 'ours' or 'paper'."""
        return M.point_errors(getattr(self, which), self.gt, self.d)

    def face_nme(self, which: str) -> np.ndarray:
        return self.point_errors(which).mean(axis=1)


# ----------------------------------------------------------------------------- statistics (fractions)
def region_errors(point_errs) -> dict[str, float]:
    """{region: mean error of its points over all faces} from an (N, 68) array of point errors."""
    return M.cluster_errors(point_errs, REGIONS)


def wins(ours_nme, paper_nme) -> dict[str, int]:
    """Faces on which each model has the lower NME ('ours', 'paper'), and exact ties ('ties')."""
    a, b = np.asarray(ours_nme, np.float64), np.asarray(paper_nme, np.float64)
    if a.shape != b.shape:
        raise ValueError("per-face errors of different lengths: %s and %s" % (a.shape, b.shape))
    return {"ours": int(np.sum(a < b)), "paper": int(np.sum(b < a)), "ties": int(np.sum(a == b))}


def roll_degrees(gt) -> np.ndarray:
    """(N,) absolute roll in degrees: the angle of the line from the left eye centre (points 37-42, the
    image's left) to the right one (43-48) against the image's x axis, in [0, 180]."""
    left, right = get_scheme(SCHEME).eye_centres(np.asarray(gt, np.float64).reshape(-1, 68, 2))
    v = np.asarray(right) - np.asarray(left)
    return np.abs(np.degrees(np.arctan2(v[:, 1], v[:, 0])))


def roll_bin_label(low: float, high: float | None) -> str:
    return "%g-%g°" % (low, high) if high is not None else "> %g°" % low


def roll_bins(roll_deg, ours_nme, paper_nme, bins=ROLL_BINS) -> list[dict]:
    """One dict per bin: label, faces, and each model's mean NME over the bin's faces (None if empty)."""
    r = np.asarray(roll_deg, np.float64)
    a, b = np.asarray(ours_nme, np.float64), np.asarray(paper_nme, np.float64)
    out = []
    for low, high in bins:
        m = (r >= low) & (r < high) if high is not None else (r >= low)
        n = int(m.sum())
        out.append({"label": roll_bin_label(low, high), "low": low, "high": high, "faces": n,
                    "ours": float(a[m].mean()) if n else None, "paper": float(b[m].mean()) if n else None})
    return out


def largest_gaps(ours_nme, paper_nme, k: int = 8) -> np.ndarray:
    """Indices of the k faces with the largest gap ours - paper, largest first (ties: lower index first)."""
    gap = np.asarray(ours_nme, np.float64) - np.asarray(paper_nme, np.float64)
    return np.argsort(-gap, kind="stable")[:k]


def summarize(cmp: Comparison, k_gaps: int = 8) -> dict:
    """Every figure of the comparison, as fractions of d (the section prints percent)."""
    pe = {w: cmp.point_errors(w) for w in ("ours", "paper")}
    nme = {w: pe[w].mean(axis=1) for w in pe}
    roll = roll_degrees(cmp.gt)
    gaps = largest_gaps(nme["ours"], nme["paper"], k_gaps)
    return {
        "faces": len(cmp),
        "model": cmp.model_path,
        "authors": cmp.authors_path,
        "mean_error": {w: M.mean_error(nme[w]) for w in nme},
        "failure_rate": {w: M.failure_rate(nme[w]) for w in nme},
        "failures": {w: int(np.sum(nme[w] > M.FAILURE_THRESHOLD)) for w in nme},
        "regions": {name: {w: region_errors(pe[w])[name] for w in pe} for name, _ in REGIONS},
        "wins": wins(nme["ours"], nme["paper"]),
        "roll_bins": roll_bins(roll, nme["ours"], nme["paper"]),
        "largest_gaps": [{"index": int(i), "name": cmp.names[i], "roll": float(roll[i]),
                          "ours": float(nme["ours"][i]), "paper": float(nme["paper"][i])} for i in gaps],
        "names": list(cmp.names),
        "nme": {w: nme[w].tolist() for w in nme},
        "roll": roll.tolist(),
    }


# ----------------------------------------------------------------------------- predicting IBUG
def load_ibug(w300_root):
    """The 135 IBUG faces of a 300-W folder, through the project's 300-W loader. Raises CompareError when
    the folder has no ibug/ or a face is unusable (the comparison needs all of them)."""
    from mcl_caffe.data.datasets import load_300w

    root = Path(w300_root)
    if not (root / IBUG_SUBSET).is_dir():
        raise CompareError("no IBUG folder %s (the comparison runs on IBUG's 135 faces)"
                           % (root / IBUG_SUBSET))
    res = load_300w(root, [IBUG_SUBSET])
    if res.problems:
        raise CompareError("%d IBUG faces in %s cannot be read, e.g. %s" % (len(res.problems), root,
                                                                           res.problems[0].message))
    return res.faces


def open_model(onnx_path):
    """An Aligner for a 68-point exported model; CompareError for a missing file or another scheme."""
    from mcl_caffe.infer.aligner import Aligner, ModelError

    path = Path(onnx_path)
    if not path.is_file():
        raise CompareError("model file not found: %s" % path)
    try:
        al = Aligner(path, threads=1)
    except ModelError as exc:
        raise CompareError(str(exc)) from None
    if al.n_points != 68 or al.info.scheme != SCHEME:
        raise CompareError("%s is a %d-point model (scheme %s); the comparison with the paper's IBUG output "
                           "needs a 68-point model (scheme %s)" % (path, al.n_points, al.info.scheme, SCHEME))
    return al


def predict_faces(aligner, faces) -> tuple[np.ndarray, np.ndarray]:
    """-> (points (N, 68, 2) in image pixels, crops (N, 3)): each face's nominal test crop (the tight box of
    its ground-truth points, as the data pipeline makes the test sample) through the model."""
    from mcl_caffe.data.eval_faces import nominal_crops

    cs = nominal_crops(faces, get_scheme(SCHEME))
    pts = aligner.predict_patches(cs.patches)
    img = np.stack([C.patch_to_image(p, c, aligner.info.crop_size) for p, c in zip(pts, cs.crops)])
    return img, cs.crops


def compare(onnx_path, w300_root, authors_path) -> Comparison:
    """Run the model on IBUG and pair it with the authors' output and the ground truth, face by face."""
    from mcl_caffe.data.datasets.authors_points import match_faces, read_authors_points

    al = open_model(onnx_path)
    authors_path = Path(authors_path)
    if not authors_path.is_file():
        raise CompareError("the authors' IBUG predictions not found: %s" % authors_path)
    faces = load_ibug(w300_root)
    paper = match_faces(faces, read_authors_points(authors_path), authors_path)
    ours, crops = predict_faces(al, faces)
    return Comparison(
        names=[Path(f.image_path).stem for f in faces],
        image_paths=[f.image_path for f in faces],
        gt=np.stack([f.points for f in faces]),
        ours=ours,
        paper=paper,
        crops=crops,
        model_path=str(onnx_path),
        authors_path=str(authors_path),
    )
