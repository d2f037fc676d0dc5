"""bench.md: the table of `make bench` from its result dict."""
from __future__ import annotations


PAPER_MS = 17.5  # Shao et al. 2018, Section IV-B: 68 points, Caffe, one core of an i5-6200U 2.3 GHz


def machine_was_busy(load_start, load_end) -> bool:
    """From the 1-minute load averages: above 0.5 before the bench, or above 1.5 after it (the bench's own
    single timing thread adds about 1 to the load by the end)."""
    return load_start[0] > 0.5 or load_end[0] > 1.5


def machine_line(result: dict, busy_note: str) -> str:
    """The report line naming the machine and its load averages, with `busy_note` appended when the load
    says other jobs were running (machine_was_busy)."""
    busy = machine_was_busy(result["load_start"], result["load_end"])
    return "Machine: %s, %s cores; load average %s at start, %s at end%s." % (
        result["machine"]["cpu"], result["machine"]["cores"], result["load_start"], result["load_end"],
        " (%s)" % busy_note if busy else "")


def fmt_ms(v):
    return "%.2f" % v if v == v else "n/a"


def render(result: dict) -> str:
    rows = result["rows"]
    base = {r["label"]: r for r in rows}
    caffe = base.get("Caffe")
    fp32 = base.get("onnxruntime FP32")
    lines = [
        "# MCL speed: one face at a time, one CPU thread",
        "",
        "Model: %s, %s points, weights: %s. Inputs: real 50x50 face crops; network time only."
        % (result["models"]["scheme"], result["n_points"], result["models"]["weights"]),
        machine_line(result, "busy: other jobs were running, absolute figures are noisy"),
        "Each figure: median over %d interleaved rounds of %d single-face calls (%d calls of batch %d for "
        "throughput)." % (result["rounds"], result["iters"], result["batch_iters"], result["batch"]),
        "",
        "| backend | ms / face (median) | min round | speed-up vs Caffe | vs FP32 ORT | vs paper 17.5 ms "
        "| batch %d: faces/s |" % result["batch"],
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ms = r["ms_per_face"]
        lines.append(
            "| %s | %s | %s | %s | %s | %s | %s |"
            % (
                r["label"],
                fmt_ms(ms),
                fmt_ms(r["ms_min"]),
                "%.2fx" % (caffe["ms_per_face"] / ms) if caffe else "",
                "%.2fx" % (fp32["ms_per_face"] / ms) if fp32 and r["label"].startswith("onnxruntime") else "",
                "%.1fx" % (PAPER_MS / ms),
                "%.0f" % r["faces_per_s"] if r["faces_per_s"] == r["faces_per_s"] else "",
            )
        )
    lines.append(
        "| paper: Caffe, 1 core of an i5-6200U 2.3 GHz (reference) | %.1f | | | | 1.0x | |" % PAPER_MS
    )
    q = result.get("int8")
    if q:
        lines += [
            "",
            "INT8 (%s), calibrated on %s." % (q["options"], q["calibration"]),
            "Accuracy on %s: NME FP32 %.4f, INT8 %.4f, change %+.4f (%+.2f%% of the inter-ocular distance); "
            "failure rate (NME > 0.1) FP32 %.3f, INT8 %.3f; INT8 points move on average %.4f d from FP32 "
            "(max %.3f px in the 50x50 crop)."
            % (
                q["test_set"],
                q["nme_fp32"],
                q["nme_int8"],
                q["nme_change"],
                100 * q["nme_change"],
                q["failure_rate_fp32"],
                q["failure_rate_int8"],
                q["int8_vs_fp32_mean_shift"],
                q["int8_vs_fp32_max_point_px"],
            ),
        ]
        if "random" in result["models"]["weights"]:
            lines.append(
                "These accuracy figures come from random weights: the NME itself is meaningless, the "
                "change shows only how far quantisation moves the outputs."
            )
    if result.get("variants"):
        lines += [
            "",
            "## INT8 options (same rounds, one thread)",
            "",
            "| variant | ms / face | vs FP32 ORT | NME change | mean shift vs FP32 (d) |",
            "|---|---:|---:|---:|---:|",
        ]
        for v in result["variants"]:
            lines.append(
                "| %s | %s | %s | %s | %s |"
                % (
                    v["label"],
                    fmt_ms(v["ms_per_face"]),
                    "%.2fx" % (fp32["ms_per_face"] / v["ms_per_face"]) if fp32 else "",
                    "%+.4f" % v["nme_change"] if "nme_change" in v else "",
                    "%.4f" % v["int8_vs_fp32_mean_shift"] if "int8_vs_fp32_mean_shift" in v else "",
                )
            )
    checks = result.get("checks", {})
    if checks:
        lines += ["", "Output check on the first face: " + "; ".join("%s %s" % kv for kv in checks.items())]
    if result.get("dlib_note"):
        lines += ["", "dlib: %s" % result["dlib_note"]]
    return "\n".join(lines) + "\n"
