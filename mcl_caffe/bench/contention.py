"""Training speed beside other work: stage-1 s/iteration alone and with one busy-loop process beside it,
under OpenMP's default and passive wait policy, at 1 and 2 threads (`make bench-train
BENCH_TRAIN_ARGS=--contention`).

Caffe's parallel loops and OpenBLAS run on libgomp threads. Between loops an idle thread spins for a while
before it sleeps (the default) or sleeps at once (OMP_WAIT_POLICY=passive). Alone on the cores, spinning
saves wake-ups; beside a process that wants a core, the spinning threads take turns with it, and every loop
waits for its slowest thread. libgomp reads OMP_WAIT_POLICY when it loads, so each configuration runs in a
fresh worker process (`python -m mcl_caffe.bench.contention SPEC_JSON`), which times stage-1 solver steps of
the same net as `make bench-train` (mcl_caffe.bench.bench_train) and reports the policy and spin count
libgomp says it uses (OMP_DISPLAY_ENV=verbose: the default spins 300,000 rounds before sleeping, passive 0).
The busy loop is a Python `while True: pass` started before the worker and killed after it.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICIES = {"default": None, "passive": "PASSIVE"}
BUSY = "while True:\n    pass\n"


def _worker_env(policy: str | None) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    env["OMP_DISPLAY_ENV"] = "verbose"  # libgomp prints its settings on stderr, the wait policy among them
    env.setdefault("GLOG_minloglevel", "2")
    return env


def measure(points: int, list_file: Path, threads: int, policy: str, busy: bool, warmup: int,
            iters: int) -> dict:
    """One configuration in a fresh worker process, with a busy loop beside it if `busy`."""
    spec = {"points": points, "list": str(list_file), "threads": threads, "warmup": warmup, "iters": iters}
    loop = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        res = subprocess.run([sys.executable, "-m", "mcl_caffe.bench.contention", json.dumps(spec)],
                             env=_worker_env(POLICIES[policy]), capture_output=True, text=True)
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()
    if res.returncode != 0:
        raise RuntimeError("contention worker (%s, %d threads, busy %s) failed: %s"
                           % (policy, threads, busy, res.stderr[-2000:]))
    out = json.loads(res.stdout.strip().splitlines()[-1])
    said = re.search(r"OMP_WAIT_POLICY = '(\w+)'", res.stderr)
    spin = re.search(r"GOMP_SPINCOUNT = '(\d+)'", res.stderr)
    out.update(policy=policy, busy=busy, busy_pid=loop.pid if loop else None,
               libgomp_wait_policy=said.group(1) if said else None,
               libgomp_spincount=int(spin.group(1)) if spin else None)
    return out


def run(points: int, list_file: Path, threads=(1, 2), policies=tuple(POLICIES), warmup: int = 2,
        iters: int = 10) -> dict:
    """Every (threads, policy, busy) configuration, one after the other."""
    load_start = [round(v, 2) for v in os.getloadavg()]
    rows = [measure(points, list_file, t, p, b, warmup, iters)
            for t in threads for p in policies for b in (False, True)]
    return {"points": points, "list": str(list_file), "rows": rows, "load_start": load_start,
            "load_end": [round(v, 2) for v in os.getloadavg()], "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _spawn(points: int, list_file: Path, threads: int, warmup: int, iters: int,
           barrier: tuple | None = None) -> subprocess.Popen:
    spec = {"points": points, "list": str(list_file), "threads": threads, "warmup": warmup, "iters": iters,
            "barrier": barrier}
    return subprocess.Popen([sys.executable, "-m", "mcl_caffe.bench.contention", json.dumps(spec)],
                            env=_worker_env(POLICIES["passive"]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _collect(proc: subprocess.Popen, what: str) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("side-by-side worker (%s) failed: %s" % (what, err[-2000:]))
    return json.loads(out.strip().splitlines()[-1])


def side_by_side(lists: dict, warmup: int = 2, iters: int = 10) -> dict:
    """The two ways to train both nets on two cores: each net alone with 2 threads, one after the other, or
    both at once with 1 thread each (each net alone with 1 thread too, to show what they take from each
    other). Passive wait policy throughout (the runner's default; it does not matter at 1 thread)."""
    load_start = [round(v, 2) for v in os.getloadavg()]
    rows = []
    for points, f in lists.items():
        for t in (1, 2):
            r = _collect(_spawn(points, f, t, warmup, iters), "%d points, %d threads" % (points, t))
            rows.append(dict(r, points=points, together=False))
    with tempfile.TemporaryDirectory(prefix="bench-side-by-side-") as tmp:
        procs = {points: _spawn(points, f, 1, warmup, iters, (tmp, len(lists)))
                 for points, f in lists.items()}
        for points, proc in procs.items():
            rows.append(dict(_collect(proc, "%d points beside the others" % points), points=points,
                             together=True))
    return {"rows": rows, "load_start": load_start, "load_end": [round(v, 2) for v in os.getloadavg()],
            "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def render_side_by_side(result: dict, command: str = "") -> str:
    rows = result["rows"]
    nets = sorted({r["points"] for r in rows})

    def s(points, threads, together):
        return next(r["s_per_iter"] for r in rows
                    if (r["points"], r["threads"], r["together"]) == (points, threads, together))

    lines = ["# Both nets on two cores: side by side with one thread each, or one after the other with two",
             ""]
    if command:
        lines += ["Command: `%s`" % command, ""]
    lines += ["%d cores; load average %s at the start, %s at the end; %s." % (
        result["cores"], result["load_start"], result["load_end"], result["date"]), "",
        "| net | 1 thread alone | 2 threads alone | 1 thread, beside the other net "
        "| taken by the other net |",
        "|---|---:|---:|---:|---:|"]
    for p in nets:
        lines.append("| %d points | %.3f | %.3f | %.3f | %+.0f %% |" % (
            p, s(p, 1, False), s(p, 2, False), s(p, 1, True), 100 * (s(p, 1, True) / s(p, 1, False) - 1)))
    after = sum(s(p, 2, False) for p in nets)
    together = max(s(p, 1, True) for p in nets)
    lines += ["", "s/iteration, passive wait policy; the median of %d timed solver steps after %d warm-up "
              "steps, each net in its own process (mcl_caffe/bench/contention.py)."
              % (rows[0]["iters"], rows[0]["warmup"]),
              "", "Wall time per iteration of every net: one after the other with 2 threads %.3f s (the sum "
              "of the 2-thread column); side by side with 1 thread each %.3f s (the slower net; the other's "
              "core is free once it is done). Side by side is %.2fx the speed of one after the other."
              % (after, together, after / together), ""]
    return "\n".join(lines)


def render(result: dict, command: str = "") -> str:
    rows = result["rows"]
    lines = ["# Stage-1 training speed beside a busy loop (%d points, batch 64)" % result["points"], ""]
    if command:
        lines += ["Command: `%s`" % command, ""]
    lines += ["%d cores; load average %s at the start, %s at the end (other work on the machine slows every "
              "row); %s." % (result["cores"], result["load_start"], result["load_end"], result["date"]), "",
              "| threads | OMP_WAIT_POLICY (libgomp: policy, spin count) | alone s/iteration "
              "| beside a busy loop s/iteration | slowdown |", "|---:|---|---:|---:|---:|"]
    for t in sorted({r["threads"] for r in rows}):
        for p in [p for p in POLICIES if any(r["policy"] == p for r in rows)]:
            alone = next(r for r in rows if (r["threads"], r["policy"], r["busy"]) == (t, p, False))
            busy = next(r for r in rows if (r["threads"], r["policy"], r["busy"]) == (t, p, True))
            lines.append("| %d | %s (%s, %s) | %.3f | %.3f | %.2fx |" % (
                t, p, alone["libgomp_wait_policy"] or "?", alone["libgomp_spincount"], alone["s_per_iter"],
                busy["s_per_iter"],
                busy["s_per_iter"] / alone["s_per_iter"]))
    lines += ["", "s/iteration: the median of %d timed solver steps after %d warm-up steps, each "
              "configuration in a fresh process (mcl_caffe/bench/contention.py)."
              % (rows[0]["iters"], rows[0]["warmup"]), ""]
    return "\n".join(lines)


def _wait_for_all(folder: str, n: int, timeout: float = 600.0) -> None:
    """A barrier between worker processes: each leaves a file in `folder` and waits until there are `n`."""
    Path(folder, "ready-%d" % os.getpid()).touch()
    give_up = time.monotonic() + timeout
    while len(list(Path(folder).glob("ready-*"))) < n:
        if time.monotonic() > give_up:
            raise RuntimeError("side by side: the other workers did not get ready within %.0f s" % timeout)
        time.sleep(0.01)


def _worker(spec: dict) -> dict:
    from mcl_caffe.bench.bench_train import _stage1_solver, time_steps
    from mcl_caffe.caffe_import import get_blas_threads, load_caffe

    caffe = load_caffe(int(spec["threads"]))
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
        solver = _stage1_solver(caffe, int(spec["points"]), Path(spec["list"]), Path(tmp))
        t_start = time.time()
        if spec.get("barrier"):  # side by side: every worker's net is built before any starts its steps
            _wait_for_all(*spec["barrier"])
            t_start = time.time()
        steps = time_steps(solver, int(spec["warmup"]), int(spec["iters"]))
        t_end = time.time()
        del solver
    return {"threads": get_blas_threads(), "warmup": int(spec["warmup"]), "iters": int(spec["iters"]),
            "s_per_iter": statistics.median(steps["step_s"]), "step_s": steps["step_s"],
            "omp_wait_policy_env": os.environ.get("OMP_WAIT_POLICY"), "t_start": t_start, "t_end": t_end}


if __name__ == "__main__":
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
