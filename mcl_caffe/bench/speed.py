"""Speed of the MCL model (`make bench`, tools/bench.py --help): Caffe vs onnxruntime FP32 vs INT8, one face
and one thread at a time, each backend in its own process (mcl_caffe.bench.speed_worker), in interleaved
rounds."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from mcl_caffe.core.cpu import cpu_int8_features, cpu_model
from mcl_caffe.bench.speed_report import PAPER_MS, render

SINGLE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "GLOG_minloglevel": "2",
}


class Worker:
    def __init__(self, label: str, kind: str, spec: dict):
        self.label, self.kind = label, kind
        env = dict(os.environ, **SINGLE_THREAD_ENV)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mcl_caffe.bench.speed_worker", kind, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ready = self._read()
        self.single, self.batch = [], []

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("bench worker %s (%s) died; see its error above" % (self.label, self.kind))
        return json.loads(line)

    def ask(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        self.proc.wait(timeout=30)


# ----------------------------------------------------------------------------- parent side
def _median(v):
    import numpy as np

    return float(np.median(v)) if v else float("nan")


def prepare_models(args, log) -> dict:
    """-> dict(prototxt, caffemodel, onnx, scheme, weights='trained'|'random', dataset), and int8 (the file
    to time as INT8) for a shipped model: its own mcl.int8.onnx, as mcl-align --int8 runs it."""
    from mcl_caffe.deploy import onnx_export as E

    out = Path(args.out_dir)
    if getattr(args, "model", None) is not None:
        from mcl_caffe.infer import shipped

        if args.model not in shipped.SHIPPED:
            raise SystemExit("bench: --model %s is not a shipped model (%s)" % (args.model,
                                                                                ", ".join(shipped.SHIPPED)))
        d = shipped.model_dir(args.model)
        files = {k: d / f for k, f in (("prototxt", "deploy.prototxt"), ("caffemodel", "am.caffemodel"),
                                       ("onnx", shipped.FP32_FILE), ("int8", shipped.INT8_FILE))}
        for f in files.values():
            if not f.is_file():
                raise SystemExit("bench: the shipped model %s lacks %s" % (args.model, f))
        scheme = shipped.model_card(args.model)["scheme"]
        return dict({k: str(f) for k, f in files.items()}, scheme=scheme,
                    weights="shipped %s (%s, as committed)" % (args.model, d),
                    dataset={"aflw5": "aflw", "300w68": "300w"}[scheme])
    if args.prototxt is not None:
        if args.caffemodel is None or args.scheme is None:
            raise SystemExit("bench: --prototxt needs --caffemodel and --scheme")
        scheme = E.resolve_scheme(args.scheme)
        onnx_path = out / "model" / "mcl.onnx"
        E.export(args.prototxt, args.caffemodel, scheme, onnx_path)
        return dict(
            prototxt=str(args.prototxt),
            caffemodel=str(args.caffemodel),
            onnx=str(onnx_path),
            scheme=scheme.name,
            weights="%s" % Path(args.caffemodel).name,
            dataset={"aflw5": "aflw", "300w68": "300w"}.get(scheme.name),
        )
    if args.run_dir is not None:
        run = Path(args.run_dir)
        asm = run / "assemble"
        meta = json.loads((asm / "model.json").read_text()) if (asm / "model.json").is_file() else {}
        if "scheme" not in meta:
            raise SystemExit("bench: %s has no assembled model (assemble/model.json with a scheme)" % run)
        onnx_path = run / "onnx" / "mcl.onnx"
        if not onnx_path.is_file():
            log("exporting %s -> %s" % (asm, onnx_path))
            E.export_run(asm, onnx_path)
        scheme = E.resolve_scheme(meta["scheme"])
        return dict(
            prototxt=str(asm / "deploy.prototxt"),
            caffemodel=str(asm / "am.caffemodel"),
            onnx=str(onnx_path),
            scheme=scheme.name,
            weights="trained (%s)" % run.name,
            dataset={"aflw5": "aflw", "300w68": "300w"}.get(scheme.name),
        )
    from mcl_caffe.data.eval_faces import real_crops
    from mcl_caffe.nets.synthetic_model import make_synthetic_model

    n = args.n_points
    dataset = {5: "aflw", 68: "300w"}[n]
    d = out / ("random%d" % n)
    if not (d / "synthetic.caffemodel").is_file():
        log("building a random-weight %d-point model in %s" % (n, d))
        calib = real_crops(dataset, "train", limit=64, stride=5)
        make_synthetic_model(d, n, seed=0, patches=calib.inputs())
    scheme = {5: "aflw5", 68: "300w68"}[n]
    E.export(d / "deploy.prototxt", d / "synthetic.caffemodel", scheme, d / "mcl.onnx")
    return dict(
        prototxt=str(d / "deploy.prototxt"),
        caffemodel=str(d / "synthetic.caffemodel"),
        onnx=str(d / "mcl.onnx"),
        scheme=scheme,
        weights="random (no trained model given)",
        dataset=dataset,
    )


def test_set(args, models):
    from mcl_caffe.data.eval_faces import crops_from_list, real_crops

    if args.test_list is not None:
        return crops_from_list(args.test_list, models["scheme"]), str(args.test_list)
    c = real_crops(models["dataset"], "test")
    return c, "%s test split of ../shared/data (%d faces)" % (models["dataset"], len(c))


def dlib_spec(args, log):
    """dlib's peer row: the shape predictor on the same 300-W test faces (image + face rectangle)."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        return None, "dlib not installed"
    cands = [
        args.dlib_model,
        os.environ.get("DLIB_SHAPE_PREDICTOR"),
        "/usr/share/dlib/shape_predictor_68_face_landmarks.dat",
        "/usr/share/dlib-data/shape_predictor_68_face_landmarks.dat",
    ]
    model = next((c for c in cands if c and Path(c).is_file()), None)
    if model is None:
        return None, "dlib installed but no shape_predictor_68_face_landmarks.dat (give --dlib-model)"
    import dlib
    note = ("dlib %s, %s; given the same 64 test faces' tight landmark boxes as rectangles, its time "
            "includes its own sampling from the full image" % (dlib.__version__, model))
    from mcl_caffe.core import crop as C
    from mcl_caffe.data.eval_faces import load_faces

    faces, _ = load_faces("300w", "test")
    recs = []
    for f in faces[:64]:
        left, r, t, b = C.face_box_from_landmarks(f.points)
        recs.append({"image": f.image_path, "rect": [left, t, r, b]})
    return {"dlib_model": model, "dlib_faces": recs}, note


def machine_info() -> dict:
    import numpy
    import onnxruntime

    return {
        "cpu": cpu_model(),
        "cpu_int8": cpu_int8_features(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }


def run(args) -> int:
    """The whole bench with tools/bench.py's parsed options; writes bench.md and bench.json."""
    import numpy as np

    from mcl_caffe.deploy.quantize import QuantOptions, calibration_patches, compare, quantize_model

    def log(msg):
        print("bench: %s" % msg, file=sys.stderr, flush=True)

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    load_start = [round(v, 2) for v in os.getloadavg()]
    models = prepare_models(args, log)
    from mcl_caffe.core.landmarks import get_scheme

    n_points = get_scheme(models["scheme"]).n_points
    test, test_desc = test_set(args, models)
    inputs = out / "inputs.npy"
    np.save(inputs, test.inputs()[:64])

    shipped_int8 = models.get("int8")
    shipped_desc = "the shipped file's own calibration (see its MODEL.md)"
    calib_x, calib_desc = None, shipped_desc
    if not shipped_int8 or args.int8_variants:  # the variants are quantised here
        calib_x, calib_desc = calibration_patches(args.calib, args.train_list, models["dataset"])
    variants = [("INT8", QuantOptions())]
    if args.int8_variants:
        variants += [
            ("INT8 per-tensor", QuantOptions(per_channel=False)),
            ("INT8 QOperator", QuantOptions(fmt="QOperator")),
            ("INT8 QOperator per-tensor", QuantOptions(fmt="QOperator", per_channel=False)),
            ("INT8 U8U8", QuantOptions(weight="QUInt8")),
            ("INT8 reduce-range", QuantOptions(reduce_range=True)),
            ("INT8 no pre-processing", QuantOptions(preprocess=False)),
        ]
    q_paths, q_stats = {}, {}
    for label, opts in variants:
        if label == "INT8" and shipped_int8:  # bench what ships: mcl.int8.onnx as committed, not re-quantised
            log("INT8: the shipped %s" % shipped_int8)
            q_paths[label] = Path(shipped_int8)
            q_stats[label] = dict(compare(models["onnx"], shipped_int8, test),
                                  options="the shipped %s" % Path(shipped_int8).name)
            continue
        path = out / ("mcl.int8.onnx" if label == "INT8" else "mcl.%s.onnx" % label.lower().replace(" ", "_"))
        log("quantising (%s) -> %s" % (opts.label(), path))
        quantize_model(models["onnx"], path, calib_x, opts, calib_desc)
        q_paths[label] = path
        q_stats[label] = dict(compare(models["onnx"], path, test), options=opts.label())

    base_spec = {"inputs": str(inputs), "batch": args.batch}
    plan = []
    if not args.no_caffe:
        plan.append(
            ("Caffe", "caffe", dict(base_spec, prototxt=models["prototxt"], caffemodel=models["caffemodel"]))
        )
    plan.append(("onnxruntime FP32", "ort", dict(base_spec, onnx=models["onnx"])))
    plan.append(("onnxruntime INT8", "ort", dict(base_spec, onnx=str(q_paths["INT8"]))))
    if args.int8_variants:
        plan.append(
            ("onnxruntime FP32, basic graph opt.", "ort", dict(base_spec, onnx=models["onnx"], opt="basic"))
        )
        plan.append(
            (
                "onnxruntime INT8, basic graph opt.",
                "ort",
                dict(base_spec, onnx=str(q_paths["INT8"]), opt="basic"),
            )
        )
        for label, _ in variants[1:]:
            plan.append(("onnxruntime " + label, "ort", dict(base_spec, onnx=str(q_paths[label]))))
    if models["dataset"] is not None:
        from mcl_caffe.core import crop as C
        from mcl_caffe.data.eval_faces import load_faces

        fs, _ = load_faces(models["dataset"], "test")
        pfaces = [
            {"image": f.image_path, "box": C.face_box_from_landmarks(f.points).tolist()} for f in fs[:64]
        ]
        plan.append(
            (
                "mcl-align INT8 per face: crop + network + map back",
                "pipeline",
                dict(base_spec, onnx=str(q_paths["INT8"]), faces=pfaces),
            )
        )
    dspec, dlib_note = (
        dlib_spec(args, log) if models["scheme"] == "300w68" else (None, "68-point models only")
    )
    if dspec:
        plan.append(("dlib shape predictor (68 pts)", "dlib", dict(base_spec, **dspec)))

    workers = []
    try:
        for label, kind, spec in plan:
            log("starting %s" % label)
            workers.append(Worker(label, kind, spec))
        for r in range(args.rounds):
            log("round %d/%d" % (r + 1, args.rounds))
            for w in workers:
                w.single.append(w.ask("single %d" % args.iters)["ms_per_face"])
            for w in workers:
                w.batch.append(w.ask("batch %d" % args.batch_iters)["faces_per_s"])
    finally:
        for w in workers:
            w.close()

    rows, var_rows = [], []
    for w in workers:
        row = {
            "label": w.label,
            "ms_per_face": _median(w.single),
            "ms_min": float(min(w.single)),
            "faces_per_s": _median(w.batch),
            "rounds_ms": w.single,
            "rounds_faces_per_s": w.batch,
        }
        rows.append(row)
    checks = {}
    by = {w.label: np.asarray(w.ready["first"]) for w in workers}
    if "Caffe" in by:
        checks["|FP32 - Caffe| max"] = "%.2g px" % np.abs(by["onnxruntime FP32"] - by["Caffe"]).max()
    checks["|INT8 - FP32| max"] = "%.2g px" % np.abs(by["onnxruntime INT8"] - by["onnxruntime FP32"]).max()
    main_rows = [
        r
        for r in rows
        if r["label"] in ("Caffe", "onnxruntime FP32", "onnxruntime INT8")
        or r["label"].startswith(("dlib", "mcl-align"))
    ]
    if args.int8_variants:
        for r in rows:
            if r not in main_rows:
                lab = r["label"].replace("onnxruntime ", "")
                st = q_stats.get(lab, {})
                var_rows.append(dict(r, label=r["label"], **{k: v for k, v in st.items() if k != "options"}))
    result = {
        "n_points": n_points,
        "models": models,
        "machine": machine_info(),
        "load_start": load_start,
        "load_end": [round(v, 2) for v in os.getloadavg()],
        "rounds": args.rounds,
        "iters": args.iters,
        "batch": args.batch,
        "batch_iters": args.batch_iters,
        "rows": main_rows,
        "variants": var_rows,
        "int8": dict(q_stats["INT8"], calibration=shipped_desc if shipped_int8 else calib_desc,
                     test_set=test_desc),
        "checks": checks,
        "paper_ms": PAPER_MS,
        "dlib_note": dlib_note,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    md = render(result)
    (out / "bench.md").write_text(md)
    (out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(md)
    log("wrote %s and %s" % (out / "bench.md", out / "bench.json"))
    return 0
