"""Reading a photo for mcl-align and FaceAligner: decoded as training decodes it, turned upright by its EXIF
orientation, refused cleanly when it is missing, corrupt, truncated or too large.

* Pixels come from OpenCV (``cv2.imdecode``, as ``mcl_caffe.core.crop.load_color``, the decoder of the
  training data); 16-bit images are scaled to 8 bits, alpha is dropped, grayscale becomes 3 equal channels.
* The header (format, size, EXIF orientation) comes from Pillow, which reads it without decoding the pixels;
  an image above ``max_pixels`` is refused before it is decoded, so one huge file cannot take the memory.
* EXIF orientation (tag 0x0112, values 1-8) is applied as photo viewers apply it: the returned image is the
  upright one, and every coordinate mcl-align writes refers to it.
* libjpeg and libpng print their warnings ("Premature end of JPEG file", "Corrupt JPEG data: ...") on the
  process's standard error; decoding captures them, and any such message makes the image an error
  (ImageReadError) that quotes it, instead of landmarks fitted to the decoder's grey fill.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Pillow's EXIF tag of the orientation
ORIENTATION_TAG = 0x0112
#: default cap on an image's pixel count (width x height) before decoding: 120 megapixels, 4 bytes each in
#: memory (the BGR image and its grayscale copy), i.e. about 0.5 GB
DEFAULT_MAX_PIXELS = 120_000_000


class ImageReadError(OSError):
    """The file cannot be used as an image; the message names the file and the problem."""


@dataclass(frozen=True)
class Photo:
    """A decoded photo: `image` is upright uint8 BGR (H, W, 3); `orientation` the EXIF orientation applied
    (1 = none); `stored_size` (width, height) as stored in the file, before the orientation."""

    image: np.ndarray
    orientation: int
    stored_size: tuple[int, int]

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """The image as stored -> the upright image, for EXIF orientation 1-8 (TIFF 6.0 / Exif 2.3: the stored
    row 0 / column 0 are 1 top/left, 2 top/right, 3 bottom/right, 4 bottom/left, 5 left/top, 6 right/top,
    7 right/bottom, 8 left/bottom of the scene)."""
    o = int(orientation)
    if o == 1:
        return img
    if o == 2:
        out = img[:, ::-1]
    elif o == 3:
        out = img[::-1, ::-1]
    elif o == 4:
        out = img[::-1]
    elif o == 5:
        out = img.swapaxes(0, 1)
    elif o == 6:
        out = img.swapaxes(0, 1)[:, ::-1]  # 90 degrees clockwise
    elif o == 7:
        out = img[::-1, ::-1].swapaxes(0, 1)
    elif o == 8:
        out = img.swapaxes(0, 1)[::-1]  # 90 degrees counter-clockwise
    else:
        raise ValueError("EXIF orientation must be 1-8, got %r" % (orientation,))
    return np.ascontiguousarray(out)


def undo_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Inverse of apply_orientation: the upright image -> the image as a file with this orientation
    stores it (6 and 8 are each other's inverse; the others are their own)."""
    return apply_orientation(img, {6: 8, 8: 6}.get(int(orientation), int(orientation)))


def _header(data: bytes, path) -> tuple[str | None, tuple[int, int] | None, int]:
    """(format, (width, height), EXIF orientation) from Pillow without decoding pixels; (None, None, 1)
    when Pillow does not know the format (OpenCV may still decode it)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt, size = im.format, im.size
                try:
                    orientation = int(im.getexif().get(ORIENTATION_TAG, 1))
                except Exception:  # a broken EXIF block: show the image as stored, as viewers do
                    orientation = 1
    except Image.DecompressionBombError as exc:
        # Pillow refuses above 2x its own limit before we see the size; report it as too large
        raise ImageReadError("%s: image too large to decode safely (%s)" % (path, exc)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None, None, 1
    if orientation not in range(1, 9):
        orientation = 1
    return fmt, size, orientation


class _CapturedStderr:
    """Collect what C libraries write to file descriptor 2 while the block runs (libjpeg's warnings)."""

    def __enter__(self):
        self.text = ""
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            self._saved = None
            return self
        self._tmp = tempfile.TemporaryFile()
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace").strip()
        self._tmp.close()
        return False


def _to_bgr8(img: np.ndarray) -> np.ndarray:
    import cv2

    if img.dtype != np.uint8:  # 16-bit PNG/TIFF, float TIFF: as crop.load_color
        img = (img / (256.0 if img.dtype == np.uint16 else 1.0)).clip(0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def read_photo(path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """Decode an image file upright (EXIF orientation applied) as uint8 BGR.  Raises ImageReadError naming
    the file for a missing path, a folder, an unreadable, unknown, corrupt or truncated file, and an image
    above max_pixels (checked from the header, before decoding)."""
    p = Path(path)
    if not p.exists():
        raise ImageReadError("image file not found: %s" % p)
    if p.is_dir():
        raise ImageReadError("%s is a folder, not an image file" % p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageReadError("cannot read %s: %s" % (p, exc.strerror or exc)) from None
    return decode_photo(data, p, max_pixels)


def decode_photo(data: bytes, p, max_pixels: int = DEFAULT_MAX_PIXELS) -> Photo:
    """read_photo for a file's bytes already read (mcl-align-batch reads them through pyarrow.fs); `p`
    names the file in the errors."""
    import cv2

    if not data:
        raise ImageReadError("%s is empty (0 bytes)" % p)
    fmt, size, orientation = _header(data, p)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageReadError(
            "%s: %dx%d = %.1f megapixels, above the limit of %.1f (--max-megapixels)"
            % (p, size[0], size[1], size[0] * size[1] / 1e6, max_pixels / 1e6)
        )
    try:
        with _CapturedStderr() as cap:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # e.g. a header whose size OpenCV refuses
        last = str(exc).strip().splitlines()[-1]
        raise ImageReadError("cannot decode image file: %s: %s" % (p, last)) from None
    except MemoryError:
        raise ImageReadError("cannot decode image file: %s: not enough memory" % p) from None
    if img is None or cap.text:
        why = cap.text.replace("\n", "; ") if cap.text else _pillow_reason(data)
        if fmt is None and not cap.text:
            raise ImageReadError("cannot decode image file: %s (not an image format OpenCV reads)" % p)
        raise ImageReadError(
            "cannot decode image file: %s: corrupt or truncated %s data (%s)" % (p, fmt or "image", why)
        )
    if size is None and img.shape[0] * img.shape[1] > max_pixels:
        raise ImageReadError(
            "%s: %dx%d = %.1f megapixels, above the limit of %.1f (--max-megapixels)"
            % (p, img.shape[1], img.shape[0], img.shape[0] * img.shape[1] / 1e6, max_pixels / 1e6)
        )
    stored = (int(img.shape[1]), int(img.shape[0]))
    return Photo(apply_orientation(_to_bgr8(img), orientation), orientation, stored)


def _pillow_reason(data: bytes) -> str:
    """Pillow's own message for data OpenCV could not decode (e.g. 'image file is truncated')."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as exc:  # any decoder error is the reason we want to show
        return str(exc) or type(exc).__name__
    return "the decoder gave no image"
