"""Sections of REPORT.md beyond the main table: the validation-versus-test breakdown, the clusters (Table IV),
the left-eye occlusion (Table VII) and the weight perturbation (Fig. 7)."""
from __future__ import annotations

import os

import numpy as np

from mcl_caffe.evaluation import occlusion as O
from mcl_caffe.report import paper_figures as P
from mcl_caffe.evaluation.evaluate import cluster_key
from mcl_caffe.report.fmt import heading, _f, _hms, _pct, _ranges, _signed, _table


def render_breakdown(bd: dict, scheme) -> list[str]:
    """The 'validation versus test' section (mcl_caffe.evaluation.error_breakdown)."""
    L = ["## Validation versus test: where the test error comes from", ""]
    sets = [k for k in ("val", "test") if k in bd]
    names = {"val": "validation", "test": "test"}
    L.append(
        "Model %s on the %s faces (`mcl_caffe/evaluation/error_breakdown.py`). The views, in order: the "
        "error, the error after subtracting each landmark's mean signed offset on that set (an oracle that "
        "uses the ground truth: a diagnostic, not a result), the mean signed offset of each cluster, and the "
        "error by pose. Pose is a yaw proxy from the ground truth: the nose tip's offset from the eyes' "
        "midpoint along the eye axis, in units of d "
        "(0: frontal)." % (bd["model"], " and ".join(names[k] for k in sets))
    )
    L.append("")
    rows = [
        [
            names[k],
            str(bd[k]["faces"]),
            _pct(bd[k]["nme"]),
            _pct(bd[k]["nme_without_offset"]),
            "%.3f" % bd[k]["mean_abs_yaw"],
        ]
        for k in sets
    ]
    L.append(
        _table(
            ["faces", "n", "error", "error, mean offsets removed (oracle)", "mean abs yaw proxy"],
            rows,
        )
    )
    L.append("")
    head = ["cluster (points, 1-based)"]
    for k in sets:
        head += ["%s dx" % names[k], "%s dy" % names[k]]
    rows = []
    groups = [(name, list(idx)) for name, idx in scheme.clusters] + [("all points",
                                                                      list(range(scheme.n_points)))]
    for name, idx in groups:
        row = ["%s (%s)" % (name, _ranges(idx)) if name != "all points" else name]
        for k in sets:
            off = np.asarray(bd[k]["offsets"])[idx].mean(axis=0)
            row += [_signed(off[0]), _signed(off[1])]
        rows.append(row)
    L.append(_table(head, rows))
    L.append("")
    L.append(
        "Mean signed offset, prediction minus ground truth, in percent of d (x to the image's right, "
        "y down). A shift that every cluster shares points to a difference in labelling or cropping "
        "conventions between the sets; a shift at some clusters only, to a difference in how they were "
        "annotated."
    )
    L.append("")
    head = ["abs yaw proxy"]
    for k in sets:
        head += ["%s faces" % names[k], "%s error" % names[k]]
    rows = []
    for i, g in enumerate(bd[sets[0]]["yaw_groups"]):
        label = "%.1f-%.1f" % (g["low"], g["high"]) if g["high"] is not None else ">= %.1f" % g["low"]
        row = [label]
        for k in sets:
            gk = bd[k]["yaw_groups"][i]
            row += ["%d (%.1f %%)" % (gk["faces"], 100.0 * gk["share"]),
                    _pct(gk["nme"]) if gk["faces"] else "—"]
        rows.append(row)
    L.append(_table(head, rows))
    if "val" in bd and bd.get("test_nme_at_val_pose_mix") is not None:
        gap = bd["test"]["nme"] - bd["val"]["nme"]
        gap_off = bd["test"]["nme_without_offset"] - bd["val"]["nme_without_offset"]
        gap_pose = bd["test_nme_at_val_pose_mix"] - bd["val"]["nme"]
        L.append("")
        L.append(
            "The test error is %s points %s the validation error. With the faces of each pose group weighted "
            "as in the validation set, the test error would be %s (a gap of %s points). With each set's mean "
            "offsets removed (oracle), the gap is %s points."
            % (
                _f(abs(100 * gap)),
                "above" if gap >= 0 else "below",
                _pct(bd["test_nme_at_val_pose_mix"]),
                "%+.2f" % (100 * gap_pose),
                "%+.2f" % (100 * gap_off),
            )
        )
    L.append("")
    return L


def cluster_section(ctx: dict) -> list[str]:
    """Table IV: the error of each cluster's landmarks under WM, each cluster model and AM."""
    ds, scheme, res = ctx["dataset"], ctx["scheme"], ctx["results"]
    L = heading("Error of each cluster's landmarks (format of Table IV)")
    cols = ["WM"] + [cluster_key(n) for n, _ in scheme.clusters] + ["AM"]
    cols = [c for c in cols if c in res]
    if not cols:
        L.append("No model trained yet.")
    else:
        with_paper = ds == P.TABLE_IV_DATASET
        head = ["cluster (points, 1-based)"] + [
            ("%s model" % c.split(":", 1)[1]) if c.startswith("cluster:") else c for c in cols
        ]
        rows = []
        for name, idx in scheme.clusters:
            row = ["%s (%s)" % (name, _ranges(idx))]
            best = min(res[c]["per_cluster"][name] for c in cols)
            for c in cols:
                v = res[c]["per_cluster"][name]
                cell = _pct(v)
                if v == best and len(cols) > 1:
                    cell = "**%s**" % cell
                if with_paper:
                    pm = P.table_iv(name, c.split(":", 1)[1] if c.startswith("cluster:") else c)
                    if pm is not None:
                        cell += " (%.2f)" % pm
                row.append(cell)
            rows.append(row)
        all_row = ["all points"] + [_pct(res[c]["mean_error"]) for c in cols]
        rows.append(all_row)
        L.append(_table(head, rows))
        L.append("")
        note = (
            "Rows: clusters; columns: WM, each cluster's stage-4 model (WM's shared layers with that "
            "cluster's shape prediction layer) and, as an extra, AM. Bold: the lowest error of the row."
        )
        if with_paper:
            note += (
                " In parentheses: the paper's Table IV on IBUG, which gives WM, the left-eye model and the "
                "right-eye model only. The paper does not say whether its 'left eye' is the subject's or the "
                "image's left; here it is the image's left (see mcl_caffe/core/landmarks.py)."
            )
        else:
            note += (
                " The paper gives this table for IBUG (68 points) only, so there are no paper figures here."
            )
        L.append(note)
    return L


def occlusion_section(ctx: dict) -> list[str]:
    """Table VII: the left-eye occlusion."""
    ds, occ = ctx["dataset"], ctx["occlusion"]
    L = heading("Left-eye occlusion (Section IV-D, format of Table VII)")
    oc = ctx["occlusion_settings"]
    if not occ:
        L.append("Needs WM and/or AM; not trained yet.")
    else:
        with_paper = ds == P.TABLE_VII_DATASET
        rows = []
        for k in ("WM", "AM"):
            if k not in occ:
                continue
            o = occ[k]
            pp = P.TABLE_VII.get(k) if with_paper else None

            def cell(part, tag, _o=o, _pp=pp):
                v = _pct(_o[tag][part])
                if _pp:
                    v += " (%.2f)" % _pp[part][0 if tag == "without" else 1]
                return v

            rows.append(
                [
                    "**%s**" % k,
                    cell("left_eye", "without"),
                    cell("left_eye", "with"),
                    cell("others", "without"),
                    cell("others", "with"),
                    _pct(o["without"]["left_eye_occluded_faces"]),
                    _pct(o["with"]["left_eye_occluded_faces"]),
                ]
            )
        L.append(
            _table(
                [
                    "model",
                    "left eye, w/o occlu.",
                    "left eye, w/ occlu.",
                    "others, w/o occlu.",
                    "others, w/ occlu.",
                    "left eye, occluded faces only, w/o",
                    "… w/",
                ],
                rows,
            )
        )
        L.append("")
        L.append(
            "%d of the %d test faces (%.0f %%, seed %d) have the tight box of their left-eye cluster's "
            "ground-truth points (%s, 1-based) filled with gray 128 (normalised value 0) in the 50x50 "
            "patch%s. The first four columns are means over all test faces, as in the paper; the last two "
            "over the occluded faces only (extra). %s"
            % (
                oc["faces"],
                ctx["n_test"],
                100 * oc["fraction"],
                oc["seed"],
                _ranges(oc["points"]),
                (
                    "; a one-point cluster gets a box of %.2f d x %.2f d centred on the point (see "
                    "mcl_caffe/evaluation/occlusion.py)" % O.SINGLE_POINT_BOX_D
                    if len(oc["points"]) == 1
                    else ""
                ),
                (
                    "In parentheses: the paper's Table VII (COFW)."
                    if with_paper
                    else "The paper reports this experiment on COFW only (Table VII), so there are no "
                    "paper figures here; for reference, on COFW: WM %.2f -> %.2f (left eye), %.2f -> %.2f "
                    "(others); AM %.2f -> %.2f, %.2f -> %.2f."
                    % (
                        P.TABLE_VII["WM"]["left_eye"]
                        + P.TABLE_VII["WM"]["others"]
                        + P.TABLE_VII["AM"]["left_eye"]
                        + P.TABLE_VII["AM"]["others"]
                    )
                ),
            )
        )
        if ctx.get("occlusion_png"):
            L.append("")
            L.append("![occluded test patches](%s)" % ctx["occlusion_png"])
    return L


def perturbation_section(ctx: dict) -> list[str]:
    """Fig. 7: WM retrained with perturbed landmark weights."""
    ds, prof, scheme = ctx["dataset"], ctx["profile"], ctx["scheme"]
    L = heading("Robustness of weighting to perturbed weights (Section IV-C-2, Fig. 7)")
    pr = ctx.get("perturbation")
    if not pr or not pr.get("deltas"):
        L.append(
            "Not run. `make perturb DATASET=%s PROFILE=%s` retrains stages 2-3 (from this run's BM) for each "
            "delta and writes `perturb/results.json`, which this report then shows." % (ds, prof)
        )
    else:
        rows = [
            [
                _f(r["delta"], 2),
                _f(r.get("mean_error")),
                _f(r.get("failure_rate")),
                "yes" if r.get("done") else "no",
                _hms(r.get("train_seconds")),
            ]
            for r in pr["deltas"]
        ]
        L.append(_table(["delta", "WM error", "WM failure", "trained", "stages 2+3 training (h:mm:ss)"],
                        rows))
        L.append("")
        L.append(
            "WM retrained (stages 2 and 3, from this run's BM) with u_j + delta for %d random landmarks and "
            "u_j - delta for the other %d (seed %s), profile `%s`%s, by `make perturb DATASET=%s PROFILE=%s "
            "PERTURB_PROFILE=%s`. The paper plots this curve (Fig. 7, AFLW "
            "and IBUG) without listing its values; its text says only that \"when delta is 0.4, WM can still "
            "achieve good performance\"."
            % (
                scheme.n_points // 2,
                scheme.n_points - scheme.n_points // 2,
                pr.get("seed"),
                pr.get("train_profile"),
                (
                    ""
                    if pr.get("train_profile") == prof
                    else " (a reduced profile; this report's models use `%s`)" % prof
                ),
                ds,
                prof,
                pr.get("train_profile"),
            )
        )
        trained = [r for r in pr["deltas"] if r.get("done") and r.get("mean_error") is not None]
        if len(trained) >= 2:
            first, last = trained[0], trained[-1]
            L.append("")
            L.append(
                "Measured: from delta = %s to delta = %s the WM error moves by %+.2f points (%s -> %s %%) "
                "and the failure rate by %+.2f points. Delta = 0 is WM retrained in the sweep's profile, so "
                "it differs from this run's WM above."
                % (
                    _f(first["delta"], 2),
                    _f(last["delta"], 2),
                    last["mean_error"] - first["mean_error"],
                    _f(first["mean_error"]),
                    _f(last["mean_error"]),
                    last["failure_rate"] - first["failure_rate"],
                )
            )
        if pr.get("png"):
            rel = os.path.relpath(pr["png"], ctx["out_dir"])
            L.append("")
            L.append("![WM error against delta](%s)" % rel)
    return L

