"""mcl-align-batch's inputs: the image names under SRC, and reading one image's bytes.

SRC is a folder tree (its images, recursively, sorted), a glob (``photos/**/*.jpg``, ``s3://b/x/*.png``) or a
list file (``.txt``/``.lst``: one image per line; '#' lines and empty lines skipped; relative names are
relative to the list file's folder).  Local paths or any URI that ``pyarrow.fs`` understands (``s3://``,
``gs://``, ``hdfs://``, ``file://``).  Names are written to the output as listed here: local ones as
``SRC/relative/path`` (as mcl-align writes a folder's images), URIs in full.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from mcl_caffe.infer.images import ImageReadError
from mcl_caffe.infer.inputs import IMAGE_EXTS, UsageError

LIST_EXTS = {".txt", ".lst"}
GLOB_CHARS = "*?["


def is_uri(name: str) -> bool:
    return "://" in name


def _fs(name: str):
    """-> (pyarrow filesystem, path inside it) for a URI or a local path."""
    from pyarrow import fs as pafs

    if is_uri(name):
        return pafs.FileSystem.from_uri(name)
    return pafs.LocalFileSystem(), os.path.abspath(name)


def _join(base: str, rel: str) -> str:
    if is_uri(base):
        return base.rstrip("/") + "/" + rel
    return str(Path(base) / rel)


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTS


def _walk(fs, root: str) -> list[str]:
    """Relative names of the image files under `root` (recursively), sorted."""
    from pyarrow import fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    root_n = root.rstrip("/") + "/"
    return sorted(
        i.path[len(root_n) :] for i in infos if i.type == pafs.FileType.File and _is_image(i.base_name)
    )


def list_images(src: str) -> list[str]:
    """The image names of SRC (folder, glob or list file; see the module doc).  Raises UsageError when SRC
    does not exist or holds no images."""
    from pyarrow import fs as pafs

    if any(c in src for c in GLOB_CHARS):
        cut = min(src.index(c) for c in GLOB_CHARS if c in src)
        base = src[:cut].rsplit("/", 1)[0] if "/" in src[:cut] else "."
        fs, root = _fs(base)
        pattern = src[len(base) :].lstrip("/")
        names = [r for r in _walk(fs, root) if fnmatch.fnmatch(r, pattern)]
        if not names:
            raise UsageError("no image matches %s" % src)
        return [_join(base, r) if base != "." else r for r in names]
    try:
        fs, path = _fs(src)
        info = fs.get_file_info(path)
    except (OSError, ValueError) as exc:
        raise UsageError("cannot open %s: %s" % (src, exc)) from None
    if info.type == pafs.FileType.Directory:
        names = _walk(fs, path)
        if not names:
            raise UsageError("folder %s holds no images (%s)" % (src, " ".join(sorted(IMAGE_EXTS))))
        return [_join(src, r) for r in names]
    if info.type == pafs.FileType.File and os.path.splitext(src)[1].lower() in LIST_EXTS:
        with fs.open_input_stream(path) as fh:
            lines = fh.read().decode("utf-8", "replace").splitlines()
        base = src.rsplit("/", 1)[0] if "/" in src else "."
        out = []
        for line in lines:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            out.append(s if is_uri(s) or os.path.isabs(s) or base == "." else _join(base, s))
        if not out:
            raise UsageError("list file %s names no images" % src)
        return out
    if info.type == pafs.FileType.File:
        return [src]
    raise UsageError("%s not found (give a folder, a glob or a list file .txt)" % src)


def read_bytes(name: str) -> bytes:
    """The bytes of one image (local path or URI); ImageReadError naming it when it cannot be read, with
    the same messages as mcl-align for a missing file or a folder."""
    p = Path(name)
    if not is_uri(name):
        if not p.exists():
            raise ImageReadError("image file not found: %s" % p)
        if p.is_dir():
            raise ImageReadError("%s is a folder, not an image file" % p)
        try:
            return p.read_bytes()
        except OSError as exc:
            raise ImageReadError("cannot read %s: %s" % (p, exc.strerror or exc)) from None
    try:
        fs, path = _fs(name)
        with fs.open_input_stream(path) as fh:
            return fh.read()
    except FileNotFoundError:
        raise ImageReadError("image file not found: %s" % name) from None
    except (OSError, ValueError) as exc:
        raise ImageReadError("cannot read %s: %s" % (name, exc)) from None
