"""The extra test lists `make data` writes beside test.txt: faces under a second protocol, or a second test
set, each evaluated by the report as its own labelled row.

* ``test_gt``: when the test faces have detector boxes (AFLW, the paper's protocol), the same faces cropped
  from the box of their ground-truth points.
* ``test_detector`` (300-W): the test faces (IBUG) cropped from the official face detector's boxes
  (``bb_detector`` of ``Bounding Boxes/bounding_boxes_<subset>.mat``), through a calibration fitted on the
  training faces' own ``bb_detector`` boxes. The main 300-W rows use ``bb_ground_truth``, as the authors'
  test code does; that box is the tight box of the points, which is this project's landmark crop.
* ``test_lfpw`` (300-W): LFPW's test set, the 224 faces of the "common subset" that the shared data holds,
  cropped from their ground-truth boxes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mcl_caffe.core import crop as C
from mcl_caffe.data.datasets import load_300w
from mcl_caffe.data.datasets.w300_boxes import box_file_for, read_300w_box_file

LFPW_TEST = "lfpw/testset"


@dataclass
class ExtraTest:
    split: str  # the list is <out>/<split>.txt
    label: str  # the report's name for the row
    faces: list
    calibration: C.BoxCalibration | None = None  # for faces with given boxes
    angles: tuple = ()  # rolled views (mcl_caffe.data.val_views): one sample per angle, else the nominal crop


def subset_of(face) -> str:
    return str(Path(face.source).parent)


def detector_boxes(root: Path, subsets) -> dict | None:
    """{(subset, image name): bb_detector box} of the subsets' official box files; None if one is missing."""
    out = {}
    for sub in subsets:
        path = box_file_for(root, sub)
        if not path.is_file():
            return None
        for name, boxes in read_300w_box_file(path).items():
            out[(sub, name)] = boxes["bb_detector"]
    return out


def extra_tests(dataset: str, data_root, splits: dict, subsets: dict, scheme, limit=None) -> tuple[list,
                                                                                                   list]:
    """-> (list of ExtraTest, notes on what was left out and why)."""
    extras, notes = [], []
    test = splits.get("test") or []
    if any(f.box is not None for f in test):
        extras.append(
            ExtraTest(
                "test_gt",
                "the same test faces, cropped from the box of their ground-truth points",
                [dataclasses.replace(f, box=None) for f in test],
            )
        )
    if dataset != "300w":
        return extras, notes
    root = Path(data_root)
    train_sub, test_sub = subsets.get("train") or [], subsets.get("test") or []
    if test_sub:
        boxes = detector_boxes(root, list(train_sub) + list(test_sub))
        if boxes is None:
            notes.append("no detector-box row: a box file of %s is missing under %s" % (
                ", ".join(list(train_sub) + list(test_sub)), root / "Bounding Boxes"))
        else:
            train = [f for f in splits["train"] if (subset_of(f), Path(f.image_path).name) in boxes]
            calibration = C.fit_box_calibration(
                [boxes[(subset_of(f), Path(f.image_path).name)] for f in train],
                [C.face_box_from_landmarks(f.points) for f in train],
                scheme,
            )
            faces = []
            for f in test:
                key = (subset_of(f), Path(f.image_path).name)
                if key not in boxes:
                    raise ValueError("%s: %s lists no box for it" % (f.source, box_file_for(root, key[0])))
                faces.append(dataclasses.replace(f, box=boxes[key].copy()))
            extras.append(
                ExtraTest(
                    "test_detector",
                    "the same test faces, cropped from the official 300-W face detector's boxes "
                    "(bb_detector), calibrated on %d training faces' bb_detector boxes" % len(train),
                    faces,
                    calibration,
                )
            )
    if (root / LFPW_TEST).is_dir() and LFPW_TEST not in list(train_sub) + list(test_sub):
        lfpw = load_300w(root, [LFPW_TEST], limit)
        notes += [p.message for p in lfpw.problems]
        extras.append(
            ExtraTest(
                "test_lfpw",
                "LFPW test (%d faces; part of the 'common subset'), cropped from their ground-truth boxes"
                % len(lfpw.faces),
                lfpw.faces,
            )
        )
    return extras, notes
