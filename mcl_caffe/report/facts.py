"""Facts about a run for its report: stage timings, the profile, the test set, the git commit, the data."""
from __future__ import annotations

import subprocess
from pathlib import Path


from mcl_caffe.core.run_layout import STAGE_TITLES, RunLayout, read_json
from mcl_caffe.report.fmt import _table


ROOT = Path(__file__).resolve().parents[2]


def stage_timings(layout: RunLayout, scheme) -> list[dict]:
    rows = []
    for stage in ("stage1", "stage2", "stage3"):
        f = layout.stage_dir(stage) / "stage.json"
        if f.is_file():
            s = read_json(f)
            rows.append(
                {
                    "stage": stage,
                    "what": STAGE_TITLES[stage],
                    "iterations": s.get("iterations"),
                    "seconds": s.get("train_seconds"),
                    "done": bool(s.get("done")),
                }
            )
        else:
            rows.append(
                {
                    "stage": stage,
                    "what": STAGE_TITLES[stage],
                    "iterations": None,
                    "seconds": None,
                    "done": False,
                }
            )
    s4 = layout.stage_dir("stage4") / "stage.json"
    s4j = read_json(s4) if s4.is_file() else {}
    if s4j.get("feature_seconds") is not None:
        rows.append(
            {
                "stage": "stage4 features",
                "what": "feature x of every train/val patch under WM (cached)",
                "iterations": None,
                "seconds": s4j["feature_seconds"],
                "done": True,
            }
        )
    for i, (name, _) in enumerate(scheme.clusters):
        f = layout.cluster_dir(i, name) / "stage.json"
        c = read_json(f) if f.is_file() else {}
        rows.append(
            {
                "stage": "stage4 %s" % name,
                "what": "cluster %d shape layer (Eqs. 6-9)" % (i + 1),
                "iterations": c.get("iterations"),
                "seconds": c.get("train_seconds"),
                "process_seconds": (s4j.get("cluster_seconds") or {}).get(name),
                "done": bool(c.get("done")),
            }
        )
    am = layout.stage_dir("assemble") / "am.caffemodel"
    rows.append(
        {
            "stage": "assemble",
            "what": STAGE_TITLES["assemble"],
            "iterations": None,
            "seconds": None,
            "done": am.is_file(),
        }
    )
    return rows


def profile_settings(profile: str) -> dict | None:
    try:
        from mcl_caffe.nets.solvergen import PROFILES
    except Exception:  # pragma: no cover - solvergen needs Caffe, which the report needs anyway
        return None
    p = PROFILES.get(profile)
    if p is None:
        return None
    return {
        "name": p.name,
        "pretrain_iter": p.pretrain_iter,
        "finetune_iter": p.finetune_iter,
        "stepsize": p.stepsize,
        "batch_size": p.batch_size,
        "momentum": p.momentum,
        "weight_decay": p.weight_decay,
        "gamma": p.gamma,
        "pretrain_steps": list(p.pretrain_steps),
        **dict(zip(("stage4_iter", "stage4_stepsize", "stage4_weight_decay"), p.stage4_settings())),
    }


def stage4_override(ps: dict) -> tuple[int, int, float] | None:
    """Stage 4's (iterations, stepsize, weight decay) from `profile_settings` when they differ from the
    fine-tuning steps' (None when they do not, or when the settings predate the stage-4 fields)."""
    s4 = (ps.get("stage4_iter", ps["finetune_iter"]), ps.get("stage4_stepsize", ps["stepsize"]),
          ps.get("stage4_weight_decay", ps["weight_decay"]))
    return None if s4 == (ps["finetune_iter"], ps["stepsize"], ps["weight_decay"]) else s4


def test_set_statement(dataset: str, meta: dict, n_test: int) -> str:
    """Which faces the test set holds, and how it relates to the paper's test set (plainly)."""
    src = (meta.get("sources") or {}).get("test")
    opts = meta.get("options") or {}
    limit = opts.get("limit")
    if dataset == "300w":
        if src and "ibug" in str(src).lower():
            return "the 300-W IBUG faces (%s), the paper's IBUG test set%s." % (
                src,
                "" if not limit else ", limited to the first %d faces (make_data --limit)" % limit,
            )
        return (
            "**This is NOT the paper's IBUG test set.** IBUG (the paper's 135 test faces) and LFPW are not "
            "available in ../shared/data, which holds only AFW and 870 of the 2,000 HELEN training faces. "
            "The test set here is a held-out split of those AFW + HELEN faces (test fraction %s, seed %s, "
            "split at the face level before augmentation; %d faces%s). These are 'common-subset'-like faces, "
            "much easier than IBUG's, and the models were trained on fewer faces than the paper's 3,148, so "
            "the paper's IBUG figures beside ours are a reference, not a like-for-like comparison."
            % (
                opts.get("test_fraction"),
                opts.get("seed"),
                n_test,
                "" if not limit else "; only the first %d faces of each list were read" % limit,
            )
        )
    if dataset == "aflw":
        full = 2995
        part = (
            "all %d faces" % n_test
            if n_test == full
            else (
                "%d of its 2,995 faces (make_data --limit %s)" % (n_test, limit)
                if limit
                else "%d faces" % n_test
            )
        )
        boxes = opts.get("test_boxes")
        crops = (
            " Test crops come from the face-detector boxes in %s, mapped onto the training crop by the "
            "calibration fitted on the training faces' detector boxes (the paper's protocol)" % boxes
            if boxes
            else " Test crops come from the ground-truth points' box (not the paper's detector boxes)"
        )
        return "the AFLW test set of the paper (MTFL's testing.txt, %s): %s.%s." % (
            src or "mtfl-full/testing.txt",
            part,
            crops,
        )
    if dataset == "cofw":
        return "the COFW test set (%s): %d faces%s." % (
            src or "COFW_test",
            n_test,
            "" if n_test == 507 else " (the paper: 507)",
        )
    return "%s: %d faces." % (src, n_test)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def perturbation_results(layout: RunLayout) -> dict | None:
    f = layout.root / "perturb" / "results.json"
    return read_json(f) if f.is_file() else None


def augmentation_words(aug: dict) -> str:
    """make data's augmentation in words, from meta.json's "augmentation" (older files: what they hold)."""
    if "rotations" not in aug:
        return "augmentation"
    words = ["%d rotations within +-%g deg" % (aug["rotations"], aug["max_angle"]),
             "%d boxes each (scale %g-%g, shift %g)" % (aug["jitters"], aug["scale_min"], aug["scale_max"],
                                                         aug["max_shift"])]
    words += {"both": ["each also mirrored"], "random": ["mirrored at random"]}.get(aug.get("flip"), [])
    if "crop_from" in aug:
        source = {"landmarks": "landmarks' tight box", "box": "face's detector box"}
        words.append("crops from the %s" % source.get(aug["crop_from"], aug["crop_from"]))
    return ", ".join(words)


def data_lines(meta: dict, data_dir: Path) -> list[str]:
    if not meta:
        return ["No meta.json in %s." % data_dir]
    summ = meta.get("summary") or {}
    w = summ.get("written") or {}
    opts = meta.get("options") or {}
    aug = meta.get("augmentation") or {}
    lines = [
        "Prepared data `%s` (from `%s`; scheme %s)." % (data_dir, meta.get("data_root"), meta.get("scheme")),
        "",
    ]
    rows = []
    for split in ("train", "val", "test"):
        s = w.get(split) or {}
        rows.append(
            [
                split,
                str(s.get("faces", "—")),
                str(s.get("samples", "—")),
                {
                    "train": "Omega_t; samples per face: %s (%s)"
                    % (aug.get("samples_per_face", "?"), augmentation_words(aug)),
                    "val": "validation set Omega_v (%s of the training faces), nominal crops"
                    % opts.get("val_fraction"),
                    "test": "nominal crops",
                }[split],
            ]
        )
    lines.append(_table(["split", "faces", "samples", ""], rows, ["---", "---:", "---:", "---"]))
    lines.append("")
    read = summ.get("read") or {}
    skipped = summ.get("skipped") or {}
    lines.append(
        "Read: %s. Skipped: %s%s. Options: limit %s, seed %s, test fraction %s."
        % (
            ", ".join("%s %s" % (k.replace("_", " "), v) for k, v in read.items()) or "?",
            skipped.get("total", 0),
            (
                (" (%s)" % ", ".join("%s: %s" % kv for kv in (skipped.get("by_reason") or {}).items()))
                if skipped.get("total")
                else ""
            ),
            opts.get("limit"),
            opts.get("seed"),
            opts.get("test_fraction"),
        )
    )
    src = meta.get("sources") or {}
    lines.append("")
    lines.append("Sources: train `%s`; test `%s`." % (src.get("train"), src.get("test")))
    return lines
