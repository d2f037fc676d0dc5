"""The summary `mcl-align --version` prints: which model file runs, what it marks, how accurate it is, and
where its card is installed."""

from __future__ import annotations

from pathlib import Path


def card_summary(model_spec, int8: bool = False) -> str:
    """Lines about the model that `--model model_spec [--int8]` would run."""
    from mcl_caffe.infer.aligner import make_session, read_model_info
    from mcl_caffe.infer.shipped import SHIPPED, model_card, model_dir, resolve_model, shipped_names

    path = resolve_model(model_spec, int8)
    name = model_spec or "300w68"
    lines = ["model: %s" % path]
    if name in SHIPPED:
        card = model_card(name)
        t = card.get("test", {})
        key = "onnx_int8" if int8 else "onnx_fp32"
        lines.append(
            "  %s (%s): %s" % (name, "INT8" if int8 else "FP32", card.get("description", SHIPPED[name]))
        )
        if key in t:
            lines.append("  test set: %s" % card.get("test_set", "?").split(". ")[0].rstrip("."))
            lines.append(
                "  NME %.2f %% of the eye-centre distance, failure rate (NME > 10 %%) %.2f %%, on %d faces"
                % (t[key]["nme"], t[key]["failure"], t.get("faces", 0))
            )
        lines.append(
            "  trained with the %s profile at commit %s; card: %s"
            % (card.get("profile", "?"), card.get("commit", "?"), model_dir(name) / "MODEL.md")
        )
    else:
        info = read_model_info(make_session(Path(path), threads=1), path)
        lines.append(
            "  an exported MCL model: scheme %s, %d points, %dx%d crops (no card: not a shipped model)"
            % (info.scheme, info.n_points, info.crop_size, info.crop_size)
        )
    lines.append("installed models: %s" % ", ".join(shipped_names()))
    return "\n".join(lines)
