"""CURVE.md and curve.png: a run's stage-1 learning curve (mcl_caffe/evaluation/curve.py) with two references,
the paper's BM (Table VI, mcl_caffe/report/paper_figures.py) and the committed `cpu` run's BM, read from its
REPORT.md (`make curve`)."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from mcl_caffe.evaluation import curve as C
from mcl_caffe.report.fmt import _table
from mcl_caffe.report.paper_figures import PAPER_TEST_SET, TABLE_VI

COLORS = {"val": "0.45", "test": "tab:blue", "test_gt": "tab:orange", "test_lfpw": "tab:green",
          "test_detector": "tab:purple", "val_roll20": "0.6", "val_roll35": "0.75",
          "val_detector": "tab:pink", "val_gt": "tab:brown"}


def cpu_reference(report_md: Path) -> dict | None:
    """The BM rows of a committed report (reports/<dataset>-cpu/REPORT.md): {list: (error %, failure %)},
    its stage-1 iterations and commit; None when the file is missing."""
    report_md = Path(report_md)
    if not report_md.is_file():
        return None
    text = report_md.read_text()
    lists, header, current = {}, None, None
    iterations = None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        m = re.match(r"\| model(?: \((\w+)\))? \|", line)
        if m:
            current, header = m.group(1) or "test", cells
            continue
        if cells and cells[0] == "**BM**" and current and current not in lists:
            err = next(i for i, h in enumerate(header) if h.startswith("error"))
            fail = next(i for i, h in enumerate(header) if h.startswith("failure"))
            lists[current] = (float(cells[err]), float(cells[fail]))
        elif cells and cells[0] == "stage1" and len(cells) > 2 and cells[2].isdigit():
            iterations = int(cells[2])
    if not lists or iterations is None:
        raise ValueError("%s: found no BM rows or no stage1 row in its tables; is it a REPORT.md of make "
                         "report?" % report_md)
    commit = re.search(r"\(commit (\w+)\)", text)
    try:  # repository-relative where it can be
        shown = str(report_md.resolve().relative_to(Path(__file__).resolve().parents[2]))
    except ValueError:
        shown = str(report_md)
    return {"path": shown, "lists": lists, "iterations": iterations,
            "commit": commit.group(1) if commit else None}


def _schedule(run_dir: Path) -> tuple[list[int], int]:
    """(the iterations where stage 1's rate decays, its last iteration) from the run's solver."""
    from mcl_caffe.train.continuation import read_solver
    s = read_solver(Path(run_dir) / "stage1" / "solver.prototxt")
    if s.lr_policy == "multistep":
        return [int(v) for v in s.stepvalue], int(s.max_iter)
    if s.lr_policy == "step":
        return list(range(s.stepsize, s.max_iter + 1, s.stepsize)), int(s.max_iter)
    return [], int(s.max_iter)


def plot(rows: list[dict], lists: list, dataset: str, cpu: dict | None, steps: list[int], max_iter: int,
         out: Path) -> Path:
    """Mean error of every list against the iteration, up to the run's last iteration (so the plot's frame
    stays put as the run grows), the paper's BM as a line, the cpu run's BM as points, the decays dotted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (matplotlib.ticker below)

    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=110)
    last = max(r["iteration"] for r in rows)
    for s in lists:
        pts = sorted((r["iteration"], r["mean_error_pct"]) for r in rows if r["list"] == s.name)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=4,
                    color=COLORS.get(s.name, None), label="BM on %s" % s.name)
        if cpu and s.name in cpu["lists"]:
            ax.plot([cpu["iterations"]], [cpu["lists"][s.name][0]], marker="D", ms=7, mfc="none", ls="none",
                    color=COLORS.get(s.name, None), label="cpu run's BM on %s" % s.name)
    if dataset in TABLE_VI:
        ax.axhline(TABLE_VI[dataset]["BM"][0], color=COLORS["test"], ls="--", lw=1.2,
                   label="paper's BM on %s (%.2f)" % (PAPER_TEST_SET[dataset], TABLE_VI[dataset]["BM"][0]))
    for k, v in enumerate(v for v in steps if v <= max_iter):
        ax.axvline(v, color="0.7", ls=":", lw=1, label="lr x 0.3" if k == 0 else None)
    ax.set_xlabel("stage-1 iteration")
    ax.set_ylabel("mean error (% of the eye-centre distance)")
    ax.set_title("%s: BM error against stage-1 iterations" % dataset, fontsize=10)
    right = max([max_iter, last] + ([cpu["iterations"]] if cpu else []))
    ax.set_xlim(0, 1.03 * right)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: "{:,.0f}".format(x)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def markdown(rows: list[dict], lists: list, dataset: str, run_dir: Path, every: int, cpu: dict | None,
             command: str, commit: str | None) -> str:
    its = sorted({r["iteration"] for r in rows})
    by = {(r["iteration"], r["list"]): r for r in rows}
    names = [s.name for s in lists if any(r["list"] == s.name for r in rows)]
    header = ["iteration", "lr"] + [h for n in names for h in ("%s error" % n, "%s failure" % n)]
    table = []
    for it in its:
        first = next(r for r in rows if r["iteration"] == it)
        cells = ["{:,}".format(it), "%.6g" % first["lr"]]
        for n in names:
            r = by.get((it, n))
            cells += ["%.2f" % r["mean_error_pct"], "%.2f" % r["failure_pct"]] if r else ["—", "—"]
        table.append(cells)
    samples = {r["list"]: r["samples"] for r in rows}
    L = ["# Stage-1 learning curve: %s, run `%s`" % (dataset, Path(run_dir).name), "",
         "Updated %s by `%s`%s. %d snapshot%s scored (every %s iterations), the newest at iteration %s."
         % (time.strftime("%Y-%m-%d %H:%M"), command, " (commit %s)" % commit if commit else "", len(its),
            "" if len(its) == 1 else "s", "{:,}".format(every), "{:,}".format(its[-1])), "",
         "Each row is BM as stage 1 left it at that iteration (the snapshot's weights, no fine-tuning), "
         "scored with `mcl_caffe/evaluation/curve.py`: mean error and failure rate (NME > 10 %) in percent "
         "of the eye-centre distance; lr is the rate of the iteration's last step. **The curve chooses "
         "nothing**: the run trains on to its end whatever it shows, and the test sets choose nothing (no "
         "snapshot, setting or stopping point is picked on them, nor on validation).", "",
         _table(header, table), "",
         "Lists (the run's data folder):", ""]
    L += ["- `%s` (%d samples): %s" % (s.name, samples[s.name], s.label) for s in lists if s.name in samples]
    L += ["", "References, not on this run's schedule:", ""]
    if dataset in TABLE_VI:
        L.append("- the paper's BM on %s: %.2f %% error, %.2f %% failure (Table VI), after its full "
                 "pre-training (180,000 iterations); the dashed line, to compare with `test`."
                 % (PAPER_TEST_SET[dataset], *TABLE_VI[dataset]["BM"]))
    if cpu:
        L.append("- the `cpu` run's BM (diamonds at its %s stage-1 iterations, a shorter schedule of its "
                 "own): %s; from `%s`%s." % ("{:,}".format(cpu["iterations"]),
                                       ", ".join("%s %.2f %% error, %.2f %% failure" % (n, *v)
                                                 for n, v in cpu["lists"].items()),
                                       cpu["path"], " (commit %s)" % cpu["commit"] if cpu["commit"] else ""))
    else:
        L.append("- no committed `cpu` report for %s was found, so no `cpu` point." % dataset)
    L += ["", "![BM error against stage-1 iterations](curve.png)", "",
          "`curve.csv` beside this file holds every figure above.", ""]
    return "\n".join(L)


def update(dataset: str, run_dir: Path, data_dir: Path, report_dir: Path, every: int = C.DEFAULT_EVERY,
           cpu_report: Path | None = None, threads: int = 1, command: str = "", log=print) -> Path:
    """Take in the rows of the committed curve.csv in `report_dir` that run_dir/curve.csv lacks (a replaced
    machine's earlier points), score the snapshots not yet scored (run_dir/curve.csv), then write CURVE.md and
    curve.png of the CSV's rows at multiples of `every`, and a copy of the CSV, into `report_dir`; returns
    CURVE.md's path."""
    from mcl_caffe.report.facts import git_commit
    run_dir, report_dir = Path(run_dir), Path(report_dir)
    csv_path = run_dir / "curve.csv"
    kept = C.merge_committed(csv_path, report_dir / "curve.csv")
    if kept:
        log("curve: kept %d rows of %s, scored before this run folder's snapshots"
            % (kept, report_dir / "curve.csv"))
    C.score(run_dir, data_dir, csv_path, every, threads, log=log)
    rows = [r for r in C.read_curve(csv_path) if r["iteration"] % every == 0]
    if not rows:
        raise FileNotFoundError("no stage-1 snapshot at a multiple of %d iterations in %s yet: nothing to "
                                "score" % (every, run_dir / "stage1" / "snapshots"))
    lists = C.score_lists(data_dir)
    cpu = cpu_reference(cpu_report) if cpu_report else None
    report_dir.mkdir(parents=True, exist_ok=True)
    steps, max_iter = _schedule(run_dir)
    plot(rows, lists, dataset, cpu, steps, max_iter, report_dir / "curve.png")
    shutil.copyfile(csv_path, report_dir / "curve.csv")
    md = report_dir / "CURVE.md"
    md.write_text(markdown(rows, lists, dataset, run_dir, every, cpu, command, git_commit()))
    return md
