"""Where the landmarks sit in a face-detector box, per split: a model-free check of box and label conventions.

For each face: the detector box's centre minus the mean of its landmarks, in units of the eye-centre
distance d (x to the image's right, y down), and the box's larger side over d; medians and means per set,
on all faces and on near-frontal ones (|yaw proxy| <= 0.1, mcl_caffe.evaluation.error_breakdown's proxy), so
that a
difference between two sets can be split into pose (it shrinks on frontal faces) and convention (it stays).
A whole-pixel (0- vs 1-based) difference between two sources moves the offset by 1/d.
"""

from __future__ import annotations

import numpy as np

FRONTAL_YAW = 0.1


def yaw_proxy_5(points: np.ndarray) -> np.ndarray:
    """(N, 5, 2) -> (N,): the nose tip's offset from the eyes' midpoint along the eye axis, in units of d."""
    axis = points[:, 1] - points[:, 0]
    mid = (points[:, 0] + points[:, 1]) / 2
    return np.einsum("ij,ij->i", points[:, 2] - mid, axis) / np.einsum("ij,ij->i", axis, axis)


def box_offsets(points: np.ndarray, boxes: np.ndarray) -> dict:
    """points (N, 5, 2), boxes (N, 4) as (left, right, top, bottom) -> per-face arrays."""
    points = np.asarray(points, np.float64)
    boxes = np.asarray(boxes, np.float64)
    d = np.hypot(*(points[:, 0] - points[:, 1]).T)
    centre = np.stack([(boxes[:, 0] + boxes[:, 1]) / 2, (boxes[:, 2] + boxes[:, 3]) / 2], axis=1)
    side = np.maximum(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2])
    return {
        "offset": (centre - points.mean(axis=1)) / d[:, None],
        "side": side / d,
        "d": d,
        "yaw": yaw_proxy_5(points),
    }


def summarize(per_face: dict) -> dict:
    off, frontal = per_face["offset"], np.abs(per_face["yaw"]) <= FRONTAL_YAW
    return {
        "faces": int(len(off)),
        "median_d_px": float(np.median(per_face["d"])),
        "median_side_over_d": float(np.median(per_face["side"])),
        "mean_abs_yaw": float(np.abs(per_face["yaw"]).mean()),
        "offset_median": np.median(off, axis=0).tolist(),
        "offset_mean": off.mean(axis=0).tolist(),
        "offset_sem": (off.std(axis=0, ddof=1) / np.sqrt(len(off))).tolist(),
        "frontal_faces": int(frontal.sum()),
        "frontal_offset_median": np.median(off[frontal], axis=0).tolist() if frontal.any() else None,
        "frontal_offset_mean": off[frontal].mean(axis=0).tolist() if frontal.any() else None,
    }


def format_table(rows: dict) -> str:
    head = (
        "| set | faces | median d (px) | side / d | mean abs yaw | centre - points, median (x, y) | "
        "mean +- sem | near-frontal faces | near-frontal median |\n| --- |" + " ---: |" * 8
    )
    lines = [head]
    for name, r in rows.items():
        lines.append(
            "| %s | %d | %.1f | %.3f | %.3f | %+.3f, %+.3f | %+.3f +- %.3f, %+.3f +- %.3f | %d | %+.3f, "
                "%+.3f |"
            % (
                name, r["faces"], r["median_d_px"], r["median_side_over_d"], r["mean_abs_yaw"],
                *r["offset_median"], r["offset_mean"][0], r["offset_sem"][0], r["offset_mean"][1],
                r["offset_sem"][1], r["frontal_faces"], *(r["frontal_offset_median"] or (np.nan, np.nan)),
            )
        )
    return "\n".join(lines)


def run(data_root, json_path=None) -> int:
    """`make box-offsets`: the table of both sets under data_root (mtfl-full/ and boxes/), and the numbers as
    JSON when json_path is given; 0, or 2 when a file is missing or malformed."""
    import json
    import sys
    from pathlib import Path

    from mcl_caffe.data.datasets import load_mtfl_list
    from mcl_caffe.data.datasets.box_file import attach_list_boxes

    root = Path(data_root)
    sets = {
        "train (Sun's boxes)": (root / "mtfl-full" / "training.txt",
                                root / "boxes/cnn-facepoint/trainImageList.txt"),
        "AFLW test (author's boxes)": (
            root / "mtfl-full" / "testing.txt",
            root / "boxes/aflw-bbox-annotation/AFLW_boundingbox.txt",
        ),
    }
    rows = {}
    try:
        for name, (lst, boxes) in sets.items():
            faces = load_mtfl_list(lst).faces
            notes = attach_list_boxes(faces, boxes)
            for n in notes:
                print("box_offsets: note: %s" % n, file=sys.stderr)
            per = box_offsets(np.stack([f.points for f in faces]), np.stack([f.box for f in faces]))
            if name.startswith("train"):
                src = np.array(["lfw_5590" in f.image_path for f in faces])
                for sub, mask in (("train: lfw_5590", src), ("train: net_7876", ~src)):
                    rows[sub] = summarize({k: v[mask] for k, v in per.items()})
            rows[name] = summarize(per)
    except (ValueError, FileNotFoundError) as exc:
        print("box_offsets: %s" % exc, file=sys.stderr)
        return 2
    print(format_table(rows))
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1))
    return 0
