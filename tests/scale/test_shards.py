"""The rows mcl-align-batch writes (worker.align_one -> shards) equal mcl-align's JSON for the same real
images, and a run's shards are read back for resuming (no Ray needed: tests/scale/test_batch_ray.py runs
the same code in Ray actors)."""

import json

import numpy as np
import pytest


from mcl_caffe.infer import cli  # noqa: E402
from mcl_caffe.scale import shards as S  # noqa: E402
from mcl_caffe.scale.worker import align_one  # noqa: E402

# mcl-align's JSON rounds coordinates to 3 decimals (results.json_record); the shards keep them unrounded.
# Rounded the same way, the shard's values must equal the JSON's to 1e-4 px (the bound): the same
# computation (one onnxruntime thread in both) gives the same floats, so only a real difference shows.
# The unrounded values are checked at 1e-4 px against FaceAligner in the same process below.
JSON_TOL = 1e-4


def real_images(shared_data, tmp_path, k=3):
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted((shared_data / "300w" / "lfpw" / "testset").glob("*.jpg"))[:k]:
        (src / p.name).symlink_to(p)
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return src


def by_image(table):
    out = {}
    for row in table.to_pylist():
        out.setdefault(row["image"], []).append(row)
    return out


def compare_with_mcl_align_json(rows_by_image, json_path):
    doc = json.loads(json_path.read_text())
    assert set(rows_by_image) == {rec["image"] for rec in doc["images"]}
    for rec in doc["images"]:
        rows = rows_by_image[rec["image"]]
        assert [r["status"] for r in rows] == [rec["status"]] * len(rows)
        assert rows[0]["errors"] == rec["errors"] and rows[0]["warnings"] == rec["warnings"]
        assert (rows[0]["width"], rows[0]["height"]) == (rec["width"], rec["height"])
        assert rows[0]["exif_orientation"] == rec["exif_orientation"]
        assert rows[0]["n_faces"] == len(rec["faces"])
        if not rec["faces"]:
            assert len(rows) == 1 and rows[0]["face"] is None and rows[0]["points"] is None
            continue
        assert [r["face"] for r in rows] == list(range(len(rec["faces"])))
        for r, f in zip(rows, rec["faces"]):
            assert r["box_source"] == f["box_source"]
            np.testing.assert_allclose(np.round(r["box"], 3), f["box"], atol=JSON_TOL, rtol=0)
            np.testing.assert_allclose(np.round(r["crop"], 3), f["crop"], atol=JSON_TOL, rtol=0)
            np.testing.assert_allclose(np.round(np.asarray(r["points"], dtype=float), 3), f["points"],
                                       atol=JSON_TOL, rtol=0)
            if f["score"] is None:  # a box without a detector score
                assert r["score"] is None or np.isnan(r["score"])
            else:
                assert round(r["score"], 4) == pytest.approx(f["score"], abs=1e-9)  # JSON: 4 decimals


def test_rows_equal_mcl_align_json_and_resume_sees_them(shared_data, tmp_path):
    from mcl_caffe import FaceAligner

    src = real_images(shared_data, tmp_path)
    names = sorted(str(p) for p in src.iterdir()) + [str(src / "missing.jpg")]
    out_json = tmp_path / "align.json"
    assert (
        cli.main(names + ["-o", str(out_json), "--no-progress", "--threads", "1"]) == 1
    )  # corrupt + missing
    fa = FaceAligner("300w68", threads=1)
    results = [align_one(fa, n) for n in names]
    out = tmp_path / "out"
    head = {"model": str(fa.model_path), "scheme": fa.scheme.name, "n_points": fa.n_points}
    assert S.prepare_out(str(out), head) == (set(), 0)
    S.write_shard(str(out), S.to_table(results[:2]))
    S.write_shard(str(out), S.to_table(results[2:]))
    table = S.read_all(str(out))
    compare_with_mcl_align_json(by_image(table), out_json)
    # the computation itself, unrounded, against FaceAligner in this process
    for n in [n for n in names if n.endswith(".jpg") and "image_" in n]:
        faces = fa(n)
        rows = by_image(table)[n]
        assert len(faces) == len(rows) >= 1
        for f, r in zip(faces, rows):
            np.testing.assert_allclose(r["points"], f.points, atol=1e-4, rtol=0)
    # resume: every image is done; a leftover temporary shard of a killed run is removed
    (out / (S.TMP_PREFIX + "part-x.parquet")).write_bytes(b"cut")
    done, n_shards = S.prepare_out(str(out), head)
    assert done == set(names) and n_shards == 2
    assert not list(out.glob(S.TMP_PREFIX + "*"))


def test_an_image_with_only_some_of_its_face_rows_is_not_done(tmp_path):
    from mcl_caffe.infer.results import ImageResult

    r = ImageResult("x.jpg", 10, 10, 1)
    r.faces = [
        {"box": [0, 5, 0, 5], "box_source": "detector", "score": 0.9, "crop": [0, 0, 5], "points": [[1, 2]]}
        for _ in range(2)
    ]
    t = S.to_table([r, ImageResult("y.jpg", errors=["bad"])])
    S.write_shard(str(tmp_path), t.slice(0, 1))  # a shard holding only face 0 of x.jpg
    S.write_shard(str(tmp_path), t.slice(2, 1))
    assert S.done_images(sorted(tmp_path.glob("part-*.parquet"))) == {"y.jpg"}


def test_out_of_another_model_is_refused(tmp_path):
    S.prepare_out(str(tmp_path / "o"), {"model": "a.onnx", "scheme": "300w68", "n_points": 68})
    with pytest.raises(S.UsageError, match="written with model"):
        S.prepare_out(str(tmp_path / "o"), {"model": "b.onnx", "scheme": "300w68", "n_points": 68})
