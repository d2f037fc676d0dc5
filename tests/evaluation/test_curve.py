"""`make curve` on a real tiny run: stage 1 of the test-only `tiny-long` profile (tests/tiny_profiles.py;
snapshots kept at 3, 6 and 9) on the smoke data, scored on its val, validation views, test and test_gt
lists."""
import csv
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from mcl_caffe.caffe_import import blas_threads
from mcl_caffe.core import metrics as M
from mcl_caffe.core.run_layout import read_json
from mcl_caffe.evaluation.curve import score_lists
from mcl_caffe.nets.solvergen import PROFILES
from mcl_caffe.report.curve_report import cpu_reference
from mcl_caffe.report.paper_figures import TABLE_VI
from mcl_caffe.train.predict import predict, read_set

pytestmark = pytest.mark.slow
# The CSV holds percent with 4 decimals: a figure read back is within half a unit of the last place
CSV_ROUNDING = 0.5e-4


def _make_curve(run, report, every=3):
    return subprocess.run(["make", "--no-print-directory", "curve", "DATASET=aflw", "PROFILE=tiny-long",
                           "RUNS=%s" % run["runs"], "OUT=%s" % run["data"].parent, "CURVE_EVERY=%d" % every,
                           "CURVE_REPORT=%s" % report], cwd=ROOT, capture_output=True, text=True, timeout=600)


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def curve(tiny_long_run, tmp_path_factory):
    report = tmp_path_factory.mktemp("curve") / "aflw-tiny-long"
    res = _make_curve(tiny_long_run, report)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return {"report": report, "csv": tiny_long_run["run"] / "curve.csv", "run": tiny_long_run["run"],
            "data": tiny_long_run["data"]}


def test_every_kept_snapshot_is_scored_on_every_list(curve):
    rows = _rows(curve["csv"])
    names = [s.name for s in score_lists(curve["data"])]
    assert {"val", "test", "test_gt"} <= set(names)
    meta = read_json(curve["data"] / "meta.json")
    assert set(names) == {"val", "test"} | set(meta["extra_tests"]) | set(meta.get("val_views") or {})
    # 3, 6 and 9 are kept; 8, the other newest snapshot, is not a multiple of 3
    assert sorted((int(r["iteration"]), r["list"]) for r in rows) == sorted(
        (it, name) for it in (3, 6, 9) for name in names)
    n = {name: len(read_set(curve["data"] / ("%s.txt" % name)).d) for name in names}
    assert all(int(r["samples"]) == n[r["list"]] for r in rows)
    # the rate of each snapshot's last step: x0.3 at 3 and 6
    lr = {int(r["iteration"]): float(r["lr"]) for r in rows}
    assert [lr[3], lr[6], lr[9]] == pytest.approx([0.02, 0.006, 0.0018], rel=1e-6)


def test_figures_equal_an_independent_evaluation(curve):
    rows = {(int(r["iteration"]), r["list"]): r for r in _rows(curve["csv"])}
    # the runner's own validation of BM at the end of stage 1 (same weights as snapshot 9, one thread)
    val = read_json(curve["run"] / "stage1" / "val_errors.json")["mean"]
    assert float(rows[(9, "val")]["mean_error_pct"]) == pytest.approx(100 * val, abs=CSV_ROUNDING)
    # snapshot 6 on the test list, through predict() with one thread as the curve uses
    test = read_set(curve["data"] / "test.txt")
    with blas_threads(1):
        pred = predict(curve["run"] / "stage1" / "deploy.prototxt",
                       curve["run"] / "stage1" / "snapshots" / "stage1_iter_6.caffemodel", test.data)
    face = M.nme(pred, test.label, test.d)
    assert float(rows[(6, "test")]["mean_error_pct"]) == pytest.approx(100 * face.mean(), abs=CSV_ROUNDING)
    failure = 100 * np.mean(face > M.FAILURE_THRESHOLD)
    assert float(rows[(6, "test")]["failure_pct"]) == pytest.approx(failure, abs=CSV_ROUNDING)


def test_a_second_call_scores_nothing_again(curve):
    before = curve["csv"].read_text()
    res = _make_curve({"runs": curve["run"].parent, "data": curve["data"]}, curve["report"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert curve["csv"].read_text() == before
    assert "curve: iteration" not in res.stdout


def test_a_replaced_machine_keeps_the_committed_points(curve, tmp_path):
    """The run folder is lost with its snapshot 3 and its curve.csv; stage 1 went on from a committed
    checkpoint to 6 and 9. The committed curve.csv holds iteration 3's rows: they stay in the curve, and 6
    and 9 are scored as before."""
    rows = _rows(curve["csv"])
    run = tmp_path / "runs" / "aflw-tiny-long"
    shutil.copytree(curve["run"], run)
    (run / "curve.csv").unlink()
    for f in (run / "stage1" / "snapshots").glob("stage1_iter_3.*"):
        f.unlink()
    report = tmp_path / "report"
    report.mkdir()
    with (report / "curve.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(r for r in rows if r["iteration"] == "3")
    n3 = sum(r["iteration"] == "3" for r in rows)
    res = _make_curve({"runs": run.parent, "data": curve["data"]}, report)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "kept %d rows" % n3 in res.stdout
    after = _rows(run / "curve.csv")
    key = lambda r: (r["iteration"], r["list"])  # noqa: E731
    assert [key(r) for r in after] == [key(r) for r in rows]
    # 3 as committed; 6 and 9 scored again from the same weights, to the same figures
    fig = lambda r: (r["samples"], r["mean_error_pct"], r["failure_pct"], r["lr"])  # noqa: E731
    assert [fig(r) for r in after] == [fig(r) for r in rows]
    assert [r["scored_at"] for r in after if r["iteration"] == "3"] == [
        r["scored_at"] for r in rows if r["iteration"] == "3"]
    assert (report / "curve.csv").read_text() == (run / "curve.csv").read_text()
    assert "| 3 |" in (report / "CURVE.md").read_text()


def test_curve_md_and_plot(curve):
    md = (curve["report"] / "CURVE.md").read_text()
    assert "The curve chooses nothing" in md and "the test sets choose nothing" in md
    for it in ("| 3 |", "| 6 |", "| 9 |"):
        assert it in md
    assert "%.2f %% error" % TABLE_VI["aflw"]["BM"][0] in md
    cpu = cpu_reference(ROOT / "reports" / "aflw-cpu" / "REPORT.md")
    assert "test %.2f %% error" % cpu["lists"]["test"][0] in md
    assert "{:,}".format(cpu["iterations"]) in md
    png = (curve["report"] / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    assert (curve["report"] / "curve.csv").read_text() == curve["csv"].read_text()


def test_cpu_reference_reads_the_committed_reports():
    for dataset, extras in (("aflw", {"test_gt"}), ("300w", {"test_lfpw", "test_detector"})):
        ref = cpu_reference(ROOT / "reports" / ("%s-cpu" % dataset) / "REPORT.md")
        assert set(ref["lists"]) == {"test"} | extras
        assert ref["iterations"] == PROFILES["cpu"].pretrain_iter
        text = (ROOT / "reports" / ("%s-cpu" % dataset) / "REPORT.md").read_text()
        # the main table's BM row: measured error, paper error, measured failure
        err, fail = ref["lists"]["test"]
        assert "| **BM** | %.2f | %.2f | %.2f |" % (err, TABLE_VI[dataset]["BM"][0], fail) in text
    assert cpu_reference(ROOT / "reports" / "no-such-run" / "REPORT.md") is None


def test_cpu_reference_of_a_generated_report(tmp_path):
    md = tmp_path / "REPORT.md"
    md.write_text("Generated by x (commit abc1234).\n\n"
                  "| model | error (measured) | error (paper, X) | failure (measured) | failure (paper) |\n"
                  "| --- | ---: | ---: | ---: | ---: |\n| **BM** | 9.10 | 5.67 | 30.25 | 4.43 |\n"
                  "| **WM** | 8.00 | 5.50 | 20.00 | 3.84 |\n\n"
                  "| model (test_gt) | error | failure | AUC@10% |\n| --- | ---: | ---: | ---: |\n"
                  "| **BM** | 7.25 | 12.50 | 0.3 |\n\n"
                  "| stage | what | iterations | time | done |\n| --- | --- | ---: | ---: | --- |\n"
                  "| stage1 | pre-training | 4321 | 1:00 | yes |\n")
    ref = cpu_reference(md)
    assert ref["lists"] == {"test": (9.10, 30.25), "test_gt": (7.25, 12.50)}
    assert ref["iterations"] == 4321 and ref["commit"] == "abc1234"
    md.write_text("# nothing here\n")
    with pytest.raises(ValueError, match="no BM rows"):
        cpu_reference(md)


def test_errors_name_the_problem(tiny_long_run, tmp_path):
    res = _make_curve(tiny_long_run, tmp_path / "r", every=7)
    assert res.returncode == 2 and "no stage-1 snapshot at a multiple of 7" in res.stderr
    empty = {"runs": tmp_path / "runs", "data": tiny_long_run["data"]}
    res = _make_curve(empty, tmp_path / "r")
    assert res.returncode == 2 and "deploy.prototxt is missing" in res.stderr, res.stderr
