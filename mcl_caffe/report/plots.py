"""The report's figures (matplotlib, Agg): CED curves, training losses, occluded test patches."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mcl_caffe.core.run_layout import RunLayout
from mcl_caffe.evaluation.ced_plot import plot_ced_series
from mcl_caffe.evaluation.evaluate import MAIN_MODELS, TestSet


COLORS = {"BM": "tab:blue", "WM": "tab:orange", "AM": "tab:green"}
LOSS_TITLES = {
    "stage1": "stage 1: pre-training (BM)",
    "stage2": "stage 2: weighting, 6 convs fixed",
    "stage3": "stage 3: weighting, all layers (WM)",
    "stage4": "stage 4: one shape layer per cluster",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_ced(results: dict, out: Path, title: str) -> Path | None:
    keys = [k for k in MAIN_MODELS if k in results]
    if not keys:
        return None
    return plot_ced_series([(k, COLORS[k], results[k]["nme_per_face"], results[k]["mean_error"],
                             results[k]["failure_rate"]) for k in keys], out, title,
                           ylabel="fraction of test faces with NME <= x")


def read_loss(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    it, loss = [], []
    with path.open() as f:
        for row in csv.DictReader(f):
            try:
                it.append(int(row["iter"]))
                loss.append(float(row["loss"]))
            except (KeyError, ValueError):
                continue
    if not it:
        return None
    return np.asarray(it), np.asarray(loss)


def _smooth(y: np.ndarray) -> np.ndarray:
    w = max(1, len(y) // 50)
    if w == 1:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    s = (c[w:] - c[:-w]) / w
    return np.concatenate([np.full(w - 1, np.nan), s])


def plot_losses(layout: RunLayout, scheme, out: Path) -> Path | None:
    panels = []
    for stage in ("stage1", "stage2", "stage3"):
        series = read_loss(layout.stage_dir(stage) / "loss.csv")
        panels.append((stage, [(stage, series)] if series else []))
    s4 = []
    for i, (name, _) in enumerate(scheme.clusters):
        series = read_loss(layout.cluster_dir(i, name) / "loss.csv")
        if series:
            s4.append((name, series))
    panels.append(("stage4", s4))
    if not any(p[1] for p in panels):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), dpi=100)
    for ax, (stage, series) in zip(axes, panels):
        for k, (label, (it, loss)) in enumerate(series):
            color = "C%d" % k
            ax.plot(it, loss, color=color, alpha=0.25, lw=0.8)
            ax.plot(it, _smooth(loss), color=color, lw=1.5, label=label)
        ax.set_title(LOSS_TITLES[stage], fontsize=9)
        ax.set_xlabel("iteration")
        if series:
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "not trained", transform=ax.transAxes, ha="center", color="0.5")
        ax.grid(alpha=0.3, which="both")
        if stage == "stage4" and series:
            ax.legend(fontsize=7)
    axes[0].set_ylabel("training loss (Eq. 4, weighted by u_j)")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_occlusion_examples(test: TestSet, ev: dict, scheme, out: Path, k: int = 8) -> Path | None:
    faces, boxes, occ = ev["occluded_faces"], ev["occlusion_boxes"], ev["occluded_data"]
    if not len(faces):
        return None
    from mcl_caffe.core.crop import denormalize_patch

    plt = _plt()
    k = min(k, len(faces))
    fig, axes = plt.subplots(2, k, figsize=(1.6 * k, 3.5), dpi=110, squeeze=False)
    pts = test.label.reshape(len(test), -1, 2)
    for c in range(k):
        i = faces[c]
        for r, (img, tag) in enumerate(((test.data[i, 0], "original"), (occ[i, 0], "occluded"))):
            ax = axes[r, c]
            ax.imshow(denormalize_patch(img), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if r == 0:  # points and box on the original; the occluded patch as the network sees it
                ax.scatter(pts[i, :, 0], pts[i, :, 1], s=4, c="lime")
                x0, x1, y0, y1 = boxes[c]
                ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="red", lw=0.8))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(tag, fontsize=8)
        axes[0, c].set_title("face %d" % i, fontsize=7)
    fig.suptitle(
        "left-eye occlusion (gray 128); top, red: the box (tight box of the left-eye cluster's "
        "ground-truth points); bottom: the network's input",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
