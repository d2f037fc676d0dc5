"""REPORT.md: the sections in order; the longer sections are in `mcl_caffe.report.sections`."""
from __future__ import annotations

from mcl_caffe.report import paper_figures as P
from mcl_caffe.evaluation.evaluate import MAIN_MODELS, STAGE_MODELS
from mcl_caffe.report.facts import stage4_override
from mcl_caffe.report.fmt import heading, _f, _hms, _pct, _table
from mcl_caffe.report.sections import (cluster_section, occlusion_section, perturbation_section,
                                       render_breakdown)


def intro_section(ctx: dict) -> list[str]:
    """Title, provenance, the test set and the error definitions."""
    ds, prof, scheme, res = ctx["dataset"], ctx["profile"], ctx["scheme"], ctx["results"]
    L = []
    L.append("# MCL reproduction report: %s (%d points), profile `%s`" % (ds, scheme.n_points, prof))
    L.append("")
    L.append(
        "Generated %s by `%s` (commit %s). Training command: `%s`. Evaluation: Caffe forward passes "
        "(`mcl_caffe/train/predict.py`) on the test HDF5 list `%s`, %d faces, %.0f s."
        % (
            ctx["generated"],
            ctx["report_command"],
            ctx["commit"] or "?",
            ctx["train_command"],
            ctx["test_list"],
            ctx["n_test"],
            ctx["eval_seconds"],
        )
    )
    if prof != "paper":
        L.append("")
        L.append(
            "> Profile `%s` is not the paper's schedule (see *Training profile*): the numbers measure this "
            "%s, not the method at convergence.%s"
            % (
                prof,
                "run (the paper's stage 1 stopped after its third decay, at 90,000 iterations; stages 2-4 as "
                "the `cpu` profile's)" if prof == "long" else "short run",
                (
                    " The smoke profile trains for a few minutes; its numbers are meaningless as "
                    "results and only exercise the pipeline."
                    if prof == "smoke"
                    else ""
                ),
            )
        )
    L.append("")
    L.append("**Test set:** %s" % ctx["test_statement"])
    L.append("")
    L.append(
        "All errors are in percent of the ground-truth eye-centre distance d (%s), as in the paper: NME of a "
        "face = mean over its landmarks of ||p_j - g_j|| / d; *error* = mean NME over the test faces; "
        "*failure* = percent of faces with NME > 10 %%. Measured on the 50x50 test patches: the patch is a "
        "crop by scaling and shifting only (no rotation for test faces), so the NME equals the NME in image "
        "coordinates." % ctx["d_definition"]
    )
    missing = [k for k in MAIN_MODELS if k not in res]
    if missing:
        L.append("")
        L.append("Not trained yet (left out below): %s." % ", ".join(missing))
    return L


def main_section(ctx: dict) -> list[str]:
    """Tables III and VI: BM, WM and AM against the paper, extra test lists, CED, breakdown."""
    ds, scheme, res = ctx["dataset"], ctx["scheme"], ctx["results"]
    paper_set = P.PAPER_TEST_SET.get(ds, "?")
    L = heading("BM, WM and AM (format of Tables III and VI)")
    pv = P.TABLE_VI.get(ds, {})
    rows = []
    for k in MAIN_MODELS:
        r = res.get(k)
        paper = pv.get(k, (None, None))
        rows.append(
            [
                "**%s**" % k,
                _pct(r["mean_error"]) if r else "not trained",
                _f(paper[0]),
                _pct(r["failure_rate"]) if r else "—",
                _f(paper[1]),
                _f(r["auc_0.1"], 3) if r else "—",
            ]
        )
    L.append(
        _table(
            [
                "model",
                "error (measured)",
                "error (paper, %s)" % paper_set,
                "failure (measured)",
                "failure (paper)",
                "AUC@10% (extra, 0-1)",
            ],
            rows,
        )
    )
    L.append("")
    L.append(
        "Paper figures: Table VI (BM's error is also Table III). Table III's pre-BM (the earlier fully "
        "connected version) has %s on %s; not reproduced here. AUC@10%% = area under the CED up to 10 %%, "
        "divided by 10 %%, not a figure of the paper." % (_f(P.TABLE_III_PRE_BM.get(ds)), paper_set)
    )
    for split, extra in (ctx.get("extra_tests") or {}).items():
        L.append("")
        L.append("Also measured (`%s.txt`): %s; %d faces." % (split, extra["label"], extra["faces"]))
        L.append("")
        rows_x = [
            ["**%s**" % k, _pct(r["mean_error"]), _pct(r["failure_rate"]), _f(r["auc_0.1"], 3)]
            for k, r in ((k, extra["results"].get(k)) for k in MAIN_MODELS)
            if r
        ]
        L.append(_table(["model (%s)" % split, "error", "failure", "AUC@10%"], rows_x))
    if "S2" in res:
        L.append("")
        L.append(
            "Stage 2 alone (first six convolutions fixed; not in the paper's tables): error %s, failure %s."
            % (_pct(res["S2"]["mean_error"]), _pct(res["S2"]["failure_rate"]))
        )
    if ctx.get("ced_png"):
        L.append("")
        L.append("![CED of BM, WM and AM](%s)" % ctx["ced_png"])

    if ctx.get("breakdown"):
        L.append("")
        L.extend(render_breakdown(ctx["breakdown"], scheme))
    return L


def stages_on_validation_section(ctx: dict) -> list[str]:
    """Every stage's model on the validation views: does each stage improve on the one before, away from
    the test sets?"""
    views = ctx.get("val_views") or {}
    if not views:
        return []
    keys = [k for k in STAGE_MODELS if any(k in v["results"] for v in views.values())]
    L = heading("Every stage on the validation views")
    L.append(
        "Mean error (% of d) of each stage's model on the validation faces and on the views of them that "
        "`make data` wrote (`mcl_caffe/data/val_views.py`). The test sets play no part here; this shows "
        "whether each stage improves on the one before on faces the run never trained on. S2: stage 2 "
        "(weighting, first six convolutions fixed)."
    )
    L.append("")
    rows = []
    for split, v in views.items():
        r = v["results"]
        rows.append(["`%s`" % split, "%d" % v["faces"]] + [_pct(r[k]["mean_error"]) if k in r else "—"
                                                            for k in keys])
    L.append(_table(["view", "samples"] + keys, rows))
    L.append("")
    for split, v in views.items():
        L.append("- `%s`: %s." % (split, v["label"]))
    main = [k for k in MAIN_MODELS if k in keys]
    if len(main) > 1:
        order = " > ".join(main)
        holds = [s for s, v in views.items()
                 if all(v["results"][a]["mean_error"] > v["results"][b]["mean_error"]
                        for a, b in zip(main, main[1:]))]
        fails = [s for s in views if s not in holds]
        L.append("")
        L.append(
            "%s (each later model better) holds on %s%s."
            % (order, ", ".join("`%s`" % s for s in holds) or "no view",
               "; not on %s" % ", ".join("`%s`" % s for s in fails) if fails else "")
        )
    return L


def paper_compare_section(ctx: dict) -> list[str]:
    """300-W: this run's model against the paper's, face by face (mcl_caffe.report.paper_section)."""
    return list(ctx.get("paper_compare") or [])


def training_section(ctx: dict) -> list[str]:
    """The data, the training profile, the time per stage, the loss plot and the files."""
    L = heading("Data")
    L.extend(ctx["data_lines"])
    L.extend(heading("Training profile and time per stage"))
    ps = ctx["profile_settings"]
    if ps:
        L.append(
            "Profile `%s`: pre-training %d iterations (lr 0.02), each fine-tuning step %d iterations (lr "
            "0.001), lr x %.1f %s, SGD batch %d, momentum %.1f, weight decay %g. The paper: "
            "180,000 / 60,000 iterations, lr x 0.3 every 30,000."
            % (
                ps["name"],
                ps["pretrain_iter"],
                ps["finetune_iter"],
                ps["gamma"],
                ("in pre-training at iteration %s, in fine-tuning every %d iterations"
                 % (", ".join("{:,}".format(v) for v in ps["pretrain_steps"]), ps["stepsize"]))
                if ps.get("pretrain_steps") else "every %d iterations" % ps["stepsize"],
                ps["batch_size"],
                ps["momentum"],
                ps["weight_decay"],
            )
        )
        s4 = stage4_override(ps)
        if s4:
            L.append("")
            L.append("Stage 4 (each cluster's shape prediction layer alone, on cached features): %s "
                     "iterations (lr 0.001, x %.1f every %s), weight decay %g."
                     % ("{:,}".format(s4[0]), ps["gamma"], "{:,}".format(s4[1]), s4[2]))
        L.append("")
    rows = []
    total = 0.0
    for t in ctx["timings"]:
        sec = t["seconds"]
        total += sec or 0.0
        extra = ""
        if t.get("process_seconds") is not None:
            extra = " (child process %s)" % _hms(t["process_seconds"])
        rows.append(
            [
                t["stage"],
                t["what"],
                "—" if t["iterations"] is None else str(t["iterations"]),
                _hms(sec) + extra,
                "yes" if t["done"] else "**no**",
            ]
        )
    rows.append(["total", "", "", _hms(total), ""])
    L.append(
        _table(
            ["stage", "what", "iterations", "training time (h:mm:ss)", "done"],
            rows,
            ["---", "---", "---:", "---:", "---"],
        )
    )
    L.append("")
    L.append(
        "Times from each stage's `stage.json` (`train_seconds`; stage 4: `feature_seconds` and each "
        "cluster's `train_seconds`, with the wall time of its child process from `cluster_seconds`). They "
        "are wall-clock seconds of the training loops on the machine that ran them, so other jobs running "
        "beside them make them longer."
    )
    if ctx.get("loss_png"):
        L.append("")
        L.append("![training loss per stage](%s)" % ctx["loss_png"])
        L.append("")
        L.append(
            "Training loss (Eq. 4 with each stage's u_j; faint: every iteration, solid: moving average). The "
            "stages weight the landmarks differently, so their losses are not comparable with each other."
        )
    L.extend(heading("Files"))
    L.append(
        "`REPORT.json` (every number above, in percent), `per_face_nme.csv` (each test face's NME under each "
        "model, in percent), the PNGs next to this file."
    )
    L.append("")
    return L


def render_markdown(ctx: dict) -> str:
    """REPORT.md from the context that `make_report` collects."""
    L = []
    for part in (intro_section, main_section, stages_on_validation_section, paper_compare_section,
                 cluster_section, occlusion_section, perturbation_section, training_section):
        L.extend(part(ctx))
    return "\n".join(L)

