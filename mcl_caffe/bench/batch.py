"""Speed of mcl-align-batch (Ray Data, 1 and 2 actors) against one mcl-align process, FP32 and INT8, on a
generated tree of real-face images: distinct photos of the MTFL release (LFW, web and AFLW faces of 150-400
px, the size of a face dataset being prepared), as symlinks in folders of 100.  Each configuration is one
fresh process over the whole tree into an empty output, timed from start to exit, so Ray's start-up counts;
the per-image cost of Ray's overhead is 1/(Ray, 1 actor) - 1/(mcl-align), the same single thread doing
the same work per image.  Writes batch.md and batch.json to --out-dir.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def make_tree(photos: Path, root: Path, n: int) -> list[Path]:
    """`n` distinct photos under `photos`, every k-th in sorted order, as symlinks under root/dNNN/."""
    every = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    if len(every) < n:
        raise SystemExit("bench-batch: %d images under %s, fewer than --images %d" % (len(every), photos, n))
    imgs = every[:: len(every) // n][:n]
    if root.exists():
        shutil.rmtree(root)
    out = []
    for k in range(n):
        d = root / ("d%03d" % (k // 100))
        d.mkdir(parents=True, exist_ok=True)
        src = imgs[k]
        dst = d / ("%05d%s" % (k, src.suffix.lower()))
        dst.symlink_to(src)
        out.append(dst)
    return out


def _timed(cmd: list[str]) -> tuple[float, int]:
    env = dict(os.environ)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit("bench-batch: %s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr[-800:]))
    return dt, r.returncode


def run(
    out_dir: Path, photos: Path, n: int, actors=(1, 2), int8=(False, True), command: str = ""
) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    tree = out_dir / "tree"
    make_tree(photos, tree, n)
    py = sys.executable
    rows = []
    for q in int8:
        flag = ["--int8"] if q else []
        res = out_dir / "align.csv"
        dt, _ = _timed(
            [
                py,
                "-m",
                "mcl_caffe.infer.cli",
                str(tree),
                "-r",
                "-o",
                str(res),
                "--threads",
                "1",
                "--no-progress",
            ]
            + flag
        )
        rows.append({"tool": "mcl-align", "actors": None, "int8": q, "seconds": dt, "images_per_s": n / dt})
        for a in actors:
            out = out_dir / ("out-%d-%s" % (a, "int8" if q else "fp32"))
            shutil.rmtree(out, ignore_errors=True)
            dt, _ = _timed(
                [
                    py,
                    "-m",
                    "mcl_caffe.scale.cli",
                    str(tree),
                    str(out),
                    "--actors",
                    str(a),
                    "--threads",
                    "1",
                    "--num-cpus",
                    str(max(2, a)),
                    "--no-progress",
                ]
                + flag
            )
            rows.append(
                {"tool": "mcl-align-batch", "actors": a, "int8": q, "seconds": dt, "images_per_s": n / dt}
            )
    for q in int8:
        base = next(r for r in rows if r["tool"] == "mcl-align" and r["int8"] == q)
        one = next((r for r in rows if r["actors"] == 1 and r["int8"] == q), None)
        if one is not None:
            one["overhead_ms_per_image"] = 1000 * (one["seconds"] - base["seconds"]) / n
    res = {"images": n, "command": command, "load": os.getloadavg(), "rows": rows}
    (out_dir / "batch.json").write_text(json.dumps(res, indent=1))
    (out_dir / "batch.md").write_text(render(res))
    return res


def render(res: dict) -> str:
    lines = [
        "# mcl-align-batch speed: %d images (`%s`), load average at the end %.1f"
        % (res["images"], res["command"], res["load"][0]),
        "",
        "| tool | actors | model | seconds | images/s | Ray overhead ms/image |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in res["rows"]:
        lines.append(
            "| %s | %s | %s | %.1f | %.1f | %s |"
            % (
                r["tool"],
                r["actors"] or "-",
                "INT8" if r["int8"] else "FP32",
                r["seconds"],
                r["images_per_s"],
                "%.1f" % r["overhead_ms_per_image"] if "overhead_ms_per_image" in r else "",
            )
        )
    return "\n".join(lines) + "\n"
