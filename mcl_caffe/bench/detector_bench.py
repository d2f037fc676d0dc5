"""The face-detector bench (make detector-bench): how often each detector finds the annotated face, how
fast, and how good the landmarks are when a model crops the face from the detector's box.

Sets (shared 300-W data, one annotated face per image file): AFW, HELEN train, LFPW test, IBUG; LFPW test
and IBUG again with each face small in a larger frame (`framed`); and the data pipeline's 300-W validation
split (mcl_caffe.data.eval_faces.load_faces), on which the crop placement of a detector's box is
compared with that of its five points ('<name>-points').

* hit: a detection whose IoU with the tight box of the 68 points is >= 0.3; the face's detection is the
  one with the highest IoU.  Missed faces: no such detection.  Images with no detection at all.
* ms per image: wall time of the detector's call on a decoded image (one thread: the caller sets
  OMP_NUM_THREADS=1 and cv2.setNumThreads(1)), mean over the set.
* NME (eye-centre distance, as the paper): the model's points from the detector box's crop (calibrated with
  detector_calibration.json), on the faces the detector hit; next to it the ground-truth-box protocol on
  the same faces (the crop of the landmark box, exactly as in training), and on all faces of the set.
* crop placement (validation split): the calibrated crop against the training crop of the landmark box:
  centre offset / training side and |log(side ratio)|, medians; and the NME through each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcl_caffe.core import crop as C

BENCH_SETS = (
    ("AFW", "afw"),
    ("HELEN train", "helen/trainset"),
    ("LFPW test", "lfpw/testset"),
    ("IBUG", "ibug"),
)
VAL_SET = "300-W val split"
HIT_IOU = 0.3
#: the faces of these sets again, small in a larger frame (see `framed`)
FRAMED_SETS = ("LFPW test", "IBUG")
FRAME = dict(scale=0.5, width=640, height=480)


def framed(faces, scale: float = 0.5, width: int = 640, height: int = 480) -> list:
    """Each face's image shrunk by `scale` (INTER_AREA) and pasted at the centre of a mid-grey
    width x height frame, points moved with it (pixel centres at integers): a small face in a larger
    photo.  The shared images are crops around one face (at most 128 px across), so this halves the face
    in a frame several times its size."""
    import cv2
    from dataclasses import replace

    out = []
    for f in faces:
        img = C.face_color(f)
        h, w = img.shape[:2]
        sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        canvas = np.full((max(height, sh), max(width, sw), 3), 128, np.uint8)
        ox, oy = (canvas.shape[1] - sw) // 2, (canvas.shape[0] - sh) // 2
        canvas[oy : oy + sh, ox : ox + sw] = small
        # pixel centre x of the original lands at (x + 0.5) * sw / w - 0.5 in the small image
        pts = (f.points + 0.5) * np.array([sw / w, sh / h]) - 0.5 + np.array([ox, oy])
        out.append(replace(f, image=canvas, image_path=None, channel_order="bgr", points=pts, box=None))
    return out


def iou(a, b) -> float:
    ix = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[2], b[2]))
    inter = ix * iy
    union = (a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter
    return inter / union if union > 0 else 0.0


def best_match(boxes, tight) -> int | None:
    """Row of the detection with the highest IoU with the landmark box, if that IoU >= HIT_IOU."""
    if len(boxes) == 0:
        return None
    ious = [iou(b, tight) for b in boxes]
    i = int(np.argmax(ious))
    return i if ious[i] >= HIT_IOU else None


@dataclass
class SetResult:
    name: str
    n: int
    boxes: dict  # detector -> list of (k, 4)
    seconds: dict  # base detector -> list of floats
    faces: list


def bench_faces(sets: dict, detectors, min_size: int = 20) -> tuple[list[SetResult], dict]:
    """Run the detectors on every face's image of every set. -> (results, detectors by base name)."""
    from mcl_caffe.infer.detectors import run_detectors

    out = []
    for name, faces in sets.items():
        images = [lambda f=f: C.face_color(f) for f in faces]
        boxes, seconds, dets = run_detectors(detectors, images, min_size)
        out.append(SetResult(name, len(faces), boxes, seconds, faces))
    return out, dets


def matched_rows(result: SetResult, det: str) -> list:
    """Per face: the row of the detection that hits it (for '<name>-points', the row of <name>'s hit)."""
    base = det[: -len("-points")] if det.endswith("-points") else det
    tights = [C.face_box_from_landmarks(f.points) for f in result.faces]
    return [best_match(b, t) for b, t in zip(result.boxes[base], tights)]


def nme_through(aligner, faces, boxes, calibration) -> np.ndarray:
    from mcl_caffe.core.metrics import nme

    if not faces:
        return np.zeros(0)
    grays = [C.face_gray(f) for f in faces]
    pts, _ = aligner.align(grays, boxes, calibration=calibration)
    gt = np.stack([f.points for f in faces])
    scheme = _scheme()
    return nme(pts, gt, scheme.interocular(gt))


def _scheme():
    from mcl_caffe.core.landmarks import get_scheme

    return get_scheme("300w68")


def crop_placement(faces, boxes, calibration) -> tuple[float, float]:
    """Medians of |centre offset| / training side and |log side ratio| of the calibrated crops."""
    off, ratio = [], []
    k = C.CROP_SCALE["300w68"]
    for f, b in zip(faces, boxes):
        x0, y0, side = C.crop_for_given_box(b, calibration)
        tx0, ty0, tside = C.crop_for_given_box(C.face_box_from_landmarks(f.points), C.BoxCalibration(k))
        off.append(np.hypot((x0 + side / 2) - (tx0 + tside / 2), (y0 + side / 2) - (ty0 + tside / 2)) / tside)
        ratio.append(abs(np.log(side / tside)))
    return float(np.median(off)), float(np.median(ratio))


def evaluate(results, dets, detectors, aligner=None) -> dict:
    """-> JSON-able dict: per set and detector, hits, misses, empty images, ms/image, NMEs."""
    from mcl_caffe.infer.detectors import calibration_key
    from mcl_caffe.infer.face_detect import detector_calibration

    table = {}
    for r in results:
        rows = {}
        gt_all = None
        if aligner is not None:
            tights = [C.face_box_from_landmarks(f.points) for f in r.faces]
            gt_all = nme_through(aligner, r.faces, tights, C.BoxCalibration(aligner.info.crop_scale))
        for det in detectors:
            base = det[: -len("-points")] if det.endswith("-points") else det
            match = matched_rows(r, det)
            hit = [i for i, m in enumerate(match) if m is not None]
            key = calibration_key(det, dets)
            sec = np.asarray(r.seconds[base])
            row = {
                "calibration_key": key,
                "faces": r.n,
                "hit": len(hit),
                "hit_rate": len(hit) / r.n,
                "missed": [Path(r.faces[i].source).name for i, m in enumerate(match) if m is None],
                "no_detection": int(sum(len(b) == 0 for b in r.boxes[base])),
                "ms_per_image": 1000 * float(sec.mean()),
            }
            scale = aligner.info.crop_scale if aligner is not None else C.CROP_SCALE["300w68"]
            cal = detector_calibration(key, "300w68", scale)
            row["calibration_fitted_on"] = cal.fitted_on
            hf = [r.faces[i] for i in hit]
            hb = [r.boxes[det][i][match[i]] for i in hit]
            if hf:
                row["crop_offset_median"], row["crop_log_side_median"] = crop_placement(hf, hb, cal)
            if aligner is not None:
                e = nme_through(aligner, hf, hb, cal)
                row["nme_detector"] = float(e.mean()) if len(e) else None
                row["nme_gt_box_same_faces"] = float(gt_all[hit].mean()) if hit else None
            rows[det] = row
        table[r.name] = {"faces": r.n, "detectors": rows}
        if gt_all is not None:
            table[r.name]["nme_gt_box_all_faces"] = float(gt_all.mean())
    return table


def _pct(x):
    return "%.1f %%" % (100 * x)


def _f(x, d=4):
    return "-" if x is None else ("%%.%df" % d) % x


def _nme(x):
    return "-" if x is None else "%.2f %%" % (100 * x)


def markdown(report: dict) -> str:
    t, meta = report["sets"], report["meta"]
    lines = ["# Face-detector bench", "", "Command: `%s`" % meta["command"], ""]
    lines += ["%s: %s" % (k, v) for k, v in meta.items() if k not in ("command",)]
    lines += ["", "## Detection: hit = IoU >= %.1f with the box of the 68 points" % HIT_IOU, ""]
    head = "| set | detector | faces | hit rate | missed | images with no detection | ms per image |"
    lines += [head, "|---|---|---:|---:|---:|---:|---:|"]
    for s, v in t.items():
        if s == VAL_SET:
            continue
        for det, row in v["detectors"].items():
            if det.endswith("-points"):
                continue
            cells = (s, det, row["faces"], _pct(row["hit_rate"]), len(row["missed"]), row["no_detection"])
            lines.append("| %s | %s | %d | %s | %d | %d | %.1f |" % (cells + (row["ms_per_image"],)))
    if meta.get("model"):
        title = "## NME (%% of the eye-centre distance) of the final landmarks, model `%s`" % meta["model"]
        lines += ["", title, ""]
        lines += [
            "NME through the detector on the faces it hit; the ground-truth-box protocol (the landmark "
            "box's training crop) on the same faces and on all faces.  AFW and HELEN train are 300-W "
            "training folders (the data pipeline trains on afw, helen/trainset, lfpw/trainset): a 300-W "
            "model may have trained on those faces; LFPW test and IBUG (the 300-W test set) are held out.",
            "",
            "| set | detector | faces hit | NME via detector | NME GT box, same faces | NME GT box, all |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for s, v in t.items():
            for det, row in v["detectors"].items():
                nmes = [row.get("nme_detector"), row.get("nme_gt_box_same_faces")]
                nmes.append(v.get("nme_gt_box_all_faces"))
                cells = (s, det, row["hit"]) + tuple(map(_nme, nmes))
                lines.append("| %s | %s | %d | %s | %s | %s |" % cells)
    if VAL_SET in t:
        lines += ["", "## Crop placement on the %s: detector box vs its five points" % VAL_SET, ""]
        lines += [
            "Calibrated crop against the training crop of the landmark box, medians over the faces hit.",
            "",
            "| detector | faces hit | centre offset / side | abs log side ratio | NME via detector |",
            "|---|---:|---:|---:|---:|",
        ]
        for det, row in t[VAL_SET]["detectors"].items():
            vals = (_f(row.get("crop_offset_median")), _f(row.get("crop_log_side_median")))
            vals += (_nme(row.get("nme_detector")),)
            lines.append("| %s | %d | %s | %s | %s |" % ((det, row["hit"]) + vals))
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "detector-bench.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "detector-bench.md").write_text(markdown(report))
