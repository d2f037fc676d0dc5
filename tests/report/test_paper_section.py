"""The report section "Against the paper's model, face by face" (mcl_caffe/report/paper_section.py): its
tables against the comparison's figures, its place in REPORT.md, and a 300-W `make report` that includes it,
computed from the run's onnx/mcl.onnx."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcl_caffe.core.run_layout import RunLayout
from mcl_caffe.evaluation import paper_compare as PC
from mcl_caffe.infer import shipped
from mcl_caffe.report import paper_section as PS
from conftest import ROOT, SHARED_DATA

MODEL_DIR = shipped.model_dir("300w68")
MODEL = MODEL_DIR / "mcl.onnx"


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    out = tmp_path_factory.mktemp("section")
    r = PS.make_paper_section(MODEL, out, "the command")
    return {"out": out, "md": "\n".join(r["markdown"]), "s": r["summary"]}


def test_section_tables_show_the_comparisons_figures(section):
    md, s = section["md"], section["s"]
    assert md.startswith("\n## Against the paper's model, face by face\n")
    assert "Made by `the command`" in md and "Model `%s`" % MODEL in md
    card = shipped.model_card("300w68")  # a shipped model: the section says where it comes from
    assert ("names it as the AM exported by the run `%s` (commit %s)."
            % (card["train_command"], card["commit"])) in md
    assert "| error | %.2f | %.2f |" % (100 * s["mean_error"]["ours"], 100 * s["mean_error"]["paper"]) in md
    assert "| failure | %.2f (%d faces) | %.2f (%d faces) |" % (
        100 * s["failure_rate"]["ours"], s["failures"]["ours"], 100 * s["failure_rate"]["paper"],
        s["failures"]["paper"]) in md
    for (name, idx), label in zip(PC.REGIONS, ("jaw (1-17)", "brows (18-27)", "nose (28-36)", "eyes (37-48)",
                                              "mouth (49-68)")):
        r = s["regions"][name]
        assert "| %s | %.2f | %.2f | %+.2f |" % (label, 100 * r["ours"], 100 * r["paper"],
                                                 100 * r["ours"] - 100 * r["paper"]) in md
    w = s["wins"]
    assert ("**Faces won** (lower NME): this model %d, the paper's model %d, ties %d, of 135."
            % (w["ours"], w["paper"], w["ties"])) in md
    for b in s["roll_bins"]:
        assert "| %s | %d | %.2f | %.2f |" % (b["label"], b["faces"], 100 * b["ours"], 100 * b["paper"]) in md
    assert len(s["largest_gaps"]) == 8
    for g in s["largest_gaps"]:
        row = "| %s | %.0f° | %.2f | %.2f |" % (g["name"], g["roll"], 100 * g["ours"], 100 * g["paper"])
        assert row in md
    for png in (PS.CED_PNG, PS.SHEET_PNG):
        assert "](%s)" % png in md and (section["out"] / png).is_file()


def test_insert_section_places_it_before_table_iv_and_replaces_an_old_copy():
    report = ("# R\n\n## BM, WM and AM\n\ntext\n\n"
              "## Error of each cluster's landmarks (format of Table IV)\n\nx\n")
    sec = ["", "## " + PS.TITLE, "", "first", ""]
    once = PS.insert_section(report, sec)
    assert once == ("# R\n\n## BM, WM and AM\n\ntext\n\n## %s\n\nfirst\n\n"
                    "## Error of each cluster's landmarks (format of Table IV)\n\nx\n" % PS.TITLE)
    again = PS.insert_section(once, ["", "## " + PS.TITLE, "", "second", ""])
    assert again == once.replace("first", "second")
    assert PS.insert_section("# R\n", sec) == "# R\n\n## %s\n\nfirst\n" % PS.TITLE


def test_only_300w_reports_get_the_section(tmp_path):
    from mcl_caffe.report.report import paper_comparison

    assert paper_comparison("aflw", RunLayout("aflw", "cpu", tmp_path), {}, tmp_path, "c") is None
    r = paper_comparison("300w", RunLayout("300w", "cpu", tmp_path), {}, tmp_path, "c")
    assert r["summary"] is None
    assert "Not computed: the run has no exported model %s" % (tmp_path / "300w-cpu" / "onnx" / "mcl.onnx") \
        in "\n".join(r["markdown"])


def test_tool_puts_the_section_into_a_report(tmp_path):
    rep = tmp_path / "REPORT.md"
    rep.write_text("# R\n\n## Error of each cluster's landmarks (format of Table IV)\n")
    cmd = [sys.executable, "tools/paper_compare.py", "--onnx", str(MODEL), "--into", str(rep)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    md = rep.read_text()
    assert md.index("## " + PS.TITLE) < md.index("## Error of each cluster")
    assert (tmp_path / PS.CED_PNG).is_file() and (tmp_path / PS.SHEET_PNG).is_file()
    assert not (tmp_path / "COMPARE.md").exists()
    bad = subprocess.run(cmd + ["--out", str(tmp_path / "elsewhere")], cwd=ROOT, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "the PNGs must sit beside" in bad.stderr
    none = subprocess.run([sys.executable, "tools/paper_compare.py", "--onnx", str(MODEL)], cwd=ROOT,
                          capture_output=True, text=True)
    assert none.returncode == 2 and "give --out" in none.stderr


# ----------------------------------------------------------------------------- a 300-W report (Caffe)
N_FACES = 20


@pytest.fixture(scope="module")
def run300(tmp_path_factory):
    """A 300-W run whose AM is the shipped 68-point model (its Caffe files) and whose onnx/mcl.onnx is the
    shipped ONNX file, on IBUG's first N_FACES faces: `make report DATASET=300w` on it."""
    tmp = tmp_path_factory.mktemp("report300w")
    res = subprocess.run([sys.executable, "tools/make_data.py", "--dataset", "300w", "--data-root",
                          str(SHARED_DATA / "300w"), "--out", str(tmp / "data"), "--limit", str(N_FACES),
                          "--no-augment", "--no-progress", "--workers", "1"],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    layout = RunLayout("300w", "smoke", tmp / "runs", tmp / "data" / "300w")
    am = layout.stage_dir("assemble")
    am.mkdir(parents=True)
    shutil.copy(MODEL_DIR / "deploy.prototxt", am / "deploy.prototxt")
    shutil.copy(MODEL_DIR / "am.caffemodel", am / "am.caffemodel")
    (layout.root / "onnx").mkdir()
    shutil.copy(MODEL, layout.root / "onnx" / "mcl.onnx")
    rep = subprocess.run(["make", "--no-print-directory", "report", "DATASET=300w", "PROFILE=smoke",
                          "OUT=%s" % (tmp / "data"), "RUNS=%s" % (tmp / "runs")],
                         cwd=ROOT, capture_output=True, text=True)
    assert rep.returncode == 0, rep.stdout[-2000:] + rep.stderr[-3000:]
    out = layout.root / "report"
    return {"out": out, "md": (out / "REPORT.md").read_text(),
            "json": json.loads((out / "REPORT.json").read_text()), "layout": layout}


def test_300w_report_includes_the_section_from_the_runs_onnx(run300):
    md, doc, out = run300["md"], run300["json"], run300["out"]
    onnx = run300["layout"].root / "onnx" / "mcl.onnx"
    assert "## " + PS.TITLE in md
    assert md.index("## " + PS.TITLE) < md.index("## Error of each cluster's landmarks")
    assert "Model `%s`" % onnx in md and "Made by `make report DATASET=300w PROFILE=smoke" in md
    assert "The model's card" not in md  # a run's onnx/ has no card
    for png in (PS.CED_PNG, PS.SHEET_PNG):
        assert "](%s)" % png in md and (out / png).is_file()
    assert doc["files"]["paper_compare"] == [PS.CED_PNG, PS.SHEET_PNG]
    s = doc["paper_compare"]
    assert s["faces"] == 135  # always all of IBUG, whatever the run's test list holds
    w = s["wins"]
    assert "this model %d, the paper's model %d, ties %d, of 135." % (w["ours"], w["paper"], w["ties"]) in md


def test_the_sections_model_is_the_reports_am_face_by_face(run300):
    """The section runs onnx/mcl.onnx in the image, the report Caffe's AM on the test patches: on the run's
    test faces both give the same NME. ONNX reproduces Caffe to 1.5e-5 patch px (the card's parity) and d is
    over 10 patch px, so the NMEs agree to 1e-5 (in percent: 1e-3)."""
    s = run300["json"]["paper_compare"]
    with (run300["out"] / "per_face_nme.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == N_FACES
    by_name = {n: 100 * e for n, e in zip(s["names"], s["nme"]["ours"])}
    for r in rows:
        assert float(r["AM"]) == pytest.approx(by_name[Path(r["source"]).stem], abs=1e-3), r["source"]
    assert np.isfinite([float(r["AM"]) for r in rows]).all()

