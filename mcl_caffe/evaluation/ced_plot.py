"""One CED figure (matplotlib, Agg) for any number of error series: the report's BM/WM/AM plot
(mcl_caffe.report.plots) and the comparison with the paper's model (paper_compare_plots) both draw it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcl_caffe.core import metrics as M


def ced_range(face_nmes) -> float:
    """x range of the CED plot: 15 % (as usual for these benchmarks), wider if most faces lie beyond it."""
    allv = np.concatenate([np.asarray(v) for v in face_nmes]) if face_nmes else np.zeros(1)
    q = float(np.quantile(allv, 0.95)) if len(allv) else 0.0
    return float(max(0.15, min(0.6, np.ceil(q * 20) / 20)))


def plot_ced_series(series, out: Path, title: str, ylabel: str = "fraction of faces",
                    legend_loc: str = "lower right") -> Path:
    """series: (label, colour, per-face NMEs, mean error, failure rate) each; one curve per series, the
    failure threshold, the legend giving each mean and failure rate. Writes `out` (its folder made)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xmax = ced_range([s[2] for s in series])
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    for label, colour, nme, mean, failure in series:
        x, y = M.ced(nme, max_error=xmax, steps=601)
        ax.plot(100 * x, y, color=colour, lw=1.8,
                label="%s: mean %.2f%%, failure %.2f%%" % (label, 100 * mean, 100 * failure))
    ax.axvline(100 * M.FAILURE_THRESHOLD, color="0.5", ls="--", lw=1)
    ax.text(100 * M.FAILURE_THRESHOLD, 0.02, " failure threshold", color="0.4", fontsize=8)
    ax.set_xlim(0, 100 * xmax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("NME (% of the eye-centre distance)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend_loc, fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
