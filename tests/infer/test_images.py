"""Reading photos (mcl_caffe/infer/images.py): EXIF orientation as Pillow applies it, broken and oversized
files as errors naming the file, decoder warnings captured instead of printed; on real files."""

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from mcl_caffe.core import crop as C
from mcl_caffe.infer.images import ImageReadError, apply_orientation, read_photo, undo_orientation


def photo(real_photos, name):
    d, specs = real_photos
    return d / specs[name].file


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillows_exif_transpose(real_photos, orientation):
    """Our upright image of exif_<k>.jpg (pixels from OpenCV) against Pillow's decode and
    ImageOps.exif_transpose: the same picture.  With the pinned wheels the pixels are identical (measured: 0
    difference); the bound of 1 grey level on average leaves room for another libjpeg build's rounding, while
    any other orientation of the picture differs by tens of levels."""
    path = photo(real_photos, "exif_%d" % orientation)
    p = read_photo(path)
    assert p.orientation == orientation and (p.width, p.height) == (480, 640)
    with Image.open(path) as im:
        assert im.getexif()[0x0112] == orientation  # the tag Pillow wrote
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))[:, :, ::-1].astype(np.int16)
    assert ref.shape == p.image.shape
    assert np.abs(p.image.astype(np.int16) - ref).mean() < 1.0
    wrong = apply_orientation(p.image, 3)  # the picture upside down
    assert np.abs(wrong.astype(np.int16) - ref).mean() > 20


def test_orientation_and_its_inverse_round_trip():
    img = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    for o in range(1, 9):
        assert np.array_equal(undo_orientation(apply_orientation(img, o), o), img)
    with pytest.raises(ValueError, match="1-8"):
        apply_orientation(img, 9)


def test_decoding_matches_the_training_decoder_for_plain_files(real_photos, tmp_path):
    """Without an orientation, the pixels are those of crop.load_color (the training data's decoder), also for
    a grayscale JPEG, a 16-bit PNG and a PNG with alpha."""
    bgr = C.load_color(photo(real_photos, "two_small"))
    cv2.imwrite(str(tmp_path / "16bit.png"), bgr.astype(np.uint16) * 257)
    rgba = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    rgba[..., 3] = 128
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    for p in (
        photo(real_photos, "two_small"),
        photo(real_photos, "gray"),
        tmp_path / "16bit.png",
        tmp_path / "alpha.png",
    ):
        got = read_photo(p)
        assert got.orientation == 1 and np.array_equal(got.image, C.load_color(p)), p


def test_broken_files_are_errors_and_the_decoder_says_nothing_on_the_terminal(real_photos, tmp_path, capfd):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    cases = [
        (photo(real_photos, "truncated_jpg"), "corrupt or truncated JPEG data (image file is truncated"),
        (photo(real_photos, "truncated_png"), "corrupt or truncated PNG data (libpng error"),
        (photo(real_photos, "corrupt_jpg"), "corrupt or truncated JPEG data (Corrupt JPEG data"),
        (tmp_path / "missing.jpg", "image file not found"),
        (tmp_path, "is a folder, not an image file"),
        (tmp_path / "empty.jpg", "is empty (0 bytes)"),
        (tmp_path / "text.jpg", "not an image format OpenCV reads"),
    ]
    for path, message in cases:
        with pytest.raises(ImageReadError) as exc:
            read_photo(path)
        assert message in str(exc.value) and str(path) in str(exc.value), str(exc.value)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # libjpeg's and libpng's own messages were captured, not printed


def test_an_image_above_the_pixel_limit_is_refused_before_decoding(real_photos):
    path = photo(real_photos, "twelve_mp")
    with pytest.raises(ImageReadError, match=r"4000x3000 = 12.0 megapixels, above the limit of 10.0"):
        read_photo(path, max_pixels=10_000_000)
    assert read_photo(path, max_pixels=12_000_000).width == 4000
