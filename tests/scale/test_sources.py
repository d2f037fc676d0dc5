"""mcl-align-batch's inputs: folder trees, globs and list files, local and file:// URIs."""

from pathlib import Path

import pytest


from mcl_caffe.infer.images import ImageReadError  # noqa: E402
from mcl_caffe.infer.inputs import UsageError  # noqa: E402
from mcl_caffe.scale.sources import list_images, read_bytes  # noqa: E402


@pytest.fixture()
def tree(tmp_path):
    for rel in ["a.jpg", "sub/b.png", "sub/deep/c.JPG", "notes.txt", "sub/d.csv"]:
        p = tmp_path / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rel.encode())
    return tmp_path / "src"


def test_a_folder_gives_its_images_recursively_sorted_as_mcl_align_names_them(tree):
    assert list_images(str(tree)) == [str(tree / r) for r in ["a.jpg", "sub/b.png", "sub/deep/c.JPG"]]


def test_a_glob_and_a_file_uri(tree):
    assert list_images(str(tree) + "/sub/*.png") == [str(tree / "sub/b.png")]
    uri = "file://" + str(tree)
    assert list_images(uri) == [uri + "/" + r for r in ["a.jpg", "sub/b.png", "sub/deep/c.JPG"]]
    assert read_bytes(uri + "/a.jpg") == b"a.jpg"


def test_a_list_file_skips_comments_and_resolves_relative_names(tree):
    lst = tree / "list.txt"
    lst.write_text("# my photos\na.jpg\n\nsub/b.png\nmissing.jpg\n")
    assert list_images(str(lst)) == [str(tree / "a.jpg"), str(tree / "sub/b.png"), str(tree / "missing.jpg")]


def test_missing_source_and_unreadable_images_are_named(tree):
    with pytest.raises(UsageError, match="nowhere"):
        list_images(str(tree / "nowhere"))
    with pytest.raises(ImageReadError, match="image file not found: .*missing.jpg"):
        read_bytes(str(tree / "missing.jpg"))
    with pytest.raises(ImageReadError, match="image file not found"):
        read_bytes("file://" + str(tree / "missing.jpg"))
    with pytest.raises(ImageReadError, match="is a folder"):
        read_bytes(str(Path(tree) / "sub"))
