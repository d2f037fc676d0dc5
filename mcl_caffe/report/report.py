"""The reproduction report of one training run: the paper's metrics, tables and experiments on the test set.

Reads runs/<dataset>-<profile>/{stage1,stage2,stage3,stage4,assemble}/ and the prepared test HDF5 list
(<data>/test.txt), runs every trained model through Caffe on the test patches, and writes to
runs/<dataset>-<profile>/report/:

* REPORT.md       the tables in the paper's formats with the paper's figures beside the measured ones
                  (Table VI / III: BM, WM, AM; Table IV: per-cluster errors; Table VII: left-eye occlusion),
                  the data, the profile, the time each stage took, and the weight-perturbation result
                  (Fig. 7) when `make perturb` has produced one;
* REPORT.json     every number of the report (percent, like the paper);
* per_face_nme.csv the NME of every test face under every model;
* a 'validation versus test' section (mcl_caffe.evaluation.error_breakdown) for the final model, when
<data>/val.txt
  exists;
* ced.png         CED curves of BM, WM and AM; loss.png the training loss of every stage;
  occlusion_examples.png a few occluded test patches (Fig. 9);
* 300-W only: the section 'Against the paper's model, face by face' (mcl_caffe.report.paper_section), the
  run's exported onnx/mcl.onnx against the paper's own IBUG output, with paper_ced.png and paper_gaps.png.

The metrics are those of mcl_caffe.core.metrics. The test patches are crops of the test images by a similarity
transform without rotation (scale and shift), so the NME measured on the patches equals the NME in the
original image coordinates.
"""
from __future__ import annotations

import csv
import datetime as _dt
import shutil
from pathlib import Path

import numpy as np

from mcl_caffe.core import metrics as M
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.core.run_layout import RunLayout, write_json
from mcl_caffe.evaluation import occlusion as O
from mcl_caffe.report import paper_figures as P
from mcl_caffe.evaluation.evaluate import (TestSet, breakdown_val_test, evaluate,
                                           evaluate_extra_tests, evaluate_val_views, load_test_set,
                                           read_meta)
from mcl_caffe.report.facts import (data_lines, git_commit, perturbation_results, profile_settings,
                                    stage_timings, test_set_statement)
from mcl_caffe.report.markdown import render_markdown
from mcl_caffe.report.plots import plot_ced, plot_losses, plot_occlusion_examples
from mcl_caffe.evaluation import paper_compare as PC
from mcl_caffe.report import paper_section as PS


# ----------------------------------------------------------------------------- JSON / CSV
def _jsonable(results: dict) -> dict:
    out = {}
    for k, r in results.items():
        out[k] = {
            "faces": r["faces"],
            "mean_error": 100 * r["mean_error"],
            "failure_rate": 100 * r["failure_rate"],
            "auc_0.1": r["auc_0.1"],
            "per_landmark": [100 * v for v in r["per_landmark"]],
            "per_cluster": {n: 100 * v for n, v in r["per_cluster"].items()},
        }
        x, y = M.ced(r["nme_per_face"], max_error=0.3, steps=61)
        out[k]["ced"] = {"nme_percent": (100 * x).round(6).tolist(), "fraction": y.round(6).tolist()}
    return out


def _jsonable_lists(lists: dict) -> dict:
    """evaluate_lists' {split: {'label', 'faces', 'results'}} with the results made JSON-ready."""
    return {k: {"label": v["label"], "faces": v["faces"], "results": _jsonable(v["results"])}
            for k, v in lists.items()}


def write_per_face_csv(path: Path, test: TestSet, results: dict) -> None:
    keys = list(results)
    occ_keys = [k for k in keys if "nme_per_face_occluded" in results[k]]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["face", "index", "source"] + keys + ["%s_occluded" % k for k in occ_keys])
        for i in range(len(test)):
            w.writerow(
                [i, int(test.index[i]), test.sources[i]]
                + ["%.4f" % (100 * results[k]["nme_per_face"][i]) for k in keys]
                + ["%.4f" % (100 * results[k]["nme_per_face_occluded"][i]) for k in occ_keys]
            )


def paper_comparison(dataset: str, layout: RunLayout, meta: dict, out_dir: Path, command: str) -> dict | None:
    """300-W only: the section "Against the paper's model, face by face" for the run's exported model
    (onnx/mcl.onnx) on the IBUG folder of the run's data root -> {'markdown', 'summary'}, or the section
    saying what is missing ('summary' None). None for the other datasets."""
    if dataset != "300w":
        return None
    onnx = layout.root / "onnx" / "mcl.onnx"
    if not onnx.is_file():
        why = ("the run has no exported model %s yet (`make onnx DATASET=%s PROFILE=%s`, part of `make all`)"
               % (onnx, dataset, layout.profile))
        return {"markdown": PS.unavailable_section(why), "summary": None}
    root = meta.get("data_root")
    try:
        return PS.make_paper_section(onnx, out_dir, command, w300_root=root)
    except PC.CompareError as exc:
        return {"markdown": PS.unavailable_section(str(exc)), "summary": None}


# ----------------------------------------------------------------------------- main
def make_report(*args, threads: int | None = 1, **kwargs) -> dict:
    """Evaluate a trained run and write its report (see `_make_report`), with Caffe's OpenBLAS at `threads`
    threads for the duration (restored afterwards; None keeps the current count)."""
    from mcl_caffe.caffe_import import blas_threads, load_caffe

    load_caffe()
    if threads is None:
        return _make_report(*args, **kwargs)
    with blas_threads(threads):
        return _make_report(*args, **kwargs)


def _make_report(
    dataset: str,
    profile: str,
    data_dir: Path,
    runs: Path,
    out_dir: Path | None = None,
    occlusion_fraction: float = O.DEFAULT_FRACTION,
    occlusion_seed: int = O.DEFAULT_SEED,
    report_command: str | None = None,
    train_command: str | None = None,
    batch: int = 64,
) -> dict:
    from mcl_caffe.caffe_import import load_caffe

    caffe = load_caffe()
    scheme = get_scheme(dataset)
    layout = RunLayout(dataset, profile, Path(runs).resolve(), Path(data_dir))
    if not layout.root.is_dir():
        raise SystemExit(
            "report: no run at %s: train it first (make all DATASET=%s PROFILE=%s)"
            % (layout.root, dataset, profile)
        )
    out_dir = Path(out_dir) if out_dir else layout.root / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    test = load_test_set(Path(data_dir))
    if test.label.shape[1] != 2 * scheme.n_points:
        raise SystemExit(
            "report: %s holds %d points per face, %s has %d"
            % (test.list_file, test.label.shape[1] // 2, dataset, scheme.n_points)
        )
    meta = read_meta(Path(data_dir))
    ev = evaluate(layout, scheme, test, caffe, occlusion_fraction, occlusion_seed, batch)
    res = ev["results"]
    if not res:
        raise SystemExit("report: %s has no trained model yet (stage1/final.caffemodel ...)" % layout.root)

    extra = evaluate_extra_tests(Path(data_dir), meta, ev, scheme, caffe, batch)
    bd = breakdown_val_test(Path(data_dir), scheme, test, ev, caffe, batch)
    views = evaluate_val_views(Path(data_dir), meta, ev, scheme, caffe, batch)
    ced_png = plot_ced(
        res,
        out_dir / "ced.png",
        "CED on the test set: %s (%d faces), profile %s" % (dataset, len(test), profile),
    )
    loss_png = plot_losses(layout, scheme, out_dir / "loss.png")
    occ_png = plot_occlusion_examples(test, ev, scheme, out_dir / "occlusion_examples.png")
    pert = perturbation_results(layout)
    if pert and pert.get("png"):
        # a copy beside REPORT.md, so the report folder is complete on its own (reports/ in the repository)
        src = layout.root / "perturb" / pert["png"]
        if src.is_file():
            shutil.copyfile(src, out_dir / "fig7.png")
            pert["png"] = str((out_dir / "fig7.png").resolve())
        else:
            pert["png"] = None

    paper_cmp = paper_comparison(dataset, layout, meta, out_dir, report_command or "make report")
    d_def = {5: "points 1 and 2", 29: "pupils, points 17 and 18", 68: "means of points 37-42 and 43-48"}.get(
        scheme.n_points, "eye centres"
    )
    ctx = {
        "dataset": dataset,
        "profile": profile,
        "scheme": scheme,
        "results": res,
        "occlusion": ev["occlusion"],
        "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "report_command": report_command
        or "python tools/report.py --dataset %s --profile %s --data %s --runs %s"
        % (dataset, profile, data_dir, runs),
        "train_command": train_command
        or "make all DATASET=%s PROFILE=%s OUT=%s RUNS=%s" % (dataset, profile, Path(data_dir).parent, runs),
        "test_list": str(test.list_file),
        "n_test": len(test),
        "eval_seconds": ev["eval_seconds"],
        "test_statement": test_set_statement(dataset, meta, len(test)),
        "d_definition": d_def,
        "ced_png": ced_png.name if ced_png else None,
        "loss_png": loss_png.name if loss_png else None,
        "occlusion_png": occ_png.name if occ_png else None,
        "occlusion_settings": {
            "fraction": occlusion_fraction,
            "seed": occlusion_seed,
            "faces": int(len(ev["occluded_faces"])),
            "points": list(O.left_eye_points(scheme)),
        },
        "perturbation": pert,
        "breakdown": bd,
        "paper_compare": paper_cmp["markdown"] if paper_cmp else None,
        "extra_tests": extra,
        "val_views": views,
        "out_dir": str(out_dir),
        "data_lines": data_lines(meta, Path(data_dir)),
        "profile_settings": profile_settings(profile),
        "timings": stage_timings(layout, scheme),
    }
    md = render_markdown(ctx)
    (out_dir / "REPORT.md").write_text(md)
    write_per_face_csv(out_dir / "per_face_nme.csv", test, res)

    paper = {
        "table_vi": P.TABLE_VI.get(dataset),
        "table_iii_pre_bm": P.TABLE_III_PRE_BM.get(dataset),
        "paper_test_set": P.PAPER_TEST_SET.get(dataset),
    }
    if dataset == P.TABLE_IV_DATASET:
        paper["table_iv"] = {"columns": list(P.TABLE_IV_MODELS), "rows": P.TABLE_IV}
    if dataset == P.TABLE_VII_DATASET:
        paper["table_vii"] = P.TABLE_VII
    doc = {
        "units": "percent of the ground-truth eye-centre distance (failure rate: percent of faces with "
        "NME > 10 %; auc_0.1: a fraction, area under the CED up to 10 % divided by 10 %)",
        "dataset": dataset,
        "profile": profile,
        "scheme": scheme.name,
        "n_points": scheme.n_points,
        "generated": ctx["generated"],
        "commit": ctx["commit"],
        "report_command": ctx["report_command"],
        "train_command": ctx["train_command"],
        "test_set": {"list": str(test.list_file), "faces": len(test), "statement": ctx["test_statement"]},
        "models": {
            k: {"title": ref.title, "deploy": str(ref.deploy), "weights": str(ref.weights)}
            for k, ref in ev["models"].items()
        },
        "results": _jsonable(res),
        "extra_tests": _jsonable_lists(extra),
        "val_views": _jsonable_lists(views),
        "occlusion": {
            "settings": dict(
                ctx["occlusion_settings"],
                faces_chosen=ev["occluded_faces"].tolist(),
                boxes_xxyy=np.round(ev["occlusion_boxes"], 4).tolist(),
            ),
            "results": M.percent(ev["occlusion"]),
        },
        "perturbation": pert,
        "breakdown": dict(
            bd,
            units="fractions of d, not percent (errors, offsets, shares); the yaw proxy is in units of d",
        )
        if bd
        else None,
        "paper": paper,
        "paper_compare": paper_cmp["summary"] if paper_cmp else None,
        "timings": ctx["timings"],
        "profile_settings": ctx["profile_settings"],
        "data": {k: meta.get(k) for k in ("dataset", "scheme", "sources", "options", "summary", "data_root")},
        "clusters": {name: [int(i) for i in idx] for name, idx in scheme.clusters},
        "eval_seconds": ev["eval_seconds"],
        "files": {
            "markdown": "REPORT.md",
            "per_face": "per_face_nme.csv",
            "ced": ctx["ced_png"],
            "loss": ctx["loss_png"],
            "occlusion_examples": ctx["occlusion_png"],
            "fig7": "fig7.png" if pert and pert.get("png") else None,
            "paper_compare": [PS.CED_PNG, PS.SHEET_PNG] if paper_cmp and paper_cmp["summary"] else None,
        },
    }
    write_json(out_dir / "REPORT.json", doc)
    return {"out_dir": out_dir, "markdown": md, "json": doc}
