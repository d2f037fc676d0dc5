"""Where a run keeps its files (the Makefile and the stages agree on these paths)."""
import json
from pathlib import Path

from mcl_caffe.core.run_layout import STAGES, RunLayout, read_json, write_json


def test_paths_of_a_run(tmp_path):
    lay = RunLayout("aflw", "cpu", tmp_path / "runs")
    assert lay.root == tmp_path / "runs" / "aflw-cpu"
    assert lay.stage_dir("stage3") == tmp_path / "runs" / "aflw-cpu" / "stage3"
    assert lay.final_weights("stage1") == lay.root / "stage1" / "final.caffemodel"
    assert lay.val_errors("stage3") == lay.root / "stage3" / "val_errors.json"
    assert lay.cluster_dir(0, "left eye") == lay.root / "stage4" / "cluster1-left_eye"
    assert lay.cluster_dir(6, "right_contour") == lay.root / "stage4" / "cluster7-right_contour"
    assert STAGES == ("stage1", "stage2", "stage3", "stage4", "assemble")


def test_data_folder_as_the_makefile_lays_it_out(tmp_path):
    assert RunLayout("300w", "cpu").data == Path("data") / "300w"
    assert RunLayout("aflw", "smoke").data == Path("data") / "smoke" / "aflw"
    given = RunLayout("aflw", "smoke", data_dir=tmp_path / "d")
    assert given.data == tmp_path / "d"
    assert given.list_file("val") == (tmp_path / "d" / "val.txt").resolve()


def test_write_json_is_sorted_indented_and_replaces_whole(tmp_path):
    f = tmp_path / "x.json"
    write_json(f, {"b": 1, "a": [1.5, None]})
    assert f.read_text() == json.dumps({"a": [1.5, None], "b": 1}, indent=2) + "\n"
    write_json(f, {"c": 2})
    assert read_json(f) == {"c": 2} and [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no .tmp left
