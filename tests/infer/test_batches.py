"""mcl-align over many inputs: every input gets a status, results are written as they are made and survive an
interruption (--resume continues), output paths and arguments are checked before the first image, the box
file refuses comment lines, the output names its points, --version and --help speak to an installed user.
All on real photo files (the `real_photos` fixture) with the shipped 68-point model."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mcl_caffe.core.landmarks import get_scheme
from mcl_caffe.infer.cli import main
from conftest import ROOT

CLI = [sys.executable, "-m", "mcl_caffe.infer.cli"]


def photo(real_photos, name):
    d, specs = real_photos
    return str(d / specs[name].file)


def csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_input_gets_a_row_with_its_status(real_photos, tmp_path, capsys):
    """ok, no face, undecodable and missing inputs side by side: the CSV alone says what happened to each,
    the run goes on past the bad ones, and the exit status is 1 because some failed."""
    missing = str(tmp_path / "gone.jpg")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    inputs = [
        photo(real_photos, "two_small"),
        missing,
        photo(real_photos, "truncated_jpg"),
        photo(real_photos, "blank_8000x6000"),
        str(empty_dir),
        photo(real_photos, "gray"),
    ]
    out = tmp_path / "o.csv"
    assert main(inputs + ["-o", str(out), "--no-progress"]) == 1
    rows = csv_rows(out)
    by_image = {}
    for r in rows:
        by_image.setdefault(r["image"], []).append(r)
    assert list(by_image) == inputs
    assert [r["status"] for r in by_image[inputs[0]]] == ["ok", "ok"]
    assert (
        by_image[missing][0]["status"] == "error"
        and "image file not found" in by_image[missing][0]["message"]
    )
    assert by_image[inputs[2]][0]["status"] == "error"
    assert by_image[inputs[3]][0]["status"] == "no_face" and by_image[inputs[3]][0]["x1"] == ""
    assert (
        by_image[str(empty_dir)][0]["status"] == "error"
        and "holds no images" in by_image[str(empty_dir)][0]["message"]
    )
    assert [r["status"] for r in by_image[inputs[5]]] == ["ok", "ok"]
    assert by_image[inputs[0]][0]["score"] != "" and float(by_image[inputs[0]][0]["score"]) > 0.5
    err = capsys.readouterr().err
    assert "6 images: 2 with faces (4 faces), 1 without a face, 3 with errors" in err
    # without errors the exit status is 0, also with an image without faces
    assert main([inputs[0], inputs[3], "-o", str(tmp_path / "ok.csv"), "--no-progress"]) == 0


def test_json_names_the_points_and_states_box_order_and_coordinates(real_photos, tmp_path):
    out = tmp_path / "o.json"
    assert main([photo(real_photos, "exif_6"), "-o", str(out), "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    assert doc["point_names"] == list(get_scheme("300w68").point_names) and len(doc["point_names"]) == 68
    assert doc["box_order"] == "left, right, top, bottom"
    assert "upright image" in doc["coordinates"]
    rec = doc["images"][0]
    assert rec["status"] == "ok" and rec["exif_orientation"] == 6 and len(rec["faces"]) == 2
    assert len(rec["faces"][0]["points"]) == 68 and 0.5 <= rec["faces"][0]["score"] <= 1


@pytest.mark.parametrize("bad", ["folder", "under_a_file"])
def test_an_unusable_output_path_stops_before_the_first_image(real_photos, tmp_path, bad):
    """-o naming a folder, or a path under a regular file: exit 2 at once, no image processed (before, the
    traceback came after every image had been processed, and the results were lost)."""
    target = {"folder": tmp_path, "under_a_file": tmp_path / "file.txt" / "o.csv"}[bad]
    (tmp_path / "file.txt").write_text("x")
    r = subprocess.run(
        CLI + [photo(real_photos, "two_small"), "-o", str(target), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("mcl-align:") == 1 and "error: " in r.stderr and "faces marked" not in r.stderr
    r = subprocess.run(
        CLI + [photo(real_photos, "two_small"), "--overlay-dir", str(tmp_path / "file.txt")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr


def _wait_for(path, predicate, proc, timeout=120.0):
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if path.is_file() and predicate(path.read_text()):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize(
    "fmt,how",
    [("json", signal.SIGTERM), ("json", signal.SIGKILL), ("csv", signal.SIGKILL)],
    ids=["json-sigterm", "json-sigkill", "csv-sigkill"],
)
def test_an_interrupted_run_keeps_its_results_and_resume_finishes_it(real_photos, tmp_path, fmt, how):
    """Stop a run over 24 inputs after a few images: what was written stays (SIGTERM even leaves valid
    JSON; SIGKILL may cut the last line), and --resume does only the rest: in the end every input appears
    exactly once."""
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(24):
        os.symlink(photo(real_photos, "two_small" if k % 3 else "gray"), folder / ("p%02d.jpg" % k))
    out = tmp_path / ("o." + fmt)
    proc = subprocess.Popen(
        CLI + [str(folder), "-o", str(out), "--no-progress", "--threads", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    started = _wait_for(out, lambda t: t.count("p0") >= 4, proc)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert started, "the run ended before it could be interrupted: %s" % err[-500:]
    if how == signal.SIGTERM:
        assert proc.returncode == 130 and "interrupted after" in err
        if fmt == "json":
            assert len(json.loads(out.read_text())["images"]) >= 3  # a complete document
    before = out.read_text()
    r = subprocess.run(
        CLI + [str(folder), "-o", str(out), "--no-progress", "--resume"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "already in %s (--resume)" % out in r.stderr
    if fmt == "json":
        images = [x["image"] for x in json.loads(out.read_text())["images"]]
    else:
        rows = csv_rows(out)
        images = [x["image"] for x in rows if x["face"] in ("0", "")]
        assert all(x["status"] == "ok" for x in rows)
    assert sorted(images) == sorted(str(p) for p in folder.iterdir())  # each input once
    assert len(before) > 0


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_resume_after_a_file_cut_in_the_middle_of_a_record(real_photos, tmp_path, fmt, capsys):
    """The file of a run killed while writing: cut inside the third image's record (JSON) or row (CSV).
    --resume keeps the complete images, redoes the rest (CSV: also the last complete one, whose rows may be
    partial), and an image that had an error is tried again."""
    imgs = [photo(real_photos, n) for n in ("two_small", "gray", "exif_6", "exif_3")]
    out = tmp_path / ("o." + fmt)
    assert main(imgs + ["-o", str(out), "--no-progress"]) == 0
    full = out.read_text()
    cut = full.index(imgs[2]) + 40  # inside the record / first row of the third image
    out.write_text(full[:cut])
    assert main(imgs + ["-o", str(out), "--no-progress", "--resume"]) == 0
    assert "; %d already in %s (--resume)" % (2 if fmt == "json" else 1, out) in capsys.readouterr().err
    if fmt == "json":
        assert [x["image"] for x in json.loads(out.read_text())["images"]] == imgs
    else:
        assert [r["image"] for r in csv_rows(out)] == [i for i in imgs for _ in range(2)]  # two faces each
    assert out.read_text() == full  # the same results as the uninterrupted run
    # an error is not "done": once the missing file exists, --resume processes it
    missing = tmp_path / "later.jpg"
    assert main(imgs[:1] + [str(missing), "-o", str(out), "--no-progress"]) == 1
    os.symlink(imgs[1], missing)
    assert main(imgs[:1] + [str(missing), "-o", str(out), "--no-progress", "--resume"]) == 0
    if fmt == "json":
        recs = json.loads(out.read_text())["images"]
        assert [(x["image"], x["status"]) for x in recs] == [(imgs[0], "ok"), (str(missing), "ok")]
    else:
        assert [(r["image"], r["status"]) for r in csv_rows(out)] == [(imgs[0], "ok")] * 2 + [
            (str(missing), "ok")
        ] * 2


def test_resume_refuses_an_output_of_another_model(real_photos, tmp_path, capsys):
    out = tmp_path / "o.json"
    assert main([photo(real_photos, "two_small"), "-o", str(out), "--no-progress"]) == 0
    assert main([photo(real_photos, "two_small"), "-o", str(out), "--resume", "--model", "aflw5"]) == 2
    assert "was written with model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--threads", "-3"], "--threads must be at least 1, got -3"),
        (["--min-face", "-5"], "--min-face must be at least 1, got -5"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--min-score", "1.5"], "--min-score must lie in [0, 1]"),
        (["--max-side", "10"], "--max-side must be at least 64"),
        (["--threads", "two"], "--threads must be a whole number"),
    ],
)
def test_bad_numbers_are_rejected(real_photos, args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main([photo(real_photos, "two_small"), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--format", "json", "-o", "x.csv"], "--format json disagrees with the output file name x.csv"),
        (["-o", "x.txt"], "cannot tell the output format from x.txt"),
        (["--resume"], "--resume needs -o FILE"),
        (["--cascade", "c.xml"], "--cascade is for --detector haar"),
    ],
)
def test_disagreeing_options_are_rejected(real_photos, tmp_path, args, message, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([photo(real_photos, "two_small"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.txt").exists()


def test_box_file_comment_and_gap_lines_are_rejected_and_trailing_blank_lines_accepted(
    real_photos, tmp_path, capsys
):
    imgs = [photo(real_photos, "two_small"), photo(real_photos, "gray")]
    box = "180.5 215.5 199.5 246.5\n"
    for text, message in (
        ("# left right top bottom\n" + box * 2, "line 1: comment lines are not allowed"),
        (box + "\n" + box, "line 2 is empty"),
    ):
        (tmp_path / "b.txt").write_text(text)
        assert main(imgs + ["--boxes", str(tmp_path / "b.txt"), "--no-progress"]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "b.txt").write_text(box * 2 + "\n\n")
    out = tmp_path / "o.csv"
    assert main(imgs + ["--boxes", str(tmp_path / "b.txt"), "-o", str(out), "--no-progress"]) == 0
    rows = csv_rows(out)
    assert [r["box_source"] for r in rows] == ["file", "file"] and rows[0]["score"] == ""
    assert [float(rows[0][k]) for k in ("left", "right", "top", "bottom")] == [180.5, 215.5, 199.5, 246.5]


def test_version_prints_the_package_and_the_model_card():
    from mcl_caffe import __version__
    from mcl_caffe.infer import shipped

    r = subprocess.run(CLI + ["--version", "--int8"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    card = shipped.model_card("300w68")
    assert r.stdout.startswith("mcl-align (mcl-caffe) %s\n" % __version__)
    assert "NME %.2f %%" % card["test"]["onnx_int8"]["nme"] in r.stdout
    assert str(shipped.model_dir("300w68") / "MODEL.md") in r.stdout and "mcl.int8.onnx" in r.stdout


def test_help_describes_the_installed_command_not_repository_files():
    r = subprocess.run(CLI + ["--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0
    for repo_only in ("tools/", "reports/", "mcl_caffe/", ".py", "make "):
        assert repo_only not in r.stdout, repo_only
    for said in (
        "--max-side",
        "default 1600",
        "--max-megapixels",
        "EXIF orientation",
        "left right top bottom",
        "left, right, top, bottom",
        "status",
        "--resume",
        "no_face",
    ):
        assert said in r.stdout, said
