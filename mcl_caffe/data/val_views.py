"""Validation views: the validation faces under the conditions of the test protocol, without the test labels
(the data study, reports/data-study/). `make data` writes each view as a list of its own beside val.txt, and
`meta.json` describes them under "val_views"; the test sets choose nothing.

* ``val_roll<A>``: every validation face rolled by +A and by -A degrees about its landmark box centre and
  cropped from the tight box of the rolled points, as the 300-W test crops are made from bb_ground_truth (the
  tight box of the points): two samples per face. IBUG's faces roll far more often than the training faces
  do.
* ``val_detector`` (300-W): the validation faces cropped from their official face detector's box
  (``bb_detector``) through the calibration fitted on the training faces' own ``bb_detector`` boxes, the rule
  of the ``test_detector`` list.
* ``val_gt``: when the validation crops come from given boxes (AFLW with the Sun et al. detector list, whose
  validation faces are cropped as the test faces are from the author's detector boxes), the same faces cropped
  from the tight box of their points.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mcl_caffe.core import crop as C
from mcl_caffe.data.extra_tests import ExtraTest, detector_boxes, subset_of

DEFAULT_ROLLS = (20.0, 35.0)


def roll_split(angle: float) -> str:
    return "val_roll%g" % angle


def val_views(dataset: str, data_root, splits: dict, subsets: dict, scheme,
              rolls=DEFAULT_ROLLS) -> tuple[list[ExtraTest], list[str]]:
    """-> (views as ExtraTest lists, notes on what was left out and why)."""
    val = splits.get("val") or []
    views, notes = [], []
    if not val:
        return views, ["no validation faces: no validation views"]
    for angle in rolls:
        if not 0 < angle < 180:
            raise ValueError("a validation roll must be in (0, 180) degrees, got %g" % angle)
        views.append(ExtraTest(roll_split(angle), "the validation faces rolled by +-%g deg, cropped from the "
                               "tight box of the rolled points" % angle,
                               [dataclasses.replace(f, box=None) for f in val], angles=(angle, -angle)))
    if any(f.box is not None for f in val):
        views.append(ExtraTest("val_gt", "the validation faces cropped from the tight box of their points",
                               [dataclasses.replace(f, box=None) for f in val]))
    if dataset == "300w":
        root = Path(data_root)
        train_sub = list(subsets.get("train") or [])
        boxes = detector_boxes(root, train_sub)
        if boxes is None:
            notes.append("no val_detector view: a box file of %s is missing under %s"
                         % (", ".join(train_sub), root / "Bounding Boxes"))
        else:
            train = [f for f in splits["train"] if (subset_of(f), Path(f.image_path).name) in boxes]
            calibration = C.fit_box_calibration(
                [boxes[(subset_of(f), Path(f.image_path).name)] for f in train],
                [C.face_box_from_landmarks(f.points) for f in train], scheme)
            faces = [dataclasses.replace(f, box=boxes[(subset_of(f), Path(f.image_path).name)].copy())
                     for f in val if (subset_of(f), Path(f.image_path).name) in boxes]
            if len(faces) < len(val):
                notes.append("val_detector: %d of %d validation faces have no bb_detector box and are left "
                             "out" % (len(val) - len(faces), len(val)))
            views.append(ExtraTest("val_detector", "the validation faces cropped from the official face "
                                   "detector's boxes (bb_detector), calibrated on %d training faces' boxes"
                                   % len(train), faces, calibration))
    return views, notes
