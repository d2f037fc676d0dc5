"""Write samples as HDF5 chunk files for Caffe's HDF5Data layer, plus the list file.

Each chunk file holds (N <= chunk_size samples):
  data   (N, 1, 50, 50) float32   (p - 128) * 0.0078125
  label  (N, 2n)        float32   x1, y1, x2, y2, ... in 50x50 patch pixels
  d      (N,)           float32   ground-truth eye-centre distance in patch pixels (Eq. 4)
and extra datasets Caffe ignores:
  index   (N,)     int32    position of the face in its source list
  affine  (N,2,3)  float64  image -> patch matrix (rotation, crop and flip included)
  flipped (N,)     uint8    1 if the sample is mirrored (its points are permuted)
  crop    (N,3)    float64  (x0, y0, side) of the axis-aligned crop (val/test only):
                            image = patch * side / 50 + (x0, y0)
  occlusion (N,n)  float32  per-point occlusion flag (COFW only)
The list file holds the ABSOLUTE path of every chunk, one per line (Caffe opens them
relative to its working directory, not to the list file).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from mcl_caffe.core.crop import normalize_patch

DEFAULT_CHUNK = 4000  # 4000 x 50 x 50 x 4 B = 40 MB of data per file


def _dataset(f, name, arr):
    # track_times=False: no timestamps in the file, so equal inputs give byte-identical files
    f.create_dataset(name, data=arr, track_times=False)


def remove_chunks(h5_dir: Path, split: str) -> None:
    for old in sorted(Path(h5_dir).glob("%s_[0-9][0-9][0-9]*.h5" % split)):  # not test_gt_* for test
        old.unlink()


def write_split(out_dir, split: str, arrays: dict, chunk_size: int = DEFAULT_CHUNK) -> list[Path]:
    """arrays: 'patches' uint8 (N,50,50), 'label' (N,2n), 'd' (N,), optional extras (same first dim).
    Writes <out_dir>/h5/<split>_###.h5 and <out_dir>/<split>.txt; returns the chunk paths."""
    out_dir = Path(out_dir).resolve()
    h5_dir = out_dir / "h5"
    h5_dir.mkdir(parents=True, exist_ok=True)
    remove_chunks(h5_dir, split)
    n = len(arrays["patches"])
    paths = []
    for k, start in enumerate(range(0, n, chunk_size)):
        sl = slice(start, min(n, start + chunk_size))
        path = h5_dir / ("%s_%03d.h5" % (split, k))
        with h5py.File(path, "w") as f:
            _dataset(f, "data", normalize_patch(arrays["patches"][sl])[:, None, :, :])
            _dataset(f, "label", np.asarray(arrays["label"][sl], dtype=np.float32))
            _dataset(f, "d", np.asarray(arrays["d"][sl], dtype=np.float32))
            for name, arr in arrays.items():
                if name in ("patches", "label", "d") or arr is None:
                    continue
                _dataset(f, name, np.asarray(arr[sl]))
        paths.append(path)
    (out_dir / ("%s.txt" % split)).write_text("".join("%s\n" % p for p in paths))
    return paths


def read_list(list_path) -> list[Path]:
    return [Path(line.strip()) for line in Path(list_path).read_text().splitlines() if line.strip()]


def read_arrays(list_file: str | Path, keys=("data", "label", "d")) -> dict[str, np.ndarray]:
    """Concatenate the given datasets over every chunk file named in a Caffe HDF5 list file."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError("HDF5 list file %s does not exist" % list_file)
    files = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    if not files:
        raise ValueError("HDF5 list file %s names no files" % list_file)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for name in files:
        with h5py.File(name, "r") as f:
            for k in keys:
                parts[k].append(f[k][...])
    return {k: np.concatenate(v) for k, v in parts.items()}
