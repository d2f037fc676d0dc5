"""`make ship`: a finished run -> the shipped model folder mcl_caffe/models/<name>/ (top-level models/).

From runs/<dataset>-<profile>/ (assemble/, onnx/mcl.onnx, report/REPORT.json) and its data folder this writes
  deploy.prototxt, am.caffemodel   the assembled model AM, copied, for Caffe users;
  mcl.onnx                          the run's ONNX export, copied;
  mcl.int8.onnx                     quantised here (mcl_caffe.deploy.quantize, 512 training patches of the
  run's data);
  model.json, MODEL.md              the card: command, commit, data, profile, training time, test NME and
                                    failure (Caffe's AM from the report; ONNX FP32 and INT8 on the same test
                                    list), the ONNX-vs-Caffe parity, and the check-sample NME below.
Nothing is edited by hand: running it again rewrites the folder from the run.

The check sample is what `tests/infer/test_shipped_models.py` re-measures from the shared data, so a model
and its
card cannot drift apart: 300w68 on all IBUG faces (cropped from the box of their points, as the test list),
aflw5 on every CHECK_STRIDE-th AFLW test face cropped from the MCL author's box through the run's calibration.
`ship` also measures the same crops on the whole test set and stops if they do not reproduce the test list.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path


from mcl_caffe.infer.shipped import FP32_FILE, INT8_FILE, SHIPPED, model_dir
from mcl_caffe.report.facts import augmentation_words, stage4_override

CHECK_STRIDE = 10
AFLW_TEST_BOXES = "boxes/aflw-bbox-annotation/AFLW_boundingbox.txt"
DATASET_OF = {"300w68": "300w", "aflw5": "aflw"}


class ShipError(Exception):
    pass


def check_crops(name: str, calibration: dict | None, data_root=None, stride: int | None = None):
    """The check sample's CropSet, from the shared data (the same crops as the run's test list)."""
    from mcl_caffe.core import crop as C
    from mcl_caffe.data.eval_faces import SHARED_DATA, load_faces, nominal_crops
    root = Path(data_root) if data_root else SHARED_DATA
    faces, scheme = load_faces(DATASET_OF[name], "test", root)
    cal = None
    if name == "aflw5":
        from mcl_caffe.data.datasets.box_file import attach_list_boxes
        attach_list_boxes(faces, root / AFLW_TEST_BOXES)
        cal = C.BoxCalibration(**calibration)
        stride = CHECK_STRIDE if stride is None else stride
    faces = faces[:: stride or 1]
    return nominal_crops(faces, scheme, calibration=cal)


def check_nme(onnx_path, crops) -> float:
    """Mean NME in percent of the model on a CropSet (onnxruntime, one thread: the same result everywhere)."""
    from mcl_caffe.core.metrics import nme
    from mcl_caffe.deploy.quantize import predict
    p = predict(onnx_path, crops.inputs(), threads=1).reshape(crops.points.shape)
    return 100.0 * float(nme(p, crops.points, crops.d).mean())


def _sample_label(name: str, n: int) -> str:
    if name == "aflw5":
        return ("every %dth AFLW test face (%d faces), cropped from the MCL author's detector box through "
                "the run's calibration" % (CHECK_STRIDE, n))
    return "all %d IBUG faces, cropped from the box of their ground-truth points (bb_ground_truth)" % n


def ship(name: str, run_dir: Path, data_dir: Path, command: str, data_root=None, log=print) -> Path:
    from mcl_caffe.data.eval_faces import crops_from_list
    from mcl_caffe.deploy.onnx_export import parity

    if name not in SHIPPED:
        raise ShipError("unknown model name %r (one of %s)" % (name, ", ".join(SHIPPED)))
    run_dir, data_dir = Path(run_dir), Path(data_dir)
    need = {"deploy.prototxt": run_dir / "assemble" / "deploy.prototxt",
            "am.caffemodel": run_dir / "assemble" / "am.caffemodel",
            FP32_FILE: run_dir / "onnx" / "mcl.onnx",
            "report": run_dir / "report" / "REPORT.json",
            "test list": data_dir / "test.txt", "train list": data_dir / "train.txt",
                "meta": data_dir / "meta.json"}
    for what, f in need.items():
        if not f.is_file():
            raise ShipError("%s is missing (%s): finish the run first (make all, make report)" % (what, f))
    report = json.loads(need["report"].read_text())
    if report["scheme"] != name:
        raise ShipError("%s holds a %s model, not %s" % (run_dir, report["scheme"], name))
    meta = json.loads(need["meta"].read_text())
    out = model_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    # the card of the model this one replaces, read before anything is overwritten
    # (its own "replaces" dropped)
    previous = json.loads((out / "model.json").read_text()) if (out / "model.json").is_file() else None
    if previous:
        previous.pop("replaces", None)
    for f in ("deploy.prototxt", "am.caffemodel", FP32_FILE):
        shutil.copyfile(need[f], out / f)

    test = crops_from_list(need["test list"], name)
    onnx_test, int8 = quantize_and_measure(name, out, need["train list"], test, log)
    par = parity(out / "deploy.prototxt", out / "am.caffemodel", out / FP32_FILE, test.inputs())

    calibration = meta["crop"].get("given_box_calibration") if name == "aflw5" else None
    log("ship %s: the check sample from the shared data" % name)
    full = check_crops(name, calibration, data_root, stride=1)
    full_nme = check_nme(out / FP32_FILE, full)
    if abs(full_nme - 100 * onnx_test["nme_fp32"]) > 1e-3:
        raise ShipError("the check crops do not reproduce the test list: NME %.4f %% on the shared data's "
                        "crops, %.4f %% on %s" % (full_nme, 100 * onnx_test["nme_fp32"], need["test list"]))
    sample = check_crops(name, calibration, data_root)
    am = report["results"]["AM"]
    card = {
        "name": name, "description": SHIPPED[name], "scheme": report["scheme"],
            "n_points": report["n_points"],
        "train_command": report["train_command"], "ship_command": command, "commit": report["commit"],
        "profile": report["profile"], "profile_settings": report["profile_settings"],
        "data": {"dataset": report["dataset"], "options": meta.get("options"), "summary": meta.get("summary"),
                 "augmentation": meta.get("augmentation")},
        "test_set": report["test_set"]["statement"],
        "train_seconds": float(sum(t["seconds"] or 0.0 for t in report["timings"])),
            # as the report totals them
        "test": {"faces": int(test.points.shape[0]),
                 "caffe_am": {"nme": am["mean_error"], "failure": am["failure_rate"]},
                 "onnx_fp32": {"nme": 100 * onnx_test["nme_fp32"],
                               "failure": 100 * onnx_test["failure_rate_fp32"]},
                 **int8_test_figures(onnx_test)},
        "int8": int8,
        "parity": {"faces": par["faces"], "max_abs_px": par["max_abs_diff"],
                   "mean_abs_px": par["mean_abs_diff"]},
        "check_sample": {"label": _sample_label(name, len(sample)), "faces": len(sample),
                         "stride": CHECK_STRIDE if name == "aflw5" else 1, "calibration": calibration,
                         "nme_fp32": check_nme(out / FP32_FILE, sample),
                         "nme_int8": check_nme(out / INT8_FILE, sample)},
    }
    if previous:
        card["replaces"] = previous
    (out / "model.json").write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    (out / "MODEL.md").write_text(model_md(card))
    log("ship %s: wrote %s" % (name, out))
    return out


def quantize_and_measure(name: str, out: Path, train_list: Path, test, log=print) -> tuple[dict, dict]:
    """out/mcl.onnx -> out/mcl.int8.onnx with QuantOptions() calibrated on 512 random patches of the model's
    training list, measured on the CropSet `test`: (compare()'s FP32 and INT8 figures, the card's "int8"
    record). Stops if onnxruntime's kernels on this CPU do not compute what the file says (kernel_agreement):
    its points would then depend on the CPU."""
    from mcl_caffe.core.cpu import cpu_int8_features, cpu_model
    from mcl_caffe.deploy.quantize import (KERNEL_MAX_RELATIVE_SHIFT, QuantOptions, calibration_patches,
                                           compare, kernel_agreement, kernels_keep_the_file, quantize_model)

    log("ship %s: INT8 quantisation" % name)
    opts = QuantOptions()
    calib_x, calib_desc = calibration_patches(512, train_list=train_list)
    new = out / (INT8_FILE + ".new")  # replaces the INT8 file only once it has passed
    quantize_model(out / FP32_FILE, new, calib_x, opts, calib_desc)
    log("ship %s: FP32 and INT8 on the %d test faces" % (name, len(test)))
    stats = compare(out / FP32_FILE, new, test)
    agree = kernel_agreement(out / FP32_FILE, new, test)
    if not kernels_keep_the_file(agree):
        new.unlink()
        raise ShipError("onnxruntime's INT8 kernels on this CPU (%s, %s) move the points %.3f %% of d from "
                        "what %s computes, %.2f x as far as its quantisation moves them from FP32 (the bound "
                        "is %g): the file would give other points on other CPUs"
                        % (cpu_model(), cpu_int8_features(), 100 * agree["kernels_vs_file_mean_shift"],
                           out / INT8_FILE, agree["relative_shift"], KERNEL_MAX_RELATIVE_SHIFT))
    new.replace(out / INT8_FILE)
    return stats, {"options": opts.label(), "calibration": calib_desc, "measured_on": "%s (%s)"
                   % (cpu_model(), cpu_int8_features()), "kernels": agree}


def int8_test_figures(stats: dict) -> dict:
    """The card's INT8 test figures (percent) from compare()'s."""
    return {"onnx_int8": {"nme": 100 * stats["nme_int8"], "failure": 100 * stats["failure_rate_int8"]},
            "int8_vs_fp32_mean_shift": 100 * stats["int8_vs_fp32_mean_shift"]}


def requantize(name: str, data_dir: Path, command: str, data_root=None, out: Path | None = None,
               log=print) -> Path:
    """Quantise a shipped model's mcl.onnx again into its mcl.int8.onnx (QuantOptions() as they now are),
    calibrated on its own training data (data_dir: make data's folder, the card's data options), and
    rewrite the card's INT8 figures, measured on the whole test set from the shared data. The FP32 and Caffe
    files and figures stay; the card's FP32 test NME must reproduce first."""
    out = Path(out) if out else model_dir(name)
    card_file = out / "model.json"
    if not card_file.is_file():
        raise ShipError("%s is missing: %s is not a shipped model folder" % (card_file, out))
    card = json.loads(card_file.read_text())
    data_dir = Path(data_dir)
    meta_file = data_dir / "meta.json"
    if not meta_file.is_file() or not (data_dir / "train.txt").is_file():
        raise ShipError("%s has no meta.json and train.txt: make the model's data first "
                        "(make data DATASET=%s)" % (data_dir, DATASET_OF[name]))
    meta = json.loads(meta_file.read_text())
    for key in ("options", "augmentation"):
        if meta.get(key) != card["data"].get(key):
            raise ShipError("%s was made with other %s than %s's training data: %s, not %s"
                            % (data_dir, key, name, meta.get(key), card["data"].get(key)))
    calibration = card["check_sample"]["calibration"]
    full = check_crops(name, calibration, data_root, stride=1)
    fp32 = check_nme(out / FP32_FILE, full)
    if abs(fp32 - card["test"]["onnx_fp32"]["nme"]) > 1e-3:
        raise ShipError("%s does not reproduce its card: FP32 NME %.4f %% on the shared data's test crops, "
                        "the card says %.4f %%" % (out / FP32_FILE, fp32, card["test"]["onnx_fp32"]["nme"]))
    stats, int8 = quantize_and_measure(name, out, data_dir / "train.txt", full, log)
    card["test"].update(int8_test_figures(stats))
    card["check_sample"]["nme_int8"] = check_nme(out / INT8_FILE, check_crops(name, calibration, data_root))
    card["int8"] = dict(int8, command=command)
    card_file.write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    (out / "MODEL.md").write_text(model_md(card))
    log("requantize %s: INT8 NME %.3f %% (FP32 %.3f %%), wrote %s" % (name, 100 * stats["nme_int8"],
                                                                       100 * stats["nme_fp32"], out))
    return out


def int8_md(c: dict) -> list[str]:
    """MODEL.md's lines on how the INT8 file was made and what this CPU's kernels did with it."""
    q = c.get("int8")
    if not q:
        return []
    k = q["kernels"]
    lines = ["INT8: %s, calibrated on %s%s. onnxruntime's integer kernels on %s compute what the file says: "
             "they move the points %.3f %% of the eye-centre distance from the file's own arithmetic (max "
             "%.2g px), %.2f x as far as the quantisation itself moves them from FP32."
             % (q["options"], q["calibration"], " (`%s`)" % q["command"] if q.get("command") else "",
                q["measured_on"], 100 * k["kernels_vs_file_mean_shift"], k["kernels_vs_file_max_px"],
                k["relative_shift"]), ""]
    return lines


def model_md(c: dict) -> str:
    t, s = c["test"], c["check_sample"]
    h = c["train_seconds"]
    ps = c["profile_settings"]
    s4 = stage4_override(ps)
    return "\n".join([
        "# `%s`: %s" % (c["name"], c["description"]), "",
        "MCL (Shao et al., 2018), assembled model AM, %d points (scheme `%s`). Files: `mcl.onnx` (FP32), "
        "`mcl.int8.onnx` (INT8, QDQ), `deploy.prototxt` + `am.caffemodel` (Caffe)." % (c["n_points"],
                                                                                       c["scheme"]),
        "",
        "| | |", "|---|---|",
        "| trained with | `%s` at commit `%s` |" % (c["train_command"], c["commit"]),
        "| shipped with | `%s` |" % c["ship_command"],
        "| profile | `%s`: %d pre-training and %d iterations per fine-tuning step%s, batch %d |"
        % (c["profile"], ps["pretrain_iter"], ps["finetune_iter"],
           "" if s4 is None else " (stage 4, shape layers alone on cached features: %d, weight decay %g)"
           % (s4[0], s4[2]), ps["batch_size"]),
        "| training time | %d:%02d:%02d (the stages' training loops, from the report) |"
        % (h // 3600, h % 3600 // 60, h % 60),
        "| training data | %s |" % training_data(c),
        "| test set | %s |" % c["test_set"].replace("|", "/"),
        "", "## Accuracy on the test set (%d faces; NME in %% of the eye-centre distance, failure: NME > 10 "
            "%%)"
        % t["faces"], "",
        "| model | NME % | failure % |", "|---|---:|---:|",
        "| Caffe AM (the report) | %.2f | %.2f |" % (t["caffe_am"]["nme"], t["caffe_am"]["failure"]),
        "| ONNX FP32 (`mcl.onnx`) | %.2f | %.2f |" % (t["onnx_fp32"]["nme"], t["onnx_fp32"]["failure"]),
        "| ONNX INT8 (`mcl.int8.onnx`) | %.2f | %.2f |" % (t["onnx_int8"]["nme"], t["onnx_int8"]["failure"]),
        "",
        "INT8 moves the points by %.3f %% of the eye-centre distance on average (against FP32). ONNX against "
        "Caffe on the same %d test patches: max |difference| %.2g px, mean %.2g px (50x50 patch pixels)."
        % (t["int8_vs_fp32_mean_shift"], c["parity"]["faces"], c["parity"]["max_abs_px"],
           c["parity"]["mean_abs_px"]),
        "",
    ] + int8_md(c) + [
        "## Check sample (`tests/infer/test_shipped_models.py` re-measures it)", "",
        "%s: NME FP32 **%.3f %%**, INT8 **%.3f %%**." % (s["label"], s["nme_fp32"], s["nme_int8"]), "",
    ] + changes_md(c))


def training_data(c: dict) -> str:
    """A card's training samples in words: how many per face and how make data made them."""
    aug = c["data"].get("augmentation") or {}
    return "%s samples per face: %s" % (aug.get("samples_per_face", "?"), augmentation_words(aug))


def changes_md(c: dict) -> list[str]:
    """The section 'What changed': this card against the one it replaced (card["replaces"]), if any."""
    old = c.get("replaces")
    if not old:
        return []
    lines = ["## What changed from the model it replaces", "",
             "- trained at commit `%s` (was `%s`: `%s`)" % (c["commit"], old["commit"], old["train_command"])]
    if training_data(c) != training_data(old):
        lines.append("- training data: %s (was %s)" % (training_data(c), training_data(old)))
    if c["profile_settings"] != old["profile_settings"]:
        settings = [json.dumps(x["profile_settings"], sort_keys=True) for x in (c, old)]
        lines.append("- profile `%s` %s (was `%s` %s)"
                     % (c["profile"], settings[0], old["profile"], settings[1]))
    for key, label in (("caffe_am", "Caffe AM"), ("onnx_int8", "ONNX INT8")):
        n, o = c["test"][key], old["test"][key]
        lines.append("- test NME %s %.2f %% (was %.2f %%), failure %.2f %% (was %.2f %%)"
                     % (label, n["nme"], o["nme"], n["failure"], o["failure"]))
    return lines + [""]
