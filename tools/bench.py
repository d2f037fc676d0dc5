#!/usr/bin/env python
"""Speed of the MCL model: Caffe vs onnxruntime FP32 vs onnxruntime INT8 on one CPU thread (see --help)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PAPER_MS = 17.5  # Shao et al. 2018, Section IV-B: 68 points, Caffe, one core of an i5-6200U 2.3 GHz
SINGLE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "GLOG_minloglevel": "2",
}

DESCRIPTION = """\
Measure the MCL model's speed the way the paper does (one face at a time, one CPU core) for
  caffe      Caffe's forward pass (pycaffe, OpenBLAS with OPENBLAS_NUM_THREADS=1 set before import)
  ort-fp32   onnxruntime, the exported FP32 model
  ort-int8   onnxruntime, the statically quantised INT8 model
  dlib       dlib's 68-point shape predictor, as a peer (only if dlib and its model are installed)
(onnxruntime: intra_op_num_threads=1, inter_op_num_threads=1, sequential execution), and the batch
throughput of each (batch of --batch faces per call, still one thread).  Every backend runs in its
own process; the processes take turns, round after round, so that a change in machine load hits
all backends alike, and every figure is the median over --rounds rounds.  Network time only: the
inputs are ready 50x50 crops of real faces (../shared/data), as in the paper, where face detection
is excluded.

Models: --run-dir runs/<dataset>-<profile> uses its assemble/ model (and its onnx/ export when
present); without one, a random-weight 68-point model (BatchNorm statistics calibrated on real
crops) is built, which has the paper's layer sizes and so its speed, but no accuracy.
INT8: onnxruntime.quantization.quantize_static calibrated on training patches (the run's
data/<...>/train.txt if given with --train-list, else crops of the shared training faces); the NME
change against FP32 is measured on the real test set (--test-list HDF5 or the shared test split).
--int8-variants also times per-tensor vs per-channel, QOperator vs QDQ, U8U8, reduce-range and the
onnxruntime graph optimisation levels.

Writes <out-dir>/bench.md (the table) and <out-dir>/bench.json (every round's figures, machine,
versions, load average).  The machine's load is printed with the table: timings taken while
other jobs run are noisy, the ratios from interleaved rounds less so.
"""


# ----------------------------------------------------------------------------- worker side
def _worker(kind: str, spec: dict) -> None:
    import numpy as np

    x = np.load(spec["inputs"]).astype(np.float32)
    batch = int(spec["batch"])
    xb = np.ascontiguousarray(np.resize(x, (batch,) + x.shape[1:]))
    if kind == "caffe":
        from mcl_caffe.caffe_import import load_caffe

        caffe = load_caffe(threads=1)
        net1 = caffe.Net(spec["prototxt"], spec["caffemodel"], caffe.TEST)
        net1.blobs["data"].reshape(1, *x.shape[1:])
        net1.reshape()
        netb = caffe.Net(spec["prototxt"], spec["caffemodel"], caffe.TEST)
        netb.blobs["data"].reshape(batch, *x.shape[1:])
        netb.reshape()
        out = spec.get("output", "fc")

        def one(i):
            net1.blobs["data"].data[...] = x[i : i + 1]
            return net1.forward()[out]

        def many():
            netb.blobs["data"].data[...] = xb
            return netb.forward()[out]

    elif kind.startswith("ort"):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = {
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[spec.get("opt", "all")]
        sess = ort.InferenceSession(spec["onnx"], so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def one(i):
            return sess.run(None, {name: x[i : i + 1]})[0]

        def many():
            return sess.run(None, {name: xb})[0]

    elif kind == "pipeline":
        import cv2

        cv2.setNumThreads(1)
        from mcl_caffe.core import crop as C
        from mcl_caffe.infer.aligner import Aligner

        al = Aligner(spec["onnx"], threads=1)
        grays = [C.load_gray(f["image"]) for f in spec["faces"]]
        boxes = [np.asarray(f["box"], np.float64) for f in spec["faces"]]

        def one(i):
            k = i % len(grays)
            return al.align([grays[k]], [boxes[k]])[0].reshape(1, -1)

        def many():
            ks = [k % len(grays) for k in range(batch)]
            return al.align([grays[k] for k in ks], [boxes[k] for k in ks], batch_size=batch)[0]

    elif kind == "dlib":
        import dlib
        import cv2

        pred = dlib.shape_predictor(spec["dlib_model"])
        faces = spec["dlib_faces"]
        imgs = [cv2.imread(f["image"], cv2.IMREAD_GRAYSCALE) for f in faces]
        rects = [dlib.rectangle(*[int(round(v)) for v in f["rect"]]) for f in faces]

        def one(i):
            k = i % len(imgs)
            s = pred(imgs[k], rects[k])
            return np.array([[p.x, p.y] for p in s.parts()], np.float32).reshape(1, -1)

        def many():
            return [one(k) for k in range(batch)]

    else:
        raise SystemExit("unknown worker kind %s" % kind)
    first = np.asarray(one(0)).reshape(-1).tolist()
    print(json.dumps({"ready": True, "first": first}), flush=True)
    n = len(x)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "single":
            iters = int(cmd[1])
            for i in range(min(10, iters)):
                one(i % n)
            t = time.perf_counter()
            for i in range(iters):
                one(i % n)
            dt = time.perf_counter() - t
            print(json.dumps({"ms_per_face": 1000 * dt / iters}), flush=True)
        elif cmd[0] == "batch":
            iters = int(cmd[1])
            many()
            t = time.perf_counter()
            for _ in range(iters):
                many()
            dt = time.perf_counter() - t
            print(json.dumps({"faces_per_s": batch * iters / dt}), flush=True)


class Worker:
    def __init__(self, label: str, kind: str, spec: dict):
        self.label, self.kind = label, kind
        env = dict(os.environ, **SINGLE_THREAD_ENV)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--spec", json.dumps(spec)],
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
    """-> dict(prototxt, caffemodel, onnx, scheme, weights='trained'|'random', dataset)."""
    from mcl_caffe.deploy import onnx_export as E

    out = Path(args.out_dir)
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


def machine_was_busy(load_start, load_end) -> bool:
    """From the 1-minute load averages: above 0.5 before the bench, or above 1.5 after it (the bench's own
    single timing thread adds about 1 to the load by the end)."""
    return load_start[0] > 0.5 or load_end[0] > 1.5


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
    note = ("dlib %s, %s; given the same 64 test faces' tight landmark boxes as rectangles, its time includes "
            "its own sampling from the full image" % (dlib.__version__, model))
    from mcl_caffe.core import crop as C
    from mcl_caffe.data.eval_faces import load_faces

    faces, _ = load_faces("300w", "test")
    recs = []
    for f in faces[:64]:
        l, r, t, b = C.face_box_from_landmarks(f.points)
        recs.append({"image": f.image_path, "rect": [l, t, r, b]})
    return {"dlib_model": model, "dlib_faces": recs}, note


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }


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
        "Machine: %s, %s cores; load average %s at start, %s at end%s."
        % (
            result["machine"]["cpu"],
            result["machine"]["cores"],
            result["load_start"],
            result["load_end"],
            (
                " (busy: other jobs were running, absolute figures are noisy)"
                if machine_was_busy(result["load_start"], result["load_end"])
                else ""
            ),
        ),
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="bench.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run-dir", type=Path, help="runs/<dataset>-<profile> with an assembled model")
    p.add_argument(
        "--prototxt", type=Path, help="any deploy net (with --caffemodel and --scheme) instead of --run-dir"
    )
    p.add_argument("--caffemodel", type=Path)
    p.add_argument("--scheme", help="aflw5 or 300w68 (for --prototxt/--caffemodel)")
    p.add_argument(
        "--n-points", type=int, default=68, choices=[5, 68], help="random model's points (default 68)"
    )
    p.add_argument("--train-list", type=Path, help="HDF5 list of training patches for INT8 calibration")
    p.add_argument(
        "--test-list", type=Path, help="HDF5 list (data, label, d) of the test set for the NME change"
    )
    p.add_argument("--calib", type=int, default=512, help="calibration patches (512)")
    p.add_argument("--out-dir", type=Path, default=REPO / "runs" / "bench", help="where bench.md/json go")
    p.add_argument(
        "--rounds", type=int, default=7, help="interleaved rounds; figures are medians over them (7)"
    )
    p.add_argument("--iters", type=int, default=200, help="single-face calls per round (200)")
    p.add_argument("--batch", type=int, default=64, help="faces per call for the throughput figure (64)")
    p.add_argument("--batch-iters", type=int, default=5, help="batch calls per round (5)")
    p.add_argument("--int8-variants", action="store_true", help="also time other quantisation options")
    p.add_argument("--no-caffe", action="store_true", help="skip the Caffe row")
    p.add_argument("--dlib-model", help="dlib shape_predictor_68_face_landmarks.dat (peer row, optional)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args.worker, json.loads(args.spec))
        return 0

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
        "int8": dict(q_stats["INT8"], calibration=calib_desc, test_set=test_desc),
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


if __name__ == "__main__":
    sys.exit(main())
