"""The evaluation report (`make report`), the left-eye occlusion (Table VII) and the perturbation tool (Fig.
7).

The report is rendered from a tiny run built here: 50 real AFLW test faces (tools/make_data.py --limit 50
--no-augment from ../shared/data/mtfl-full) and random-weight Caffe models in the runner's layout (BM, WM, one
shape layer per cluster on WM's trunk, and AM spliced from them with Eq. 2), so no training is needed.
"""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcl_caffe.evaluation import occlusion as O
from mcl_caffe.core.splice import splice
from mcl_caffe.caffe_import import blas_threads, load_caffe
from mcl_caffe.core.crop import PATCH_SIZE, denormalize_patch, normalize_patch
from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.train.predict import forward_batches, read_set
from mcl_caffe.core.run_layout import RunLayout, read_json, write_json
from mcl_caffe.nets.synthetic_model import make_synthetic_model
from conftest import ROOT, SHARED_DATA

SHARED = SHARED_DATA / "mtfl-full"
S5, S68 = get_scheme("aflw"), get_scheme("300w")
N_FACES = 50
# The report and the independent evaluations here compute the same float32 forward passes and must agree
# exactly, so they run with the same OpenBLAS thread count: one and two threads round differently on some
# CPUs' kernels (see mcl_caffe/caffe_import.py).
REPORT_THREADS = 1


# ----------------------------------------------------------------------------- occlusion
def expected_mask(box, size=PATCH_SIZE):
    """Independent statement of the fill: pixel (r, c) covers [c-0.5, c+0.5) x [r-0.5, r+0.5); it is gray iff
    that square overlaps the box [x0, x1] x [y0, y1]."""
    x0, x1, y0, y1 = box
    c = np.arange(size)
    cols = (c + 0.5 > x0) & (c - 0.5 < x1)
    rows = (c + 0.5 > y0) & (c - 0.5 < y1)
    return rows[:, None] & cols[None, :]


def random_faces68(n, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(5, 45, (n, 68, 2))
    pts[:3, 17:22, 0] -= 12  # a few left eyes leaving the patch: the box must be clipped
    data = rng.uniform(-0.9, -0.05, (n, 1, PATCH_SIZE, PATCH_SIZE)).astype(
        np.float32
    )  # never the gray value 0
    return data, pts.reshape(n, -1), S68.interocular(pts)


def test_occlusion_fills_exactly_the_left_eye_tight_box_of_30_percent_of_faces():
    data, label, d = random_faces68(N_FACES)
    occ, faces, boxes = O.occlude_left_eye(data, label, d, S68, fraction=0.3, seed=5)
    assert len(faces) == 15 == len(set(faces.tolist()))
    changed = np.flatnonzero(np.any(occ != data, axis=(1, 2, 3)))
    assert changed.tolist() == sorted(faces.tolist())
    eye = list(O.left_eye_points(S68))
    assert eye == list(range(17, 22)) + list(range(36, 42))  # left brow 18-22 + left eye 37-42 (1-based)
    pts = label.reshape(N_FACES, 68, 2)
    for k, i in enumerate(faces):
        p = pts[i, eye]
        box = (p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max())
        assert boxes[k] == pytest.approx(box)
        mask = expected_mask(box)
        assert mask.any()
        diff = occ[i, 0] != data[i, 0]
        assert np.array_equal(diff, mask), "face %d: filled pixels differ from the tight box" % i
        assert np.all(occ[i, 0][mask] == 0.0)  # gray 128 normalised: (128 - 128) * 0.0078125
        inside = (
            (p[:, 0] > -0.5) & (p[:, 0] < PATCH_SIZE - 0.5) & (p[:, 1] > -0.5) & (p[:, 1] < PATCH_SIZE - 0.5)
        )
        r, c = np.rint(p[inside, 1]).astype(int), np.rint(p[inside, 0]).astype(int)
        assert np.all(mask[r, c])  # every left-eye point lies under the gray
    # the same seed chooses the same faces, another seed others
    assert np.array_equal(O.occlude_left_eye(data, label, d, S68, 0.3, 5)[1], faces)
    assert not np.array_equal(O.occlude_left_eye(data, label, d, S68, 0.3, 6)[1], faces)
    # the input is not modified
    assert np.all(data != 0.0)


def test_occlusion_fraction_rounds_and_bounds():
    assert len(O.choose_faces(7, 0.3)) == 2 and len(O.choose_faces(2995, 0.3)) == 898
    assert len(O.choose_faces(10, 0.0)) == 0 and len(O.choose_faces(10, 1.0)) == 10
    with pytest.raises(ValueError):
        O.choose_faces(10, 1.5)


def test_one_point_left_eye_gets_a_typical_eye_box():
    label = np.array([[20.0, 24.0, 40.0, 24.0, 30, 30, 22, 38, 38, 38]])
    d = S5.interocular(label.reshape(1, 5, 2))
    assert d == pytest.approx([20.0])
    data = np.full((1, 1, PATCH_SIZE, PATCH_SIZE), -0.5, np.float32)
    occ, faces, boxes = O.occlude_left_eye(data, label, d, S5, fraction=1.0)
    w, h = O.SINGLE_POINT_BOX_D
    assert boxes[0] == pytest.approx([20 - 10 * w, 20 + 10 * w, 24 - 10 * h, 24 + 10 * h])  # 8 x 2.8 px
    assert np.array_equal(occ[0, 0] == 0.0, expected_mask(boxes[0]))
    assert (occ[0, 0] == 0.0).sum() == 9 * 3  # columns 16..24, rows 23..25


# ----------------------------------------------------------------------------- the tiny run
def _place(caffe, src_proto, src_model, stage_dir: Path, name="final.caffemodel"):
    stage_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src_proto, stage_dir / "deploy.prototxt")
    shutil.copy(src_model, stage_dir / name)


def _centre_on_labels(caffe, proto, model, test):
    """Shift the shape layer's bias so the mean prediction is the mean label: errors of the size of real ones,
    some faces failing, some not."""
    net = caffe.Net(str(proto), str(model), caffe.TEST)
    pred = forward_batches(net, test.data)
    net.params["fc"][1].data[...] += test.label.mean(axis=0) - pred.mean(axis=0)
    net.save(str(model))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.fail("the shared MTFL data is missing at %s" % SHARED)
    tmp = tmp_path_factory.mktemp("report")
    res = subprocess.run(
        [
            sys.executable,
            "tools/make_data.py",
            "--dataset",
            "aflw",
            "--data-root",
            str(SHARED),
            "--out",
            str(tmp / "data"),
            "--limit",
            str(N_FACES),
            "--no-augment",
            "--no-progress",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    data = tmp / "data" / "aflw"
    test = read_set(data / "test.txt")
    assert len(test.d) == N_FACES
    caffe = load_caffe()
    layout = RunLayout("aflw", "smoke", tmp / "runs", data)
    for seed, stage in ((1, "stage1"), (2, "stage3")):
        proto, model = make_synthetic_model(
            tmp / ("synth%d" % seed), 5, seed, test.data[:32], output_spread=0.5
        )
        _centre_on_labels(caffe, proto, model, test)
        _place(caffe, proto, model, layout.stage_dir(stage))
    wm_proto, wm_model = layout.stage_dir("stage3") / "deploy.prototxt", layout.final_weights("stage3")
    # one shape layer per cluster on WM's trunk, then AM by Eq. 2
    rng = np.random.default_rng(3)
    wm = caffe.Net(str(wm_proto), str(wm_model), caffe.TEST)
    w0, b0 = wm.params["fc"][0].data.copy(), wm.params["fc"][1].data.copy()
    ws, bs = [], []
    for i, (name, _) in enumerate(S5.clusters):
        wm.params["fc"][0].data[...] = w0 * rng.uniform(0.5, 1.0)
        wm.params["fc"][1].data[...] = b0 + rng.normal(0, 1.0, b0.shape)
        ws.append(wm.params["fc"][0].data.copy())
        bs.append(wm.params["fc"][1].data.copy())
        cdir = layout.cluster_dir(i, name)
        cdir.mkdir(parents=True)
        wm.save(str(cdir / "final.caffemodel"))
        shutil.copy(wm_proto, cdir / "deploy.prototxt")
        write_json(cdir / "stage.json", {"iterations": 40, "train_seconds": 2.5, "done": True})
    w, b = splice(ws, bs, [idx for _, idx in S5.clusters])
    wm.params["fc"][0].data[...] = w
    wm.params["fc"][1].data[...] = b
    (layout.stage_dir("assemble")).mkdir(parents=True)
    wm.save(str(layout.stage_dir("assemble") / "am.caffemodel"))
    shutil.copy(wm_proto, layout.stage_dir("assemble") / "deploy.prototxt")
    # the runner's records (stage 2 deliberately missing)
    write_json(
        layout.stage_dir("stage1") / "stage.json", {"iterations": 150, "train_seconds": 3723.0, "done": True}
    )
    write_json(
        layout.stage_dir("stage1") / "val_errors.json", {"per_landmark": [0.05, 0.06, 0.07, 0.08, 0.09]}
    )
    write_json(
        layout.stage_dir("stage3") / "stage.json", {"iterations": 40, "train_seconds": 61.0, "done": True}
    )
    write_json(
        layout.stage_dir("stage4") / "stage.json",
        {"feature_seconds": 12.0, "done": True, "cluster_seconds": {n: 4.0 for n, _ in S5.clusters}},
    )
    with (layout.stage_dir("stage1") / "loss.csv").open("w") as f:
        f.write(
            "iter,loss,lr,elapsed_s\n"
            + "".join("%d,%.4f,0.02,%d\n" % (i, 10.0 / i, i) for i in range(1, 151))
        )
    return {"tmp": tmp, "data": data, "runs": tmp / "runs", "layout": layout, "test": test, "caffe": caffe}


def _forward(caffe, proto, model, data):
    """The deploy net's outputs, computed as the report computes them (batches of 64, REPORT_THREADS)."""
    net = caffe.Net(str(proto), str(model), caffe.TEST)
    with blas_threads(REPORT_THREADS):
        return forward_batches(net, data, "fc", 64)


def _independent_nme(caffe, proto, model, test):
    pred = _forward(caffe, proto, model, test.data).reshape(len(test.d), 5, 2).astype(np.float64)
    gt = test.label.reshape(len(test.d), 5, 2).astype(np.float64)
    err = np.hypot(pred[..., 0] - gt[..., 0], pred[..., 1] - gt[..., 1])  # (N, 5)
    return err / test.d.astype(np.float64)[:, None]


@pytest.fixture(scope="module")
def made(tiny):
    res = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "report",
            "DATASET=aflw",
            "PROFILE=smoke",
            "OUT=%s" % (tiny["tmp"] / "data"),
            "RUNS=%s" % tiny["runs"],
            "REPORT_ARGS=--threads %d" % REPORT_THREADS,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    out = tiny["layout"].root / "report"
    return {
        "out": out,
        "md": (out / "REPORT.md").read_text(),
        "json": read_json(out / "REPORT.json"),
        "stdout": res.stdout,
    }


def test_make_report_writes_every_file(made):
    for name in (
        "REPORT.md",
        "REPORT.json",
        "per_face_nme.csv",
        "ced.png",
        "loss.png",
        "occlusion_examples.png",
    ):
        assert (made["out"] / name).is_file(), name
    assert "report: %s" % (made["out"] / "REPORT.md") in made["stdout"]
    assert made["json"]["report_command"].startswith("make report DATASET=aflw PROFILE=smoke OUT=")


def test_table_vi_numbers_equal_an_independent_evaluation(tiny, made):
    lay, test, caffe = tiny["layout"], tiny["test"], tiny["caffe"]
    res = made["json"]["results"]
    refs = {
        "BM": (lay.stage_dir("stage1"), "final.caffemodel"),
        "WM": (lay.stage_dir("stage3"), "final.caffemodel"),
        "AM": (lay.stage_dir("assemble"), "am.caffemodel"),
    }
    paper = {"BM": (5.67, 4.43), "WM": (5.50, 3.84), "AM": (5.38, 3.47)}
    for key, (folder, name) in refs.items():
        pe = _independent_nme(caffe, folder / "deploy.prototxt", folder / name, test)
        face = pe.mean(axis=1)
        mean, fail = 100 * face.mean(), 100 * np.mean(face > 0.1)
        # the float32 predictions are bit-identical (same nets, batches and threads); only the float64
        # metric formulas differ (np.hypot here, np.linalg.norm there), by a few ulp: 1e-9 is exact for them
        assert res[key]["mean_error"] == pytest.approx(mean, rel=1e-9)
        assert res[key]["failure_rate"] == pytest.approx(fail, abs=1e-9)
        np.testing.assert_allclose(res[key]["per_landmark"], 100 * pe.mean(axis=0), rtol=1e-9)
        assert res[key]["faces"] == N_FACES
        row = "| **%s** | %.2f | %.2f | %.2f | %.2f |" % (key, mean, paper[key][0], fail, paper[key][1])
        assert row in made["md"], row
    assert 0 < res["BM"]["failure_rate"] < 100  # the fixture has both failures and successes
    assert res["BM"]["mean_error"] != res["WM"]["mean_error"]


def test_validation_versus_test_breakdown_equals_an_independent_evaluation(tiny, made):
    """The section's figures for the final model (AM) on val.txt and test.txt, recomputed here from Caffe."""
    lay, caffe = tiny["layout"], tiny["caffe"]
    bd = made["json"]["breakdown"]
    assert bd["model"] == "AM"
    am = lay.stage_dir("assemble")
    val = read_set(tiny["data"] / "val.txt")
    assert len(val.d) > 0
    rows = {}
    for name, data in (("val", val), ("test", tiny["test"])):
        pred = _forward(caffe, am / "deploy.prototxt", am / "am.caffemodel", data.data)
        pred = pred.reshape(len(data.d), 5, 2).astype(np.float64)
        gt = data.label.reshape(len(data.d), 5, 2).astype(np.float64)
        d = data.d.astype(np.float64)
        rel = (pred - gt) / d[:, None, None]
        off = rel.mean(axis=0)
        face = np.hypot(rel[..., 0], rel[..., 1]).mean(axis=1)
        oracle = np.hypot(rel[..., 0] - off[:, 0], rel[..., 1] - off[:, 1]).mean(axis=1)
        b = bd[name]
        assert b["faces"] == len(d)
        assert b["nme"] == pytest.approx(face.mean(), rel=1e-9)
        np.testing.assert_allclose(b["offsets"], off, rtol=1e-9, atol=1e-12)
        assert b["nme_without_offset"] == pytest.approx(oracle.mean(), rel=1e-9)
        # the yaw proxy: nose tip along the eye axis from the eyes' midpoint, in units of d
        axis = gt[:, 1] - gt[:, 0]
        d2 = np.einsum("ij,ij->i", axis, axis)
        yaw = np.einsum("ij,ij->i", gt[:, 2] - (gt[:, 0] + gt[:, 1]) / 2, axis) / d2
        assert b["mean_abs_yaw"] == pytest.approx(np.abs(yaw).mean(), rel=1e-9)
        assert [g["faces"] for g in b["yaw_groups"]] == [
            int(((np.abs(yaw) >= lo) & (np.abs(yaw) < hi)).sum()) for lo, hi in ((0, 0.1), (0.1, 0.2), (0.2,
                                                                                                        0.3))
        ] + [int((np.abs(yaw) >= 0.3).sum())]
        rows[name] = "| %s | %d | %.2f | %.2f | %.3f |" % (
            {"val": "validation", "test": "test"}[name],
            len(d),
            100 * face.mean(),
            100 * oracle.mean(),
            np.abs(yaw).mean(),
        )
    assert bd["test"]["nme"] * 100 == pytest.approx(made["json"]["results"]["AM"]["mean_error"], rel=1e-9)
    md = made["md"]
    assert "## Validation versus test: where the test error comes from" in md
    for row in rows.values():
        assert row in md, row
    gap = 100 * (bd["test"]["nme"] - bd["val"]["nme"])
    side = "above" if gap >= 0 else "below"
    assert "The test error is %.2f points %s the validation error." % (abs(gap), side) in md


def test_every_stage_on_the_validation_views_equals_an_independent_evaluation(tiny, made):
    """BM, WM and AM (stage 2 is not in this run) on val.txt and each view make data wrote, recomputed here
    from Caffe; the row of each view and the ordering line as the report prints them."""
    lay, caffe = tiny["layout"], tiny["caffe"]
    views = made["json"]["val_views"]
    meta = read_json(tiny["data"] / "meta.json")
    assert list(views) == ["val"] + list(meta["val_views"]) and len(views) >= 3
    refs = {
        "BM": (lay.stage_dir("stage1"), "final.caffemodel"),
        "WM": (lay.stage_dir("stage3"), "final.caffemodel"),
        "AM": (lay.stage_dir("assemble"), "am.caffemodel"),
    }
    md = made["md"]
    assert "## Every stage on the validation views\n\nMean error (% of d) of each stage's model" in md
    assert "| view | samples | BM | WM | AM |" in md  # no S2 column: stage 2 was not trained
    holds = []
    for split, v in views.items():
        data = read_set(tiny["data"] / ("%s.txt" % split))
        assert v["faces"] == len(data.d) > 0
        assert set(v["results"]) == set(refs)
        means = {}
        for key, (folder, name) in refs.items():
            pe = _independent_nme(caffe, folder / "deploy.prototxt", folder / name, data)
            means[key] = 100 * pe.mean(axis=1).mean()
            assert v["results"][key]["mean_error"] == pytest.approx(means[key], rel=1e-9)
        row = "| `%s` | %d | %s |" % (split, len(data.d), " | ".join("%.2f" % means[k] for k in refs))
        assert row in md, row
        if means["BM"] > means["WM"] > means["AM"]:
            holds.append(split)
    fails = [s for s in views if s not in holds]
    line = "BM > WM > AM (each later model better) holds on %s%s." % (
        ", ".join("`%s`" % s for s in holds) or "no view",
        "; not on %s" % ", ".join("`%s`" % s for s in fails) if fails else "")
    assert line in md, line
    # the rolled views are other samples than val.txt's: their figures differ from the nominal view's
    assert views["val_roll35"]["results"]["BM"]["mean_error"] != views["val"]["results"]["BM"]["mean_error"]


def test_per_cluster_table_shows_each_cluster_model_and_am_equals_them_on_their_clusters(made):
    res = made["json"]["results"]
    for name, _ in S5.clusters:
        own = res["cluster:%s" % name]["per_cluster"][name]
        assert res["AM"]["per_cluster"][name] == pytest.approx(
            own, rel=1e-9
        )  # Eq. 2: AM = cluster model there
        assert res["WM"]["per_cluster"][name] != pytest.approx(own)
    assert (
        "| cluster (points, 1-based) | WM | left_eye model | right_eye model | nose model | mouth model | AM "
        "|"
        in made["md"]
    )
    rows = {
        line.split("|")[1].strip(): [c.strip().strip("*") for c in line.split("|")[2:-1]]
        for line in made["md"].splitlines()
        if line.startswith("| ") and "(" in line.split("|")[1]
    }
    cols = ["WM"] + ["cluster:%s" % n for n, _ in S5.clusters] + ["AM"]
    for name, idx in S5.clusters:
        label = "%s (%s)" % (name, "4-5" if name == "mouth" else idx[0] + 1)
        assert rows[label] == ["%.2f" % res[c]["per_cluster"][name] for c in cols], label
        best = min(res[c]["per_cluster"][name] for c in cols)
        assert "**%.2f**" % best in made["md"]


def test_occlusion_table(made):
    occ = made["json"]["occlusion"]
    assert occ["settings"]["faces"] == 15 and len(occ["settings"]["faces_chosen"]) == 15
    res = made["json"]["results"]
    for key in ("WM", "AM"):
        o = occ["results"][key]
        assert o["without"]["left_eye"] == pytest.approx(res[key]["per_cluster"]["left_eye"], rel=1e-9)
        others = np.mean([res[key]["per_landmark"][j] for j in range(1, 5)])
        assert o["without"]["others"] == pytest.approx(others, rel=1e-9)
        assert o["with"]["left_eye"] != o["without"]["left_eye"]  # the gray box changes the input
        assert (
            "| **%s** | %.2f | %.2f | %.2f | %.2f |"
            % (
                key,
                o["without"]["left_eye"],
                o["with"]["left_eye"],
                o["without"]["others"],
                o["with"]["others"],
            )
        ) in made["md"]
    assert "COFW only" in made["md"]


def test_data_timing_and_test_set_statements(made):
    md = made["md"]
    assert "50 of its 2,995 faces" in md
    assert "| test | 50 | 50 |" in md
    assert "| stage1 | pre-training, u_j = 1 (BM) | 150 | 1:02:03 | yes |" in md
    assert "| stage2 |" in md and "| **no** |" in md  # stage 2 was not run
    assert "| stage4 features |" in md and "0:12" in md
    assert "Not run. `make perturb DATASET=aflw PROFILE=smoke`" in md


def test_per_face_csv_matches_the_json(made):
    with (made["out"] / "per_face_nme.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == N_FACES
    bm = np.array([float(r["BM"]) for r in rows])
    assert bm.mean() == pytest.approx(made["json"]["results"]["BM"]["mean_error"], abs=1e-4)
    assert rows[0]["source"].endswith(".jpg")
    occluded = [i for i, r in enumerate(rows) if r["WM"] != r["WM_occluded"]]
    assert set(occluded) <= set(made["json"]["occlusion"]["settings"]["faces_chosen"])


def test_pngs_are_real_plots(made):
    import cv2

    ced = cv2.imread(str(made["out"] / "ced.png"))[..., ::-1].astype(int)
    assert ced.shape[0] > 300 and ced.shape[1] > 400
    for rgb in (
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
    ):  # BM, WM and AM curves (matplotlib tab colours)
        assert (np.abs(ced - rgb).sum(axis=2) < 30).sum() > 100, rgb
    occ = cv2.imread(str(made["out"] / "occlusion_examples.png"), cv2.IMREAD_GRAYSCALE)
    assert occ is not None and occ.std() > 20
    assert cv2.imread(str(made["out"] / "loss.png")) is not None


def test_occlusion_on_real_patches_is_gray_128_before_normalisation(tiny):
    test = tiny["test"]
    occ, faces, boxes = O.occlude_left_eye(test.data, test.label, test.d, S5)
    for k, i in enumerate(faces):
        raw = denormalize_patch(test.data[i, 0])
        assert np.array_equal(normalize_patch(raw), test.data[i, 0])  # the stored patches are exact uint8
        raw[expected_mask(boxes[k])] = 128
        assert np.array_equal(normalize_patch(raw), occ[i, 0])


def test_a_partial_run_is_reported_as_such(tiny, tmp_path):
    from mcl_caffe.report.report import make_report

    runs = tmp_path / "runs"
    shutil.copytree(tiny["runs"] / "aflw-smoke" / "stage1", runs / "aflw-smoke" / "stage1")
    r = make_report("aflw", "smoke", tiny["data"], runs, threads=REPORT_THREADS)
    assert set(r["json"]["results"]) == {"BM"}
    assert "Not trained yet (left out below): WM, AM." in r["markdown"]
    assert "| **WM** | not trained | 5.50 |" in r["markdown"]
    assert "Needs WM and/or AM; not trained yet." in r["markdown"]


def test_test_set_statement_for_300w_says_it_is_not_ibug():
    from mcl_caffe.report.report import test_set_statement

    meta = {
        "sources": {"train": "300-W afw,helen/trainset in x", "test": None},
        "options": {"test_fraction": 0.15, "seed": 0, "limit": None},
    }
    s = test_set_statement("300w", meta, 181)
    assert (
        "NOT the paper's IBUG test set" in s and "not available in ../shared/data" in s and "181 faces" in s
    )
    meta["sources"]["test"] = "300-W ibug"
    assert "the paper's IBUG test set" in test_set_statement("300w", meta, 135)


# ----------------------------------------------------------------------------- perturbation (Fig. 7)
def test_perturbed_weights_plan():
    from mcl_caffe.evaluation.perturb import PerturbError, weights_plan
    from mcl_caffe.core.weighting import error_proportional_weights

    eps = np.array([0.05, 0.06, 0.07, 0.08, 0.09])
    base = error_proportional_weights(eps)
    assert weights_plan(eps, 0.0)["weights_u"] == pytest.approx(base.tolist(), abs=0)
    raised = None
    for delta in (0.1, 0.3):
        p = weights_plan(eps, delta, seed=4)
        u = np.asarray(p["weights_u"])
        up = np.flatnonzero(u > base)
        assert len(up) == 2 and p["raised"] == up.tolist()  # floor(5/2) raised
        assert u - base == pytest.approx(np.where(np.isin(np.arange(5), up), delta, -delta))
        raised = up if raised is None else raised
        assert np.array_equal(up, raised)  # the same landmarks at every delta
    with pytest.raises(PerturbError, match="u_j <= 0"):
        weights_plan(eps, 2.0)


def test_perturb_dry_run_and_eval_only(tiny, made, tmp_path):
    """--dry-run prints the runner commands; --eval-only evaluates trained deltas and feeds the report."""
    base = tiny["layout"]
    cmd = [
        sys.executable,
        "tools/perturb.py",
        "--dataset",
        "aflw",
        "--profile",
        "smoke",
        "--data",
        str(tiny["data"]),
        "--runs",
        str(tiny["runs"]),
        "--deltas",
        "0",
        "0.2",
        "0.4",
    ]
    res = subprocess.run(cmd + ["--dry-run"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("--weights-json") == 6
    assert "--runs %s" % (base.root / "perturb" / "delta-0.20") in res.stdout
    assert not (base.root / "perturb").exists()  # a dry run creates nothing
    # pretend deltas 0 and 0.2 were trained: WM and the first cluster model as their stage-3 results
    for delta, src in ((0.0, base.stage_dir("stage3")), (0.2, base.cluster_dir(0, S5.clusters[0][0]))):
        s3 = base.root / "perturb" / ("delta-%.2f" % delta) / "aflw-smoke" / "stage3"
        s3.mkdir(parents=True)
        shutil.copy(src / "deploy.prototxt", s3)
        shutil.copy(src / "final.caffemodel", s3)
        write_json(s3 / "stage.json", {"weights_u": [1.0] * 5, "done": True, "train_seconds": 65.0})
        (s3.parent / "stage2").mkdir()
        write_json(s3.parent / "stage2" / "stage.json", {"done": True, "train_seconds": 60.0})
    try:
        res = subprocess.run(cmd + ["--eval-only"], cwd=ROOT, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-2000:]
        doc = read_json(base.root / "perturb" / "results.json")
        rows = {r["delta"]: r for r in doc["deltas"]}
        report = made["json"]["results"]
        assert rows[0.0]["mean_error"] == pytest.approx(report["WM"]["mean_error"], rel=1e-9)
        assert rows[0.2]["mean_error"] == pytest.approx(report["cluster:left_eye"]["mean_error"], rel=1e-9)
        assert rows[0.4]["done"] is False and rows[0.4]["mean_error"] is None
        assert doc["reference"]["BM"]["mean_error"] == pytest.approx(report["BM"]["mean_error"], rel=1e-9)
        assert (base.root / "perturb" / "fig7.png").is_file()
        from mcl_caffe.report.report import make_report

        r = make_report("aflw", "smoke", tiny["data"], tiny["runs"], out_dir=tmp_path / "report",
                        threads=REPORT_THREADS)
        assert "| 0.20 | %.2f |" % rows[0.2]["mean_error"] in r["markdown"]
        assert "| 0.40 | — | — | no | — |" in r["markdown"]
        assert rows[0.2]["train_seconds"] == 125.0  # stage 2 + stage 3
        assert "| 0.20 | %.2f | %.2f | yes | 2:05 |" % (rows[0.2]["mean_error"],
                                                        rows[0.2]["failure_rate"]) in (
            r["markdown"]
        )
        assert "`make perturb DATASET=aflw PROFILE=smoke PERTURB_PROFILE=smoke`" in r["markdown"]
        # the measured change runs over the trained deltas only (0 and 0.2; 0.4 is untrained)
        assert (
            "from delta = 0.00 to delta = 0.20 the WM error moves by %+.2f points"
            % (rows[0.2]["mean_error"] - rows[0.0]["mean_error"])
        ) in r["markdown"]
        # the plot is copied beside REPORT.md and linked by its name, so the report folder stands alone
        assert "![WM error against delta](fig7.png)" in r["markdown"]
        fig7 = (base.root / "perturb" / "fig7.png").read_bytes()
        assert (tmp_path / "report" / "fig7.png").read_bytes() == fig7
        assert (
            json.loads((tmp_path / "report" / "REPORT.json").read_text())["perturbation"]["train_profile"]
            == "smoke"
        )
    finally:
        shutil.rmtree(base.root / "perturb")


@pytest.mark.parametrize("profile,says", [
    ("cpu", "measure this short run, not the method at convergence"),
    ("long", "measure this run (the paper's stage 1 stopped after its third decay, at 90,000 iterations; "
             "stages 2-4 as the `cpu` profile's)"),
    ("paper", None),
])
def test_the_intro_names_what_a_profile_is(profile, says):
    from mcl_caffe.core.landmarks import get_scheme
    from mcl_caffe.report.markdown import intro_section

    ctx = {"dataset": "300w", "profile": profile, "scheme": get_scheme("300w68"), "results": {},
           "generated": "today", "report_command": "make report", "commit": "abc",
           "train_command": "make all",
           "test_list": "t.txt", "n_test": 1, "eval_seconds": 1.0, "test_statement": "IBUG",
           "d_definition": "eye centres"}
    text = "\n".join(intro_section(ctx))
    if says is None:
        assert "not the paper's schedule" not in text
    else:
        assert says in text and "not the paper's schedule" in text
