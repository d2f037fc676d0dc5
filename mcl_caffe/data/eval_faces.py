"""Real faces from the shared data as network inputs: nominal 50x50 crops made exactly as the data
pipeline makes its validation/test samples (mcl_caffe.data.augment.nominal_sample, i.e. mcl_caffe.core.crop).

Used by the parity tests, the INT8 calibration/evaluation and the benchmark when no prepared HDF5 list
is given.  Splits:
* aflw: train = mtfl-full/training.txt (MTFL training faces), test = mtfl-full/testing.txt (the AFLW test
set).
* 300w: as the data pipeline's defaults (the paper's protocol): 'test' is IBUG (ibug/), 'train' and 'val'
  split the official training folders (AFW, HELEN train, LFPW train) with mcl_caffe.data.splits.split_faces
  (val 0.1, seed 0). Without ibug/ the pipeline holds out a test share (0.15) of the training faces, and so
  does this.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcl_caffe.core import crop as C
from mcl_caffe.data.augment import nominal_sample
from mcl_caffe.core.landmarks import get_scheme


#: the checkout's ../shared/data (the repository sits next to shared/), or $MCL_SHARED_DATA when set (make
#: mutation runs the tests on a copy of the package in mutants/, which does not sit next to shared/)
SHARED_DATA = Path(os.environ.get("MCL_SHARED_DATA")
                   or Path(__file__).resolve().parents[3] / "shared" / "data")
SPLIT_DEFAULTS = dict(val_fraction=0.1, test_fraction=0.15, seed=0)  # mcl_caffe.data.prepare's defaults


@dataclass
class CropSet:
    patches: np.ndarray  # (N, 50, 50) uint8
    points: np.ndarray  # (N, n, 2) ground truth in patch pixels
    crops: np.ndarray  # (N, 3) crop (x0, y0, side) in the original image
    d: np.ndarray  # (N,) eye-centre distance in patch pixels
    sources: list  # (N,) where each face came from
    scheme: object

    def inputs(self) -> np.ndarray:
        """(N, 1, 50, 50) float32 normalised network input."""
        return C.normalize_patch(self.patches)[:, None]

    def __len__(self):
        return len(self.patches)

    def subset(self, index) -> "CropSet":
        idx = np.arange(len(self))[index]
        return CropSet(
            self.patches[idx],
            self.points[idx],
            self.crops[idx],
            self.d[idx],
            [self.sources[i] for i in idx],
            self.scheme,
        )


def load_faces(dataset: str, split: str, data_root=None, limit: int | None = None):
    """-> (list of Face, Scheme). dataset 'aflw' (alias 'mtfl', 5 points) or '300w' (68 points)."""
    from mcl_caffe.data.datasets import load_300w, load_mtfl_list
    from mcl_caffe.data.splits import split_faces

    root = Path(data_root) if data_root else SHARED_DATA
    ds = dataset.lower()
    if ds in ("aflw", "mtfl"):
        name = {"train": "training.txt", "test": "testing.txt"}.get(split)
        if name is None:
            raise ValueError("aflw split must be 'train' or 'test', not %r" % split)
        result = load_mtfl_list(root / "mtfl-full" / name, limit)
        return result.faces, get_scheme("aflw5")
    if ds == "300w":
        from mcl_caffe.data.datasets import W300_TEST_SUBSETS

        if split not in ("train", "val", "test"):
            raise ValueError("300w split must be 'train', 'val' or 'test', not %r" % split)
        w300 = root / "300w"
        test_sub = [s for s in W300_TEST_SUBSETS if (w300 / s).is_dir()]
        if test_sub and split == "test":
            faces = load_300w(w300, test_sub).faces
        else:
            held_out = 0.0 if test_sub else SPLIT_DEFAULTS["test_fraction"]
            faces = split_faces(
                load_300w(w300).faces, SPLIT_DEFAULTS["val_fraction"], held_out, SPLIT_DEFAULTS["seed"]
            )[split]
        return faces[:limit] if limit else faces, get_scheme("300w68")
    raise ValueError("unknown dataset %r (aflw or 300w)" % dataset)


def nominal_crops(faces, scheme, calibration: C.BoxCalibration | None = None) -> CropSet:
    """The un-augmented test-time crop of every face (its landmark box, or its dataset box through
    `calibration`, as mcl_caffe.data.prepare crops a split with given boxes)."""
    patches, points, crops, ds, sources = [], [], [], [], []
    for face in faces:
        gray = C.face_gray(face)
        s, crop = nominal_sample(gray, face.points, scheme, face.box, calibration)
        patches.append(s.patches[0])
        points.append(s.points[0])
        crops.append(crop)
        ds.append(scheme.interocular(s.points[0]))
        sources.append(face.source)
    n = scheme.n_points
    return CropSet(
        np.asarray(patches, np.uint8).reshape(-1, C.PATCH_SIZE, C.PATCH_SIZE),
        np.asarray(points, np.float64).reshape(-1, n, 2),
        np.asarray(crops, np.float64).reshape(-1, 3),
        np.asarray(ds, np.float64),
        sources,
        scheme,
    )


def real_crops(
    dataset: str, split: str, limit: int | None = None, data_root=None, stride: int = 1
) -> CropSet:
    """Nominal crops of (every `stride`-th, then the first `limit`) faces of a shared-data split."""
    faces, scheme = load_faces(dataset, split, data_root)
    faces = faces[::stride]
    if limit:
        faces = faces[:limit]
    return nominal_crops(faces, scheme)


def crops_from_list(list_file, scheme) -> CropSet:
    """A prepared Caffe HDF5 list (data, label, d; e.g. data/<dataset>/test.txt) as a CropSet."""
    from mcl_caffe.data.h5_writer import read_arrays

    s = get_scheme(scheme) if isinstance(scheme, (str, int)) else scheme
    a = read_arrays(list_file, keys=("data", "label", "d"))
    pts = a["label"].reshape(len(a["label"]), -1, 2).astype(np.float64)
    if pts.shape[1] != s.n_points:
        raise ValueError("%s holds %d points per face, the model %d" % (list_file, pts.shape[1], s.n_points))
    return CropSet(
        C.denormalize_patch(a["data"][:, 0]),
        pts,
        np.full((len(pts), 3), np.nan),
        a["d"].astype(np.float64),
        ["%s[%d]" % (list_file, i) for i in range(len(pts))],
        s,
    )

