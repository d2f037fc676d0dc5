"""Dataset -> Caffe-ready HDF5: load, split, augment / crop (worker processes), write, summarise.

Output layout under ``<out>/<dataset>/``: ``train.txt``, ``val.txt``, ``test.txt`` (absolute
chunk paths), ``h5/<split>_###.h5`` and ``meta.json``.  tools/make_data.py is the CLI.

Bad input never passes silently: every skipped face is counted under a reason and its message
(naming the file and the problem) is printed (the first few) and stored in meta.json; with
``strict`` the first problem raises StrictError instead.
"""

from __future__ import annotations


import json
import multiprocessing as mp
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcl_caffe import __version__
from mcl_caffe.core import crop as C
from mcl_caffe.data.augment import AugmentConfig, augment_face, face_rng, nominal_sample, rolled_samples
from mcl_caffe.data.datasets import (
    W300_TEST_SUBSETS,
    W300_TRAIN_SUBSETS,
    BadSample,
    attach_list_boxes,
    find_subsets,
    load_300w,
    load_cofw,
    load_mtfl_list,
)
from mcl_caffe.data.extra_tests import extra_tests
from mcl_caffe.data.face_checks import FATAL_REASONS, _face_gray, check_box_on_image, check_inside
from mcl_caffe.data.h5_writer import DEFAULT_CHUNK, remove_chunks, write_split
from mcl_caffe.core.landmarks import DATASETS, get_scheme
from mcl_caffe.data.splits import split_faces
from mcl_caffe.data.val_views import DEFAULT_ROLLS, val_views

SPLITS = ("train", "val", "test")
#: a point more than this fraction of the image's larger side outside the image is a labelling error
DEFAULT_TEST_FRACTION = 0.15  # only for datasets without a test set here (300-W without ibug/)


class StrictError(RuntimeError):
    """Raised in strict mode on the first bad sample; the message names the file and the problem."""


@dataclass
class PrepareOptions:
    dataset: str
    data_root: Path
    out: Path
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float | None = None
    limit: int | None = None
    workers: int = 2
    strict: bool = False
    chunk_size: int = DEFAULT_CHUNK
    train_boxes: Path | None = None
    test_boxes: Path | None = None
    subsets: list | None = None
    test_subsets: list | None = None
    progress: bool = True
    val_rolls: tuple = DEFAULT_ROLLS  # the rolled validation views (mcl_caffe.data.val_views)


# ----------------------------------------------------------------------------- loading
def load_sources(opts: PrepareOptions):
    """-> (train LoadResult, test LoadResult or None, description dict)."""
    root = Path(opts.data_root)
    ds = opts.dataset
    if ds == "aflw":
        train = load_mtfl_list(root / "training.txt", opts.limit)
        test = load_mtfl_list(root / "testing.txt", opts.limit)
        desc = {
            "train": str((root / "training.txt").resolve()),
            "test": str((root / "testing.txt").resolve()),
        }
    elif ds == "cofw":
        train = load_cofw(root, "train", opts.limit)
        test = load_cofw(root, "test", opts.limit)
        desc = {
            "train": "COFW train .mat in %s" % root.resolve(),
            "test": "COFW test .mat in %s" % root.resolve(),
        }
    elif ds == "300w":
        present = find_subsets(root) if root.is_dir() else []
        # defaults: the paper's protocol, the official training folders present (AFW, HELEN train, LFPW
        # train) and IBUG as the test set; without ibug/, a held-out share of the training faces
        test_sub = opts.test_subsets
        if test_sub is None:
            test_sub = [s for s in W300_TEST_SUBSETS if s in present]
        train_sub = opts.subsets
        if train_sub is None:
            train_sub = [s for s in W300_TRAIN_SUBSETS if s in present]
        if not train_sub:
            raise FileNotFoundError("no 300-W training folders with .pts files under %s" % root)
        train = load_300w(root, train_sub, opts.limit)
        test = load_300w(root, test_sub, opts.limit) if test_sub else None
        desc = {
            "train": "300-W %s in %s" % (",".join(train_sub), root.resolve()),
            "test": ("300-W %s" % ",".join(test_sub)) if test_sub else None,
            "subsets": {"train": list(train_sub), "test": list(test_sub)},
        }
    else:
        raise ValueError("unknown dataset %r (choose from %s)" % (ds, ", ".join(DATASETS)))
    notes = []
    if opts.train_boxes:
        notes += attach_list_boxes(train.faces, opts.train_boxes)
    if opts.test_boxes:
        if test is None:
            raise ValueError("--test-boxes given but %s has no test list here" % ds)
        notes += attach_list_boxes(test.faces, opts.test_boxes)
    desc["box_notes"] = notes
    return train, test, desc


# ----------------------------------------------------------------------------- workers
_W: dict = {}


def _init_worker(faces_by_split, scheme, augment, seed, calibration, angles=None):
    import cv2

    cv2.setNumThreads(1)  # one process per core; no nested OpenCV threads
    _W.update(faces=faces_by_split, scheme=scheme, augment=augment, seed=seed, calibration=calibration,
              angles=angles or {})


def process_face(split: str, i: int):
    """-> (split, i, dict of arrays) or (split, i, BadSample). Runs in a worker."""
    face = _W["faces"][split][i]
    scheme = _W["scheme"]
    try:
        gray = _face_gray(face)
        check_inside(face, gray.shape)
        if face.box is not None:
            check_box_on_image(face, gray.shape)
        if split == "train":
            s = augment_face(gray, face.points, scheme, _W["augment"], face_rng(_W["seed"], face.order),
                             face.box, (_W["calibration"] or {}).get(split))
            crop = None
        elif _W["angles"].get(split):
            s = rolled_samples(gray, face.points, scheme, _W["angles"][split])
            crop = None
        else:
            s, crop = nominal_sample(gray, face.points, scheme, face.box,
                                     (_W["calibration"] or {}).get(split))
    except BadSample as exc:
        return split, i, exc
    except Exception as exc:  # anything else is still reported with the file, never swallowed silently
        return split, i, BadSample("processing error", "%s: %s: %s" % (face.source, type(exc).__name__, exc))
    k = len(s)
    out = {
        "patches": s.patches,
        "label": s.points.reshape(k, -1).astype(np.float32),
        "d": np.asarray(scheme.interocular(s.points), dtype=np.float32).reshape(k),
        "index": np.full(k, face.order, dtype=np.int32),
        "affine": s.affine.astype(np.float64),
        "flipped": s.flipped.astype(np.uint8),
    }
    if crop is not None:
        out["crop"] = np.repeat(crop[None].astype(np.float64), k, axis=0)
    if face.occlusion is not None:
        occ = np.repeat(np.asarray(face.occlusion, dtype=np.float32)[None], k, axis=0)
        perm = np.asarray(scheme.flip_perm)
        occ[s.flipped] = occ[s.flipped][:, perm]
        out["occlusion"] = occ
    return split, i, out


def _process_task(task):
    return process_face(*task)


# ----------------------------------------------------------------------------- main entry
def _concat(parts: list[dict]) -> dict:
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _empty(scheme, with_crop, with_occ) -> dict:
    n2 = 2 * scheme.n_points
    out = {
        "patches": np.zeros((0, C.PATCH_SIZE, C.PATCH_SIZE), np.uint8),
        "label": np.zeros((0, n2), np.float32),
        "d": np.zeros(0, np.float32),
        "index": np.zeros(0, np.int32),
        "affine": np.zeros((0, 2, 3)),
        "flipped": np.zeros(0, np.uint8),
    }
    if with_crop:
        out["crop"] = np.zeros((0, 3))
    if with_occ:
        out["occlusion"] = np.zeros((0, scheme.n_points), np.float32)
    return out


def _versions() -> dict:
    import cv2
    import h5py
    import scipy

    return {
        "mcl_caffe": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "scipy": scipy.__version__,
    }


def prepare(opts: PrepareOptions, log=print) -> dict:
    """Run the whole data preparation; returns the summary (also stored in meta.json)."""
    t0 = time.time()
    scheme = get_scheme(opts.dataset)
    out_dir = (Path(opts.out) / opts.dataset).resolve()
    train_src, test_src, desc = load_sources(opts)
    box_notes = desc.pop("box_notes", [])
    for note in box_notes:
        log("make_data: note: %s" % note)

    problems = list(train_src.problems) + (list(test_src.problems) if test_src else [])
    if opts.strict and problems:
        raise StrictError(problems[0].message)
    read = {"train_list": len(train_src.faces) + len(train_src.problems)}
    if test_src is not None:
        read["test_list"] = len(test_src.faces) + len(test_src.problems)

    test_fraction = opts.test_fraction
    if test_src is not None:
        if test_fraction:
            raise ValueError(
                "%s has a test set (%s); --test-fraction applies only to datasets without one"
                % (opts.dataset, desc["test"])
            )
        test_fraction = 0.0
    elif test_fraction is None:
        test_fraction = DEFAULT_TEST_FRACTION
    splits = split_faces(train_src.faces, opts.val_fraction, test_fraction, opts.seed)
    if test_src is not None:
        splits["test"] = list(test_src.faces)

    # given boxes (COFW, box files): fit their crop to the landmark crop on the training faces
    boxed = [f for f in splits["train"] if f.box is not None]
    calibration = C.fit_box_calibration(
        [f.box for f in boxed], [C.face_box_from_landmarks(f.points) for f in boxed], scheme
    )

    faces_by_split = {s: splits[s] for s in SPLITS}
    calibrations = {s: calibration for s in SPLITS}
    # second protocols and test sets, each a list of its own for the report (mcl_caffe.data.extra_tests)
    extras, extra_notes = extra_tests(
        opts.dataset, opts.data_root, splits, desc.get("subsets") or {}, scheme, opts.limit
    )
    # validation views (mcl_caffe.data.val_views): the validation faces under the test protocol's conditions
    views, view_notes = val_views(opts.dataset, opts.data_root, splits, desc.get("subsets") or {}, scheme,
                                  opts.val_rolls)
    for note in extra_notes + view_notes:
        log("make_data: note: %s" % note)
    if opts.augment.crop_from == "box" and any(f.box is None for f in splits["train"]):
        raise ValueError("--train-crop box: %d training faces have no given box (give --train-boxes)"
                         % sum(f.box is None for f in splits["train"]))
    angles = {}
    for e in extras + views:
        faces_by_split[e.split] = e.faces
        calibrations[e.split] = e.calibration or calibration
        if e.angles:
            angles[e.split] = e.angles
    splits_out = SPLITS + tuple(e.split for e in extras + views)
    stale = list(out_dir.glob("test_*.txt")) + list(out_dir.glob("val_*.txt")) if out_dir.is_dir() else []
    for old in sorted(stale):
        if old.stem not in splits_out:  # an earlier run's extra list would no longer match this data
            remove_chunks(out_dir / "h5", old.stem)
            old.unlink()
    tasks = [(s, i) for s in splits_out for i in range(len(faces_by_split[s]))]
    init = (faces_by_split, scheme, opts.augment, opts.seed, calibrations, angles)
    results = {s: [None] * len(faces_by_split[s]) for s in splits_out}
    bar = None
    if opts.progress:
        from tqdm import tqdm

        bar = tqdm(
            total=len(tasks), desc="%s faces" % opts.dataset, unit="face", file=sys.stderr, dynamic_ncols=True
        )
    try:
        if opts.workers <= 1:
            _init_worker(*init)
            it = map(_process_task, tasks)
            pool = None
        else:
            methods = mp.get_all_start_methods()
            ctx = mp.get_context("fork" if "fork" in methods else None)
            pool = ctx.Pool(opts.workers, initializer=_init_worker, initargs=init)
            it = pool.imap(_process_task, tasks, chunksize=8)
        try:
            for split, i, res in it:
                if isinstance(res, BadSample):
                    if opts.strict or res.reason in FATAL_REASONS:
                        raise StrictError(res.message)
                    problems.append(res)
                else:
                    results[split][i] = res
                if bar is not None:
                    bar.update(1)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    finally:
        if bar is not None:
            bar.close()
    t_proc = time.time() - t0

    written = {}
    with_occ = any(f.occlusion is not None for f in train_src.faces)
    source_paths = {}
    for split in splits_out:
        parts = [r for r in results[split] if r is not None]
        kept_faces = [f for f, r in zip(faces_by_split[split], results[split]) if r is not None]
        source_paths[split] = [f.image_id for f in kept_faces]
        arrays = _concat(parts) if parts else _empty(scheme, split != "train", with_occ)
        if split == "train" and len(arrays["patches"]):
            perm = np.random.default_rng([int(opts.seed), 2]).permutation(len(arrays["patches"]))
            arrays = {k: v[perm] for k, v in arrays.items()}
        paths = write_split(out_dir, split, arrays, opts.chunk_size)
        written[split] = {
            "faces": len(kept_faces),
            "samples": int(len(arrays["patches"])),
            "files": len(paths),
        }

    reasons = Counter(p.reason for p in problems)
    elapsed = time.time() - t0
    n_samples = sum(w["samples"] for w in written.values())
    summary = {
        "read": read,
        "skipped": {"total": len(problems), "by_reason": dict(sorted(reasons.items()))},
        "written": written,
        "seconds": round(elapsed, 2),
        "processing_seconds": round(t_proc, 2),
        "samples_per_second": round(n_samples / elapsed, 1) if elapsed > 0 else None,
    }
    meta = {
        "dataset": opts.dataset,
        "scheme": scheme.name,
        "n_points": scheme.n_points,
        "patch": {
            "size": C.PATCH_SIZE,
            "channels": 1,
            "normalisation": "(p - 128) * 0.0078125",
            "label": "x1,y1,x2,y2,... in patch pixels (pixel centres at integers)",
            "d": "eye-centre distance in patch pixels",
            "eye_indices": [list(e) for e in scheme.eye_indices],
        },
        "crop": {
            "rule": "square on the box centre, side = crop_scale * max(box w, h)",
            "crop_scale": C.CROP_SCALE[scheme.name],
            "box": "tight box of the ground-truth points unless the dataset/box file gives one",
            "given_box_calibration": calibration.as_dict(),
        },
        "sources": desc,
        "box_notes": box_notes,
        "extra_tests": {
            e.split: {
                "label": e.label,
                "faces": written[e.split]["faces"],
                "calibration": e.calibration.as_dict() if e.calibration else None,
            }
            for e in extras
        },
        "extra_test_notes": extra_notes,
        "val_views": {
            e.split: {
                "label": e.label,
                "faces": written[e.split]["faces"],
                "samples": written[e.split]["samples"],
                "angles": list(e.angles),
                "calibration": e.calibration.as_dict() if e.calibration else None,
            }
            for e in views
        },
        "val_view_notes": view_notes,
        "data_root": str(Path(opts.data_root).resolve()),
        "options": {
            "seed": opts.seed,
            "val_fraction": opts.val_fraction,
            "test_fraction": test_fraction,
            "limit": opts.limit,
            "workers": opts.workers,
            "strict": opts.strict,
            "chunk_size": opts.chunk_size,
            "train_boxes": str(opts.train_boxes) if opts.train_boxes else None,
            "test_boxes": str(opts.test_boxes) if opts.test_boxes else None,
        },
        "augmentation": dict(
            opts.augment.as_dict(),
            samples_per_face=opts.augment.samples_per_face,
            order="rotation, scale+translation, crop, flip, JPEG",
        ),
        "versions": _versions(),
        "summary": summary,
        "skipped_messages": [p.message for p in problems],
        "lists": {s: str(out_dir / ("%s.txt" % s)) for s in splits_out},
        "source_images": source_paths,
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    summary["out_dir"] = str(out_dir)
    summary["problems"] = problems
    return summary
