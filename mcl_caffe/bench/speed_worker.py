"""One backend of `make bench` in its own process (mcl_caffe.bench.speed starts it): loads the model named
in its spec, then answers `single N`, `batch N` and `quit` on stdin with one JSON line each on stdout.

Run as `python -m mcl_caffe.bench.speed_worker KIND SPEC_JSON`."""
from __future__ import annotations

import json
import sys
import time

def serve(kind: str, spec: dict) -> None:
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


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]))
