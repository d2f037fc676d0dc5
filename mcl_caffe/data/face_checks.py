"""Checks of one face before `make data` crops it (bad faces are skipped or, with --strict, stop the run),
and the summary that `make data` prints of what it skipped."""
from __future__ import annotations

import numpy as np

from mcl_caffe.core import crop as C
from mcl_caffe.data.datasets import BadSample

FAR_OUTSIDE_FRACTION = 0.25


def _face_gray(face) -> np.ndarray:
    try:
        return C.face_gray(face)
    except OSError as exc:
        reason = "missing image" if "not found" in str(exc) else "unreadable image"
        raise BadSample(reason, "%s: %s" % (face.source, exc)) from None


def check_inside(face, gray_shape) -> None:
    h, w = gray_shape[:2]
    pts = np.asarray(face.points)
    tol = FAR_OUTSIDE_FRACTION * max(h, w)
    out = np.maximum.reduce(
        [-0.5 - pts[:, 0], pts[:, 0] - (w - 0.5), -0.5 - pts[:, 1], pts[:, 1] - (h - 0.5)]
    )
    worst = int(np.argmax(out))
    if out[worst] > tol:
        raise BadSample(
            "points far outside image",
            "%s: point %d at (%.1f, %.1f) is %.1f px outside the %dx%d image (limit %.1f px)"
            % (face.source, worst + 1, pts[worst, 0], pts[worst, 1], out[worst], w, h, tol),
        )


#: problems that stop `make data` whatever --strict says: the protocol's inputs are wrong, not one face
FATAL_REASONS = ("box outside image",)


def check_box_on_image(face, shape) -> None:
    """A given box must overlap its image; one that does not belongs to another image (BadSample, fatal)."""
    h, w = shape[:2]
    b = face.box
    if not (min(b[1], w - 0.5) > max(b[0], -0.5) and min(b[3], h - 0.5) > max(b[2], -0.5)):
        raise BadSample(
            "box outside image",
            "%s: its box (left right top bottom) %s lies outside the %dx%d image" % (face.source, list(b), w,
                                                                                     h),
        )


def format_summary(summary: dict, dataset: str, max_messages: int = 10) -> str:
    lines = [
        "%s: read %s"
        % (
            dataset,
            ", ".join("%d faces from the %s" % (v, k.replace("_", " ")) for k, v in summary["read"].items()),
        )
    ]
    sk = summary["skipped"]
    lines.append(
        "skipped %d%s"
        % (
            sk["total"],
            (": " + ", ".join("%s %d" % kv for kv in sk["by_reason"].items())) if sk["total"] else "",
        )
    )
    for p in summary.get("problems", [])[:max_messages]:
        lines.append("  - %s" % p.message)
    if sk["total"] > max_messages:
        lines.append("  ... (%d more, all listed in meta.json)" % (sk["total"] - max_messages))
    for split, w in summary["written"].items():
        lines.append(
            "wrote %-5s %6d faces -> %7d samples in %d file(s)"
            % (split, w["faces"], w["samples"], w["files"])
        )
    lines.append(
        "%.1f s, %s samples/s; lists and meta.json in %s"
        % (summary["seconds"], summary["samples_per_second"], summary["out_dir"])
    )
    return "\n".join(lines)
