"""Faces of any size (mcl_caffe/infer/find_faces.py): the plan of image copies, the merging of duplicates, the
cap on what the detector sees, and the real YuNet on the shared IBUG faces through the pyramid."""

import numpy as np

from mcl_caffe.bench.detector_bench import best_match
from mcl_caffe.core import crop as C
from mcl_caffe.data.datasets import load_300w
from mcl_caffe.data.eval_faces import SHARED_DATA
from mcl_caffe.infer.detectors import YuNetDetector, make_detector
from mcl_caffe.infer.find_faces import FaceFinder, merge, plan_levels


def test_plan_caps_the_largest_copy_and_reaches_a_copy_where_any_face_fits():
    lo, hi = YuNetDetector.band
    for h, w in ((6000, 8000), (3000, 4000), (1080, 1080), (480, 640), (128, 96)):
        levels = plan_levels(h, w, 1600, (lo, hi))
        sides = [max(w * lv.scale_x, h * lv.scale_y) for lv in levels]
        assert sides[0] <= 1600 + 0.5 and (sides[0] == max(h, w) or max(h, w) > 1600)
        assert sides[-1] <= hi / 1.5 + 0.5  # a face as large as the frame fits the band there
        assert all(b == a / 2 or abs(b - a / 2) < 1 for a, b in zip(sides, sides[1:]))
        assert levels[0].lo == 0 and levels[-1].hi == np.inf and 2 * lo <= hi  # the bands leave no gap
        assert all(lv.pad % 32 == 0 and (lv.pad > 0) == (s <= 2 * hi) for lv, s in zip(levels, sides))
    # a detector that scans all sizes itself (MTCNN, Haar) runs once, on the capped copy
    (only,) = plan_levels(3000, 4000, 1600, None)
    assert only.scale_x == 0.4 and only.pad == 0


def test_merge_keeps_one_box_per_face():
    face = np.array([100.0, 300, 80, 320])
    boxes = np.array(
        [
            face + [4, -4, 2, 6],  # the same face found in a coarser copy (level 1), a little off
            face,  # in the finest copy (level 0)
            [150, 190, 150, 190],  # an eye-sized box inside the face
            [400, 480, 100, 190],  # another face
        ]
    )
    scores = np.array([0.95, 0.93, 0.6, 0.9])
    levels = np.array([1, 0, 0, 0])
    out, s = merge(boxes, scores, levels)
    assert len(out) == 2
    assert np.array_equal(out[0], face) and s[0] == 0.95  # the finest copy's box, the best score
    assert np.array_equal(out[1], boxes[3])


class Recording:
    """The real YuNet, noting the size of every image it is given."""

    def __init__(self):
        self.inner = make_detector("yunet", min_size=0)
        self.name, self.band, self.seen = self.inner.name, self.inner.band, []

    def detect_scored(self, image, min_size=None):
        self.seen.append(image.shape[:2])
        return self.inner.detect_scored(image, min_size)


def test_the_detector_never_sees_more_than_the_cap(real_photos):
    d, specs = real_photos
    img = C.load_color(d / specs["twelve_mp"].file)
    rec = Recording()
    boxes, scores = FaceFinder(rec, max_side=1600).find(img)
    assert max(max(s) for s in rec.seen) == 1600 and len(rec.seen) == 5  # 1600, 800, 400, 200, 100 (+ pad)
    assert sum(h * w for h, w in rec.seen) < 1.5 * 1600 * 1200  # the pyramid adds under half the largest copy
    assert len(boxes) == 2 and np.all(scores > 0.5)


def test_the_pyramid_finds_the_ibug_faces_like_one_pass():
    """IBUG's 135 faces (at most 128 px, in images of 256 px or so): found through the pyramid, with the
    default minimum score, as often as the default detector's single pass finds them (>= 99 %)."""
    faces = load_300w(SHARED_DATA / "300w", ["ibug"]).faces
    finder = FaceFinder(make_detector("yunet", min_size=0))
    hits = sum(
        best_match(finder.find(C.face_color(f))[0], C.face_box_from_landmarks(f.points)) is not None
        for f in faces
    )
    assert hits >= 0.99 * len(faces), hits
