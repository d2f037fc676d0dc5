"""Face-box files (MCNet-Extension format) and the shared BadSample error."""
import pickle

import numpy as np
import pytest

from mcl_caffe.core.box_file import BadSample, parse_float, read_box_file, token_lines
from conftest import SHARED_DATA


def test_box_lines_parse_in_every_separator_and_bad_lines_say_where_and_why(tmp_path):
    bf = tmp_path / "boxes.txt"
    bf.write_bytes(b"10 60 12 70\r\n\r\n1,2.5,3,4.5\n5\t6\t7\t8\n9 9 1 5\n1 2 3\n1 2 x 4\n"
                   b"1 2 nan 4\n1 5 2 inf\n")
    out = read_box_file(bf)
    assert len(out) == 8  # the blank line is no entry
    assert out[0].tolist() == [10, 60, 12, 70] and out[1].tolist() == [1, 2.5, 3, 4.5]
    assert out[2].tolist() == [5, 6, 7, 8]
    expect = [(4, "zero-area box", "boxes.txt:5: zero-area box"),
              (5, "malformed box file", "boxes.txt:6: expected 4 numbers (left right top bottom), got 3"),
              (6, "non-numeric value", "boxes.txt:7: non-numeric value 'x'"),
              (7, "non-numeric value", "boxes.txt:8: non-finite value 'nan'")]
    for k, reason, message in expect:
        assert isinstance(out[k - 1], BadSample), k
        assert out[k - 1].reason == reason and message in out[k - 1].message, (k, out[k - 1].message)
    assert out[7].reason == "non-numeric value" and "boxes.txt:9: non-finite value 'inf'" in out[7].message


def test_a_box_needs_right_above_left_and_bottom_above_top(tmp_path):
    bf = tmp_path / "b.txt"
    bf.write_text("5 5 1 9\n1 9 5 5\n5 4 1 9\n0 1 0 1\n")
    out = read_box_file(bf)
    assert [getattr(b, "reason", "ok") for b in out] == ["zero-area box"] * 3 + ["ok"]


def test_missing_box_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="box file not found: .*nosuch.txt"):
        read_box_file(tmp_path / "nosuch.txt")


def test_the_real_author_box_file_reads_whole():
    out = read_box_file(SHARED_DATA / "boxes" / "aflw-bbox-annotation" / "AFLW_boundingbox.txt")
    assert len(out) == 2995 and all(isinstance(b, np.ndarray) for b in out)
    assert out[0].tolist() == [20, 111, 26, 117]


def test_parse_float_and_bad_sample_pickle():
    assert parse_float(" -3.25 ", "f:1") == -3.25
    with pytest.raises(BadSample, match="f:1: non-numeric value '3,5'") as e:
        parse_float("3,5", "f:1")
    back = pickle.loads(pickle.dumps(e.value))  # crosses worker processes
    assert (back.reason, back.message) == (e.value.reason, e.value.message)
    assert str(back) == "f:1: non-numeric value '3,5'"


def test_token_lines_replace_undecodable_bytes_and_split_on_commas_only_when_asked(tmp_path):
    """A byte that is not UTF-8 (0xff, e.g. a Latin-1 file) becomes U+FFFD instead of stopping the read;
    commas are part of a token unless commas=True (box files only)."""
    f = tmp_path / "list.txt"
    f.write_bytes(b"caf\xe9 1,5 2\n\n\xff 3\n")
    assert list(token_lines(f, "list")) == [
        (1, "%s:1" % f, ["caf\ufffd", "1,5", "2"]),
        (3, "%s:3" % f, ["\ufffd", "3"]),
    ]
    split = [t for _, _, t in token_lines(f, "list", commas=True)]
    assert split == [["caf\ufffd", "1", "5", "2"], ["\ufffd", "3"]]
