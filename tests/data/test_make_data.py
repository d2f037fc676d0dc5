"""tools/make_data.py end to end on --limit'ed real data: HDF5 contents, list files, meta, summary, errors."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mcl_caffe.core import crop as C
from mcl_caffe.data.datasets import load_300w, load_mtfl_list
from mcl_caffe.core.landmarks import get_scheme
from conftest import ROOT

REPO = ROOT
DATA = REPO.parent / "shared" / "data"
TOOL = REPO / "tools" / "make_data.py"


def run_tool(*args, check=True):
    proc = subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=REPO
    )
    if check and proc.returncode != 0:
        raise AssertionError("make_data failed (%d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    return proc


def read_split(out, split):
    files = [Path(p) for p in (out / ("%s.txt" % split)).read_text().split()]
    arrays = {}
    for p in files:
        assert p.is_absolute() and p.is_file()
        with h5py.File(p, "r") as f:
            for k in f:
                arrays.setdefault(k, []).append(f[k][...])
    return files, {k: np.concatenate(v) for k, v in arrays.items()}


@pytest.fixture(scope="module")
def mtfl_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    proc = run_tool(
        "--dataset",
        "aflw",
        "--data-root",
        DATA / "mtfl-full",
        "--out",
        out,
        "--limit",
        40,
        "--chunk-size",
        300,
        "--workers",
        2,
    )
    return out / "aflw", proc


def test_summary_meta_and_lists(mtfl_run):
    out, proc = mtfl_run
    text = proc.stdout
    assert "read 40 faces from the train list, 40 faces from the test list" in text
    assert "skipped 0" in text
    assert "wrote train     36 faces ->     720 samples in 3 file(s)" in text
    assert "wrote val        4 faces ->       4 samples in 1 file(s)" in text
    assert "wrote test      40 faces ->      40 samples in 1 file(s)" in text
    assert "samples/s" in text and "aflw faces" in proc.stderr  # tqdm progress bar on stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["scheme"] == "aflw5" and meta["n_points"] == 5
    assert meta["summary"]["written"]["train"] == {"faces": 36, "samples": 720, "files": 3}
    assert meta["summary"]["skipped"] == {"total": 0, "by_reason": {}}
    assert meta["augmentation"]["samples_per_face"] == 20 and meta["options"]["seed"] == 0
    assert meta["crop"]["crop_scale"] == C.CROP_SCALE["aflw5"]
    assert {"numpy", "opencv", "h5py", "python"} <= set(meta["versions"])
    src = meta["source_images"]
    assert len(src["train"]) == 36 and len(src["val"]) == 4 and len(src["test"]) == 40
    assert not set(src["train"]) & set(src["val"])  # Omega_t and Omega_v are disjoint faces
    assert all(Path(p).is_file() for p in src["test"])


def test_hdf5_shapes_dtypes_and_values(mtfl_run):
    out, _ = mtfl_run
    for split, n in (("train", 720), ("val", 4), ("test", 40)):
        files, a = read_split(out, split)
        assert a["data"].shape == (n, 1, 50, 50) and a["data"].dtype == np.float32
        assert a["label"].shape == (n, 10) and a["label"].dtype == np.float32
        assert a["d"].shape == (n,) and a["d"].dtype == np.float32
        for f in files:  # chunks small enough for HDF5Data to load whole
            with h5py.File(f, "r") as h:
                assert len(h["data"]) <= 300
        x = a["data"]
        assert x.min() >= -1.0 and x.max() <= 127 / 128
        assert np.array_equal(x * 128, np.round(x * 128))  # (p - 128) / 128 of integer pixels
        assert x.std() > 0.2  # real image content
        assert a["label"].min() >= 0 and a["label"].max() <= 49  # every point inside the patch
        pts = a["label"].reshape(n, 5, 2)  # interleaved x1, y1, x2, y2, ...
        assert np.allclose(a["d"], np.hypot(*(pts[:, 0] - pts[:, 1]).T), rtol=1e-5)
        assert (a["d"] > 5).all()


def test_test_labels_map_back_to_the_original_annotation(mtfl_run):
    out, _ = mtfl_run
    _, a = read_split(out, "test")
    faces = load_mtfl_list(DATA / "mtfl-full" / "testing.txt", limit=40).faces
    assert a["index"].tolist() == list(range(40))
    for k, f in enumerate(faces):
        back = C.patch_to_image(a["label"][k].reshape(5, 2), a["crop"][k])
        assert np.abs(back - f.points).max() < 1e-3
        # the crop is the documented rule on the tight landmark box
        assert np.allclose(a["crop"][k], C.crop_for_box(C.face_box_from_landmarks(f.points), "aflw5"))


def test_train_samples_map_back_through_their_affine(mtfl_run):
    out, _ = mtfl_run
    _, a = read_split(out, "train")
    faces = load_mtfl_list(DATA / "mtfl-full" / "training.txt", limit=40).faces
    perm = np.asarray(get_scheme(5).flip_perm)
    assert 0.3 < a["flipped"].mean() < 0.7 and len(set(a["index"][:20].tolist())) > 5  # globally shuffled
    for k in range(len(a["label"])):
        q = C.patch_to_image_affine(a["label"][k].reshape(5, 2).astype(np.float64), a["affine"][k])
        if a["flipped"][k]:
            q = q[perm]
        assert np.abs(q - faces[a["index"][k]].points).max() < 1e-3


def test_output_is_byte_identical_whatever_the_worker_count(tmp_path):
    runs = []
    for workers in (1, 2):
        out = tmp_path / ("w%d" % workers)
        run_tool(
            "--dataset",
            "aflw",
            "--data-root",
            DATA / "mtfl-full",
            "--out",
            out,
            "--limit",
            12,
            "--workers",
            workers,
            "--no-progress",
        )
        runs.append(sorted((out / "aflw" / "h5").glob("*.h5")))
    # train, val, test and the two rolled validation views (no boxes: no val_gt)
    names = ["test_000.h5", "train_000.h5", "val_000.h5", "val_roll20_000.h5", "val_roll35_000.h5"]
    assert [p.name for p in runs[0]] == [p.name for p in runs[1]] == names
    for a, b in zip(*runs):
        assert a.read_bytes() == b.read_bytes()
    out = tmp_path / "seed1"
    run_tool(
        "--dataset",
        "aflw",
        "--data-root",
        DATA / "mtfl-full",
        "--out",
        out,
        "--limit",
        12,
        "--seed",
        1,
        "--no-progress",
    )
    assert (out / "aflw" / "h5" / "train_000.h5").read_bytes() != runs[0][1].read_bytes()


def test_300w_paper_protocol_by_default(tmp_path):
    """Training folders AFW, HELEN train, LFPW train; IBUG the test set; the detector-box and LFPW-test
    rows."""
    run_tool("--dataset", "300w", "--data-root", DATA / "300w", "--out", tmp_path, "--no-augment",
             "--no-progress")
    meta = json.loads((tmp_path / "300w" / "meta.json").read_text())
    w = meta["summary"]["written"]
    assert w["train"]["faces"] + w["val"]["faces"] == 337 + 870 + 805 and w["test"]["faces"] == 135
    assert meta["sources"]["subsets"] == {"train": ["afw", "helen/trainset", "lfpw/trainset"],
                                          "test": ["ibug"]}
    assert all(Path(p).parent.name == "ibug" for p in meta["source_images"]["test"])
    train_dirs = {Path(p).parent.name for s in ("train", "val") for p in meta["source_images"][s]}
    assert train_dirs == {"afw", "trainset"}  # helen/trainset, lfpw/trainset
    extra = meta["extra_tests"]
    assert (extra["test_detector"]["faces"], extra["test_lfpw"]["faces"]) == (135, 224)
    assert extra["test_detector"]["calibration"]["fitted_on"] == w["train"]["faces"]
    assert meta["source_images"]["test_detector"] == meta["source_images"]["test"]
    # the main rows crop from bb_ground_truth, the tight box of the points: the landmark crop
    faces = {f.image_path: f for f in load_300w(DATA / "300w", ["ibug"]).faces}
    _, a = read_split(tmp_path / "300w", "test")
    for k, p in enumerate(meta["source_images"]["test"]):
        assert np.allclose(a["crop"][k], C.crop_for_box(C.face_box_from_landmarks(faces[p].points), "300w68"))


def test_300w_held_out_test_split_has_no_leakage(tmp_path):
    run_tool(
        "--dataset",
        "300w",
        "--data-root",
        DATA / "300w",
        "--out",
        tmp_path,
        "--limit",
        60,
        "--no-augment",
        "--no-progress",
        "--subsets",
        "afw",
        "--test-subsets",
        "",
    )
    meta = json.loads((tmp_path / "300w" / "meta.json").read_text())
    w = meta["summary"]["written"]
    assert w["train"]["faces"] + w["val"]["faces"] + w["test"]["faces"] == 60
    assert w["test"]["faces"] >= 9 and w["val"]["faces"] >= 6 and w["train"]["samples"] == w["train"]["faces"]
    assert meta["options"]["test_fraction"] == 0.15
    stem = lambda p: Path(p).stem.rsplit("_", 1)[0]  # noqa: E731 (photo id)
    photos = {s: {stem(p) for p in meta["source_images"][s]} for s in ("train", "val", "test")}
    assert not (photos["train"] & photos["test"]) and not (photos["train"] & photos["val"])
    _, a = read_split(tmp_path / "300w", "test")
    assert a["label"].shape == (w["test"]["faces"], 136)
    faces = {f.image_path: f for f in load_300w(DATA / "300w", ["afw"]).faces}
    for k, p in enumerate(meta["source_images"]["test"]):
        back = C.patch_to_image(a["label"][k].reshape(68, 2), a["crop"][k])
        assert np.abs(back - faces[p].points).max() < 1e-3


def _bad_mtfl(tmp_path):
    """A list with real images plus one missing image and one non-numeric line."""
    lines = (DATA / "mtfl-full" / "training.txt").read_text().splitlines()[:6]
    root = tmp_path / "bad"
    root.mkdir()
    for name in ("lfw_5590", "net_7876"):
        (root / name).symlink_to(DATA / "mtfl-full" / name)
    lines.insert(2, "lfw_5590/no_such_face.jpg 30 50 40 32 48 35 35 45 55 55")
    lines.insert(4, "lfw_5590/Aaron_Eckhart_0001.jpg 30 50 40 32 x48 35 35 45 55 55")
    (root / "training.txt").write_text("\n".join(lines) + "\n")
    (root / "testing.txt").write_text("\n".join(lines[:3]) + "\n")
    return root


def test_bad_samples_are_skipped_and_counted(tmp_path):
    root = _bad_mtfl(tmp_path)
    proc = run_tool(
        "--dataset",
        "aflw",
        "--data-root",
        root,
        "--out",
        tmp_path / "o",
        "--no-progress",
        "--val-fraction",
        0,
    )
    assert "skipped 3: missing image 2, non-numeric value 1" in proc.stdout
    assert (
        "no_such_face.jpg" in proc.stdout
        and "training.txt:5 column 6: non-numeric value 'x48'" in proc.stdout
    )
    meta = json.loads((tmp_path / "o" / "aflw" / "meta.json").read_text())
    assert (
        meta["summary"]["written"]["train"]["faces"] == 6 and meta["summary"]["written"]["test"]["faces"] == 2
    )
    assert len(meta["skipped_messages"]) == 3


def test_strict_stops_with_the_message(tmp_path):
    root = _bad_mtfl(tmp_path)
    proc = run_tool(
        "--dataset",
        "aflw",
        "--data-root",
        root,
        "--out",
        tmp_path / "o",
        "--no-progress",
        "--strict",
        check=False,
    )
    assert proc.returncode == 2
    assert "training.txt:5 column 6: non-numeric value 'x48'" in proc.stderr
    (root / "training.txt").write_text((root / "training.txt").read_text().replace("x48", "48"))
    proc = run_tool(
        "--dataset",
        "aflw",
        "--data-root",
        root,
        "--out",
        tmp_path / "o",
        "--no-progress",
        "--strict",
        check=False,
    )
    assert (
        proc.returncode == 2 and "no_such_face.jpg" in proc.stderr and "image file not found" in proc.stderr
    )


def test_help_and_usage_errors(tmp_path):
    proc = run_tool("--help")
    for word in (
        "--dataset",
        "--data-root",
        "--limit",
        "--workers",
        "--strict",
        "--rotations",
        "--max-angle",
        "--jitters",
        "--scale-range",
        "--max-shift",
        "--flip",
        "--jpeg-prob",
        "--jpeg-quality",
        "--val-fraction",
        "--test-fraction",
        "--seed",
        "Omega_t",
        "bb_ground_truth",
    ):
        assert word in proc.stdout
    proc = run_tool("--dataset", "aflw", "--data-root", tmp_path / "nowhere", "--out", tmp_path, check=False)
    assert proc.returncode == 1 and "nowhere/training.txt" in proc.stderr
    proc = run_tool(
        "--dataset",
        "aflw",
        "--data-root",
        DATA / "mtfl-full",
        "--out",
        tmp_path,
        "--test-fraction",
        "0.2",
        check=False,
    )
    assert proc.returncode == 1 and "has a test set" in proc.stderr


def test_contact_sheet_tool_draws_the_labels_on_the_patches(mtfl_run, tmp_path):
    out, _ = mtfl_run
    png = tmp_path / "sheet.png"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "contact_sheet.py"),
            str(out / "train.txt"),
            "-o",
            str(png),
            "-n",
            "16",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    import cv2

    img = cv2.imread(str(png))
    assert img.shape == (2 * 203 + 3, 8 * 203 + 3, 3)  # 16 tiles of 50x4 px, 8 per row, 3 px gaps
    first = Path((out / "train.txt").read_text().split()[0])
    with h5py.File(first, "r") as f:
        n, data, label = len(f["data"]), f["data"][...], f["label"][...]
    pick = np.sort(np.random.default_rng(0).choice(n, size=16, replace=False))
    colours = {0: (0, 220, 0), 1: (0, 220, 220), 2: (255, 80, 0), 3: (0, 0, 255), 4: (0, 0, 255)}
    for t, k in enumerate(pick[:8]):
        ox, oy = 3 + t * 203, 3
        tile = img[oy : oy + 200, ox : ox + 200]
        # the patch is there (nearest-neighbour x4), away from the drawn points and the text
        gray = C.denormalize_patch(data[k, 0])
        assert np.array_equal(tile[120:200:4, 0:200:4, 0][:, :8], gray[30:50, :8])
        for j, (x, y) in enumerate(label[k].reshape(5, 2)):
            px, py = int(round((x + 0.5) * 4 - 0.5)), int(round((y + 0.5) * 4 - 0.5))
            assert tuple(tile[py, px]) == colours[j]


def test_detector_boxes_calibrate_test_crops_and_a_box_off_its_image_stops(tmp_path):
    """The paper's AFLW protocol on the first faces: Sun's boxes on the training list, the author's on the
    test
    list; the test crops come from the boxes through the calibration fitted on the training faces. A box
    outside its image stops make data (exit 2), naming the face."""
    mtfl = DATA / "mtfl-full"
    boxes = DATA / "boxes"
    common = ["--dataset", "aflw", "--data-root", mtfl, "--limit", 30, "--no-augment", "--no-progress",
              "--workers", 1, "--train-boxes", boxes / "cnn-facepoint" / "trainImageList.txt"]
    run_tool(*common, "--out", tmp_path / "o", "--test-boxes",
             boxes / "aflw-bbox-annotation" / "AFLW_boundingbox.txt")
    meta = json.loads((tmp_path / "o" / "aflw" / "meta.json").read_text())
    cal = meta["crop"]["given_box_calibration"]
    faces = load_mtfl_list(mtfl / "testing.txt", limit=30).faces
    from mcl_caffe.data.datasets.box_file import attach_list_boxes

    attach_list_boxes(faces, boxes / "aflw-bbox-annotation" / "AFLW_boundingbox.txt")
    with h5py.File((tmp_path / "o" / "aflw" / "test.txt").read_text().split()[0], "r") as h:
        crops, index = h["crop"][...], h["index"][...]
    calibration = C.BoxCalibration(**cal)
    for k, i in enumerate(index):
        assert np.allclose(crops[k], C.crop_for_given_box(faces[i].box, calibration)), i
    # and the same faces again, cropped from their ground-truth points, for the report's second row
    with h5py.File((tmp_path / "o" / "aflw" / "test_gt.txt").read_text().split()[0], "r") as h:
        gt_crops, gt_index = h["crop"][...], h["index"][...]
    assert np.array_equal(gt_index, index)
    for k, i in enumerate(gt_index):
        assert np.allclose(gt_crops[k], C.crop_for_box(C.face_box_from_landmarks(faces[i].points),
                                                       "aflw5")), i
    # a run without boxes removes the earlier ground-truth list, which would no longer match
    run_tool("--dataset", "aflw", "--data-root", mtfl, "--limit", 30, "--no-augment", "--no-progress",
             "--workers", 1, "--out", tmp_path / "o")
    assert not (tmp_path / "o" / "aflw" / "test_gt.txt").exists()
    assert not list((tmp_path / "o" / "aflw" / "h5").glob("test_gt_*.h5"))
    assert list((tmp_path / "o" / "aflw" / "h5").glob("test_0*.h5"))
    bad = tmp_path / "bad_boxes.txt"
    lines = (boxes / "aflw-bbox-annotation" / "AFLW_boundingbox.txt").read_text().splitlines()[:30]
    lines[4] = "1000\t1100\t1000\t1100"
    bad.write_text("\n".join(lines) + "\n")
    proc = run_tool(*common, "--out", tmp_path / "o2", "--test-boxes", bad, check=False)
    assert proc.returncode == 2 and "testing.txt:5" in proc.stderr
    assert "lies outside the 150x150 image" in proc.stderr
