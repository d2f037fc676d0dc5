"""The report section "Against the paper's model, face by face": an exported 68-point ONNX model against the
paper's own IBUG output (mcl_caffe.evaluation.paper_compare), with its two figures.

Every 300-W report includes it, computed from the run's ``onnx/mcl.onnx``; ``make paper-compare`` writes it
for any exported 68-point model (tools/paper_compare.py). Needs no Caffe.
"""
from __future__ import annotations

from pathlib import Path

from mcl_caffe.evaluation import paper_compare as PC
from mcl_caffe.report.fmt import _pct, _table

TITLE = "Against the paper's model, face by face"
CED_PNG = "paper_ced.png"
SHEET_PNG = "paper_gaps.png"
N_GAPS = 8


def _shown(path) -> str:
    """A path as the repository sees it (../shared/data/... for the shared data), else as given."""
    import os
    repo = Path(__file__).resolve().parents[2]
    rel = os.path.relpath(Path(path).resolve(), repo)
    return rel if rel.startswith("../shared/") else str(path)


def default_sources(w300_root=None, authors_path=None) -> tuple[Path, Path]:
    """The IBUG folder's parent (a 300-W folder) and the authors' file; default: the shared data."""
    from mcl_caffe.data.datasets.authors_points import AUTHORS_IBUG_FILE
    from mcl_caffe.data.eval_faces import SHARED_DATA

    w300 = Path(w300_root) if w300_root else SHARED_DATA / "300w"
    authors = Path(authors_path) if authors_path else SHARED_DATA / AUTHORS_IBUG_FILE
    return w300, authors


def make_paper_section(onnx_path, out_dir, command: str, w300_root=None, authors_path=None) -> dict:
    """Compare the model with the paper's output, write the CED plot and the contact sheet into out_dir, and
    return {'markdown': lines of the section, 'summary': every figure (fractions)}.
    Raises paper_compare.CompareError for a missing file or a model that is not a 68-point model."""
    from mcl_caffe.evaluation.paper_compare_plots import contact_sheet, plot_ced_pair

    w300, authors = default_sources(w300_root, authors_path)
    cmp = PC.compare(onnx_path, w300, authors)
    s = PC.summarize(cmp, N_GAPS)
    s["model_card"] = model_card_of(onnx_path)
    out_dir = Path(out_dir)
    plot_ced_pair(s["nme"]["ours"], s["nme"]["paper"], out_dir / CED_PNG,
                  "IBUG (%d faces): this model against the paper's" % len(cmp))
    contact_sheet(cmp, [g["index"] for g in s["largest_gaps"]], out_dir / SHEET_PNG)
    return {"markdown": render_paper_section(s, command), "summary": s}


def model_card_of(onnx_path) -> dict | None:
    """What a shipped model's card (model.json beside the ONNX file, written by `make ship`) says about where
    the model comes from: {'train_command', 'commit'}; None for a file without a card."""
    import json

    card = Path(onnx_path).parent / "model.json"
    if not card.is_file():
        return None
    doc = json.loads(card.read_text())
    return {"train_command": doc.get("train_command"), "commit": doc.get("commit")}


def unavailable_section(reason: str) -> list[str]:
    """The section when it cannot be computed: what is missing and how to make it."""
    return ["", "## " + TITLE, "", "Not computed: %s" % reason, ""]


def render_paper_section(s: dict, command: str) -> list[str]:
    """Markdown lines of the section from `summarize`'s figures; the PNGs are linked by their names."""
    n = s["faces"]
    L = ["", "## " + TITLE, ""]
    L.append(
        "Model `%s` against the paper's own model, represented by the 68 points that the authors' released "
        "tool outputs for the same %d IBUG faces (`%s`; with this project's metric it scores %s %% and %s %% "
        "failures, the paper's Table VI AM row). This model ran through onnxruntime on the test protocol's "
        "crops (each face cropped from the tight box of its ground-truth points, 300-W's `bb_ground_truth`); "
        "its points were mapped back into the image and both models are scored there against the ground "
        "truth. Made by `%s` (`mcl_caffe/evaluation/paper_compare.py`)."
        % (s["model"], n, _shown(s["authors"]), _pct(s["mean_error"]["paper"]),
           _pct(s["failure_rate"]["paper"]),
           command))
    card = s.get("model_card")
    if card:
        L.append("")
        L.append("The model's card (`MODEL.md` and `model.json` beside it) names it as the AM exported by "
                 "the run `%s` (commit %s)." % (card["train_command"], card["commit"]))
    L.append("")
    L.append(_table(["", "this model", "the paper's model"], [
        ["error", _pct(s["mean_error"]["ours"]), _pct(s["mean_error"]["paper"])],
        ["failure", "%s (%d faces)" % (_pct(s["failure_rate"]["ours"]), s["failures"]["ours"]),
         "%s (%d faces)" % (_pct(s["failure_rate"]["paper"]), s["failures"]["paper"])],
    ]))
    L.append("")
    rows = []
    for name, idx in PC.REGIONS:
        r = s["regions"][name]
        rows.append(["%s (%d-%d)" % (name, idx[0] + 1, idx[-1] + 1), _pct(r["ours"]), _pct(r["paper"]),
                     "%+.2f" % (100 * (r["ours"] - r["paper"]))])
    L.append(_table(["region (points, 1-based)", "this model", "the paper's model", "difference"], rows))
    L.append("")
    L.append("Error of each region: the mean over faces and over the region's points of the point error, in "
             "percent of the eye-centre distance.")
    L.append("")
    w = s["wins"]
    L.append("**Faces won** (lower NME): this model %d, the paper's model %d, ties %d, of %d."
             % (w["ours"], w["paper"], w["ties"], n))
    L.append("")
    rows = [[b["label"], str(b["faces"]), _pct(b["ours"]), _pct(b["paper"])] for b in s["roll_bins"]]
    L.append(_table(["roll", "faces", "this model", "the paper's model"], rows))
    L.append("")
    L.append("Roll: the absolute angle of the line between the ground-truth eye centres (each the mean of "
             "its six points) against the image's horizontal; error = mean NME of the bin's faces.")
    L.append("")
    L.append("![CED of this model and the paper's model](%s)" % CED_PNG)
    L.append("")
    rows = [[g["name"], "%.0f°" % g["roll"], _pct(g["ours"]), _pct(g["paper"]),
             "%+.2f" % (100 * (g["ours"] - g["paper"]))] for g in s["largest_gaps"]]
    L.append("The %d faces with the largest gap (this model's NME minus the paper's model's), drawn below "
             "with the ground truth (green), this model's points (red) and the paper's model's (blue):"
             % len(rows))
    L.append("")
    L.append(_table(["face", "roll", "this model", "the paper's model", "gap"], rows))
    L.append("")
    L.append("![the faces with the largest gap](%s)" % SHEET_PNG)
    L.append("")
    return L


BEFORE = "## Error of each cluster's landmarks"  # the section after it in REPORT.md (Table IV)


def insert_section(markdown: str, section: list[str], before: str = BEFORE) -> str:
    """REPORT.md text with the section in it: replacing an earlier copy (its heading up to the next `## `
    heading), else placed before the first line starting with `before` (where make_report puts it), else
    at the end."""
    lines = markdown.split("\n")
    body = "\n".join(section).strip("\n").split("\n")
    head = "## " + TITLE
    if head in lines:
        i = lines.index(head)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        new = lines[:i] + body + [""] + lines[j:]
    else:
        i = next((k for k, ln in enumerate(lines) if ln.startswith(before)), None)
        if i is None:
            while lines and not lines[-1].strip():
                lines.pop()
            new = lines + [""] + body + [""]
        else:
            new = lines[:i] + body + [""] + lines[i:]
    return "\n".join(new)


def write_comparison(onnx_path, out_dir, command: str, into=None, w300_root=None, authors_path=None) -> Path:
    """`make paper-compare`: the section for any exported 68-point model, with its PNGs, written as
    out_dir/COMPARE.md; or, with `into` (a REPORT.md), put into that report (replacing an earlier copy) with
    the PNGs beside it. -> the markdown file written."""
    if into is not None:
        into = Path(into)
        if not into.is_file():
            raise PC.CompareError("report file not found: %s" % into)
        if out_dir is not None and Path(out_dir).resolve() != into.parent.resolve():
            raise PC.CompareError("the PNGs must sit beside %s, but the output folder is %s"
                                  % (into, out_dir))
        out_dir = into.parent
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sec = make_paper_section(onnx_path, out_dir, command, w300_root, authors_path)["markdown"]
    if into is not None:
        into.write_text(insert_section(into.read_text(), sec))
        return into
    out = out_dir / "COMPARE.md"
    out.write_text("\n".join(["# `%s` against the paper's model on IBUG" % onnx_path] + sec))
    return out
