"""The TensorFlow-free decoder (kerascls.data.pixels) gives the training pipeline's pixels.

Real photos (scikit-image's samples) as JPEG at several qualities and subsamplings, PNG and
the other formats, crops of mixed sizes, each compared with `decode_image_bytes` (the
training path) at several target sizes. Every case here matches exactly.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from kerascls.data.images import ImageTooLargeError, decode_image_bytes
from kerascls.data.pixels import decode_image_bytes_lean, resize_uint8
from kerascls.errors import DataError

skimage_data = pytest.importorskip("skimage.data")

SIZES = [(32, 32), (64, 48), (224, 224), None]
# (left, top, right, bottom): whole photo, odd-sized and non-square crops, tiny ones
CROPS = [None, (3, 5, 304, 182), (10, 7, 41, 300), (0, 0, 17, 13), (1, 1, 4, 9)]


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage_data, name)())


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _assert_same(data: bytes) -> None:
    for size in SIZES:
        expected = decode_image_bytes(data, size)
        got = decode_image_bytes_lean(data, size)
        assert got.dtype == np.uint8 and got.shape == expected.shape, size
        difference = np.abs(got.astype(int) - expected.astype(int))
        assert difference.max() == 0, (size, difference.max(), (difference > 0).mean())


JPEG_OPTIONS = {
    "q75-420": {"quality": 75},
    "q95-420": {"quality": 95},
    "q90-422": {"quality": 90, "subsampling": 1},
    "q90-444": {"quality": 90, "subsampling": 0},
    "q60-progressive": {"quality": 60, "progressive": True},
}


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "astronaut", "rocket"])
@pytest.mark.parametrize("options", JPEG_OPTIONS.values(), ids=JPEG_OPTIONS.keys())
def test_jpeg_photos_match_training_exactly(photo, options):
    image = _photo(photo)
    for crop in CROPS:
        part = image if crop is None else image.crop(crop)
        _assert_same(_encode(part, "JPEG", **options))


def test_grey_and_cmyk_jpeg_match_exactly():
    image = _photo("coffee").crop((0, 0, 333, 250))
    _assert_same(_encode(image.convert("L"), "JPEG", quality=85))
    _assert_same(_encode(image.convert("CMYK"), "JPEG", quality=85))


def _sixteen_bit(image: Image.Image) -> bytes:
    rng = np.random.default_rng(0)
    grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
    grey = grey + rng.integers(0, 256, grey.shape).astype(np.uint16)
    return _encode(Image.fromarray(grey), "PNG")  # mode I;16


def _sixteen_bit_rgb() -> bytes:
    """A 16-bit RGB PNG written by TensorFlow (Pillow cannot write one)."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 65536, (37, 53, 3)).astype(np.uint16)
    return tf.io.encode_png(tf.constant(pixels)).numpy()


def test_other_formats_match_exactly():
    image = _photo("astronaut").crop((20, 30, 271, 210))
    palette = image.convert("P", palette=Image.ADAPTIVE)
    with_transparency = palette.copy()
    with_transparency.info["transparency"] = 0
    cases = {
        "png": _encode(image, "PNG"),
        "palette png": _encode(palette, "PNG"),
        "palette png, transparency": _encode(with_transparency, "PNG"),
        "rgba png": _encode(image.convert("RGBA"), "PNG"),
        "grey+alpha png": _encode(image.convert("LA"), "PNG"),
        "grey png": _encode(image.convert("L"), "PNG"),
        "1-bit png": _encode(image.convert("1"), "PNG"),
        "16-bit grey png": _sixteen_bit(image),
        "16-bit rgb png": _sixteen_bit_rgb(),
        "gif": _encode(image, "GIF"),
        "webp": _encode(image, "WEBP", quality=80),
        "webp lossless rgba": _encode(image.convert("RGBA"), "WEBP", lossless=True),
        "bmp": _encode(image, "BMP"),
        "palette bmp (Pillow in training too)": _encode(palette, "BMP"),
        "tiff (Pillow in training too)": _encode(image, "TIFF"),
    }
    for name, data in cases.items():
        try:
            _assert_same(data)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from None


def test_resize_matches_tensorflow_on_random_shapes():
    import tensorflow as tf

    rng = np.random.default_rng(2)
    for _ in range(20):
        height, width = rng.integers(1, 400, 2)
        image = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
        size = tuple(int(v) for v in rng.integers(1, 300, 2))
        expected = tf.image.resize(image, size, method="bilinear", antialias=True)
        expected = tf.cast(tf.clip_by_value(tf.round(expected), 0.0, 255.0), tf.uint8)
        np.testing.assert_array_equal(resize_uint8(image, size), expected.numpy())


def test_same_errors_as_training_path():
    data = _encode(_photo("chelsea"), "PNG")
    for bad, kind in [(b"", DataError), (b"not an image", DataError), (data[:200], DataError)]:
        with pytest.raises(kind) as expected:
            decode_image_bytes(bad, name="upload.png")
        with pytest.raises(kind) as got:
            decode_image_bytes_lean(bad, name="upload.png")
        prefix = str(expected.value).split("(")[0]
        assert str(got.value).startswith(prefix)
    with pytest.raises(ImageTooLargeError) as expected:
        decode_image_bytes(data, max_pixels=1000)
    with pytest.raises(ImageTooLargeError) as got:
        decode_image_bytes_lean(data, max_pixels=1000)
    assert str(got.value) == str(expected.value)


def test_lean_decoder_does_not_import_tensorflow():
    code = (
        "import io, sys\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from kerascls.data.pixels import decode_image_bytes_lean\n"
        "buffer = io.BytesIO()\n"
        "Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(buffer, 'JPEG')\n"
        "assert decode_image_bytes_lean(buffer.getvalue(), (32, 32)).shape == (32, 32, 3)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
