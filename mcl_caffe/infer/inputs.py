"""mcl-align's inputs: the image list from files and folders, and the --boxes file.

A path that does not exist, or a folder without images, is not a reason to stop the run: it becomes an
input with an error, reported like an image that cannot be decoded.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


class UsageError(Exception):
    """A problem with the command line or a file it names that stops the run before any image (exit 2)."""


def list_inputs(inputs, recursive: bool) -> list[tuple[Path, str | None]]:
    """-> (path, error or None) for every image: files as given, each folder's images sorted by path.  A
    missing path or a folder without images gives one entry with its error."""
    out = []
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            found = sorted(
                q
                for q in (p.rglob("*") if recursive else p.iterdir())
                if q.is_file() and q.suffix.lower() in IMAGE_EXTS
            )
            if not found:
                out.append(
                    (
                        p,
                        "folder %s holds no images (%s)%s"
                        % (
                            p,
                            " ".join(sorted(IMAGE_EXTS)),
                            "" if recursive else "; --recursive looks into sub-folders",
                        ),
                    )
                )
            out += [(q, None) for q in found]
        elif p.exists():
            out.append((p, None))  # any file named explicitly is tried; an undecodable one fails itself
        else:
            out.append((p, "image file not found: %s" % p))
    return out


def read_boxes(path: Path, n_images: int) -> tuple[list, list[str]]:
    """The --boxes file: line i is the box of image i, "left right top bottom" (spaces or commas).
    -> (per-image box array or error message, warnings).  Lines starting with '#' are rejected (the whole
    file: a comment line would shift every later box onto the wrong image), and so are empty lines between
    box lines; empty lines at the end are fine.  Raises UsageError for those and a missing file."""
    from mcl_caffe.core.box_file import read_box_file

    p = Path(path)
    if not p.is_file():
        raise UsageError("box file not found: %s" % p)
    raw = p.read_text(encoding="utf-8", errors="replace").splitlines()
    last = max((i for i, line in enumerate(raw) if line.strip()), default=-1)
    for i, line in enumerate(raw[: last + 1], start=1):
        if line.lstrip().startswith("#"):
            raise UsageError(
                "box file %s, line %d: comment lines are not allowed (line i is the box of image i, so a "
                "comment would shift every later box onto the wrong image): %r" % (p, i, line.strip()[:60])
            )
        if not line.strip():
            raise UsageError(
                "box file %s, line %d is empty: every image needs its line (left right top bottom), so an "
                "empty line would shift every later box onto the wrong image" % (p, i)
            )
    lines = read_box_file(p)
    boxes, warnings = [], []
    for i in range(n_images):
        if i >= len(lines):
            boxes.append("no box: box file %s has %d lines, this is image %d" % (p, len(lines), i + 1))
        elif isinstance(lines[i], Exception):
            boxes.append(str(lines[i]))
        else:
            boxes.append(lines[i])
    if len(lines) > n_images:
        warnings.append(
            "box file %s has %d lines for %d images; the extra lines are ignored" % (p, len(lines), n_images)
        )
    return boxes, warnings
