"""Training speed of Caffe on this machine: stage-1 solver steps of the MCL nets on real HDF5 patches.

For each net (5 points, D = 512; 68 points, D = 1024) this builds stage 1's train net and solver exactly as
the stage runner does (batch 64, SGD with momentum and weight decay, mean-shape bias), then
  * times `--iters` solver steps (forward, backward, update) after `--warmup` untimed ones, splitting each
    step into forward+backward and update with the solver's callbacks;
  * counts the net's work from its layer shapes: 3x the forward FLOPs of Convolution and InnerProduct
    (forward, data gradient, weight gradient), 2 FLOPs per multiply-add, biases not counted;
  * times each layer's forward and backward alone (Net._forward(i, i), Net._backward(i, i)) and sums them
    per layer type, so the slow parts show;
  * times the deploy net's forward (TEST phase, batch 64): what validation and stage-4 feature extraction run.
A large SGEMM (an InnerProduct forward, 2048x4096 by 4096x4096, through the same Caffe and BLAS, in the same
process) is the machine's reference peak; the nets' GFLOP/s are given as a share of it.
"""
from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mcl_caffe.core.cpu import cpu_model
from mcl_caffe.caffe_import import get_blas_core, get_blas_threads, load_caffe

SGEMM_SHAPE = (2048, 4096, 4096)  # (M, K, N): input rows, input width, outputs
NETS = {5: "aflw", 68: "300w"}  # points -> the dataset whose data/<dataset>/train.txt feeds that net



def _forward_times(net, reps: int) -> list[float]:
    """One untimed forward pass, then the seconds of `reps` timed ones."""
    net.forward()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        net.forward()
        times.append(time.perf_counter() - t)
    return times

def layer_flops(net) -> list[dict]:
    """Forward FLOPs of every Convolution and InnerProduct layer of a set-up net, from its blob shapes."""
    out = []
    for i, (name, layer) in enumerate(zip(net._layer_names, net.layers)):
        if layer.type not in ("Convolution", "InnerProduct"):
            continue
        top = net.blobs[net._blob_names[net._top_ids(i)[0]]].data
        weights = layer.blobs[0].data
        if layer.type == "Convolution":
            # top (N, C_out, H, W); weights (C_out, C_in / group, kh, kw):
            # one multiply-add per weight per output
            macs = top.shape[0] * int(np.prod(top.shape[2:])) * weights.size
        else:
            # weights (outputs, inputs); the rows are the top's count over the outputs
            macs = (top.size // weights.shape[0]) * weights.size
        out.append({"layer": name, "type": layer.type, "forward_flops": 2 * int(macs)})
    return out


def training_flops(net) -> int:
    """Work of one training step: forward, data gradient and weight gradient, each as large as the forward."""
    return 3 * sum(r["forward_flops"] for r in layer_flops(net))


def blas_library() -> str:
    """The BLAS shared object this process has mapped (which OpenBLAS/BLIS/MKL Caffe really calls)."""
    names = set()
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if any(k in base for k in ("openblas", "blis", "mkl_", "libblas", "libgomp", "libomp")):
                names.add(os.path.realpath(path))
    except OSError:
        pass
    return ", ".join(sorted(names))


def machine_info() -> dict:
    cpu = cpu_model()
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE",
                                      "MCL_BLAS_CORETYPE", "CAFFE_CPU_PATH") if k in os.environ}
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "env": env}


def sgemm_reference(caffe, workdir: Path, reps: int = 3) -> dict:
    """GFLOP/s of one large InnerProduct forward (the median of `reps` after one warm-up)."""
    from caffe import layers as L

    m, k, n = SGEMM_SHAPE
    spec = caffe.NetSpec()
    spec.data = L.Input(shape=dict(dim=[m, k]))
    spec.ip = L.InnerProduct(spec.data, num_output=n, bias_term=False,
                             weight_filler=dict(type="gaussian", std=0.01))
    path = workdir / "sgemm.prototxt"
    path.write_text(str(spec.to_proto()))
    net = caffe.Net(str(path), caffe.TEST)
    net.blobs["data"].data[...] = np.random.default_rng(0).standard_normal((m, k), dtype=np.float32)
    times = _forward_times(net, reps)
    del net
    sec = statistics.median(times)
    return {"shape_mkn": list(SGEMM_SHAPE), "seconds": times, "gflops": 2.0 * m * k * n / sec / 1e9}


def _stage1_solver(caffe, n_points: int, list_file: Path, workdir: Path):
    from mcl_caffe.core.landmarks import get_scheme
    from mcl_caffe.train.shape_init import mean_shape_of_list, set_mean_shape_bias
    from mcl_caffe.nets.solvergen import get_profile
    from mcl_caffe.nets.stage_files import stage_texts
    from mcl_caffe.core.weighting import uniform_weights

    scheme = get_scheme(n_points)
    texts = stage_texts("stage1", scheme, get_profile("cpu"), uniform_weights(n_points), str(list_file),
                        str(list_file), str(workdir / "train.prototxt"), str(workdir / "snap"))
    for name, text in texts.items():
        (workdir / ("%s.prototxt" % name)).write_text(text)
    solver = caffe.get_solver(str(workdir / "solver.prototxt"))
    set_mean_shape_bias(solver.net, mean_shape_of_list(list_file))
    return solver


def time_steps(solver, warmup: int, iters: int) -> dict:
    """Per-step seconds of `iters` solver steps, split at the solver's callbacks into fwd+bwd and update."""
    marks: dict[str, float] = {}
    solver.add_callback(lambda: marks.__setitem__("start", time.perf_counter()),
                        lambda: marks.__setitem__("grads", time.perf_counter()))
    solver.step(warmup)
    step, fwd_bwd, update = [], [], []
    for _ in range(iters):
        t0 = time.perf_counter()
        solver.step(1)
        t1 = time.perf_counter()
        step.append(t1 - t0)
        fwd_bwd.append(marks["grads"] - marks["start"])
        update.append(t1 - marks["grads"])
    return {"step_s": step, "fwd_bwd_s": fwd_bwd, "update_s": update}


def layer_breakdown(net, passes: int) -> dict:
    """Seconds per layer type of one forward and one backward pass (medians over `passes` passes)."""
    n = len(net.layers)
    fwd = np.zeros((passes, n))
    bwd = np.zeros((passes, n))
    for p in range(passes):
        for i in range(n):
            t = time.perf_counter()
            net._forward(i, i)
            fwd[p, i] = time.perf_counter() - t
        for i in reversed(range(n)):
            t = time.perf_counter()
            net._backward(i, i)
            bwd[p, i] = time.perf_counter() - t
    by_type: dict[str, dict] = {}
    for i, layer in enumerate(net.layers):
        row = by_type.setdefault(layer.type, {"count": 0, "forward_s": 0.0, "backward_s": 0.0})
        row["count"] += 1
        row["forward_s"] += float(np.median(fwd[:, i]))
        row["backward_s"] += float(np.median(bwd[:, i]))
    per_layer = [{"layer": name, "type": layer.type, "forward_s": float(np.median(fwd[:, i])),
                  "backward_s": float(np.median(bwd[:, i]))}
                 for i, (name, layer) in enumerate(zip(net._layer_names, net.layers))]
    return {"by_type": by_type, "per_layer": per_layer}


def deploy_forward(caffe, workdir: Path, reps: int) -> dict:
    """Images/s of the deploy net's TEST forward at batch 64 (validation and stage-4 feature extraction)."""
    net = caffe.Net(str(workdir / "deploy.prototxt"), caffe.TEST)
    net.blobs["data"].reshape(64, 1, 50, 50)
    net.reshape()
    net.blobs["data"].data[...] = np.random.default_rng(1).standard_normal((64, 1, 50, 50), dtype=np.float32)
    times = _forward_times(net, reps)
    return {"seconds": times, "images_per_s": 64 / statistics.median(times)}


def bench_net(caffe, n_points: int, list_file: Path, workdir: Path, warmup: int, iters: int,
              passes: int) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    solver = _stage1_solver(caffe, n_points, list_file, workdir)
    batch = solver.net.blobs["data"].data.shape[0]
    flops = training_flops(solver.net)
    steps = time_steps(solver, warmup, iters)
    med = statistics.median(steps["step_s"])
    breakdown = layer_breakdown(solver.net, passes)
    return {"n_points": n_points, "list": str(list_file), "batch": batch, "warmup": warmup, "iters": iters,
            "s_per_iter": med, "images_per_s": batch / med, "train_gflop_per_iter": flops / 1e9,
            "gflops": flops / med / 1e9, "fwd_bwd_s": statistics.median(steps["fwd_bwd_s"]),
            "update_s": statistics.median(steps["update_s"]), "steps": steps,
            "breakdown": breakdown, "deploy_forward": deploy_forward(caffe, workdir, max(3, passes))}


def run(lists: dict[int, Path], warmup: int = 2, iters: int = 10, passes: int = 3, threads: int | None = None,
        workdir: Path | None = None) -> dict:
    """The whole benchmark: the SGEMM reference, then every net in `lists` ({points: HDF5 list file})."""
    caffe = load_caffe(threads)
    load_start = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ref = sgemm_reference(caffe, work)
        nets = [bench_net(caffe, points, Path(list_file), work / ("%d-points" % points), warmup, iters,
                          passes)
                for points, list_file in sorted(lists.items())]
        ref_after = sgemm_reference(caffe, work)
    # the machine's peak: the better of the two SGEMM timings (one before, one after the nets; other work on a
    # shared machine slows either)
    peak = max(ref["gflops"], ref_after["gflops"])
    for r in nets:
        r["share_of_sgemm"] = r["gflops"] / peak
    return {"sgemm": ref, "sgemm_after": ref_after, "sgemm_peak_gflops": peak, "nets": nets,
            "machine": machine_info(),
            "blas": blas_library(), "threads": str(get_blas_threads()), "blas_core": get_blas_core(),
            "load_start": load_start, "load_end": [round(v, 2) for v in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def render(result: dict, command: str = "") -> str:
    ref = result["sgemm"]
    lines = ["# Caffe training speed (stage 1, batch 64)", ""]
    if command:
        lines += ["Command: `%s`" % command, ""]
    lines += ["%s, %d cores, BLAS/OpenMP threads %s, OpenBLAS kernels %s; %s; load average %s at the start, "
              "%s at the end; %s." % (
        result["machine"]["cpu"], result["machine"]["cores"], result["threads"], result.get("blas_core", "?"),
            result["blas"] or "BLAS unknown",
        result["load_start"], result["load_end"], result["date"]),
        "Environment: %s." % (result["machine"]["env"] or "no BLAS/conv-path variables set"), "",
        "SGEMM reference (InnerProduct forward %dx%d by %dx%d through the same Caffe): %.1f GFLOP/s before "
        "the nets, %.1f after; the share of SGEMM is of the better one." % (
            ref["shape_mkn"][0], ref["shape_mkn"][1], ref["shape_mkn"][1], ref["shape_mkn"][2], ref["gflops"],
            result["sgemm_after"]["gflops"]), "",
        "| net | s/iteration | images/s | GFLOP/iteration | GFLOP/s | share of SGEMM | fwd+bwd s | update s "
        "| deploy forward images/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["nets"]:
        lines.append("| %d points | %.3f | %.1f | %.2f | %.1f | %.0f %% | %.3f | %.3f | %.0f |" % (
            r["n_points"], r["s_per_iter"], r["images_per_s"], r["train_gflop_per_iter"], r["gflops"],
            100 * r["share_of_sgemm"], r["fwd_bwd_s"], r["update_s"], r["deploy_forward"]["images_per_s"]))
    lines += ["",
            "s/iteration is the median of %d timed solver steps after %d warm-up steps; GFLOP counts 3x the "
              "forward FLOPs of Convolution and InnerProduct." % (result["nets"][0]["iters"],
                                                                 result["nets"][0]["warmup"])
              if result["nets"] else ""]
    for r in result["nets"]:
        by_type = r["breakdown"]["by_type"]
        total = sum(v["forward_s"] + v["backward_s"] for v in by_type.values())
        lines += ["", "## %d points: time per layer type (one pass, each layer timed alone)" % r["n_points"],
                  "",
                  "| layer type | layers | forward s | backward s | share |", "|---|---:|---:|---:|---:|"]
        for name, v in sorted(by_type.items(), key=lambda kv: -(kv[1]["forward_s"] + kv[1]["backward_s"])):
            lines.append("| %s | %d | %.4f | %.4f | %.1f %% |" % (
                name, v["count"], v["forward_s"], v["backward_s"],
                100 * (v["forward_s"] + v["backward_s"]) / total))
        lines.append("| total | | %.4f | %.4f | |" % (sum(v["forward_s"] for v in by_type.values()),
                                                      sum(v["backward_s"] for v in by_type.values())))
    return "\n".join(lines) + "\n"
